"""benchmarks/rehearsal.py: a small rehearsal parses with the pipeline's readers and plans."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
import yaml

from attentivechrome.data.annotation import read_gene_info
from attentivechrome.data.expression import read_expression
from attentivechrome.data.gene_selection import select_genes
from attentivechrome.data.genome import load_chrom_sizes, match_chroms
from attentivechrome.data.reads import write_filtered
from helpers import REPO, planned_jobs

sys.path.insert(0, str(REPO / "benchmarks"))
import rehearsal  # noqa: E402

GENES = 2000
READS = 0.05  # million per mark


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    work = tmp_path_factory.mktemp("rehearsal")
    command = [sys.executable, str(REPO / "benchmarks/rehearsal.py"), str(work)]
    command += ["--genes", str(GENES), "--reads", str(READS), "--chunk", "0.004"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    return work, result.stdout


@pytest.mark.slow
def test_files_parse_with_the_pipelines_readers(small):
    work, output = small
    genes = read_gene_info(work / rehearsal.GENE_INFO_NAME)
    assert len(genes) == GENES and genes["gene_id"].is_unique
    assert genes["gene_id"].is_monotonic_increasing
    assert genes["gene_id"].str.fullmatch(r"ENSG\d{11}").all()
    assert set(genes["strand"]) == {"+", "-"}
    chroms = set(genes["chrom"])  # as gene_info writes them: 1, 2, ..., X, Y
    assert chroms <= {str(c) for c in [*range(1, 23), "X", "Y"]} and len(chroms) >= 22
    # Density follows the table: chr19 holds more genes per Mb than chr13 and chr18.
    sizes = load_chrom_sizes("hg19")
    counts = genes["chrom"].map(match_chroms(chroms, sizes)).value_counts()
    per_mb = counts / counts.index.map(sizes).to_numpy() * 1e6
    assert per_mb["chr19"] > 3 * max(per_mb["chr13"], per_mb["chr18"])
    length = genes["end"] - genes["start"] + 1
    assert 15_000 < length.median() < 40_000

    expression = read_expression(work / rehearsal.RPKM_NAME, ["E000", "E003"])
    assert list(expression.columns) == ["E000", "E003"]
    assert 0.25 < (expression["E003"] < 0.5).mean() < 0.42
    kept = select_genes(genes, expression, sizes)
    assert len(kept.genes) == GENES

    # Chromosomes as the reads spell them: the selection's (chr1), not gene_info's (1).
    tss = kept.genes.set_index("gene_id").loc[expression.index, ["chrom", "tss"]]
    expressed = (expression["E003"] > 5).to_numpy()
    for mark in rehearsal.MARKS:
        out = io.BytesIO()
        stats = write_filtered(work / f"tagalign/E003-{mark}.tagAlign.gz", sizes, out)
        assert stats.n_reads == stats.n_kept == round(READS * 1e6), mark
        lines = out.getvalue().decode().splitlines()
        first = lines[0].split("\t")
        assert len(first) == 6 and first[3:5] == ["N", "1000"] and first[5] in "+-"
        assert int(first[2]) - int(first[1]) == 36
        if mark in ("H3K4me3", "H3K27me3"):  # reads near TSSs follow the expression
            near = near_tss_counts(lines, tss)
            active, silent = near[expressed].mean(), near[~expressed].mean()
            assert (active > 3 * silent) if mark == "H3K4me3" else (silent > 3 * active), mark
    assert "snakemake --cores 2 --configfile" in output and "s per M reads" in output


def near_tss_counts(lines, tss, flank=2000):
    """Reads within `flank` of each TSS (by sorted search per chromosome)."""
    chrom = np.array([line.split("\t", 1)[0] for line in lines])
    start = np.array([int(line.split("\t", 2)[1]) for line in lines])
    counts = np.zeros(len(tss))
    for name in np.unique(tss["chrom"]):
        on = np.sort(start[chrom == name])
        mask = (tss["chrom"] == name).to_numpy()
        centre = tss["tss"].to_numpy()[mask]
        counts[mask] = np.searchsorted(on, centre + flank) - np.searchsorted(on, centre - flank)
    return counts


@pytest.mark.slow
def test_reads_sorted_within_chunks(small):
    work, _ = small
    lines = io.BytesIO()
    write_filtered(work / "tagalign/E003-H3K9me3.tagAlign.gz", load_chrom_sizes("hg19"), lines)
    rows = [line.split("\t")[:2] for line in lines.getvalue().decode().splitlines()]
    chroms = [c for i, (c, _) in enumerate(rows) if i == 0 or rows[i - 1][0] != c]
    assert len(chroms) == len(set(chroms))  # each chromosome in one run
    assert chroms[:3] == ["chr1", "chr2", "chr3"]


@pytest.mark.slow
def test_config_is_remc_for_one_cell_and_plans_every_rule(small):
    work, _ = small
    config = yaml.safe_load((work / rehearsal.CONFIG_NAME).read_text())
    remc = yaml.safe_load((REPO / "config/remc.yaml").read_text())
    assert config["cell_types"] == ["E003"]
    for key in ("models", "train", "window", "marks", "downloads"):
        assert config[key] == remc[key], key
    assert config["split"] == {"train": 0.34, "valid": 0.33}  # 2000 genes: thirds
    assert config["results"] == str(work / "results")
    assert config["sources"]["chrom_sizes"] == "hg19"
    assert "{cell}" in config["sources"]["tagalign"] and "{mark}" in config["sources"]["tagalign"]
    rehearsal.validate_config(config)
    jobs = planned_jobs("--configfile", str(work / rehearsal.CONFIG_NAME))
    # The files are local, read where they are: no download job (REMC's URLs have them).
    assert jobs == {
        "reference_chrom_sizes": 1,
        "reference_genes": 1,
        "reads_to_bam": 5,
        "bins_count": 1,
        "datasets_build": 1,
        "train_attentivechrome": 1,
        "train_baseline": 4,  # DeepChrome, LSTM, LSTM-Attn, logistic regression
        "read_depth": 1,
        "summary": 1,
        "compare_models": 1,
        "plot_cell": 1,
        "plot_saliency": 1,
        "plot_summary": 1,
        "bundle_export": 5,
        "bam_coverage": 5,
        "tracks_attention": 1,
        "tracks_session": 1,
        "qc_samples": 1,
        "qc_multiqc": 1,
        "all": 1,
    }


def test_full_size_config_keeps_the_published_split(tmp_path):
    config = rehearsal.rehearsal_config(tmp_path, "E003", 19_800)
    assert config["split"] == {"train": 6601, "valid": 6601}
    rehearsal.validate_config(config)


#: Two jobs as `snakemake --dry-run` lists them (paths shortened).
LISTING = """
rule reads_to_bam:
    input: /w/tagalign/E003-H3K9me3.tagAlign.gz, /w/results/reference/chrom.sizes
    jobid: 9
    benchmark: /w/results/benchmarks/bam/E003/H3K9me3.tsv
    wildcards: cell=E003, reads=H3K9me3
    resources: tmpdir=/tmp, disk_mb=<TBD>, mem_mb=3000, mem=3 GB, mem_mib=2862, runtime=120
