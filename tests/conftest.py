from __future__ import annotations

import pytest

from helpers import FAST, snakemake


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """One uninterrupted demo run (short training), shared by the checks that need one."""
    results = tmp_path_factory.mktemp("demo") / "results"
    snakemake("--cores", "2", *FAST, "--config", f"results={results}")
    return results
