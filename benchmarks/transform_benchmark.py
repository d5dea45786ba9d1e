"""Raw counts (the published input) against log1p(counts): test AUROC side by side.

Trains one model per cell type, seed and transform on the datasets the pipeline wrote
(`{results}/{cell}/data/{split}.npz`; after `make demo` those are the demo's), with every
other setting equal, and prints the test AUROC of the best validation epoch for both
transforms, their difference per cell type, and the means. Several seeds show how much
of a difference is only the seed. Runs two trainings at a time, one thread each.

    python benchmarks/transform_benchmark.py [--results results] [--seeds 1 2 3]
                                             [--epochs 20] [--lr 0.001]

The defaults are the demo configuration's (20 epochs, lr 1e-3); for REMC-sized data use
`--epochs 30 --lr 0.0002`, the published settings.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
from pathlib import Path

from attentivechrome.data.labels import SPLITS
from attentivechrome.io import atomic_write_text
from attentivechrome.learn.model import TRANSFORMS
from attentivechrome.learn.training import train_and_evaluate


def find_cells(results: Path) -> list[str]:
    return sorted(path.parent.parent.name for path in results.glob("*/data/train.npz"))


def train_once(task: tuple[str, str, int, str, dict]) -> dict:
    results, cell, seed, transform, options = task
    data = Path(results) / cell / "data"
    with tempfile.TemporaryDirectory() as out:
        metrics = train_and_evaluate(
            options["model"],
            *(data / f"{split}.npz" for split in SPLITS),
            out,
            cell=cell,
            epochs=options["epochs"],
            lr=options["lr"],
            seed=seed,
            threads=1,
            device="cpu",
            transform=transform,
            checkpoint=False,
        )
    return {
        "cell": cell,
        "seed": seed,
        "transform": transform,
        "test_auroc": metrics["test_auroc"],
        "best_epoch": metrics["best_epoch"],
        "seconds": metrics["seconds_total"],
    }


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--cells", nargs="+", help="default: every cell type with datasets")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--model", default="attentivechrome")
    parser.add_argument("--jobs", type=int, default=2, help="trainings at once (1 thread each)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/transform_benchmark.json"))
    args = parser.parse_args(argv)
    cells = args.cells or find_cells(args.results)
    if not cells:
        parser.error(f"no {args.results}/*/data/train.npz: run the pipeline first (make demo)")

    options = {"model": args.model, "epochs": args.epochs, "lr": args.lr}
    tasks = [
        (str(args.results), cell, seed, transform, options)
        for cell in cells
        for seed in args.seeds
        for transform in TRANSFORMS
    ]
    print(
        f"{args.model}, {args.epochs} epochs, lr {args.lr}, seeds {args.seeds}: {len(tasks)} runs"
    )
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        runs = pool.map(train_once, tasks)

    def aurocs(cell: str | None, transform: str) -> list[float]:
        return [
            r["test_auroc"]
            for r in runs
            if r["transform"] == transform and (cell is None or r["cell"] == cell)
        ]

    print(
        f"\n{'cell':10}{'raw counts':>18}{'log1p':>18}{'log1p - raw':>14}   (mean ± sd over seeds)"
    )
    for cell in [*cells, None]:
        raw, log = aurocs(cell, "none"), aurocs(cell, "log1p")
        diffs = [b - a for a, b in zip(raw, log, strict=True)]
        label = cell or "all"
        print(f"{label:10}{mean_sd(raw):>18}{mean_sd(log):>18}{statistics.mean(diffs):>+14.3f}")
    atomic_write_text(args.out, json.dumps({"options": options, "runs": runs}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
