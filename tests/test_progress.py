"""Progress lines of long steps: they appear, and no more often than the interval."""

from __future__ import annotations

import gzip
import logging

import pandas as pd
import pytest

from attentivechrome import progress
from attentivechrome.data import bamreader, reads
from attentivechrome.data.bam_conversion import tagalign_to_bam
from attentivechrome.data.counting import count_fast
from attentivechrome.learn.training import time_left, train_and_evaluate
from attentivechrome.progress import Progress, byte_size
from helpers import write_splits


def test_lines_are_throttled(caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    clock = iter(range(0, 1000, 3))  # seconds: 0, 3, 6, ...
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    meter = Progress(logging.getLogger("t"), "file.gz", byte_size, total=100 * 1024)
    for done in range(1, 101):
        meter.update(done * 1024)
    lines = [r.message for r in caplog.records]
    # 100 updates 3 s apart, a line at most every 10 s: one every fourth update.
    assert len(lines) == 25
    assert lines[0] == "file.gz: 4.0 KiB of 100.0 KiB (4%), 341.3 B/s"


def test_conversion_and_counting_report_reads(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(progress, "PROGRESS_SECONDS", 0.0)
    monkeypatch.setattr(reads, "BLOCK_BYTES", 4096)  # many blocks from a small file
    monkeypatch.setattr(bamreader, "CHUNK_BYTES", 4096)
    lines = "".join(f"chr1\t{i}\t{i + 36}\tN\t1000\t+\n" for i in range(0, 40_000, 10))
    src = tmp_path / "reads.tagAlign.gz"
    src.write_bytes(gzip.compress(lines.encode()))
    sizes = tmp_path / "sizes"
    sizes.write_text("chr1\t100000\n")
    tagalign_to_bam(src, sizes, tmp_path / "reads.bam")
    read_lines = [r.message for r in caplog.records if "reads.tagAlign.gz read:" in r.message]
    assert len(read_lines) > 5 and read_lines[-1].startswith("reads.tagAlign.gz read: 4,000 reads")
    bins = pd.DataFrame({"chrom": ["chr1"], "start": [0], "end": [100]})
    count_fast([tmp_path / "reads.bam"], bins)
    counted = [r.message for r in caplog.records if "reads.bam counted:" in r.message]
    assert counted and counted[-1].startswith("reads.bam counted: 4,000 reads")


@pytest.mark.parametrize("done", [0, 5])
def test_no_line_without_work(caplog, monkeypatch, done):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(progress, "PROGRESS_SECONDS", 0.0)
    meter = Progress(logging.getLogger("t"), "x", done=done)
    meter.update(done)
    assert not caplog.records


def test_training_logs_genes_done_and_time_left(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(progress, "PROGRESS_SECONDS", 0.0)
    paths = write_splits(tmp_path / "data", sizes=(64, 32, 32))
    train_and_evaluate("attentivechrome", *paths.values(), tmp_path / "run", cell="E000", epochs=2)
    messages = [r.message for r in caplog.records]
    within = [m for m in messages if m.startswith("E000 attentivechrome epoch 1: ")]
    assert within[0].startswith("E000 attentivechrome epoch 1: 16 genes of 64 genes (25%), ")
    assert len(within) == 4  # batch 16: a line after every step
    ends = [m for m in messages if " of 2: train loss " in m]
    assert len(ends) == 2 and ends[0].endswith(" left)") and ends[1].endswith("about 0s left)")


def test_time_left_reads_like_a_clock():
    assert [time_left(s) for s in (7.4, 65, 3725)] == ["7s", "1m05s", "1h02m"]
