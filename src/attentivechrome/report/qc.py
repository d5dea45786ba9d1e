"""The per-sample QC report: what became of each replicate's reads, how many fall in the
TSS windows, reads per cell type and mark, and the training summary, as MultiQC custom
content (rule qc_samples) that rule qc_multiqc turns into a report.

A sample is one replicate (one row of the sample sheet). Its reads in are the lines of
its text file, or the records of its BAM; each read is kept (it passes the counting
filters, `counting`) or dropped for the first reason that applies: on a chromosome the
chromosome sizes lack, past a chromosome's end (both at conversion, data.reads; a BAM's
records on unknown chromosomes at counting), unmapped, MAPQ, duplicate, QC-fail, not a
proper pair, or no reference base in its CIGAR (data.counting.DROP_REASONS). Secondary
alignments are kept, as bedtools multicov counts them; their number is shown. The TSS
fraction is the share of kept reads that overlap a TSS window (each read once), as FRiP is
for peaks.

Flags, within a mark (marks differ in depth and in how much of them sits at promoters): a
sample whose kept reads are below data.depth.LOW_FRACTION of the mark's median over the
samples, or whose TSS fraction is below TSS_LOW_FRACTION of the mark's median TSS fraction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from attentivechrome.data.depth import LOW_FRACTION
from attentivechrome.io import atomic_write_text
from attentivechrome.report.summary import read_summary, summary_task
from attentivechrome.task import metric_label

log = logging.getLogger(__name__)

#: A sample with a TSS fraction below this fraction of its mark's median is flagged.
TSS_LOW_FRACTION = 0.5
#: Where each read went, in the order of the read-fate bar graph: column -> label.
FATES = {
    "kept": "kept",
    "unknown_chrom": "unknown chromosome",
    "past_end": "past a chromosome end",
    "unmapped": "unmapped",
    "mapq": "MAPQ below counting.min_mapq",
    "duplicate": "duplicate",
    "qc_fail": "QC-fail",
    "not_proper_pair": "not a proper pair",
    "no_span": "no reference base",
}
#: The sample table's numeric columns: title, description, format.
SAMPLE_HEADERS = {
    "reads_in": ("Reads in", "reads of the text file, or records of the BAM", "{:,.0f}"),
    "kept": ("Kept", "reads passing the counting filters", "{:,.0f}"),
    **{
        f"dropped_{column}": (f"Dropped: {label}", f"reads dropped: {label}", "{:,.0f}")
        for column, label in FATES.items()
        if column != "kept"
    },
    "secondary": ("Secondary", "kept secondary alignments (counted, as multicov does)", "{:,.0f}"),
    "tss_reads": ("TSS reads", "kept reads overlapping a TSS window", "{:,.0f}"),
    "tss_fraction": ("TSS fraction", "share of kept reads in the TSS windows", "{:,.3f}"),
    "depth_of_median": ("Depth / median", "kept reads / the mark's median", "{:,.2f}"),
    "tss_of_median": ("TSS / median", "TSS fraction / the mark's median", "{:,.2f}"),
    "flag": ("Flag", "ok, or what is far below the mark's median", None),
}


#: The mark table's columns: title, description, format.
MARK_HEADERS = {
    "reads_in": ("Reads in", "reads in of the replicates together", "{:,.0f}"),
    "kept": ("Kept", "kept reads of the replicates together", "{:,.0f}"),
    "reads_in_bins": (
        "Reads in bins",
        "reads counted in the TSS bins (a read across a bin edge counts in both)",
        "{:,.0f}",
    ),
    "mark_median": ("Mark median", "the mark's median reads in bins over cell types", "{:,.0f}"),
    "fraction_of_median": ("Of median", "reads in bins / the mark's median", "{:,.2f}"),
    "low": ("Low", f"reads in bins below {LOW_FRACTION:.0%} of the mark's median", None),
}
#: The order of the report's sections (their ids).
SECTIONS = ["samples", "read_fates", "marks", "training"]


def sample_name(cell: str, replicate: str) -> str:
    """A sample's name in the report: `cell replicate` (`OWN1 H3K27ac.rep2`)."""
    return f"{cell} {replicate}"


