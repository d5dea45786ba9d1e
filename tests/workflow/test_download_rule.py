"""The `download` rule against a real, misbehaving HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip

import pytest
import yaml

from helpers import REPO, snakemake
from http_server import FaultyServer

# Every test here runs the real Snakemake on the demo (seconds to a minute each).
pytestmark = pytest.mark.slow

READS = "tagalign/DEMO1/H3K4me3.tagAlign.gz"
SERVED = "/tagalign/DEMO1-H3K4me3.tagAlign.gz"


def serve_demo() -> FaultyServer:
    """Every demo input under the same names as in resources/demo/."""
    demo = REPO / "resources/demo"
    files = {f"/{p.relative_to(demo)}": p.read_bytes() for p in demo.rglob("*") if p.is_file()}
    return FaultyServer(files)


def download(server: FaultyServer, tmp_path, *targets: str):
    sources = {
        "tagalign": server.url("/tagalign/{cell}-{mark}.tagAlign.gz"),
        "expression": server.url("/demo.RPKM.pc.gz"),
        "genes": server.url("/gene_info.tsv"),
        "chrom_sizes": server.url("/genome.chrom.sizes"),
    }
    config = tmp_path / "http.yaml"
    config.write_text(yaml.safe_dump({"results": str(tmp_path / "results"), "sources": sources}))
    paths = [str(tmp_path / "results" / t) for t in targets]
    args = ["--cores", "1", "--configfile", "config/config.yaml", str(config)]
    return snakemake(*paths, *args, check=False)


def test_dropped_connection_is_resumed_to_identical_bytes(tmp_path):
    with serve_demo() as server:
        # Fault counters count every GET: the reads are the only request of this run.
        server.faults.drop_after_bytes = 20_000
        server.faults.drop_requests = 1
        result = download(server, tmp_path, f"downloads/{READS}")
        assert result.returncode == 0, result.stderr
        assert [(r.path, r.range) for r in server.requests] == [
            (SERVED, None),
            (SERVED, "bytes=20000-"),
        ]
        downloaded = tmp_path / f"results/downloads/{READS}"
        assert downloaded.read_bytes() == (REPO / f"resources/demo{SERVED}").read_bytes()
        # The BAM from the download, and the chromosome sizes fetched on the way.
        result = download(server, tmp_path, "bam/DEMO1/H3K4me3.bam")
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "results/bam/DEMO1/H3K4me3.bam.bai").exists()
    assert (tmp_path / "results/logs/download/reference/chrom.sizes.log").exists()
    assert not downloaded.exists()  # raw reads are temporary once the BAM exists


def test_corrupted_file_fails_clearly_and_leaves_nothing_to_trust(tmp_path):
    with serve_demo() as server:
        server.faults.corrupt_gzip = True
        first = download(server, tmp_path, f"downloads/{READS}")
        again = download(server, tmp_path, f"downloads/{READS}")
    for result in (first, again):
        assert result.returncode != 0
        assert "DEMO1/H3K4me3.tagAlign.gz" in result.stdout + result.stderr
    log = (tmp_path / f"results/logs/download/{READS}.log").read_text()
    assert "gzip" in log.lower()
    folder = tmp_path / "results/downloads/tagalign/DEMO1"
    assert not folder.exists() or not any(folder.iterdir())


def test_html_page_served_for_a_gz_ends_in_one_clear_line(tmp_path):
    with serve_demo() as server:
        server.files[SERVED] = b"<!DOCTYPE html><html><body>Service unavailable</body></html>"
        result = download(server, tmp_path, f"downloads/{READS}")
    assert result.returncode != 0
    log = (tmp_path / f"results/logs/download/{READS}.log").read_text()
    assert "Traceback" not in log
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and server.url(SERVED) in errors[0]
    assert "an HTML page, not the data" in errors[0]
    assert not (tmp_path / f"results/downloads/{READS}").exists()


def test_plain_text_reads_without_gz_are_accepted(tmp_path):
    with serve_demo() as server:
        plain = gzip.decompress(server.files[SERVED])
        server.files["/tagalign/DEMO1-H3K4me3.tagAlign"] = plain
        sources = {"tagalign": server.url("/tagalign/{cell}-{mark}.tagAlign")}
        config = tmp_path / "plain.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "results": str(tmp_path / "results"),
                    "sources": {
                        **yaml.safe_load((REPO / "config/config.yaml").read_text())["sources"],
                        **sources,
                    },
                }
            )
        )
        bam = tmp_path / "results/bam/DEMO1/H3K4me3.bam"
        args = ["--cores", "1", "--configfile", "config/config.yaml", str(config)]
        snakemake(str(bam), *args)
    log = (tmp_path / "results/logs/bam/DEMO1/H3K4me3.log").read_text()
    n_reads = plain.count(b"\n")
    assert f"{n_reads} reads" in log
    assert bam.exists() and bam.with_suffix(".bam.bai").exists()
