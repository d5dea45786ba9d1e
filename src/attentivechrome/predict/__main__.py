"""Score a matrix with model bundles outside the workflow.

    python -m attentivechrome.predict --bundle E003_attchrome_avgAUC_model.pt \\
        --csv E003_test.csv --out predictions/E003

The input is a matrix in the authors' CSV layout (`--csv`, label column optional) or a
cell type's counts.npz from a run (`--counts`); several `--bundle`s are averaged. Writes
OUT.tsv (every gene), OUT.json (the models, depth ratios, AUROC when labelled) and, for
AttentiveChrome, OUT.attention.npz. A bad input is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attentivechrome.logs import step_logging
from attentivechrome.predict.bundle import read_bundle
from attentivechrome.predict.sample import predict_cell
from attentivechrome.predict.scoring import DEPTH_MODES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m attentivechrome.predict", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--bundle", action="append", required=True, type=Path)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, help="a matrix in the authors' CSV layout")
    source.add_argument("--counts", type=Path, help="a cell type's counts.npz")
    parser.add_argument("--out", required=True, type=Path, help="output path without suffix")
    parser.add_argument("--name", default=None, help="the sample's name (default: OUT's name)")
    parser.add_argument("--depth", choices=DEPTH_MODES, default="scaled")
    parser.add_argument(
        "--window", nargs=2, type=int, default=[5000, 100], metavar=("FLANK", "BIN")
    )
    args = parser.parse_args(argv)
    out = args.out
    with step_logging(None):  # an InputError: one line, exit status 1
        model = read_bundle(args.bundle[0]).model_name
        predict_cell(
            args.name or out.name,
            model,
            args.bundle,
            [str(path) for path in args.bundle],
            out.with_name(out.name + ".tsv"),
            out.with_name(out.name + ".json"),
            window={"flank": args.window[0], "bin_size": args.window[1]},
            depth=args.depth,
            counts=args.counts,
            csv=args.csv,
            out_attention=out.with_name(out.name + ".attention.npz")
            if model == "attentivechrome"
            else None,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