def sample_table(samples: Sequence[Mapping]) -> pd.DataFrame:
    """One row per sample. Each of `samples` has cell, mark, replicate (its name,
    `{mark}[.rep{n}]`), tally (the TSV bam_coverage wrote) and conversion (the JSON
    reads_to_bam wrote)."""
    rows = []
    for sample in samples:
        tally = pd.read_csv(sample["tally"], sep="\t").iloc[0]
        conversion = json.loads(Path(sample["conversion"]).read_text())
        records = int(tally["records"])
        kept = int(tally["passed"])
        rows.append(
            {
                "sample": sample_name(sample["cell"], sample["replicate"]),
                "cell": sample["cell"],
                "mark": sample["mark"],
                "reads_in": conversion.get("n_reads", records),
                "kept": kept,
                "dropped_unknown_chrom": conversion.get("n_unknown_chrom", 0)
                + int(tally["dropped_off_genome"]),
                "dropped_past_end": conversion.get("n_past_end", 0),
                "dropped_unmapped": int(tally["dropped_unplaced"]),
                **{
                    f"dropped_{name}": int(tally[f"dropped_{name}"])
                    for name in ("mapq", "duplicate", "qc_fail", "not_proper_pair", "no_span")
                },
                "secondary": int(tally["secondary"]),
                "tss_reads": int(tally["in_windows"]),
                "tss_fraction": tally["in_windows"] / kept if kept else np.nan,
            }
        )
    table = flag_samples(pd.DataFrame(rows))
    first = ["sample", "cell", "mark", "reads_in", "kept", "tss_reads", "tss_fraction"]
    first += ["depth_of_median", "tss_of_median", "flag", "secondary"]
    return table[first + [c for c in table.columns if c not in first]]


def flag_samples(table: pd.DataFrame) -> pd.DataFrame:
    """Each sample's depth and TSS fraction against its mark's medians, and its flag
    (`ok`, or what is low)."""
    by_mark = table.groupby("mark")
    depth = table["kept"] / by_mark["kept"].transform("median").where(lambda m: m > 0)
    tss = table["tss_fraction"] / by_mark["tss_fraction"].transform("median").where(lambda m: m > 0)
    table = table.assign(depth_of_median=depth, tss_of_median=tss)
    low_depth = (depth < LOW_FRACTION) | (table["kept"] == 0)
    low_tss = tss < TSS_LOW_FRACTION
    flags = [
        "; ".join(
            reason
            for reason, low in (
                (f"depth below {LOW_FRACTION:.0%} of the mark's median", d),
                (f"TSS fraction below {TSS_LOW_FRACTION:.0%} of the mark's median", t),
            )
            if low
        )
        or "ok"
        for d, t in zip(low_depth, low_tss, strict=True)
    ]
    return table.assign(flag=flags)


def mark_table(samples: pd.DataFrame, depth: Path) -> pd.DataFrame:
    """One row per (cell type, mark): its samples' reads in and kept reads summed, and its
    reads in bins against the mark's median (results/qc/depth.tsv)."""
    summed = samples.groupby(["cell", "mark"], sort=False)[["reads_in", "kept"]].sum()
    in_bins = pd.read_csv(depth, sep="\t", dtype={"cell": str, "mark": str})
    table = summed.reset_index().merge(in_bins, on=["cell", "mark"], how="left")
    table.insert(0, "sample", table["cell"] + " " + table["mark"])
    return table


def training_table(summary: Path) -> pd.DataFrame:
    """The task's primary test metric (AUROC, or Pearson r for regression; mean over seeds)
    of every model, one row per cell type."""
    table = read_summary(summary)
    wide = table.pivot_table(
        index="cell", columns="model", values=f"{summary_task(table).primary}_mean", sort=False
    ).reset_index()
    wide.columns.name = None
    return wide.rename(columns={"cell": "sample"})


