"""The expression table: any tab- or comma-separated table of genes by cell types.

Rules recorded here once:
- Tab- or comma-separated (told by its header line: a tab wins), plain or gzipped, the gene id
  in `id_column` (default: the first column); leading `#` comment lines are skipped.
- Columns that hold numbers are cell types; every value must be a finite non-negative
  number. Other columns (gene_name, ...) are dropped and logged, unless they are asked for as
  cell types (then an error). A configured cell type with one value for every gene kept (a
  failed quantification) is an error.
- Gene ids lose their version suffixes as the annotation's do (annotation.strip_versions).
  Two rows that are one gene without version suffixes are an error, except that a GENCODE
  `_PAR_Y` row next to its chrX gene is dropped and logged (quantifiers give it nothing:
  chrY's PAR is masked).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from attentivechrome.data.annotation import strip_versions
from attentivechrome.errors import InputError
from attentivechrome.io import header_separator, open_text, read_table

log = logging.getLogger(__name__)


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
    separator = header_separator(first)
    header_has_hash = bool(comments and first) and _fields(comments[-1], separator) == _fields(
        first, separator
    )
    skipped = len(comments) - header_has_hash
    if skipped:
        log.info("%s: %d comment line(s) (#) before the header skipped", path, skipped)
    header = comments[-1] if header_has_hash else first
    return TableLayout(header_separator(header), skipped)


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
    so every label would be 0, and no level differs for a regression.

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
            "above the median, so every gene would be labelled 0 (and for task: regression "
            "every level would be the same)",
        )
