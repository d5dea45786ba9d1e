"""Regenerate the simulated own-data demo (see README.md in this folder).

    python resources/own_demo/make_own_demo.py --out resources/own_demo

The output is byte-identical for a given seed, so the shipped files can be checked by
regenerating them (tests/demos/test_demos.py does). All logic lives in
resources/simulate/own_demo.py, which builds on resources/simulate/demo.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The generators live beside the shipped data, not in the pipeline's package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from simulate.cli import regenerate  # noqa: E402
from simulate.own_demo import OwnDemoConfig, write_own_demo  # noqa: E402

if __name__ == "__main__":
    regenerate(
        __doc__.splitlines()[0],
        Path(__file__).resolve().parent,
        OwnDemoConfig().seed,
        lambda out, seed: write_own_demo(out, OwnDemoConfig(seed=seed)),
    )
