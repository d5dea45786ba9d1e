"""Gene coordinates: Roadmap gene_info, GTF or GFF3, read into one gene table.

Rules recorded here once:
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
- Gene ids are compared without version suffixes (`ENSG00000223972.5` is
  `ENSG00000223972`; GENCODE's `ENSG00000182378.14_PAR_Y`, the chrY copy of a
  pseudoautosomal gene, is `ENSG00000182378`), here and in the expression table.
  Only ids shaped like stable ids (letters, then digits) lose a suffix: `RP11-34P13.3` stays.
- A gene id listed twice in the annotation (gene_info has 7, with two symbols each; a GENCODE
  PAR_Y copy follows its chrX gene) keeps its first row: one window per gene id.
  Conflicting coordinates are logged as a warning, not silently merged.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

import numpy as np
import pandas as pd

from attentivechrome.errors import InputError, separator_hint
from attentivechrome.io import open_text

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
