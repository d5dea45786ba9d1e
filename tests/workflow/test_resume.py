"""A killed `snakemake` run, rerun, ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import FAST, REPO, SNAKEMAKE, snakemake

RUN = "DEMO1/attentivechrome/seed1"  # one training run: cell type, model, seed


def run_until(args: list[str], ready: Callable[[], bool], sig: signal.Signals) -> None:
    """Start snakemake, wait until `ready()`, then send `sig` to it and all its jobs."""
    process = subprocess.Popen(
        [*SNAKEMAKE, *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    try:
        while not ready():
            if process.poll() is not None:
                raise AssertionError("the run finished before it could be interrupted")
            if time.monotonic() > deadline:
                raise AssertionError("the run never reached the point to interrupt")
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, sig)
        process.wait(timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("during_counting", "during_training"),
    [(signal.SIGTERM, signal.SIGKILL), (signal.SIGKILL, signal.SIGTERM)],
    ids=["term-then-kill", "kill-then-term"],
)
def test_killed_runs_resume_to_identical_outputs(demo, tmp_path, during_counting, during_training):
    results = tmp_path / "results"
    target = str(results / RUN / "metrics.json")
    args = [target, "--cores", "2", *FAST, "--config", f"results={results}"]
    counting_log = results / "logs/counts/DEMO1.log"
    checkpoint = results / RUN / "checkpoint.pt"

    run_until(args, counting_log.exists, during_counting)
    snakemake(*args, "--unlock")  # a killed Snakemake leaves its lock behind
    run_until(args, checkpoint.exists, during_training)
    assert not Path(target).exists(), "training finished before the kill"
    snakemake(*args, "--unlock")
    snakemake(*args)

    assert "resuming" in (results / "logs/train/DEMO1/attentivechrome-seed1.log").read_text()
    assert not checkpoint.exists()
    with np.load(results / "DEMO1/counts.npz") as got, np.load(demo / "DEMO1/counts.npz") as want:
        np.testing.assert_array_equal(got["X"], want["X"])
    for name in ("train.csv", "test.csv"):
        assert (results / "DEMO1/data" / name).read_bytes() == (
            demo / "DEMO1/data" / name
        ).read_bytes()
    got, want = (json.loads((r / RUN / "metrics.json").read_text()) for r in (results, demo))
    for key in ("best_epoch", "valid_auroc", "test_auroc", "test_auprc"):
        assert got[key] == want[key], key
    history = [pd.read_csv(r / RUN / "history.tsv", sep="\t") for r in (results, demo)]
    pd.testing.assert_frame_equal(
        history[0].drop(columns="seconds"), history[1].drop(columns="seconds")
    )


@pytest.mark.slow
def test_deleted_bam_index_is_made_again_before_counting(tmp_path):
    results = tmp_path / "results"
    target = f"{results}/DEMO1/counts.npz"
    args = ["--cores", "2", *FAST, "--config", f"results={results}"]
    snakemake(target, *args)
    index = results / "bam/DEMO1/H3K36me3.bam.bai"
    index.unlink()
    (results / "DEMO1/counts.npz").unlink()
    snakemake(target, *args)  # the index is an input of counting (multicov needs it)
    assert index.exists()
