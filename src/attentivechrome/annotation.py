"""Gene coordinates (Roadmap gene_info) and expression (57epigenomes.RPKM.pc) parsing.

Rules that decide which genes a model sees, recorded here once:
- TSS is `start` on the + strand and `end` on the - strand, as written in gene_info.
- Chromosome names are matched to the chromosome sizes' by genome.match_chroms (`1` is
  `chr1`, `MT` is `chrM`, or the other way round) and written as the sizes spell them.
- A gene id listed twice in gene_info (the real file has 7, with two symbols each) keeps its
  first row: one window per gene id. Conflicting coordinates are logged, not silently merged.
- Genes on chromosomes missing from the chromosome sizes are dropped and logged; so are
  genes whose coordinates run past their chromosome's end, unless more than 1% do (then
  the annotation and the sizes come from different assemblies: an error).
- The annotation and the expression table must share most of their ids (at least half of
  the smaller one's): otherwise the run stops with an example id from each.
- Only genes present in both gene_info and the expression matrix are kept, sorted by id.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, separator_hint
from .genome import match_chroms, no_shared_names, ucsc_chrom
from .io import open_text, read_table

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
                    f"strand), found {len(fields)}{separator_hint(line)}",
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
        table = read_table(path, dtype={0: str})
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
        got = "an empty field (is the line tab-separated?)" if pd.isna(value) else repr(value)
        raise InputError(
            path,
            f"gene {table.index[row]}, cell type {table.columns[col]}: RPKM must be a "
            f"non-negative number, got {got}",
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


#: Fewer shared ids than this share of the smaller file: the two files do not describe
#: the same genes (another annotation, or ids with version suffixes on one side only).
MIN_SHARED_IDS = 0.5
#: More genes than this share lying past their chromosome's end: the annotation and the
#: chromosome sizes come from different assemblies, and dropping them would hide that.
MAX_PAST_END = 0.01


def select_genes(
    genes: pd.DataFrame,
    expression: pd.DataFrame,
    chrom_sizes: dict[str, int],
    genes_path: str | Path = "gene_info",
    expression_path: str | Path = "expression matrix",
) -> GeneSelection:
    """Genes present in gene_info, the expression matrix and the genome, sorted by id.

    Genes whose coordinates run past their chromosome's end are dropped and logged, or
    stop the run when more than MAX_PAST_END of them do (a mismatch of assemblies).
    """
    check_shared_ids(genes["gene_id"], expression.index, genes_path, expression_path)
    genes = _sizes_spelling(genes, chrom_sizes, genes_path)
    in_matrix = genes["gene_id"].isin(expression.index)
    on_genome = genes["chrom"].isin(chrom_sizes.keys())
    size = genes["chrom"].map(chrom_sizes)
    past_end = on_genome & (genes[["start", "end"]].max(axis=1) > size)
    _check_past_end(genes, past_end, on_genome, size, genes_path)
    dropped = {
        "not in the expression matrix": sorted(genes.loc[~in_matrix, "gene_id"]),
        "on a chromosome missing from the sizes": sorted(
            genes.loc[in_matrix & ~on_genome, "gene_id"]
        ),
        "past the end of its chromosome": sorted(genes.loc[in_matrix & past_end, "gene_id"]),
        "in the expression matrix but not in gene_info": sorted(
            set(expression.index) - set(genes["gene_id"])
        ),
    }
    kept = genes[in_matrix & on_genome & ~past_end].sort_values("gene_id").reset_index(drop=True)
    return GeneSelection(kept[["gene_id", "chrom", "tss", "strand", "symbol"]], dropped)


def _sizes_spelling(genes: pd.DataFrame, chrom_sizes: dict[str, int], path) -> pd.DataFrame:
    """Genes with their chromosomes named as in the sizes (unmatched names kept as read)."""
    names = match_chroms(genes["chrom"].unique(), chrom_sizes)
    if not names:
        raise no_shared_names(path, genes["chrom"], chrom_sizes)
    return genes.assign(chrom=genes["chrom"].map(names).fillna(genes["chrom"]))


def check_shared_ids(
    gene_ids: pd.Series, expression_ids: pd.Index, genes_path, expression_path
) -> None:
    """Stop when the annotation and the expression table hardly share a gene id."""
    ours, theirs = set(gene_ids), set(expression_ids)
    shared = len(ours & theirs)
    if shared >= MIN_SHARED_IDS * min(len(ours), len(theirs)):
        return
    hint = ""
    versioned = [any(_VERSION.search(str(i)) for i in ids) for ids in (ours, theirs)]
    if versioned[0] != versioned[1]:
        hint = "; ids carry version suffixes (like '.5') in one file only"
    raise InputError(
        expression_path,
        f"only {shared} of its {len(theirs)} gene ids are in {genes_path} "
        f"({len(ours)} ids), e.g. {min(map(str, theirs))!r} here and "
        f"{min(map(str, ours))!r} there{hint}",
    )


_VERSION = re.compile(r"\.\d+$")


def _check_past_end(genes, past_end, on_genome, size, path) -> None:
    if not past_end.any():
        return
    first = genes[past_end].iloc[0]
    example = (
        f"e.g. {first['gene_id']} ends at {max(first['start'], first['end'])} on "
        f"{first['chrom']} of {int(size[first.name])} bp (line {first['line']})"
    )
    if past_end.sum() > MAX_PAST_END * on_genome.sum():
        raise InputError(
            path,
            f"{int(past_end.sum())} of {int(on_genome.sum())} genes lie past the end of their "
            f"chromosome, {example}: the annotation and the chromosome sizes seem to come "
            "from different assemblies",
        )
    log.warning(
        "%s: %d genes lie past their chromosome's end and are dropped, %s",
        path,
        int(past_end.sum()),
        example,
    )
