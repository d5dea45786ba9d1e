"""Damaged inputs fed through the real rules: a clear message in the job's log, no output."""

from __future__ import annotations

import gzip
import shutil

import yaml

from workflow import REPO, snakemake

DEMO_READS = REPO / "resources/demo/tagalign"


def run_target(tmp_path, target: str, **settings) -> str:
    """Run one target with a config pointing at tmp_path; return the failed run's output."""
    base = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config = {**base, "results": str(tmp_path / "results"), **settings}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(
        str(tmp_path / "results" / target),
        "--cores",
        "1",
        "--configfile",
        str(tmp_path / "config.yaml"),
        check=False,
    )
    assert result.returncode != 0, "a damaged input must stop the run"
    return result.stdout + result.stderr


def damaged_reads(tmp_path, damage) -> dict:
    """Sources whose DEMO1-H3K4me3 reads went through `damage(bytes) -> bytes`."""
    folder = tmp_path / "reads"
    shutil.copytree(DEMO_READS, folder)
    path = folder / "DEMO1-H3K4me3.tagAlign.gz"
    path.write_bytes(damage(path.read_bytes()))
    base = yaml.safe_load((REPO / "config/config.yaml").read_text())["sources"]
    return {**base, "tagalign": str(folder / "{cell}-{mark}.tagAlign.gz")}


def test_truncated_gzip_is_refused_at_download(tmp_path):
    sources = damaged_reads(tmp_path, lambda data: data[: len(data) // 2])
    output = run_target(tmp_path, "bam/DEMO1-H3K4me3.bam", sources=sources)
    assert "DEMO1-H3K4me3.tagAlign.gz" in output
    assert "gzip" in output.lower()
    assert not (tmp_path / "results/downloads/tagalign/DEMO1-H3K4me3.tagAlign.gz").exists()
    assert not (tmp_path / "results/bam/DEMO1-H3K4me3.bam").exists()


def test_non_numeric_coordinate_names_file_and_line(tmp_path):
    def damage(data: bytes) -> bytes:
        lines = gzip.decompress(data).splitlines(keepends=True)
        lines[41] = b"chr1\t12x45\t12381\tN\t1000\t+\n"
        return gzip.compress(b"".join(lines))

    sources = damaged_reads(tmp_path, damage)
    run_target(tmp_path, "bam/DEMO1-H3K4me3.bam", sources=sources)
    log = (tmp_path / "results/logs/bam/DEMO1-H3K4me3.log").read_text()
    assert "DEMO1-H3K4me3.tagAlign.gz, line 42" in log
    assert "12x45" in log or "integer" in log
    assert "Traceback" not in log
    assert not list((tmp_path / "results/bam").glob("DEMO1-H3K4me3*"))


def test_authors_csv_with_a_missing_bin_row_is_refused_on_import(tmp_path):
    folder = tmp_path / "zenodo/DEMO1/classification"
    folder.mkdir(parents=True)
    rows = [f"{gene:06d},{b},0,1,0,2,0,1\n" for gene in range(3, 8) for b in range(1, 101)]
    for split in ("train", "valid", "test"):
        (folder / f"{split}.csv").write_text("".join(rows))
    broken = rows[:250] + rows[251:] + rows[-1:]
    (folder / "valid.csv").write_text("".join(broken))
    run_target(tmp_path, "DEMO1/data/test.npz", authors_data=str(tmp_path / "zenodo"))
    log = (tmp_path / "results/logs/datasets/DEMO1.log").read_text()
    assert "valid.csv, line 251: gene 000005: expected bin 51" in log
    assert not (tmp_path / "results/DEMO1/data/valid.npz").exists()
