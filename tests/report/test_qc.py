"""The QC tables: reads in = kept + dropped for each sample, flags within a mark, and
MultiQC custom content whose header is its configuration."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from attentivechrome.data.counting import ReadTally
from attentivechrome.report.qc import qc_samples, sample_table
from attentivechrome.tracks.coverage import sample_row

# (cell, replicate, conversion counts or None for a BAM, tally fields, reads in windows)
SAMPLES = [
    (
        "A",
        "H3K4me3",
        {"n_reads": 1000, "n_kept": 990, "n_unknown_chrom": 7, "n_past_end": 3},
        {"records": 990, "passed": 990},
        600,
    ),
    (
        "B",
        "H3K4me3",
        None,
        {
            "records": 1200,
            "passed": 1000,
            "secondary": 30,
            "dropped": {"mapq": 150, "duplicate": 40, "off_genome": 10},
        },
        550,
    ),
    # Far below the others in depth (2% of the median), its TSS fraction normal.
    ("C", "H3K4me3", None, {"records": 20, "passed": 20}, 12),
    # A TSS fraction far below its mark's (0.1 against 0.6): flagged.
    ("D", "H3K4me3", None, {"records": 1000, "passed": 1000}, 100),
    ("A", "H3K9me3", None, {"records": 500, "passed": 500}, 50),
    ("B", "H3K9me3.rep1", None, {"records": 400, "passed": 400}, 44),
]


def write_samples(folder) -> list[dict]:
    samples = []
    for cell, replicate, conversion, fields, in_windows in SAMPLES:
        tally = ReadTally(fields["records"], fields["passed"], fields.get("secondary", 0))
        tally.dropped |= fields.get("dropped", {})
        tally_path = folder / f"{cell}.{replicate}.tsv"
        pd.DataFrame([sample_row(tally, in_windows)]).to_csv(tally_path, sep="\t", index=False)
        conversion_path = folder / f"{cell}.{replicate}.json"
        conversion_path.write_text(json.dumps(conversion or {}))
        mark = replicate.split(".")[0]
        samples.append(
            {
                "cell": cell,
                "mark": mark,
                "replicate": replicate,
                "tally": tally_path,
                "conversion": conversion_path,
            }
        )
    return samples


def test_reads_in_are_kept_plus_dropped_and_far_below_is_flagged(tmp_path):
    table = sample_table(write_samples(tmp_path)).set_index("sample")
    dropped = table.filter(like="dropped_").sum(axis=1)
    assert (table["reads_in"] == table["kept"] + dropped).all()
    a = table.loc["A H3K4me3"]
    assert (a["reads_in"], a["dropped_unknown_chrom"], a["dropped_past_end"]) == (1000, 7, 3)
    b = table.loc["B H3K4me3"]
    assert (b["reads_in"], b["dropped_mapq"], b["dropped_unknown_chrom"]) == (1200, 150, 10)
    assert b["secondary"] == 30 and b["tss_fraction"] == pytest.approx(0.55)
    assert table["flag"].to_dict() == {
        "A H3K4me3": "ok",
        "B H3K4me3": "ok",
        "C H3K4me3": "depth below 5% of the mark's median",
        "D H3K4me3": "TSS fraction below 50% of the mark's median",
        "A H3K9me3": "ok",
        "B H3K9me3.rep1": "ok",
    }


def read_custom_content(path) -> tuple[dict, pd.DataFrame]:
    lines = path.read_text().splitlines()
    header = [line[2:] for line in lines if line.startswith("# ")]
    table = pd.read_csv(path, sep="\t", comment="#")
    return yaml.safe_load("\n".join(header)), table


def test_custom_content_files(tmp_path):
    depth = tmp_path / "depth.tsv"
    pd.DataFrame(
        {
            "cell": ["A", "B", "C", "D", "A", "B"],
            "mark": ["H3K4me3"] * 4 + ["H3K9me3"] * 2,
            "reads_in_bins": [900, 800, 10, 300, 200, 210],
            "mark_median": [550.0] * 4 + [205.0] * 2,
            "fraction_of_median": [1.6, 1.5, 0.02, 0.5, 0.98, 1.02],
            "low": ["no", "no", "yes", "no", "no", "no"],
        }
    ).to_csv(depth, sep="\t", index=False)
    summary = tmp_path / "summary.tsv"
    pd.DataFrame(
        {
            "cell": ["A", "A", "B", "B"],
            "model": ["attentivechrome", "logistic"] * 2,
            "test_auroc_mean": [0.8, 0.75, 0.7, 0.72],
        }
    ).to_csv(summary, sep="\t", index=False)
    out = {
        "samples": tmp_path / "samples_mqc.tsv",
        "read_fates": tmp_path / "read_fates_mqc.yaml",
        "marks": tmp_path / "marks_mqc.tsv",
        "training": tmp_path / "training_mqc.tsv",
    }
    qc_samples(write_samples(tmp_path), depth, summary, out)
    config, samples = read_custom_content(out["samples"])
    assert config["plot_type"] == "table" and "tss_fraction" in config["headers"]
    assert samples.columns[0] == "sample" and len(samples) == len(SAMPLES)
    config, marks = read_custom_content(out["marks"])
    assert marks.set_index("sample").loc["C H3K4me3", "low"] == "yes"
    assert marks.set_index("sample").loc["B H3K9me3", "kept"] == 400
    _, training = read_custom_content(out["training"])
    assert training.to_dict("list") == {
        "sample": ["A", "B"],
        "attentivechrome": [0.8, 0.7],
        "logistic": [0.75, 0.72],
    }
    fates = yaml.safe_load(out["read_fates"].read_text())
    assert fates["plot_type"] == "bargraph" and list(fates["categories"])[0] == "kept"
    assert fates["data"]["B H3K4me3"]["mapq"] == 150
    assert sum(fates["data"]["A H3K4me3"].values()) == 1000
