from __future__ import annotations

import pytest

from workflow import snakemake

# The demo with short training that the end-to-end tests share: named config files are
# layered in order, and only they (plus the schema's defaults) make the configuration.
FAST = ("--configfile", "config/config.yaml", "tests/configs/fast.yaml")


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """One uninterrupted demo run (short training), shared by the checks that need one."""
    results = tmp_path_factory.mktemp("demo") / "results"
    snakemake("--cores", "2", *FAST, "--config", f"results={results}")
    return results