def custom_content_tsv(table: pd.DataFrame, config: Mapping) -> str:
    """A table as MultiQC custom content: its configuration as `#` lines, then the TSV
    (first column the sample)."""
    header = yaml.safe_dump(dict(config), sort_keys=False, width=1000)
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + table.to_csv(sep="\t", index=False, float_format="%.4f")


def _headers(known: Mapping[str, tuple], columns: Sequence[str]) -> dict:
    """MultiQC's column headers of `columns` in their order (MultiQC shows a table's columns
    in its headers' order), from `known` (title, description, format)."""
    headers = {}
    for column in columns:
        if column in known:
            title, description, fmt = known[column]
            headers[column] = {"title": title, "description": description}
            headers[column] |= {"format": fmt} if fmt else {}
    return headers


def _table(section: str, anchor: str, description: str, headers: dict | None = None) -> dict:
    config = {
        "id": f"attentivechrome_{anchor}",
        "section_name": section,
        "description": description,
        "plot_type": "table",
        "pconfig": {"id": f"attentivechrome_{anchor}_table", "title": section},
    }
    return config | ({"headers": headers} if headers else {})


def read_fates(samples: pd.DataFrame) -> dict:
    """The read-fate bar graph (MultiQC custom content as YAML, data inline)."""
    columns = {"kept": "kept"} | {f"dropped_{c}": c for c in FATES if c != "kept"}
    data = {
        row["sample"]: {columns[column]: int(row[column]) for column in columns}
        for _, row in samples.iterrows()
    }
    return {
        "id": "attentivechrome_read_fates",
        "section_name": "Read fates",
        "description": "What became of each sample's reads: kept for counting, or dropped for "
        "the first reason that applies.",
        "plot_type": "bargraph",
        "pconfig": {
            "id": "attentivechrome_read_fates_plot",
            "title": "Read fates",
            "ylab": "Reads",
        },
        "categories": {name: {"name": label} for name, label in FATES.items()},
        "data": data,
    }


def qc_samples(
    samples: Sequence[Mapping],
    depth: Path,
    summary: Path,
    out: Mapping[str, Path],
) -> pd.DataFrame:
    """Write the custom content files (`out`: samples, read_fates, marks, training) and
    log a warning for each flagged sample."""
    table = sample_table(samples)
    for row in table[table["flag"] != "ok"].itertuples():
        log.warning(
            "%s: %s (%d kept reads, TSS fraction %.3f)",
            row.sample,
            row.flag,
            row.kept,
            row.tss_fraction,
        )
    shown = table.drop(columns=["cell", "mark"])
    atomic_write_text(
        out["samples"],
        custom_content_tsv(
            shown,
            _table(
                "Reads per sample",
                "samples",
                "Each replicate's reads in, kept and dropped by reason, and the share of kept "
                "reads in the TSS windows. Flag: depth or TSS fraction far below the mark's "
                f"median (below {LOW_FRACTION:.0%} and {TSS_LOW_FRACTION:.0%} of it).",
                _headers(SAMPLE_HEADERS, shown.columns),
            ),
        ),
    )
    atomic_write_text(out["read_fates"], yaml.safe_dump(read_fates(table), sort_keys=False))
    marks = mark_table(table, depth).drop(columns=["cell", "mark"])
    atomic_write_text(
        out["marks"],
        custom_content_tsv(
            marks,
            _table(
                "Reads per cell type and mark",
                "marks",
                "Replicates together: reads in and kept, and the reads counted in the TSS "
                "bins against the mark's median over the cell types (low: below "
                f"{LOW_FRACTION:.0%}).",
                _headers(MARK_HEADERS, marks.columns),
            ),
        ),
    )
    metric = metric_label(summary_task(read_summary(summary)).primary)
    atomic_write_text(
        out["training"],
        custom_content_tsv(
            training_table(summary),
            _table(
                metric[0].upper() + metric[1:],
                "training",
                f"Each model's {metric} per cell type, the mean over seeds (summary.tsv).",
            ),
        ),
    )
    log.info("%d samples, %d flagged", len(table), int((table["flag"] != "ok").sum()))
    return table
