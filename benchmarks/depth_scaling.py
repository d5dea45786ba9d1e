"""Raw counts against depth-scaled counts when one cell type's model scores another.

For each seed of the source cell type's AttentiveChrome run in a results folder, the
run's bundle scores every target cell type from its counts (`{results}/{cell}/counts.npz`),
as counted and thinned to a fraction of its reads (each read kept with that probability:
binomial thinning, how a shallower sequencing run of the same library looks), once with
`depth: raw` and once with `depth: scaled`. Prints the test-split AUROC (genes no model
trained on) against the target's own labels, mean +/- sd over seeds, and the depth ratio.

    python benchmarks/depth_scaling.py RESULTS [--source DEMO1] [--targets DEMO2 DEMO3]
                                       [--thin 1 0.5 0.25] [--window 5000 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from attentivechrome.data.dataset import read_npz
from attentivechrome.learn.metrics import auroc
from attentivechrome.predict.bundle import bundle_export, read_bundle
from attentivechrome.predict.scoring import score_sample


def labelled_genes(results: Path, cell: str) -> tuple[np.ndarray, np.ndarray]:
    """The target's test-split gene ids and labels (from its own split files)."""
    test = read_npz(results / cell / "data" / "test.npz")
    return test.gene_ids, test.y


def source_bundles(results: Path, cell: str, window: dict, folder: Path) -> list[Path]:
    bundles = []
    for run in sorted((results / cell / "attentivechrome").glob("seed*")):
        out = folder / f"{cell}-{run.name}.zip"
        splits = {s: results / cell / "data" / f"{s}.npz" for s in ("train", "valid", "test")}
        bundle_export(run / "model.pt", run / "metrics.json", splits, window, {}, out)
        bundles.append(out)
    return bundles


def table(
    results: Path, source: str, targets: list[str], thin: list[float], window: dict
) -> list[str]:
    rng = np.random.default_rng(0)
    lines = [
        f"| target | reads kept | depth / {source}'s (mean over marks) | AUROC raw "
        "| AUROC scaled |",
        "|---|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        paths = source_bundles(results, source, window, Path(folder))
        bundles = [read_bundle(p) for p in paths]
        for target in targets:
            with np.load(results / target / "counts.npz") as archive:
                counts, gene_ids, marks = archive["X"], archive["gene_ids"], archive["marks"]
            test_ids, labels = labelled_genes(results, target)
            rows = np.searchsorted(gene_ids, test_ids)
            assert (gene_ids[rows] == test_ids).all()
            for fraction in thin:
                X = counts if fraction == 1 else rng.binomial(counts, fraction)
                found = {"raw": [], "scaled": []}
                ratios = []
                for bundle in bundles:
                    for depth in found:
                        scored, ratio = score_sample(bundle, X, marks, window, depth, target)
                        found[depth].append(auroc(labels, scored.probabilities[rows]))
                    ratios.append(np.mean(list(ratio.values())))
                lines.append(
                    f"| {target} | {fraction:g} | {np.mean(ratios):.2f} | "
                    f"{_spread(found['raw'])} | {_spread(found['scaled'])} |"
                )
    return lines


def _spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} +/- {sd:.4f}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--source", default="DEMO1")
    parser.add_argument("--targets", nargs="+", default=["DEMO2", "DEMO3"])
    parser.add_argument("--thin", nargs="+", type=float, default=[1.0, 0.5, 0.25])
    parser.add_argument("--window", nargs=2, type=int, default=[5000, 100])
    args = parser.parse_args()
    window = {"flank": args.window[0], "bin_size": args.window[1]}
    print("\n".join(table(args.results, args.source, args.targets, args.thin, window)))
    sys.exit(0)
