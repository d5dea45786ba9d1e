"""Regenerate the simulated own-data demo (see README.md in this folder).

    python resources/own_demo/make_own_demo.py --out resources/own_demo

The output is byte-identical for a given seed, so the shipped files can be checked by
regenerating them (tests/test_own_demo.py does). All logic lives in
resources/simulate/own_demo.py, which builds on resources/simulate/demo.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The generators live beside the shipped data, not in the pipeline's package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from simulate.own_demo import OwnDemoConfig, write_own_demo  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to write into (default: this script's folder)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=OwnDemoConfig().seed,
        help="random seed; other seeds give other (equally valid) datasets",
    )
    args = parser.parse_args(argv)
    written = write_own_demo(args.out, OwnDemoConfig(seed=args.seed))
    total = sum(path.stat().st_size for path in written)
    print(f"wrote {len(written)} files ({total / 1e6:.2f} MB) under {args.out}")


if __name__ == "__main__":
    main()
