"""Own data that could silently give wrong inputs, through the real `snakemake`: names that
would share a file, the same reads twice, inputs changed after a run, an index that is not
its BAM's, and sample sheets written as people write them."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml
from test_own_data import MIN_MAPQ, direct_multicov

from helpers import REPO, job_counts, snakemake

# Every test here runs the real Snakemake (a few seconds to a minute each).
pytestmark = pytest.mark.slow

DEMO = REPO / "resources/demo"
OWN = REPO / "resources/own_demo"


def own_rows() -> list[list[str]]:
    """The own demo's sheet rows (cell, mark, path, format), paths made absolute."""
    lines = (OWN / "samples.tsv").read_text().splitlines()[1:]
    return [[*f[:2], str(REPO / f[2]), f[3]] for f in (line.split("\t") for line in lines)]


def write_sheet(path: Path, rows, sep: str = "\t", head: str = "") -> Path:
    header = sep.join(["cell", "mark", "path", "format"])
    path.write_text(head + header + "\n" + "".join(sep.join(r) + "\n" for r in rows))
    return path


def own_config(tmp_path, sheet: Path, **settings) -> list[str]:
    """--configfile arguments: the own-data demo with this sheet, results under tmp_path."""
    layer = {"results": str(tmp_path / "results"), "samples": str(sheet), **settings}
    (tmp_path / "layer.yaml").write_text(yaml.safe_dump(layer))
    return ["--configfile", "config/own-data.yaml", str(tmp_path / "layer.yaml")]


def planned(*args: str) -> dict[str, set[str]]:
    """What a dry run would do: the first output of each planned job, by rule."""
    result = snakemake(*args, "--dry-run")
    jobs: dict[str, set[str]] = {}
    rule = None
    for line in (result.stdout + result.stderr).splitlines():
        if match := re.fullmatch(r"(?:local)?rule (\w+):", line.strip()):
            rule = match.group(1)
        elif rule and line.strip().startswith("output: "):
            jobs.setdefault(rule, set()).add(line.strip()[8:].split(", ")[0])
            rule = None
    return jobs


def relative(jobs: dict[str, set[str]], results: Path) -> dict[str, set[str]]:
    return {rule: {str(Path(p).relative_to(results)) for p in out} for rule, out in jobs.items()}


