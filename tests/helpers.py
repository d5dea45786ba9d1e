"""What several test modules share: the real Snakemake command line, the demo's short
training configuration, the demo's reference genes, small planted training splits, and the
accuracy check of the numba kernels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.data.dataset import SplitData, write_npz
from attentivechrome.data.prepare import reference_genes

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# The demo with short training that the end-to-end tests share: named config files are
# layered in order, and only they (plus the schema's defaults) make the configuration.
FAST = ("--configfile", "config/config.yaml", "tests/configs/fast.yaml")


def demo_reference_genes(genes: Path, expression: Path, out: Path, **options) -> Path:
    """reference_genes on the demo's genome and window (genes as listed, `gene_entries: ids`,
    unless `options` say otherwise), its three outputs in `out`; returns `out`."""
    out.mkdir(exist_ok=True)
    reference_genes(
        genes,
        expression,
        REPO / "resources/demo/genome.chrom.sizes",
        {"flank": 5000, "bin_size": 100},
        {"train": 0.3334, "valid": 0.3333},
        out / "genes.tsv",
        out / "expression.tsv",
        out / "bins.bed",
        **{"gene_entries": "ids", **options},
    )
    return out


def snakemake(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
    """`snakemake ARGS` from the repository root; output captured, failures shown in full."""
    result = subprocess.run(
        [*SNAKEMAKE, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        )
    return result


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from the first 'Job stats' table in Snakemake's output."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts: dict[str, int] = {}
    for line in table.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].isdigit() and fields[0] != "total":
            counts[fields[0]] = int(fields[1])
    return counts


def planned_jobs(*args: str) -> dict[str, int]:
    """Job counts per rule from a dry run (`snakemake -n`)."""
    result = snakemake(*args, "--dry-run", "--quiet", "rules")
    return job_counts(result.stdout + result.stderr)


# Small training splits with a planted signal, for training and allocator tests.
#: The five REMC marks in sorted order, the order of every split file.
MARKS = ["H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3"]
SIGNAL_MARK = MARKS.index("H3K4me3")


def planted_split(rng: np.random.Generator, n: int, first_id: int, n_bins: int = 100) -> SplitData:
    """Poisson background; expressed genes get extra H3K4me3 reads in the bins around the TSS."""
    y = np.tile([0, 1], n // 2 + 1)[:n].astype(np.int8)
    rng.shuffle(y)
    X = rng.poisson(1.0, (n, len(MARKS), n_bins)).astype(np.int32)
    tss = slice(n_bins // 2 - 5, n_bins // 2 + 5)
    X[y == 1, SIGNAL_MARK, tss] += rng.poisson(3.0, (int(y.sum()), 10)).astype(np.int32)
    gene_ids = np.array([f"ENSG{first_id + i:011d}" for i in range(n)])
    return SplitData(gene_ids, np.array(MARKS), X, y)


def planted_levels(rng: np.random.Generator, n: int, first_id: int, n_bins: int = 100) -> SplitData:
    """Poisson background; each gene's level log2(expression + 1) is 8 s for a strength s
    drawn uniformly in [0, 1], and H3K4me3 gets Poisson(10 s) extra reads in each of the
    ten bins around the TSS: the level is a known function of that one mark."""
    strength = rng.uniform(0, 1, n)
    X = rng.poisson(1.0, (n, len(MARKS), n_bins)).astype(np.int32)
    tss = slice(n_bins // 2 - 5, n_bins // 2 + 5)
    X[:, SIGNAL_MARK, tss] += rng.poisson(10.0 * strength[:, None], (n, 10)).astype(np.int32)
    level = (8 * strength).astype(np.float32)
    y = (level > np.median(level)).astype(np.int8)
    gene_ids = np.array([f"ENSG{first_id + i:011d}" for i in range(n)])
    return SplitData(gene_ids, np.array(MARKS), X, y, level=level)


def write_splits(
    folder: Path, sizes=(96, 64, 64), seed: int = 0, make=planted_split
) -> dict[str, Path]:
    """Train, valid and test files of `make`'s planted data (`planted_levels`: regression)."""
    rng = np.random.default_rng(seed)
    paths, first = {}, 0
    for name, n in zip(("train", "valid", "test"), sizes, strict=True):
        paths[name] = folder / f"{name}.npz"
        write_npz(make(rng, n, first), paths[name])
        first += n
    return paths


