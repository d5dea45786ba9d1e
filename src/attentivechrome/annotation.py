"""Gene coordinates (Roadmap gene_info) and expression (57epigenomes.RPKM.pc) parsing.

Rules that decide which genes a model sees, recorded here once:
- TSS is `start` on the + strand and `end` on the - strand, as written in gene_info.
- Chromosomes get a `chr` prefix (`MT` becomes `chrM`).
- A gene id listed twice in gene_info (the real file has 7, with two symbols each) keeps its
  first row: one window per gene id. Conflicting coordinates are logged, not silently merged.
- Genes on chromosomes missing from the chromosome sizes are dropped and logged.
- Only genes present in both gene_info and the expression matrix are kept, sorted by id.
"""

from __future__ import annotations

import gzip
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .genome import ucsc_chrom
from .io import is_gzip

log = logging.getLogger(__name__)

GENE_INFO_COLUMNS = [
    "gene_id",
    "chrom",
    "start",
    "end",
    "strand",
    "gene_type",
    "symbol",
    "description",
]
_STRANDS = {"1": "+", "-1": "-", "+": "+", "-": "-"}


def open_text(path: str | Path):
    """Open a plain or gzipped text file, deciding by the magic bytes, not the name."""
    path = Path(path)
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def read_gene_info(path: str | Path) -> pd.DataFrame:
    """Parse a Roadmap gene_info file into gene_id, chrom, start, end, strand, tss, symbol."""
    rows = []
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 5:
                raise InputError(
                    path,
                    f"expected at least 5 tab-separated columns (id, chromosome, start, end, "
                    f"strand), found {len(fields)}",
                    line=number,
                )
            gene_id, chrom, start, end, strand = (f.strip() for f in fields[:5])
            if not (start.isdigit() and end.isdigit()):
                raise InputError(
                    path,
                    f"gene {gene_id}: start/end must be integers, got {start!r}, {end!r}",
                    line=number,
                )
            if strand not in _STRANDS:
                raise InputError(
                    path, f"gene {gene_id}: strand must be 1 or -1, got {strand!r}", line=number
                )
            symbol = fields[6].strip() if len(fields) > 6 else ""
            rows.append(
                (gene_id, ucsc_chrom(chrom), int(start), int(end), _STRANDS[strand], symbol, number)
            )
    if not rows:
        raise InputError(path, "no genes found")
    genes = pd.DataFrame(
        rows, columns=["gene_id", "chrom", "start", "end", "strand", "symbol", "line"]
    )
    genes["tss"] = np.where(genes["strand"] == "+", genes["start"], genes["end"])
    return genes


def deduplicate_genes(genes: pd.DataFrame, path: str | Path = "gene_info") -> pd.DataFrame:
    """Keep the first row of each gene id; log duplicates, warn on conflicting coordinates."""
    duplicated = genes[genes.duplicated("gene_id", keep=False)]
    if duplicated.empty:
        return genes
    for gene_id, group in duplicated.groupby("gene_id", sort=True):
        lines = ", ".join(str(n) for n in group["line"])
        if group[["chrom", "tss", "strand"]].nunique().max() > 1:
            log.warning(
                "%s: gene %s has conflicting rows (lines %s); keeping the first",
                path,
                gene_id,
                lines,
            )
        else:
            log.info(
                "%s: gene %s is listed %d times (lines %s); keeping the first",
                path,
                gene_id,
                len(group),
                lines,
            )
    return genes.drop_duplicates("gene_id", keep="first")


def read_expression(path: str | Path, cells: list[str] | None = None) -> pd.DataFrame:
    """Parse an RPKM matrix (`gene_id` then one column per epigenome); index = gene id."""
    try:
        with open_text(path) as handle:
            table = pd.read_csv(handle, sep="\t", dtype={0: str})
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InputError(path, f"cannot read the expression matrix: {error}") from None
    if table.empty or table.columns[0] != "gene_id":
        raise InputError(
            path, "expected a header starting with 'gene_id' and at least one gene", line=1
        )
    table = table.set_index("gene_id")
    if cells is not None:
        missing = [c for c in cells if c not in table.columns]
        if missing:
            raise InputError(
                path,
                f"cell types {', '.join(missing)} are not columns of the matrix "
                f"(columns: {', '.join(map(str, table.columns))})",
                line=1,
            )
        table = table[cells]
    duplicated = table.index[table.index.duplicated()]
    if len(duplicated):
        row = int(np.flatnonzero(table.index.duplicated())[0]) + 2
        raise InputError(path, f"gene {duplicated[0]} is listed twice", line=row)
    return _as_rpkm(table, path)


def _as_rpkm(table: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """The matrix as floats; the first NaN, negative or non-number is an error."""
    numeric = table.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() | (numeric < 0)
    if bad.to_numpy().any():
        row, col = (int(i[0]) for i in np.nonzero(bad.to_numpy()))
        value = table.iat[row, col]
        raise InputError(
            path,
            f"gene {table.index[row]}, cell type {table.columns[col]}: RPKM must be a "
            f"non-negative number, got {value!r}",
            line=row + 2,
        )
    return numeric.astype(float)


@dataclass
class GeneSelection:
    genes: pd.DataFrame
    dropped: dict[str, list[str]] = field(default_factory=dict)

    def report(self) -> str:
        lines = [f"{len(self.genes)} genes kept"]
        for reason, ids in self.dropped.items():
            if ids:
                shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
                lines.append(f"{len(ids)} genes dropped ({reason}): {shown}")
        return "\n".join(lines)


def select_genes(
    genes: pd.DataFrame, expression: pd.DataFrame, chrom_sizes: dict[str, int]
) -> GeneSelection:
    """Genes present in gene_info, the expression matrix and the genome, sorted by id."""
    in_matrix = genes["gene_id"].isin(expression.index)
    on_genome = genes["chrom"].isin(chrom_sizes.keys())
    dropped = {
        "not in the expression matrix": sorted(genes.loc[~in_matrix, "gene_id"]),
        "on a chromosome missing from the sizes": sorted(
            genes.loc[in_matrix & ~on_genome, "gene_id"]
        ),
        "in the expression matrix but not in gene_info": sorted(
            set(expression.index) - set(genes["gene_id"])
        ),
    }
    kept = genes[in_matrix & on_genome].sort_values("gene_id").reset_index(drop=True)
    return GeneSelection(kept[["gene_id", "chrom", "tss", "strand", "symbol"]], dropped)
