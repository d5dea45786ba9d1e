"""Regenerate the simulated demo dataset (see README.md in this folder).

    python resources/demo/make_demo.py --out resources/demo

The output is byte-identical for a given seed, so the shipped files can be checked by
regenerating them (tests/demos/test_demos.py does). All logic lives in resources/simulate/demo.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The generators live beside the shipped data, not in the pipeline's package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from simulate.cli import regenerate  # noqa: E402
from simulate.demo import DemoConfig, write_demo  # noqa: E402

if __name__ == "__main__":
    regenerate(
        __doc__.splitlines()[0],
        Path(__file__).resolve().parent,
        DemoConfig().seed,
        lambda out, seed: write_demo(out, DemoConfig(seed=seed)),
    )
