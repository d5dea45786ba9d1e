"""Drawing: attention, curves, saliency, single genes and the summary across cell types.

Pure functions: arrays or DataFrames in, one PNG (or HTML page) out, written under a
temporary name and renamed, so a figure is complete or absent. Reading the pipeline's
result files and choosing what to draw is `figures`' job.

Figures are drawn on `matplotlib.figure.Figure` objects with the Agg canvas, never through
pyplot's global state, so nothing here needs a display or leaks figures between calls.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from attentivechrome.io import atomic_path  # noqa: E402
from attentivechrome.learn.model_facts import PUBLISHED_MEAN_AUROC, model_label  # noqa: E402
from attentivechrome.report.summary import DECIMALS  # noqa: E402

#: Fixed colours so that a mark or a model looks the same in every figure.
MARK_COLOURS = {
    "H3K27me3": "#1f77b4",
    "H3K36me3": "#2ca02c",
    "H3K4me1": "#ff7f0e",
    "H3K4me3": "#d62728",
    "H3K9me3": "#9467bd",
}
MODEL_COLOURS = {
    "attentivechrome": "#d62728",
    "lstm": "#1f77b4",
    "lstm-attention": "#17becf",
    "hierarchical-lstm": "#8c564b",
    "deepchrome": "#2ca02c",
    "logistic": "#7f7f7f",
    "transferchrome": "#9467bd",
}
_FALLBACK = ["#e377c2", "#bcbd22", "#aec7e8", "#ffbb78"]
DPI = 110


# --------------------------------------------------------------------------- helpers


def colour(name: str, table: Mapping[str, str]) -> str:
    """The fixed colour of a mark or model; other names get a stable fallback colour."""
    if name in table:
        return table[name]
    return _FALLBACK[sum(map(ord, name)) % len(_FALLBACK)]


def save_figure(fig: Figure, out: str | Path) -> Path:
    """Write `fig` as PNG atomically; the temporary name ends in .png for matplotlib."""
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    return out


def bin_offsets(n_bins: int, flank: int, bin_size: int) -> np.ndarray:
    """Centre of every bin relative to the TSS, in bp (bins run in genomic order)."""
    return -flank + (np.arange(n_bins) + 0.5) * bin_size


def predicted_high(probabilities: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Genes predicted high: the upper half by predicted probability, or >= `threshold`.

    Labels split genes at the median expression, so halves by rank match the label
    classes in size and stay meaningful for a model whose probabilities are not
    calibrated (after a few epochs they can all lie on one side of 0.5).
    """
    probabilities = np.asarray(probabilities, dtype=float)
    if threshold is not None:
        return probabilities >= threshold
    high = np.zeros(len(probabilities), dtype=bool)
    order = np.argsort(-probabilities, kind="stable")
    high[order[: (len(probabilities) + 1) // 2]] = True
    return high


def prediction_groups(high: np.ndarray) -> list[tuple[str, np.ndarray, str]]:
    """(name, gene mask, colour) of the genes predicted high and low, in that order."""
    return [("predicted high", high, "#d62728"), ("predicted low", ~high, "#1f77b4")]


def share_of(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """`values` divided by their sum along `axis` (over everything by default); an all-zero
    sum gives zeros, not NaN."""
    return values / np.maximum(np.sum(values, axis=axis, keepdims=True), 1e-30)


def _mark_grid(n_marks: int, width: float = 4.2, height: float = 3.0):
    """A figure with one panel per mark (up to three per row) and the list of its axes."""
    cols = min(3, n_marks)
    rows = -(-n_marks // cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n_marks:]:
        ax.set_visible(False)
    return fig, axes[:n_marks]


def _tss_axis(ax, flank: int) -> None:
    ax.axvline(0, color="black", lw=0.8, ls=":")
    ax.set_xlim(-flank, flank)
    ticks = np.linspace(-flank, flank, 5)
    ax.set_xticks(ticks, [f"{t / 1000:+g} kb" if t else "TSS" for t in ticks])


# --------------------------------------------------------------------------- per cell type


def plot_attention_profiles(
    bin_attention: np.ndarray,
    probabilities: np.ndarray,
    marks: Sequence[str],
    out: str | Path,
    *,
    flank: int,
    bin_size: int,
    threshold: float | None = None,
    title: str = "",
) -> Path:
    """Mean bin attention over TSS -flank..+flank per mark, genes predicted high vs low.

    bin_attention: (genes, marks, bins), each row a softmax over bins; the dotted line is
    the uniform weight 1/bins, so peaks above it are where the model looks.
    """
    bin_attention = np.asarray(bin_attention, dtype=float)
    n_genes, n_marks, n_bins = bin_attention.shape
    high = predicted_high(probabilities, threshold)
    x = bin_offsets(n_bins, flank, bin_size)
    fig, axes = _mark_grid(n_marks)
    groups = prediction_groups(high)
    # Groups may be empty with a fixed threshold; an empty group is simply not drawn.
    for m, ax in enumerate(axes):
        for name, mask, col in groups:
            if mask.any():
                mean = bin_attention[mask, m].mean(axis=0)
                ax.plot(x, mean, color=col, lw=1.4, label=f"{name} (n={int(mask.sum())})")
        ax.axhline(1 / n_bins, color="grey", lw=0.8, ls="--", label="uniform")
        _tss_axis(ax, flank)
        ax.set_title(marks[m])
        ax.set_ylabel("mean bin attention")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title or f"Bin attention around the TSS ({n_genes} test genes)")
    return save_figure(fig, out)


def plot_mark_attention(
    mark_attention: np.ndarray,
    probabilities: np.ndarray,
    marks: Sequence[str],
    out: str | Path,
    *,
    threshold: float | None = None,
    title: str = "",
) -> Path:
    """Distribution of the mark-level attention per mark, genes predicted high vs low."""
    mark_attention = np.asarray(mark_attention, dtype=float)
    high = predicted_high(probabilities, threshold)
    fig = Figure(figsize=(1.6 * len(marks) + 3, 4), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(len(marks))
    for shift, (name, mask, col) in zip((-0.2, 0.2), prediction_groups(high), strict=True):
        if not mask.any():
            continue
        parts = ax.boxplot(
            [mark_attention[mask, m] for m in range(len(marks))],
            positions=positions + shift,
            widths=0.35,
            patch_artist=True,
            showfliers=False,
        )
        for box in parts["boxes"]:
            box.set(facecolor=col, alpha=0.45)
        ax.plot([], [], color=col, lw=6, alpha=0.45, label=f"{name} (n={int(mask.sum())})")
    ax.axhline(1 / len(marks), color="grey", lw=0.8, ls="--", label="uniform")
    ax.set_xticks(positions, list(marks))
    ax.set_ylabel("mark attention")
    ax.legend(fontsize=8)
    ax.set_title(title or "Mark attention per test gene")
    return save_figure(fig, out)


def plot_probabilities(
    probabilities: np.ndarray, labels: np.ndarray | None, out: str | Path, *, title: str = ""
) -> Path:
    """Histogram of predicted probabilities, by label when the genes have labels."""
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.subplots()
    edges = np.linspace(0, 1, 41)
    if labels is None:
        ax.hist(probabilities, bins=edges, color="grey", alpha=0.7, label="all genes")
    else:
        for value, name, col in ((1, "labelled high", "#c0392b"), (0, "labelled low", "#2c7fb8")):
            ax.hist(probabilities[labels == value], bins=edges, color=col, alpha=0.5, label=name)
    ax.set_xlabel("predicted probability of expression above the median")
    ax.set_ylabel("genes")
    ax.legend(fontsize=8)
    ax.set_title(title or "Predicted probabilities")
    return save_figure(fig, out)


def plot_roc_pr(runs: Mapping[str, pd.DataFrame], out: str | Path, *, title: str = "") -> Path:
    """ROC and precision-recall curves on the test genes, one line per model.

    Each DataFrame holds the model's test predictions at its best validation epoch
    (columns label, probability). The PR baseline is the fraction of positive genes.
    """
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    roc_ax, pr_ax = fig.subplots(1, 2)
    positive_rate = None
    for model, table in runs.items():
        labels, scores = table["label"].to_numpy(), table["probability"].to_numpy()
        fpr, tpr, _ = roc_curve(labels, scores)
        precision, recall, _ = precision_recall_curve(labels, scores)
        col = colour(model, MODEL_COLOURS)
        name = model_label(model)
        area, ap = roc_auc_score(labels, scores), average_precision_score(labels, scores)
        roc_ax.plot(fpr, tpr, color=col, lw=1.4, label=f"{name} ({area:.3f})")
        pr_ax.plot(recall, precision, color=col, lw=1.4, label=f"{name} ({ap:.3f})")
        positive_rate = float(np.mean(labels))
    roc_ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (AUROC)")
    if positive_rate is not None:
        pr_ax.axhline(positive_rate, color="grey", lw=0.8, ls="--")
    pr_ax.set(xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    pr_ax.set_title("Precision-recall (average precision)")
    roc_ax.legend(fontsize=8, loc="lower right")
    pr_ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(title or "Test genes, best validation epoch")
    return save_figure(fig, out)


def plot_training(
    histories: Mapping[str, pd.DataFrame],
    out: str | Path,
    *,
    best_epochs: Mapping[str, int] | None = None,
    title: str = "",
) -> Path:
    """Loss (train solid, validation dashed) and validation AUROC per epoch, per model.

    A dot marks the epoch each model kept (best validation AUROC).
    """
    best_epochs = best_epochs or {}
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    loss_ax, auc_ax = fig.subplots(1, 2)
    for model, history in histories.items():
        col = colour(model, MODEL_COLOURS)
        epochs = history["epoch"].to_numpy()
        loss_ax.plot(epochs, history["train_loss"], color=col, lw=1.3, label=model_label(model))
        loss_ax.plot(epochs, history["valid_loss"], color=col, lw=1.3, ls="--")
        auc_ax.plot(
            epochs, history["valid_auroc"], color=col, lw=1.3, marker=".", label=model_label(model)
        )
        best = best_epochs.get(model)
        if best is not None and best in set(epochs):
            value = history.loc[history["epoch"] == best, "valid_auroc"].iloc[0]
            auc_ax.plot([best], [value], "o", color=col, ms=8, mfc="none", mew=1.5)
    loss_ax.plot([], [], color="black", lw=1.3, label="train")
    loss_ax.plot([], [], color="black", lw=1.3, ls="--", label="validation")
    loss_ax.set(xlabel="epoch", ylabel="BCE loss", title="Loss")
    auc_ax.set(xlabel="epoch", ylabel="validation AUROC", title="Validation AUROC (o = kept)")
    loss_ax.legend(fontsize=8)
    auc_ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title or "Training")
    return save_figure(fig, out)


def plot_saliency_agreement(
    bin_attention: np.ndarray,
    saliency: np.ndarray,
    bin_rho: np.ndarray,
    mark_rho: np.ndarray,
    marks: Sequence[str],
    out: str | Path,
    *,
    flank: int,
    bin_size: int,
    title: str = "",
) -> Path:
    """Attention against input-gradient saliency on the test genes.

    Top row per mark: mean bin attention and mean saliency profile (each scaled to sum 1
    over bins so both read as "share of the window"). Bottom: per-gene Spearman between
    bin attention and bin saliency per mark, and between mark attention and the summed
    saliency per mark.
    """
    bin_attention = np.asarray(bin_attention, dtype=float)
    saliency = np.asarray(saliency, dtype=float)
    n_genes, n_marks, n_bins = saliency.shape
    x = bin_offsets(n_bins, flank, bin_size)
    fig = Figure(figsize=(3.4 * n_marks, 7), layout="constrained")
    grid = fig.add_gridspec(2, n_marks)
    share = share_of(saliency, axis=2)
    for m in range(n_marks):
        ax = fig.add_subplot(grid[0, m])
        ax.plot(x, bin_attention[:, m].mean(axis=0), color="#d62728", lw=1.3, label="attention")
        ax.plot(x, share[:, m].mean(axis=0), color="black", lw=1.3, label="|saliency| share")
        _tss_axis(ax, flank)
        ax.set_title(marks[m])
        if m == 0:
            ax.set_ylabel("mean share of window")
            ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[1, : max(1, n_marks - 2)])
    finite = [bin_rho[:, m][np.isfinite(bin_rho[:, m])] for m in range(n_marks)]
    parts = ax.boxplot(finite, patch_artist=True, showfliers=False)
    for box, mark in zip(parts["boxes"], marks, strict=True):
        box.set(facecolor=colour(mark, MARK_COLOURS), alpha=0.5)
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(np.arange(1, n_marks + 1), list(marks))
    ax.set(ylabel="Spearman per gene", title="Bin attention vs bin saliency", ylim=(-1.05, 1.05))
    ax = fig.add_subplot(grid[1, max(1, n_marks - 2) :])
    values = mark_rho[np.isfinite(mark_rho)]
    ax.hist(values, bins=np.linspace(-1, 1, 11), color="#555555", alpha=0.8)
    median = float(np.median(values)) if values.size else float("nan")
    ax.axvline(median, color="#d62728", lw=1.2, label=f"median {median:.2f}")
    ax.set(xlabel="Spearman per gene", ylabel="genes", title="Mark attention vs mark saliency")
    ax.legend(fontsize=8)
    fig.suptitle(title or f"Attention vs input-gradient saliency ({n_genes} test genes)")
    return save_figure(fig, out)


def plot_gene(
    counts: np.ndarray,
    bin_attention: np.ndarray,
    mark_attention: np.ndarray,
    saliency: np.ndarray,
    marks: Sequence[str],
    out: str | Path,
    *,
    flank: int,
    bin_size: int,
    title: str = "",
) -> Path:
    """One gene: read counts per bin (bars), bin attention and saliency (lines) per mark,
    and the mark attention beside the summed saliency share per mark."""
    counts = np.asarray(counts, dtype=float)
    n_marks, n_bins = counts.shape
    x = bin_offsets(n_bins, flank, bin_size)
    fig = Figure(figsize=(12, 1.9 * n_marks + 0.8), layout="constrained")
    grid = fig.add_gridspec(n_marks, 3)
    sal_share = share_of(saliency)
    for m in range(n_marks):
        ax = fig.add_subplot(grid[m, :2])
        ax.bar(x, counts[m], width=bin_size, color=colour(marks[m], MARK_COLOURS), alpha=0.55)
        ax.set_ylabel(f"{marks[m]}\nreads", fontsize=8)
        _tss_axis(ax, flank)
        if m < n_marks - 1:
            ax.tick_params(labelbottom=False)
        twin = ax.twinx()
        twin.plot(x, bin_attention[m], color="#d62728", lw=1.2, label="bin attention")
        twin.plot(
            x, share_of(saliency[m]), color="black", lw=1.0, ls="--", label="|saliency| (share)"
        )
        twin.set_ylim(bottom=0)
        twin.tick_params(labelsize=7)
        if m == 0:
            twin.legend(fontsize=7, loc="upper right")
    ax = fig.add_subplot(grid[:, 2])
    y = np.arange(n_marks)
    ax.barh(y - 0.2, mark_attention, height=0.4, color="#d62728", alpha=0.8, label="mark attention")
    ax.barh(
        y + 0.2, sal_share.sum(axis=1), height=0.4, color="#555555", alpha=0.8, label="saliency"
    )
    ax.set_yticks(y, list(marks))
    ax.invert_yaxis()
    ax.set(xlabel="share", title="Mark level")
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    return save_figure(fig, out)


# --------------------------------------------------------------------------- across cell types


def plot_auroc_summary(
    table: pd.DataFrame,
    out: str | Path,
    *,
    published: Mapping[str, tuple[str, float]] = PUBLISHED_MEAN_AUROC,
    title: str = "",
    sd: pd.DataFrame | None = None,
) -> Path:
    """Test AUROC per cell type (one marker per model) with published means as lines.

    table: one row per cell type, column `label` (shown on the axis) and one
    `{model}` column of test AUROC per model; `sd`, the same columns, draws error bars.
    """
    models = [c for c in table.columns if c != "label"]
    n_cells = len(table)
    size = (max(9.0, 0.28 * n_cells + 5), 5 if n_cells <= 6 else 6.5)  # room for long names
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    x = np.arange(n_cells)
    step = 0.6 / max(1, len(models))
    for i, model in enumerate(models):
        spread = None if sd is None or sd[model].isna().all() else sd[model]
        ax.errorbar(
            x + (i - (len(models) - 1) / 2) * step,
            table[model],
            yerr=spread,
            fmt="o",
            ms=6,
            lw=0.8,
            color=colour(model, MODEL_COLOURS),
            label=f"{model_label(model)} (mean {table[model].mean():.3f})",
        )
    for key, (name, value) in published.items():
        ax.axhline(value, color=colour(key, MODEL_COLOURS), lw=1, ls="--", label=f"{name}: {value}")
    if n_cells > 6:  # many cell types: slanted labels anchored at their tick
        ax.set_xticks(x, table["label"], fontsize=8)
        ax.tick_params(axis="x", labelrotation=60)
        for text in ax.get_xticklabels():
            text.set(ha="right", rotation_mode="anchor")
    else:  # few: upright, wrapped so neighbours do not overlap
        ax.set_xticks(x, [textwrap.fill(label, 16) for label in table["label"]], fontsize=8)
    ax.set(ylabel="test AUROC", xlim=(-0.6, n_cells - 0.4))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title or "Test AUROC per cell type (dashed: published means over 56 cell types)")
    return save_figure(fig, out)


def plot_attention_heatmap(
    matrix: pd.DataFrame, out: str | Path, *, title: str = "Mean mark attention"
) -> Path:
    """Heatmap of mean mark attention: rows cell types (index = label), columns marks."""
    values = matrix.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    fig = Figure(figsize=(1.1 * n_cols + 4, 0.32 * n_rows + 2), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, aspect="auto", cmap="viridis")
    ax.set_xticks(np.arange(n_cols), list(matrix.columns))
    ax.set_yticks(np.arange(n_rows), list(matrix.index), fontsize=8)
    if n_rows * n_cols <= 400:
        threshold = np.nanmean(values)
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if v > threshold else "white")  # fmt: skip
    fig.colorbar(image, ax=ax, label="mean attention over test genes")
    ax.set_title(title)
    return save_figure(fig, out)


def plot_model_pairs(
    means: pd.DataFrame,
    sds: pd.DataFrame,
    wins: Mapping[str, int],
    out: str | Path,
    *,
    reference: str,
) -> Path:
    """Test AUROC of `reference` against every other model, one point per cell type.

    Points above the diagonal are cell types where `reference` is better (`wins`: their
    count per other model, from the comparison table); error bars are the standard
    deviation over seeds, when there are several.
    """
    others = [m for m in means.columns if m != reference]
    fig = Figure(figsize=(3.6 * max(1, len(others)), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(others)), squeeze=False)[0])
    low = float(np.nanmin(means.to_numpy())) - 0.02
    high = float(np.nanmax(means.to_numpy())) + 0.02
    for ax, other in zip(axes, others, strict=False):
        x, y = means[other].to_numpy(), means[reference].to_numpy()
        xerr = sds[other].to_numpy() if sds[other].notna().any() else None
        yerr = sds[reference].to_numpy() if sds[reference].notna().any() else None
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", ms=4, lw=0.8,
                    color=colour(reference, MODEL_COLOURS))  # fmt: skip
        ax.plot([low, high], [low, high], color="black", lw=0.8, ls="--")
        ax.set(xlim=(low, high), ylim=(low, high), aspect="equal",
               xlabel=f"{model_label(other)} test AUROC",
               ylabel=f"{model_label(reference)} test AUROC")  # fmt: skip
        ax.set_title(f"better on {wins[other]} of {len(x)} cell types", fontsize=9)
        ax.grid(alpha=0.3)
    return save_figure(fig, out)


def write_html_table(table: pd.DataFrame, out: str | Path, *, title: str, note: str = "") -> Path:
    """A small self-contained HTML page (the report shows HTML inline, TSV only as download)."""
    style = (
        "body{font-family:sans-serif;font-size:13px;margin:12px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
        "th{background:#f0f0f0}td{text-align:right}td:first-child,td:nth-child(2){text-align:left}"
    )
    body = table.to_html(
        index=False,
        float_format=lambda v: f"{v:.{DECIMALS}f}",
        na_rep="-",
        border=0,
        justify="left",
    )
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h3>{html.escape(title)}</h3>"
        f"<p>{html.escape(note)}</p>{body}</body></html>\n"
    )
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(page)
    return out