Shell command: None

localrule train_attentivechrome:
    benchmark: /w/results/benchmarks/train/E003/attentivechrome-seed1.tsv
    threads: 4
    resources: tmpdir=/tmp, mem_mb=2000, mem=2 GB, runtime=120

localrule all:
    input: /w/results/summary.tsv
    jobid: 0
"""


def test_planned_requests_read_from_a_dry_run_listing():
    planned = rehearsal.planned_requests(LISTING, "/w/results/benchmarks")
    assert planned == {
        "bam/E003/H3K9me3.tsv": {
            "rule": "reads_to_bam",
            "threads": 1,
            "mem_mb": 3000,
            "runtime": 120,
        },
        "train/E003/attentivechrome-seed1.tsv": {
            "rule": "train_attentivechrome",
            "threads": 4,
            "mem_mb": 2000,
            "runtime": 120,
        },
    }


@pytest.mark.slow
def test_requests_planned_by_snakemake():
    planned = rehearsal.planned_requests(
        rehearsal.dry_run(REPO / "config/remc.yaml"), "results/benchmarks"
    )
    bam = planned["bam/E003/H3K4me3.tsv"]
    assert bam == {"rule": "reads_to_bam", "threads": 1, "mem_mb": 3000, "runtime": 120}
    assert planned["counts/E003.tsv"]["runtime"] == 60
    assert planned["train/E003/lstm-seed1.tsv"]["rule"] == "train_baseline"
    # BAMs, counting, trainings, saliency, coverage tracks, attention tracks; MultiQC.
    assert len(planned) == 56 * (5 + 1 + 5 + 1 + 5 + 1) + 1


BENCHMARK = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    "{s}\t0:00:{s:02.0f}\t{rss}\t900.0\t400.0\t410.0\t1.0\t2.0\t95.0\t{s}\n"
)


@pytest.mark.slow
def test_report_on_fake_benchmarks(tmp_path):
    bench = tmp_path / "benchmarks"
    (bench / "bam/E003").mkdir(parents=True)
    (bench / "train/E003").mkdir(parents=True)
    (bench / "bam/E003/H3K4me3.tsv").write_text(BENCHMARK.format(s=50.0, rss=3500.5))
    (bench / "train/E003/attentivechrome-seed1.tsv").write_text(BENCHMARK.format(s=30.0, rss=800.0))
    (bench / "train/E003/lstm-seed1.tsv").write_text(BENCHMARK.format(s=36.0, rss=500.0))
    text = rehearsal.report(tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("| reads_to_bam")]
    assert rows == [
        "| reads_to_bam | bam/E003/H3K4me3 | 50.0 | 3,500 | 3,000 | 120 | 1 | RSS above mem_mb |"
    ]
    row = "| train_attentivechrome | train/E003/attentivechrome-seed1 | 30.0 | 800 | 2,000 |"
    assert row in text
    # 280 BAMs x 50 s x 1 thread (the fast writer) + 56 trainings x 30 s + 4 x 56 baseline
    # trainings x 36 s (the LSTM's time stands for every baseline's), on 2 cores.
    hours_2 = (280 * 50 * 1 + 56 * 30 + 224 * 36) / 2 / 3600
    assert f"| 2 | {hours_2:,.1f} |" in text
    # Per stage: the conversion's 280 x 50 s, the LSTM's 56 x 36 s (as measured, one model).
    assert "| conversion | 280 | 50.0 | 1 | 3.89 | 1.94 h |" in text
    assert "| lstm | 56 | 36.0 | 1 | 0.56 | 0.28 h |" in text
    total = (280 * 50 + 56 * 30 + 56 * 36) / 3600
    assert f"| **all measured** | | | | **{total:,.2f}** | **{total / 2:,.2f} h** |" in text
    assert "| 64 |" in text and "Assumptions" in text and "downloads" in text
    assert "Not measured here" in text and "bins_count" in text