def refused(tmp_path, rows, **settings) -> str:
    """A dry run of the own-data demo with this sheet; it must stop before any job."""
    sheet = write_sheet(tmp_path / "samples.tsv", rows)
    args = own_config(tmp_path, sheet, **settings)
    result = snakemake(str(tmp_path / "results/summary.tsv"), *args, "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert not (tmp_path / "results").exists()
    assert "Traceback" not in output
    return output


# --- 1. names that collide ---------------------------------------------------------------


def test_names_joined_by_dashes_count_their_own_reads(tmp_path):
    """Cell A-B's mark K and cell A's mark B-K were both `A-B-K` (one BAM, one download):
    one sample's reads were counted for the other. Now each has its own folder and file."""
    reads = DEMO / "tagalign"
    files = {
        ("A-B", "K"): reads / "DEMO1-H3K4me3.tagAlign.gz",
        ("A-B", "B-K"): reads / "DEMO1-H3K27me3.tagAlign.gz",
        ("A", "K"): reads / "DEMO2-H3K27me3.tagAlign.gz",
        ("A", "B-K"): reads / "DEMO2-H3K36me3.tagAlign.gz",
    }
    sheet = write_sheet(tmp_path / "samples.tsv", [[*key, str(p), ""] for key, p in files.items()])
    matrix = pd.read_csv(DEMO / "demo.RPKM.pc.gz", sep="\t")
    matrix.rename(columns={"DEMO1": "A-B", "DEMO2": "A"}).to_csv(
        tmp_path / "rpkm.tsv", sep="\t", index=False
    )
    config = {
        "results": str(tmp_path / "results"),
        "samples": str(sheet),
        "sources": {
            "expression": str(tmp_path / "rpkm.tsv"),
            "genes": str(DEMO / "gene_info.tsv"),
            "chrom_sizes": str(DEMO / "genome.chrom.sizes"),
        },
        "split": {"train": 0.3334, "valid": 0.3333},
    }
    (tmp_path / "names.yaml").write_text(yaml.safe_dump(config))
    results = tmp_path / "results"
    targets = [str(results / cell / "counts.npz") for cell in ("A-B", "A")]
    snakemake(*targets, "--cores", "2", "--configfile", str(tmp_path / "names.yaml"))

    counts = {}
    for cell in ("A-B", "A"):
        with np.load(results / cell / "counts.npz") as archive:
            for m, mark in enumerate(archive["marks"]):
                counts[(cell, str(mark))] = archive["X"][:, m, :]
    # Four different files, four different count matrices.
    assert not np.array_equal(counts[("A-B", "K")], counts[("A", "B-K")])
    assert len({c.tobytes() for c in counts.values()}) == 4
    # Each BAM holds the reads of its own file (those on the genome's chromosomes).
    sizes = [line.split("\t")[0] for line in (DEMO / "genome.chrom.sizes").read_text().splitlines()]
    for (cell, mark), source in files.items():
        table = pd.read_csv(source, sep="\t", header=None, usecols=[0, 1, 2])
        table = table[table[0].isin(sizes)]
        expected = sorted(zip(table[0], table[1], strict=True))
        with pysam.AlignmentFile(str(results / f"bam/{cell}/{mark}.bam")) as bam:
            got = sorted((r.reference_name, r.reference_start) for r in bam)
        assert got == expected, f"{cell} {mark}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda rows: [["reference", *r[1:]] if r[0] == "OWN2" else r for r in rows],
            "samples.tsv, line 7: cell type 'reference' is an entry of the results folder "
            "itself (results/reference)",
        ),
        (
            lambda rows: [["K 562", *r[1:]] if r[0] == "OWN2" else r for r in rows],
            "samples.tsv, line 7: cell type 'K 562' cannot name a file (it has ' '): use "
            "letters, digits, '_', '.' and '-', starting with a letter, digit or '_'",
        ),
        (
            lambda rows: [[r[0], "H3K27ac.rep1", *r[2:]] if r[1] == "H3K27ac" else r for r in rows],
            "samples.tsv, line 3: mark 'H3K27ac.rep1' ends like a replicate's file name (.rep1)",
        ),
        (
            lambda rows: [["own1", *r[1:]] if r[0] == "OWN2" else r for r in rows],
            "samples.tsv, line 7: own1 H3K4me3 and OWN1 H3K4me3 (line 2) would share files "
            "(results/own1/, case ignored as some disks do)",
        ),
    ],
    ids=["results-folder", "space", "replicate-suffix", "case"],
)
def test_names_that_would_share_files_stop_before_any_job(tmp_path, change, message):
    output = refused(tmp_path, change(own_rows()))
    assert message in output
    assert "Error validating row" not in output


# --- 2. the same reads twice ---------------------------------------------------------------


def test_one_file_under_two_spellings_stops_before_any_job(tmp_path):
    rows = own_rows()
    (tmp_path / "reads").symlink_to(OWN / "reads")
    again = ["OWN1", "H3K4me3", f"{tmp_path}/reads/./OWN1-H3K4me3.bam", ""]
    output = refused(tmp_path, [*rows[:1], again, *rows[1:]])
    assert (
        f"samples.tsv, line 3: {again[2]} is listed twice for OWN1 H3K4me3 (line 2 (as "
        f"{rows[0][2]})): the same reads would be pooled as two replicates, every count doubled"
    ) in output
    as_url = ["OWN1", "H3K36me3", Path(rows[0][2]).as_uri(), ""]
    output = refused(tmp_path, [r for r in rows if r[:2] != ["OWN1", "H3K36me3"]] + [as_url])
    assert f"line 10: {as_url[2]} is the reads of both OWN1 H3K4me3 (line 2" in output
    assert "one file cannot be two marks" in output


# --- 3. inputs changed after a run ---------------------------------------------------------


