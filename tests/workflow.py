"""Run the real Snakemake command line from tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


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
