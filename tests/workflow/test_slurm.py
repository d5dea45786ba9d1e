"""The pipeline through `--profile profiles/slurm` on a real single-node Slurm cluster.

The cluster (tests/slurm_cluster.py) runs slurmctld, slurmd and munged on this machine;
its controller keeps finished jobs for squeue, which is how the profile follows jobs
without an accounting database. A reduced demo (tests/configs/slurm.yaml: two cell types,
AttentiveChrome only, two epochs) keeps the module to a few minutes on two cores.
Every Snakemake call has a hard timeout, so a scheduler that never answers fails the
test instead of hanging it; the fixture cancels leftover jobs and stops the daemons.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import job_counts
from slurm_cluster import DEFAULT_CONF, SlurmCluster, missing_binaries

REPO = Path(__file__).resolve().parents[2]
# The demo, reduced: config files named on the command line are layered in order.
CONFIGS = ("config/config.yaml", "tests/configs/slurm.yaml")
RUN = "attentivechrome/seed1"  # a cell type's AttentiveChrome run
RUN_TIMEOUT = 480  # seconds per Snakemake call; a healthy run needs about three minutes

MISSING = missing_binaries()
# A real Slurm's configuration (a cluster login node): the throw-away cluster needs that
# path for itself, and the user's pipeline is not at fault.
SYSTEM_SLURM = DEFAULT_CONF.exists() and not DEFAULT_CONF.is_symlink()
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"Slurm/munge not installed ({', '.join(MISSING)}): apt-get install slurm-wlm munge",
    ),
    pytest.mark.skipif(
        SYSTEM_SLURM,
        reason=f"{DEFAULT_CONF} belongs to this machine's Slurm; the test starts its own "
        "one-node cluster and would need that path (submit the workflow with "
        "--profile profiles/slurm to test this cluster)",
    ),
]

SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")

# For the test only: the profile's 20 s first status check suits a busy cluster, and two
# single-threaded BAM jobs fit the two-CPU node side by side.
FAST_SLURM = [
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--set-threads",
    "reads_to_bam=1",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    slurm = SlurmCluster(tmp_path_factory.mktemp("slurm-cluster"))
    slurm.start()
    try:
        yield slurm
    finally:
        slurm.stop()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Results of the Slurm runs (shared by the tests, in order) and of a local run."""
    root = tmp_path_factory.mktemp("slurm-runs")
    return {"slurm": root / "slurm", "local": root / "local", "logs": root}


def run_snakemake(args: list[str], log: Path, env: dict[str, str], context=lambda: "") -> str:
    """`python -m snakemake ARGS` from the repository root; returns the output.

    On failure the message holds the end of the output and `context()` (daemon logs).
    """
    with log.open("w") as out:
        try:
            result = subprocess.run(
                [sys.executable, "-m", "snakemake", *args],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=RUN_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"snakemake did not finish in {RUN_TIMEOUT} s\n{tail(log)}\n{context()}")
    if result.returncode != 0:
        pytest.fail(f"snakemake exited with {result.returncode}\n{tail(log)}\n{context()}")
    return log.read_text()


def run_on_slurm(cluster, runs, targets: list[str], name: str) -> str:
    args = [
        *targets,
        "--profile",
        "profiles/slurm",
        "--slurm-logdir",
        str(runs["logs"] / "slurm_logs"),
        *FAST_SLURM,
        "--configfile",
        *CONFIGS,
        "--config",
        f"results={runs['slurm']}",
    ]
    log = runs["logs"] / f"{name}.log"
    return run_snakemake(args, log, job_free_env(cluster.env), context=cluster.logs)


def job_free_env(env: dict[str, str]) -> dict[str, str]:
    """The caller's environment without Slurm job or sbatch defaults (keeps SLURM_CONF)."""
    return {
        key: value
        for key, value in env.items()
        if key == "SLURM_CONF" or not key.startswith(("SLURM_", "SBATCH_", "SRUN_"))
    }


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


LOCAL_RULES = (
    "all",
    "read_depth",
    "summary",
    "plot_summary",
    "compare_models",
    "bundle_export",
    "qc_samples",
    "tracks_session",
)


def submitted_jobs(output: str) -> dict[str, Path]:
    """Slurm job id -> the plugin's log file for that job, from Snakemake's output."""
    return {job_id: Path(log) for job_id, log in SUBMITTED.findall(output)}


def rule_of(slurm_log: Path) -> str:
    """The rule a plugin log belongs to: .../rule_<rule>/[<wildcards>/]<jobid>.log."""
    return next(part[5:] for part in reversed(slurm_log.parts) if part.startswith("rule_"))


