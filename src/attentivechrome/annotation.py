"""Gene coordinates (Roadmap gene_info, GTF or GFF3) and expression table parsing.

Rules that decide which genes a model sees, recorded here once:
- The annotation's format is told by content, not by name: if its first line that is not a
  comment has 9 tab-separated columns, text in column 3 and integers in columns 4-5, the
  file is GTF/GFF3; anything else is read as gene_info. gzip is told by its magic bytes.
- gene_info is read whole, every row whatever its gene type. GTF/GFF3 give their gene-level
  records (column 3 `gene`; Ensembl GFF3 also writes `ncRNA_gene` and `pseudogene`) whose
  type (`gene_type`, `gene_biotype` or `biotype`) is in `sources.gene_types` (protein_coding
  by default). The id is `gene_id`, else GFF3's `ID` without `gene:`; the symbol
  `gene_name`, else `Name`. A GFF3's `##FASTA` section ends the records.
- TSS is `start` on the + strand and `end` on the - strand, as written in the file (gene_info
  and GTF/GFF3 are both 1-based, so one gene gets one TSS from either). A GTF/GFF3 gene
  without a strand (`.` or `?`) has no TSS: it is dropped and logged.
- Chromosome names are matched to the chromosome sizes' by genome.match_chroms (`1` is
  `chr1`, `MT` is `chrM`, or the other way round) and written as the sizes spell them. An
  annotation whose names match none of the sizes' is an error.
- Gene ids are compared without version suffixes (`ENSG00000223972.5` is
  `ENSG00000223972`; GENCODE's `ENSG00000182378.14_PAR_Y`, the chrY copy of a
  pseudoautosomal gene, is `ENSG00000182378`), in the annotation and the expression table.
  Only ids shaped like stable ids (letters, then digits) lose a suffix: `RP11-34P13.3` stays.
- A gene id listed twice in the annotation (gene_info has 7, with two symbols each; a GENCODE
  PAR_Y copy follows its chrX gene) keeps its first row: one window per gene id.
  Conflicting coordinates are logged as a warning, not silently merged.
- The expression table is tab- or comma-separated (told by its header line: a tab wins), the
  gene id in `id_column` (default: the first column). Columns that hold numbers are cell
  types and must be non-negative with no empty field; other columns (gene_name, ...) are
  dropped and logged, unless they are asked for as cell types (then an error). Two rows that
  are one gene without version suffixes are an error, except that a GENCODE `_PAR_Y` row
  next to its chrX gene is dropped and logged (quantifiers give it nothing: chrY's PAR
  is masked).
- Genes on chromosomes missing from the chromosome sizes are dropped and logged; so are
  genes whose coordinates run past their chromosome's end, unless more than 1% do (then
  the annotation and the sizes come from different assemblies: an error).
- The annotation and the expression table must share most of their ids (at least half of
  the smaller one's): otherwise the run stops with an example id from each.
- Only genes present in both the annotation and the expression table are kept, sorted by id.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

import numpy as np
import pandas as pd

from .errors import InputError, separator_hint
from .genome import match_chroms, no_shared_names
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
#: What every annotation reader returns, whatever the file's format.
GENE_COLUMNS = ["gene_id", "chrom", "start", "end", "strand", "symbol", "line"]
_STRANDS = {"1": "+", "-1": "-", "+": "+", "-": "-"}
DEFAULT_GENE_TYPES = ("protein_coding",)
#: Column 3 of a gene-level GTF/GFF3 record. GTF and GENCODE's GFF3 write `gene` for every
#: gene; Ensembl's GFF3 writes `gene` for protein-coding genes only.
GENE_FEATURES = frozenset({"gene", "ncRNA_gene", "pseudogene"})
#: Attributes holding a gene's type, symbol: GENCODE's, then Ensembl's names.
TYPE_ATTRIBUTES = ("gene_type", "gene_biotype", "biotype")
SYMBOL_ATTRIBUTES = ("gene_name", "Name")
_NO_STRAND = {".", "?"}
#: A stable id's version (`ENSG00000223972.5`, `NM_000014.6`), with GENCODE's mark of a
#: pseudoautosomal gene's chrY copy. Only ids shaped like stable ids (letters, digits) lose
#: it, so that symbols such as `RP11-34P13.3` stay whole.
_VERSIONED_ID = re.compile(r"^([A-Za-z_]+\d+)\.\d+(?:_PAR_Y)?$")


def strip_versions(ids: pd.Series) -> pd.Series:
    """Gene ids without their version suffix; unversioned ids (Roadmap's) are unchanged."""
    return ids.astype(str).str.replace(_VERSIONED_ID, r"\1", regex=True)


def read_annotation(
    path: str | Path, gene_types: Sequence[str] | None = DEFAULT_GENE_TYPES
) -> pd.DataFrame:
    """Genes from gene_info, GTF or GFF3 (told by content): GENE_COLUMNS plus `tss`.

    `gene_types` filters GTF/GFF3 genes (None keeps all); gene_info is read unfiltered, as it
    always was, so that the Roadmap configuration's genes do not change.
    """
    if annotation_format(path) == "gene_info":
        return read_gene_info(path)
    return read_gene_records(path, gene_types)


def annotation_format(path: str | Path) -> str:
    """`gff` (GTF or GFF3) or `gene_info`, from the first line that is not a comment."""
    with open_text(path) as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            # gene_info holds integers in columns 3-4, GTF/GFF3 a feature type in column 3.
            looks_like_gff = len(fields) == 9 and not fields[2].isdigit()
            if looks_like_gff and fields[3].isdigit() and fields[4].isdigit():
                return "gff"
            return "gene_info"
    return "gene_info"


def read_gene_info(path: str | Path) -> pd.DataFrame:
    """Parse a Roadmap gene_info file into GENE_COLUMNS plus `tss`."""
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
            rows.append((gene_id, chrom, int(start), int(end), _STRANDS[strand], symbol, number))
    if not rows:
        raise InputError(path, "no genes found")
    return _gene_table(rows)


def _gene_table(rows: list[tuple]) -> pd.DataFrame:
    """GENE_COLUMNS rows as a table, ids without versions, with each gene's TSS."""
    genes = pd.DataFrame(rows, columns=GENE_COLUMNS)
    genes["gene_id"] = strip_versions(genes["gene_id"])
    genes["tss"] = np.where(genes["strand"] == "+", genes["start"], genes["end"])
    return genes


class GeneRecord(NamedTuple):
    """One gene of a GTF/GFF3 file: GENE_COLUMNS, then its type (to filter on)."""

    gene_id: str
    chrom: str
    start: int
    end: int
    strand: str
    symbol: str
    line: int
    gene_type: str


def read_gene_records(
    path: str | Path, gene_types: Sequence[str] | None = DEFAULT_GENE_TYPES
) -> pd.DataFrame:
    """The gene records of a GTF or GFF3 file of the given types: GENE_COLUMNS plus `tss`."""
    features: Counter[str] = Counter()
    rows = []
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith("##FASTA"):  # GFF3: sequences, not records, follow
                break
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != 9:
                raise InputError(
                    path,
                    f"expected 9 tab-separated columns (GTF/GFF3), found {len(fields)}"
                    f"{separator_hint(line)}",
                    line=number,
                )
            features[fields[2]] += 1
            if fields[2] in GENE_FEATURES:
                rows.append(_gene_record(fields, path, number))
    if not rows:
        found = ", ".join(f"{kind} ({n})" for kind, n in sorted(features.items()))
        raise InputError(
            path,
            f"no `gene` records (column 3): found {features.total()} records of types {found}"
            if features
            else "no records found",
        )
    rows = _stranded(_of_types(rows, gene_types, path), path)
    return _gene_table([row[:-1] for row in rows])  # without gene_type


def _gene_record(fields: list[str], path: str | Path, number: int) -> GeneRecord:
    """The gene record on line `number`, split into its 9 `fields`."""
    chrom, _, feature, start, end, _, strand, _, text = (f.strip() for f in fields)
    if not (start.isdigit() and end.isdigit()):
        raise InputError(path, f"start/end must be integers, got {start!r}, {end!r}", line=number)
    if strand not in ("+", "-") and strand not in _NO_STRAND:
        raise InputError(path, f"strand must be +, - or ., got {strand!r}", line=number)
    attributes = parse_attributes(text)
    gene_id = attributes.get("gene_id") or attributes.get("ID", "").removeprefix("gene:")
    if not gene_id:
        raise InputError(path, f"{feature} record without a gene_id or ID attribute", line=number)
    symbol = next((attributes[k] for k in SYMBOL_ATTRIBUTES if k in attributes), "")
    gene_type = next((attributes[k] for k in TYPE_ATTRIBUTES if k in attributes), "")
    return GeneRecord(gene_id, chrom, int(start), int(end), strand, symbol, number, gene_type)


_GFF3_PAIR = re.compile(r"([^\s=]+)=(.*)$")
_GTF_PAIR = re.compile(r'(\S+)\s+"(.*)"$|(\S+)\s+(\S+)$')


def parse_attributes(text: str) -> dict[str, str]:
    """Column 9 of a record: GTF's `key "value";` or GFF3's `key=value;` pairs.

    The first value of a repeated key is kept (GTF repeats `tag`).
    """
    attributes: dict[str, str] = {}
    for pair in text.split(";"):
        pair = pair.strip()
        if gff3 := _GFF3_PAIR.match(pair):
            key, value = (unquote(part.strip()) for part in gff3.groups())  # GFF3 escapes ;=%
        elif gtf := _GTF_PAIR.match(pair):
            key, value = (part for part in gtf.groups() if part is not None)
        else:
            continue
        attributes.setdefault(key, value)
    return attributes


def _of_types(rows: list[GeneRecord], gene_types: Sequence[str] | None, path) -> list[GeneRecord]:
    """The genes whose type is in `gene_types`; all of them for None."""
    if gene_types is None:
        return rows
    wanted = set(gene_types)
    kept = [row for row in rows if row.gene_type in wanted]
    if not kept:
        present = Counter(row.gene_type or "(none given)" for row in rows)
        raise InputError(
            path,
            f"none of its {len(rows)} genes has a type in sources.gene_types "
            f"({', '.join(gene_types)}); the types present are "
            + ", ".join(f"{kind} ({n})" for kind, n in sorted(present.items())),
        )
    log.info(
        "%s: %d of %d genes are of types %s; the others are dropped",
        path,
        len(kept),
        len(rows),
        ", ".join(gene_types),
    )
    return kept


def _stranded(rows: list[GeneRecord], path) -> list[GeneRecord]:
    """Genes with a strand. Without one a gene has no TSS, so it cannot be placed in a
    window: like a gene on a chromosome missing from the sizes, it is dropped and logged
    rather than stopping the run over one odd record."""
    kept = [row for row in rows if row.strand not in _NO_STRAND]
    unstranded = [row for row in rows if row.strand in _NO_STRAND]
    if not kept:
        raise InputError(path, f"none of its {len(rows)} genes has a strand (+ or -)")
    if unstranded:
        shown = ", ".join(f"{row.gene_id} (line {row.line})" for row in unstranded[:5])
        log.warning(
            "%s: %d genes have no strand, so no TSS, and are dropped: %s%s",
            path,
            len(unstranded),
            shown,
            " ..." if len(unstranded) > 5 else "",
        )
    return kept


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


def read_expression(
    path: str | Path, cells: list[str] | None = None, id_column: str | None = None
) -> pd.DataFrame:
    """An expression table: index `gene_id` (without versions), one float column per cell type.

    Tab- or comma-separated, plain or gzipped, the gene id in `id_column` (default: the first
    column); leading `#` comment lines (featureCounts' `# Program:...`) are skipped. With
    `cells`, those columns in that order; without, every column of numbers (others, like
    gene_name, are dropped and logged). Every value read must be a finite non-negative number.
    """
    layout = table_layout(path)
    table = _read_headed_table(path, layout, id_column)
    values = (
        _numeric_columns(table, path, layout)
        if cells is None
        else _cell_columns(table, cells, path, layout)
    )
    return _unversioned_ids(_as_rpkm(values, path, layout), path, layout)


#: The words for the separators read_expression tells apart.
SEPARATORS = {"\t": "tab", ",": "comma"}


class TableLayout(NamedTuple):
    """Where an expression table's header is, and what separates its columns."""

    separator: str
    #: Leading `#` lines before the header, skipped.
    comments: int = 0

    @property
    def header_line(self) -> int:
        return self.comments + 1

    def line_of(self, row: int) -> int:
        """The line number of data row `row` (0-based)."""
        return self.comments + 2 + row


def table_layout(path: str | Path) -> TableLayout:
    """The separator and the number of leading comment lines of an expression table.

    Leading lines starting with `#` are comments (featureCounts writes `# Program:...`),
    except the last of them when it holds as many columns as the line after it: that is a
    header written with a `#` (`#gene_id<TAB>E003`), kept. The separator is the header's:
    a tab wins, and a header with neither is taken as tab-separated, so that read_table
    names a space-separated one.
    """
    comments: list[str] = []
    first = ""
    try:
        with open_text(path) as handle:
            for line in handle:
                if not line.startswith("#"):
                    first = line
                    break
                comments.append(line)
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise InputError(path, f"cannot read the expression table: {error}") from None
    separator = _separator(first)
    header_has_hash = bool(comments and first) and _fields(comments[-1], separator) == _fields(
        first, separator
    )
    skipped = len(comments) - header_has_hash
    if skipped:
        log.info("%s: %d comment line(s) (#) before the header skipped", path, skipped)
    header = comments[-1] if header_has_hash else first
    return TableLayout(_separator(header), skipped)


def _separator(header: str) -> str:
    return "," if "," in header and "\t" not in header else "\t"


def _fields(line: str, separator: str) -> int:
    return len(line.rstrip("\r\n").split(separator))


def _read_headed_table(
    path: str | Path, layout: TableLayout, id_column: str | None
) -> pd.DataFrame:
    """The table, indexed by its gene id column (as text), other columns as pandas reads them."""
    header = layout.header_line
    try:
        table = read_table(
            path,
            sep=layout.separator,
            skiprows=layout.comments,
            dtype={id_column or 0: str},
            na_values=_MISSING_CASES,
        )
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InputError(path, f"cannot read the expression table: {error}") from None
    except pd.errors.EmptyDataError:
        empty = "the file is empty" if header == 1 else "only comment lines (#), no header"
        raise InputError(path, empty) from None
    if not isinstance(table.index, pd.RangeIndex):  # pandas' reading of a short header
        raise InputError(
            path,
            "the header names one column fewer than the lines below hold: give the gene id "
            "column a name",
            line=header,
        )
    id_column = id_column or table.columns[0]
    if id_column not in table.columns:
        raise InputError(
            path,
            f"no gene id column {id_column!r} (sources.expression_id_column); the columns "
            f"are {', '.join(map(str, table.columns))}",
            line=header,
        )
    if table.empty or len(table.columns) < 2:
        raise InputError(
            path, "expected a header (gene id, cell types), then one line per gene", line=header
        )
    ids = table.pop(id_column)
    empty = ids.isna() | (ids.str.strip() == "")
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise InputError(path, f"no gene id in column {id_column}", line=layout.line_of(row))
    return table.set_axis(pd.Index(ids.str.strip(), name="gene_id"))


def _cell_columns(
    table: pd.DataFrame, cells: list[str], path: str | Path, layout: TableLayout
) -> pd.DataFrame:
    missing = [c for c in cells if c not in table.columns]
    if missing:
        raise InputError(
            path,
            (
                f"cell type {missing[0]} is not a column"
                if len(missing) == 1
                else f"cell types {', '.join(missing)} are not columns"
            )
            + " of the expression table "
            f"(columns: {', '.join(map(str, table.columns))})",
            line=layout.header_line,
        )
    return table[cells]


def _numeric_columns(table: pd.DataFrame, path: str | Path, layout: TableLayout) -> pd.DataFrame:
    """The columns of numbers: cell types (an empty field among them is for _as_rpkm to
    report). Columns holding text (gene_name, description) or nothing are dropped, logged."""
    numeric = [name for name in table.columns if _is_numbers(table[name])]
    if not numeric:
        raise InputError(
            path,
            "no column besides the gene id holds numbers: no cell type found",
            line=layout.header_line,
        )
    for name in table.columns.difference(numeric, sort=False):
        column = table[name]
        text = column.notna() & pd.to_numeric(column, errors="coerce").isna()
        if text.any():
            row = int(np.flatnonzero(text)[0])
            value = column.iat[row]
            hint = _comma_hint(value, layout.separator)
            why = f"holds text (line {layout.line_of(row)}: {value!r}{hint})"
        else:
            why = "is empty"
        log.info("%s: column %s is not a cell type, it %s: not used", path, name, why)
    return table[numeric]


def _is_numbers(column: pd.Series) -> bool:
    """Whether pandas read numbers (or empty fields) only, and at least one number."""
    types = pd.api.types
    numbers = types.is_numeric_dtype(column) and not types.is_bool_dtype(column)
    return numbers and bool(column.notna().any())


def _unversioned_ids(table: pd.DataFrame, path: str | Path, layout: TableLayout) -> pd.DataFrame:
    """The table with ids stripped of versions; two rows of one id are an error, except a
    GENCODE `_PAR_Y` row beside its chrX gene, which is dropped and logged."""
    lines = np.arange(len(table)) + layout.line_of(0)
    written = table.index.to_series(index=lines)  # by line number
    ids = strip_versions(written)
    par_y = written.str.endswith("_PAR_Y") & ids.duplicated(keep=False)
    if par_y.any():
        log.info(
            "%s: %d chrY copies of pseudoautosomal genes (_PAR_Y, e.g. %s on line %d) are "
            "dropped; their chrX gene is kept",
            path,
            int(par_y.sum()),
            written[par_y].iloc[0],
            written[par_y].index[0],
        )
    keep = ~par_y.to_numpy()
    table, written, ids = table[keep], written[keep], ids[keep]
    repeated = ids.duplicated()
    if repeated.any():
        line = int(ids.index[repeated][0])
        first = int(ids.index[(ids == ids[line]).to_numpy()][0])
        if written[first] == written[line]:
            message = f"gene {written[line]} is listed twice (lines {first} and {line})"
        else:
            message = (
                f"gene ids {written[first]} (line {first}) and {written[line]} (line {line}) "
                "are one gene without their version suffixes"
            )
        raise InputError(path, message, line=line)
    return table.set_axis(pd.Index(ids.to_numpy(), name="gene_id"))


def _as_rpkm(table: pd.DataFrame, path: str | Path, layout: TableLayout) -> pd.DataFrame:
    """The matrix as floats; the first value that is not a finite non-negative number
    (NaN in any spelling, inf, a negative number, text) is an error naming what is written."""
    numeric = table.apply(pd.to_numeric, errors="coerce")
    values = numeric.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        written = _written_field(path, layout, row, table.columns[col])
        raise InputError(
            path,
            f"gene {table.index[row]}, cell type {table.columns[col]}: RPKM must be a "
            f"non-negative number, got {_what_is_written(written, layout.separator)}",
            line=layout.line_of(row),
        )
    return numeric.astype(float)


def _written_field(path: str | Path, layout: TableLayout, row: int, column: str) -> str:
    """One field of the table as the file spells it (pandas reads `NA` and `` alike)."""
    raw = read_table(
        path,
        sep=layout.separator,
        skiprows=layout.comments,
        dtype=str,
        keep_default_na=False,
        usecols=[column],
    )
    return raw[column].iat[row]


#: How pandas spells infinity when it reads a number (any case, optional sign).
_INFINITE = re.compile(r"^\s*[+-]?(inf|infinity)\s*$", re.IGNORECASE)
#: A number written with a decimal comma, or with a thousands separator.
_COMMA_NUMBER = re.compile(r"^\s*[+-]?\d+(,\d+)+\s*$")


def _what_is_written(text: str, separator: str) -> str:
    """A field that is not an expression value, as written, with why it is not one."""
    if not text.strip():
        return f"an empty field or NA (is the line {SEPARATORS[separator]}-separated?)"
    hint = _comma_hint(text, separator)
    if not hint and (_INFINITE.match(text) or np.isinf(pd.to_numeric(text, errors="coerce"))):
        hint = ", which is not a finite number"
    elif not hint and text.strip().lower() in _MISSING:
        hint = ", a missing value"
    return f"{text!r}{hint}"


#: Spellings of a missing value (pandas' default na_values, any case).
_MISSING = frozenset(
    s.lower()
    for s in ("#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "1.#IND", "1.#QNAN")
    + ("<NA>", "N/A", "NA", "NULL", "NaN", "None", "null", "+NaN")
)
#: The same in the other cases pandas would read as text (`NAN`, `Null`): a column of
#: numbers with one of them is a column of numbers with a missing value.
_MISSING_CASES = sorted({case for s in _MISSING for case in (s, s.upper(), s.title())})


def _comma_hint(text, separator: str) -> str:
    """Why a number with a comma in a tab-separated table is not read as a number."""
    if separator == "\t" and isinstance(text, str) and _COMMA_NUMBER.match(text):
        return (
            ": a comma in a number (write decimals with a point, "
            f"{text.strip().replace(',', '.', 1)}, and thousands without a separator)"
        )
    return ""


def check_expressed(matrix: pd.DataFrame, cells: Sequence[str], path: str | Path) -> None:
    """Stop when a cell type holds one value for every gene: no gene is above the median,
    so every label would be 0.

    An all-zero column is a failed quantification; caught here, naming the table and the
    column, rather than when training finds a split with one class.
    """
    for cell in cells:
        values = matrix[cell]
        if values.empty or values.max() > values.min():  # no genes: the split says so
            continue
        value = f"{values.max():g}"
        failed = " (a failed quantification?)" if value == "0" else ""
        raise InputError(
            path,
            f"column {cell} is {value} for all {len(values)} genes kept{failed}: no gene is "
            "above the median, so every gene would be labelled 0",
        )


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
    raise InputError(
        expression_path,
        f"only {shared} of its {len(theirs)} gene ids are in {genes_path} "
        f"({len(ours)} ids), e.g. {min(map(str, theirs))!r} here and "
        f"{min(map(str, ours))!r} there",
    )


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