def gene_table(splits: dict[str, Path]) -> pd.DataFrame:
    """A reference gene table (reference/genes.tsv's columns) for planted splits' genes."""
    ids, names = [], []
    for name in ("train", "valid", "test"):
        with np.load(splits[name]) as archive:
            ids += list(archive["gene_ids"])
        names += [name] * (len(ids) - len(names))
    return pd.DataFrame(
        {
            "gene_id": ids,
            "chrom": "chr1",
            "tss": np.arange(len(ids)) * 20_000 + 10_000,
            "strand": "+",
            "symbol": [f"G{i}" for i in range(len(ids))],
            "entries": 1,
            "split": names,
        }
    )


def history(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "history.tsv", sep="\t").drop(columns="seconds")


def assert_reproducible_gzip(paths) -> None:
    """Shipped gzip files store no file name and no time, so regenerating gives the same bytes."""
    for path in paths:
        head = Path(path).read_bytes()[:10]
        assert head[:2] == b"\x1f\x8b"
        assert head[3] & 0x08 == 0, f"{path} stores a file name"
        assert head[4:8] == b"\x00\x00\x00\x00", f"{path} stores a modification time"


def assert_as_exact_as_reference(truth, reference, values) -> None:
    """Each of `values` (float32 tensors) is as close to `truth` (the same computation in
    float64) as `reference`, the PyTorch result: within twice its error, plus 1e-6 of the
    largest value for values the reference happens to get almost exact."""
    for true, ref, value in zip(truth, reference, values, strict=True):
        assert value.shape == ref.shape and value.dtype == ref.dtype
        ref_error = (ref.double() - true).abs().max().item()
        error = (value.double() - true).abs().max().item()
        assert error <= 2 * ref_error + 1e-6 * true.abs().max().item()


def stanzas(path: Path) -> list[dict[str, str]]:
    """The stanzas of a UCSC hub file: blocks of `key value` lines between blank lines."""
    blocks = [block for block in path.read_text().split("\n\n") if block.strip()]
    return [dict(line.split(" ", 1) for line in block.strip().splitlines()) for block in blocks]


def check_track_hub(folder: Path) -> list[dict[str, str]]:
    """A UCSC hub's structure: hub.txt, genomes.txt and trackDb.txt each have their required
    fields, every data track names an existing file by a relative path and a super-track
    as parent, track names are unique; the trackDb stanzas are returned."""
    from attentivechrome.tracks.hub import DATA_TRACK, REQUIRED

    (hub,) = stanzas(folder / "hub.txt")
    assert set(REQUIRED["hub.txt"]) <= set(hub), hub
    assert next(iter(hub)) == "hub"  # the first line names the hub
    genomes = stanzas(folder / hub["genomesFile"])
    assert genomes and all(set(REQUIRED["genomes.txt"]) <= set(g) for g in genomes)
    tracks = []
    for genome in genomes:
        track_db = folder / genome["trackDb"]
        tracks += stanzas(track_db)
        names = [stanza["track"] for stanza in tracks]
        assert len(names) == len(set(names)), "repeated track names"
        groups = {s["track"] for s in tracks if s.get("superTrack", "").startswith("on")}
        for stanza in tracks:
            assert set(REQUIRED["trackDb.txt"]) <= set(stanza), stanza
            assert len(stanza["shortLabel"]) <= 17 and len(stanza["longLabel"]) <= 80
            if stanza["track"] in groups:
                continue
            assert set(DATA_TRACK) <= set(stanza), stanza
            assert stanza["parent"].split()[0] in groups
            url = stanza["bigDataUrl"]
            assert not Path(url).is_absolute() and (track_db.parent / url).is_file(), url
            assert stanza["type"].split()[0] in {"bigWig", "bigBed"}
    return tracks


def check_igv_session(path: Path) -> dict[str, list[str]]:
    """An IGV session's structure: every resource an existing file by a path relative to
    the session, every track one of them; the tracks' names by panel are returned."""
    import xml.etree.ElementTree as ET

    session = ET.parse(path).getroot()
    assert session.tag == "Session" and session.get("genome") and session.get("locus")
    resources = [r.get("path") for r in session.iter("Resource")]
    for resource in resources:
        assert not Path(resource).is_absolute() and (path.parent / resource).is_file(), resource
    panels = {}
    for panel in session.iter("Panel"):
        ids = [track.get("id") for track in panel.iter("Track")]
        assert set(ids) <= set(resources)
        panels[panel.get("name")] = [track.get("name") for track in panel.iter("Track")]
    assert sum(map(len, panels.values())) == len(resources)
    return panels