def job_step(slurm_log: Path) -> str:
    """Rule and wildcards of a job, from its plugin log path (the folder of the log)."""
    return str(slurm_log.parent)


def assert_ran_through_slurm(cluster, output: str) -> dict[str, Path]:
    """Every planned job but the local ones was a Slurm job that completed."""
    jobs = submitted_jobs(output)
    planned = Counter(job_counts(output))
    for rule in LOCAL_RULES:  # rules with `localrule: True` run beside Snakemake
        planned.pop(rule, None)
    assert Counter(rule_of(log) for log in jobs.values()) == planned
    states = cluster.job_states()
    for job_id, log in jobs.items():
        assert states.get(job_id) == "COMPLETED", (job_id, states.get(job_id))
        assert log.exists(), f"Slurm log of job {job_id} missing (profile keeps them)"
    return jobs


def slurm_job(cluster, job_id: str) -> dict[str, str]:
    """`scontrol show job` as a dict of its KEY=VALUE fields."""
    text = subprocess.run(
        ["scontrol", "show", "job", job_id],
        env=cluster.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return dict(re.findall(r"(\w+(?:/\w+)?)=(\S*)", text))


def test_one_cell_type_by_target_name(cluster, runs):
    results = runs["slurm"]
    output = run_on_slurm(cluster, runs, [f"{results}/DEMO2/{RUN}/metrics.json"], "one-cell")

    jobs = assert_ran_through_slurm(cluster, output)
    runs["built_by_target"] = {job_step(log) for log in jobs.values()}
    assert (results / "DEMO2" / RUN / "metrics.json").exists()
    # Only what DEMO2 needs was built: nothing of DEMO1, no summary.
    assert not (results / "DEMO1").exists()
    assert not (results / "bam/DEMO1").exists()
    assert not (results / "summary.tsv").exists()
    # The profile's resources reached sbatch: default partition, wall time, memory.
    train = next(i for i, log in jobs.items() if rule_of(log) == "train_attentivechrome")
    fields = slurm_job(cluster, train)
    assert fields["Partition"] == "local"
    assert fields["TimeLimit"] == "02:00:00"  # default runtime: 120 min at attempt 1
    assert fields["MinMemoryNode"] == "2000M"  # the rule's mem_mb at attempt 1


def test_whole_workflow_matches_a_local_run(cluster, runs):
    results, local = runs["slurm"], runs["local"]
    # The local run goes alongside: the Slurm run mostly waits for status checks.
    with ThreadPoolExecutor(max_workers=1) as pool:
        local_run = pool.submit(
            run_snakemake,
            ["--cores", "2", "--configfile", *CONFIGS, "--config", f"results={local}"],
            runs["logs"] / "local.log",
            job_free_env(os.environ),
        )
        output = run_on_slurm(cluster, runs, [], "whole")
        local_run.result()

    jobs = assert_ran_through_slurm(cluster, output)
    assert (results / "summary.tsv").exists()
    # What the previous test built for DEMO2 is reused, not submitted again.
    assert not {job_step(log) for log in jobs.values()} & runs.get("built_by_target", set())
    for cell in ("DEMO1", "DEMO2"):
        assert_same_arrays(results / cell / "counts.npz", local / cell / "counts.npz")
        for split in ("train", "valid", "test"):
            data = f"{cell}/data/{split}.npz"
            assert_same_arrays(results / data, local / data)
        run = f"{cell}/{RUN}"
        assert_same_arrays(results / run / "attention.npz", local / run / "attention.npz")
        assert same_metrics(results / run / "metrics.json") == same_metrics(
            local / run / "metrics.json"
        )
        predictions = f"{run}/test_predictions.tsv"
        assert (results / predictions).read_text() == (local / predictions).read_text()
    pd.testing.assert_frame_equal(
        pd.read_csv(results / "summary.tsv", sep="\t"), pd.read_csv(local / "summary.tsv", sep="\t")
    )


def assert_same_arrays(a: Path, b: Path) -> None:
    with np.load(a) as left, np.load(b) as right:
        assert sorted(left.files) == sorted(right.files), a
        for key in left.files:
            np.testing.assert_array_equal(left[key], right[key], err_msg=f"{a}: {key}")


def same_metrics(path: Path) -> dict:
    """metrics.json without wall-clock fields (seconds, dates), which differ by nature."""
    metrics = json.loads(path.read_text())
    return {key: value for key, value in metrics.items() if not is_timing(key)}


def is_timing(key: str) -> bool:
    return any(word in key for word in ("second", "time", "date", "started", "finished"))
