"""The command line both make_*.py scripts share: --out and --seed, then a size line."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def regenerate(
    description: str, out: Path, seed: int, write: Callable[[Path, int], list[Path]], argv=None
) -> None:
    """Parse `--out` (default `out`) and `--seed` (default `seed`), call `write(out, seed)`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--out", type=Path, default=out, help="folder to write into (default: the script's)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=seed,
        help="random seed; other seeds give other (equally valid) datasets",
    )
    args = parser.parse_args(argv)
    written = write(args.out, args.seed)
    total = sum(path.stat().st_size for path in written)
    print(f"wrote {len(written)} files ({total / 1e6:.2f} MB) under {args.out}")
