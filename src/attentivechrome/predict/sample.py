"""Rule predict_cell: every gene of one sample scored by one model or an ensemble.

The sample is a cell type counted by this pipeline (its counts.npz, from reads through the
same rules as the trained ones) or a matrix in the authors' CSV layout (Kipoi's input,
label column optional). Labels, when the sample has expression (a column of the
expression table, or the CSV's labels), give AUROC over every gene and over the test
split's genes (the genes no model of this run trained on).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attentivechrome.data.dataset import NO_LABEL, read_authors_csv
from attentivechrome.data.expression import read_expression
from attentivechrome.data.prepare import cell_labels, read_genes
from attentivechrome.errors import InputError
from attentivechrome.io import atomic_write_text
from attentivechrome.learn.metrics import auprc, auroc
from attentivechrome.learn.outputs import GeneScores, write_gene_attention, write_gene_predictions
from attentivechrome.predict.bundle import read_bundle
from attentivechrome.predict.scoring import average, score_sample
from attentivechrome.report import plots

log = logging.getLogger(__name__)


def predict_cell(
    cell: str,
    model: str,
    bundles: Sequence[Path],
    names: Sequence[str],
    out_table: Path,
    out_card: Path,
    *,
    window: dict,
    depth: str,
    counts: Path | None = None,
    csv: Path | None = None,
    genes: Path | None = None,
    expression: Path | None = None,
    out_attention: Path | None = None,
    out_figure: Path | None = None,
) -> dict:
    """Score `cell` with the mean of `bundles` (each named by `names[i]` in messages and
    the card), which must all be `model`; returns what out_card holds.

    The input is `counts` (bins_count's file) or `csv` (the authors' layout, its mark
    columns in the first bundle's mark order)."""
    loaded = [read_bundle(path, name) for path, name in zip(bundles, names, strict=True)]
    for bundle in loaded:
        if bundle.model_name != model:
            raise InputError(
                bundle.path, f"a {bundle.model_name} model, configured as a {model} prediction"
            )
    gene_table = read_genes(genes) if genes is not None else None
    gene_ids, marks, X, y = _sample(cell, counts, csv, loaded[0].marks, window, gene_table)
    if y is None:
        y = _expression_labels(cell, expression, gene_table)
    splits = (
        gene_table.set_index("gene_id")["split"].reindex(gene_ids).fillna("").to_numpy(str)
        if gene_table is not None
        else np.full(len(gene_ids), "")
    )
    members, ratios = [], {}
    for bundle in loaded:
        scored, ratio = score_sample(bundle, X, marks, window, depth, cell)
        members.append(scored)
        ratios[bundle.path] = ratio
    labels = np.full(len(gene_ids), NO_LABEL) if y is None else y
    scores = GeneScores(gene_ids, splits, labels, np.array(loaded[0].marks), average(members))
    write_gene_predictions(scores, gene_table, out_table)
    if out_attention is not None:
        if scores.predictions.bin_attention is None:
            raise ValueError(f"{model} has no attention to write")
        write_gene_attention(scores, out_attention)
    card = {
        "cell": cell,
        "model": model,
        "input": str(counts or csv),
        "ensemble": [
            {
                "source": bundle.path,
                "cell": bundle.card["cell"],
                "seed": bundle.card.get("seed"),
                "from": bundle.card.get("source"),
                "depth_ratio": ratios[bundle.path],
            }
            for bundle in loaded
        ],
        "combined_by": "mean probability" if len(loaded) > 1 else "a single model",
        "depth": depth,
        "genes": len(gene_ids),
        **_metrics(y, splits, scores.predictions.probabilities),
    }
    atomic_write_text(out_card, json.dumps(card, indent=2) + "\n")
    if out_figure is not None:
        _figure(scores, cell, window, card, out_figure)
    log.info("%s predicted by %s: %s", cell, ", ".join(names), _described(card))
    return card


def _sample(cell, counts, csv, bundle_marks, window, gene_table):
    """(gene_ids, marks, X, labels or None) of the sample."""
    if (counts is None) == (csv is None):
        raise ValueError("give the sample as counts or as csv, one of them")
    if csv is not None:
        n_bins = 2 * window["flank"] // window["bin_size"]
        data = read_authors_csv(csv, bundle_marks, n_bins, labels_optional=True)
        labels = None if (data.y == NO_LABEL).all() else data.y.astype(int)
        return data.gene_ids, data.marks, data.X, labels
    with np.load(counts) as archive:
        X, gene_ids, marks = archive["X"], archive["gene_ids"], archive["marks"]
    if gene_table is not None and not np.array_equal(gene_ids, gene_table["gene_id"].to_numpy(str)):
        raise ValueError(f"{counts} and the gene table list different genes: rerun counting")
    return gene_ids, marks, X, None


def _expression_labels(cell, expression, gene_table) -> np.ndarray | None:
    """The sample's labels from the expression table, when it has a column for it."""
    if expression is None or gene_table is None:
        return None
    matrix = read_expression(expression)
    if cell not in matrix.columns:
        log.info("%s has no expression column: predictions without labels", cell)
        return None
    return cell_labels(matrix, gene_table, cell).astype(int)


def _metrics(y, splits, probability) -> dict:
    if y is None:
        return {"labels": False}
    found = {"labels": True}
    for name, keep in (("all", np.ones(len(y), bool)), ("test", splits == "test")):
        if keep.any() and len(set(y[keep])) == 2:
            found[f"auroc_{name}"] = auroc(y[keep], probability[keep], f"{name} genes")
            found[f"auprc_{name}"] = auprc(y[keep], probability[keep], f"{name} genes")
    return found


def _described(card: dict) -> str:
    if not card["labels"]:
        return f"{card['genes']} genes, no labels"
    return ", ".join(f"{k} {v:.4f}" for k, v in card.items() if k.startswith("auroc_"))


def _figure(scores: GeneScores, cell: str, window: dict, card: dict, out: Path) -> None:
    """The attention profile of the predicted genes (AttentiveChrome), or the spread of
    the probabilities by label."""
    predictions = scores.predictions
    title = f"{cell} predicted by {', '.join(e['cell'] for e in card['ensemble'])}"
    if predictions.bin_attention is not None:
        plots.plot_attention_profiles(
            predictions.bin_attention,
            predictions.probabilities,
            [str(m) for m in scores.marks],
            out,
            flank=window["flank"],
            bin_size=window["bin_size"],
            title=f"{title}: bin attention ({len(scores.gene_ids)} genes)",
        )
        return
    plots.plot_probabilities(
        predictions.probabilities,
        None if (scores.labels == NO_LABEL).all() else scores.labels,
        out,
        title=f"{title}: predicted probabilities",
    )