def rewrite_gzip(path: Path, edit) -> None:
    """Replace a gzipped text file by an edited copy (a new file, as an editor writes it)."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    path.unlink()
    path.write_bytes(gzip.compress("".join(edit(lines)).encode()))


def test_edited_inputs_rerun_exactly_what_depends_on_them(tmp_path):
    inputs = tmp_path / "inputs"
    shutil.copytree(DEMO, inputs)
    sources = {
        "tagalign": str(inputs / "tagalign/{cell}-{mark}.tagAlign.gz"),
        "expression": str(inputs / "demo.RPKM.pc.gz"),
        "genes": str(inputs / "gene_info.tsv"),
        "chrom_sizes": str(inputs / "genome.chrom.sizes"),
    }
    results = tmp_path / "results"
    layer = {"results": str(results), "sources": sources, "cell_types": ["DEMO1", "DEMO2"]}
    (tmp_path / "layer.yaml").write_text(yaml.safe_dump(layer))
    args = [
        *(str(results / f"{cell}/data/test.npz") for cell in ("DEMO1", "DEMO2")),
        "--cores",
        "2",
        "--configfile",
        "config/config.yaml",
        str(tmp_path / "layer.yaml"),
    ]
    first = snakemake(*args)
    one_cell = {"bins_count": {"DEMO1/counts.npz"}, "datasets_build": {"DEMO1/data/train.csv"}}

    # One mark's reads of DEMO1 fixed under the same name: its BAM, DEMO1's counts and data.
    rewrite_gzip(inputs / "tagalign/DEMO1-H3K4me3.tagAlign.gz", lambda lines: lines[:-50])
    assert relative(planned(*args), results) == {
        "reads_to_bam": {"bam/DEMO1/H3K4me3.bam"},
        **one_cell,
    }
    assert "download" not in job_counts(first.stdout + first.stderr)  # local: read in place
    snakemake(*args)

    # The expression table or the annotation: the genes, then every cell type's counts.
    every_cell = {
        "reference_genes": {"reference/genes.tsv"},
        "bins_count": {"DEMO1/counts.npz", "DEMO2/counts.npz"},
        "datasets_build": {"DEMO1/data/train.csv", "DEMO2/data/train.csv"},
    }

    def edit_value(lines):
        fields = lines[1].split("\t")
        fields[2] = "12.5"
        return [lines[0], "\t".join(fields), *lines[2:]]

    rewrite_gzip(inputs / "demo.RPKM.pc.gz", edit_value)
    assert relative(planned(*args), results) == every_cell
    snakemake(*args)
    annotation = inputs / "gene_info.tsv"
    text = annotation.read_text()
    annotation.unlink()
    annotation.write_text(text.replace("simulated demo gene DEMO0001", "DEMO0001, renamed"))
    assert relative(planned(*args), results) == every_cell


def test_checksums_apply_to_local_files_and_name_known_inputs(tmp_path):
    reads = tmp_path / "DEMO1-H3K4me3.tagAlign.gz"
    shutil.copy(DEMO / "tagalign/DEMO1-H3K4me3.tagAlign.gz", reads)
    base = yaml.safe_load((REPO / "config/config.yaml").read_text())["sources"]
    sources = {**base, "tagalign": str(tmp_path / "{cell}-{mark}.tagAlign.gz")}
    results = tmp_path / "results"

    def run(sha256: dict) -> str:
        layer = {"results": str(results), "cell_types": ["DEMO1"], "marks": ["H3K4me3"]}
        layer["sources"] = {**sources, "sha256": sha256}
        (tmp_path / "layer.yaml").write_text(yaml.safe_dump(layer))
        configs = ["--configfile", "config/config.yaml", str(tmp_path / "layer.yaml")]
        target = str(results / "bam/DEMO1/H3K4me3.bam")
        result = snakemake(target, "--cores", "1", *configs, check=False)
        assert result.returncode != 0
        return result.stdout + result.stderr

    output = run({"tagalign/DEMO1-H3K4me3.tagAlign.gz": "0" * 64})  # the old layout's name
    assert "sources.sha256: tagalign/DEMO1-H3K4me3.tagAlign.gz names no input" in output
    assert not results.exists()
    run({"tagalign/DEMO1/H3K4me3.tagAlign.gz": "0" * 64})
    log = (results / "logs/bam/DEMO1/H3K4me3.log").read_text()
    assert f"{reads}: SHA-256 mismatch: expected {'0' * 64}" in log
    assert not (results / "bam/DEMO1").exists() or not any((results / "bam/DEMO1").iterdir())


# --- 4. an index that is not its BAM's -----------------------------------------------------


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_an_index_from_another_bam_is_never_used(tmp_path):
    """OWN1's H3K4me3 BAM, sorted, beside a newer .bai made for OWN2's: counted with an index
    of its own, by multicov and by the fast counter alike (that mark alone, to be quick)."""
    user = tmp_path / "reads"
    user.mkdir()
    bam = user / "OWN1-H3K4me3.bam"
    shutil.copy(OWN / "reads/OWN1-H3K4me3.bam", bam)
    shutil.copy(OWN / "reads/OWN2-H3K4me3.bam.bai", f"{bam}.bai")
    now = bam.stat().st_mtime
    os.utime(bam, (now - 100, now - 100))
    os.utime(f"{bam}.bai", (now - 50, now - 50))  # newer than its BAM, as a copy made after
    rows = [[*r[:2], str(bam), r[3]] if r[:2] == ["OWN1", "H3K4me3"] else r for r in own_rows()]
    sheet = write_sheet(tmp_path / "samples.tsv", rows)
    results = tmp_path / "results"
    before = digests(user)

    # The reference: bedtools multicov on the same reads, correctly indexed.
    good = tmp_path / "indexed/OWN1-H3K4me3.bam"
    good.parent.mkdir()
    shutil.copy(OWN / "reads/OWN1-H3K4me3.bam", good)
    pysam.index(str(good))

    target = str(results / "OWN1/counts.npz")
    expected = None
    for counter in ("multicov", "fast"):
        config = own_config(tmp_path, sheet, counter=counter, marks=["H3K4me3"])
        snakemake(target, "--cores", "2", *config)
        if expected is None:
            names = ["chrom", "start", "end", "n"]
            bins = pd.read_csv(results / "reference/bins.bed", sep="\t", header=None, names=names)
            expected = direct_multicov(good, bins, tmp_path, ["-q", str(MIN_MAPQ)])
        with np.load(target) as archive:
            m = list(archive["marks"]).index("H3K4me3")
            counted = archive["X"][:, m, :].reshape(-1)
        assert expected.sum() > 0
        np.testing.assert_array_equal(counted, expected, err_msg=counter)
    linked = results / "bam/OWN1/H3K4me3.bam"
    assert linked.is_symlink() and linked.resolve() == bam.resolve()
    assert digests(user) == before  # the user's files are only read

    # The BAM replaced in place: its job and its cell type's counts run again, nothing else.
    bam.unlink()
    shutil.copy(OWN / "reads/OWN1-H3K36me3.bam", bam)
    assert relative(planned(target, *config), results) == {
        "reads_to_bam": {"bam/OWN1/H3K4me3.bam"},
        "bins_count": {"OWN1/counts.npz"},
    }


# --- 5. sample sheets as people write them ---------------------------------------------------


def test_comma_separated_sheet_with_comments_plans_as_the_tsv(tmp_path):
    rows = own_rows()
    csv = write_sheet(tmp_path / "samples.csv", rows, sep=",", head="# OWN demo\n# cell,mark\n")
    tsv = write_sheet(tmp_path / "samples.tsv", rows)
    target = str(tmp_path / "results/summary.tsv")
    plans = []
    for sheet in (csv, tsv):
        result = snakemake(target, *own_config(tmp_path, sheet), "--dry-run", "--quiet", "rules")
        plans.append(job_counts(result.stdout + result.stderr))
    assert plans[0] == plans[1] and plans[0]["reads_to_bam"] == len(rows)
    folder = refused(tmp_path, own_rows(), samples=str(tmp_path))
    assert f"{tmp_path}: a folder, not a sample sheet" in folder
