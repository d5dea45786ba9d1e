"""The plot rules' figures and tables from the pipeline's result files.

Reads what the rules hand over (attention.npz, a run's history and predictions,
summary.tsv, the optional cell table), runs saliency where a figure needs it, and calls
the drawing functions of `plots`. The plot rules' scripts call this module only (the
compare_models rule calls `comparison.compare_models`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from attentivechrome.data.dataset import long_id, read_npz
from attentivechrome.errors import InputError
from attentivechrome.io import atomic_path, read_table
from attentivechrome.learn.model_facts import PUBLISHED_MEAN_AUROC, model_label
from attentivechrome.report.comparison import seed_tables
from attentivechrome.report.plots import (
    plot_attention_heatmap,
    plot_attention_profiles,
    plot_auroc_summary,
    plot_gene,
    plot_mark_attention,
    plot_predicted_observed,
    plot_roc_pr,
    plot_saliency_agreement,
    plot_training,
    write_html_table,
)
from attentivechrome.report.summary import FLOAT_FORMAT, read_summary, summary_task
from attentivechrome.task import CLASSIFICATION, REGRESSION, Task, metric_label, task_of_run

#: Columns of the optional cell table; `group` may be left out.
CELL_TABLE_COLUMNS = ["id", "name", "group"]


def read_cell_table(path: str | Path | None) -> pd.DataFrame:
    """The optional id/name/group table; empty (same columns) when no path is given.

    The one reader of the table: every figure and table that names cell types goes
    through it and `cell_labels`.
    """
    columns = CELL_TABLE_COLUMNS
    expected = f"expected a header '{'<TAB>'.join(columns)}'"
    if not path:
        return pd.DataFrame(columns=columns)
    try:
        table = read_table(path, dtype=str)
    except pd.errors.EmptyDataError:
        raise InputError(path, f"empty; {expected}") from None
    missing = [c for c in columns[:2] if c not in table.columns]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}; {expected}")
    if "group" not in table.columns:
        table["group"] = ""
    return table[columns].fillna("")


def by_cell(cell_table: pd.DataFrame, column: str) -> dict[str, str]:
    """Cell id -> its `column` ('name' or 'group'); a repeated id keeps its last row."""
    return dict(zip(cell_table["id"], cell_table[column], strict=True))


def cell_labels(cells: Sequence[str], cell_table: pd.DataFrame) -> list[str]:
    """'ID name' when the table names the cell type, else the id alone."""
    names = by_cell(cell_table, "name")
    return [f"{c} {names[c]}".strip() if names.get(c) else c for c in cells]


def cell_label(cell: str, table_path: str | Path | None) -> str:
    """One cell type's label for figure titles, from the optional table at `table_path`."""
    return cell_labels([cell], read_cell_table(table_path))[0]


def read_attention(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {key: archive[key] for key in archive.files}


def attention_scores(data: Mapping[str, np.ndarray]) -> np.ndarray:
    """The model's score of each gene in an attention.npz: its probability, or its
    predicted level (regression); figures split genes into halves by it."""
    return data["predictions"] if "predictions" in data else data["probabilities"]


def cell_figures(
    cell: str,
    attention: Path,
    runs: Mapping[str, Path],
    outputs: Mapping[str, Path],
    *,
    flank: int,
    bin_size: int,
    label: str = "",
) -> None:
    """All per-cell-type figures.

    runs: model name -> its output folder (metrics.json, history.tsv, test_predictions.tsv).
    outputs: keys profile, marks, curves, training -> PNG paths; for regression runs also
    predicted_observed.
    label: the cell type in the titles (see `cell_label`), `cell` when not given.
    """
    label = label or cell
    data = read_attention(attention)
    marks = [str(m) for m in data["marks"]]
    plot_attention_profiles(
        data["bin_attention"],
        attention_scores(data),
        marks,
        outputs["profile"],
        flank=flank,
        bin_size=bin_size,
        title=f"{label}: bin attention around the TSS ({len(data['labels'])} test genes)",
    )
    plot_mark_attention(
        data["mark_attention"],
        attention_scores(data),
        marks,
        outputs["marks"],
        title=f"{label}: mark attention per test gene",
    )
    predictions = {m: pd.read_csv(d / "test_predictions.tsv", sep="\t") for m, d in runs.items()}
    histories = {m: pd.read_csv(d / "history.tsv", sep="\t") for m, d in runs.items()}
    metrics = {m: json.loads((d / "metrics.json").read_text()) for m, d in runs.items()}
    best = {m: run["best_epoch"] for m, run in metrics.items()}
    task = task_of_run(next(iter(metrics.values())))
    plot_roc_pr(
        predictions,
        outputs["curves"],
        title=f"{label}: test genes, best epoch"
        + (" (predicted level against the median label)" if task is REGRESSION else ""),
        score=task.score_column,
        task=task.name,
    )
    plot_training(
        histories, outputs["training"], best_epochs=best, title=f"{label}: training", task=task.name
    )
    if task is REGRESSION:
        plot_predicted_observed(
            predictions,
            outputs["predicted_observed"],
            title=f"{label}: predicted against observed level, test genes",
        )


#: What the table for people shows of each model, per task: (metric, column suffix).
TABLE_METRICS = {
    CLASSIFICATION.name: [("test_auroc", "AUROC")],
    REGRESSION.name: [("test_pearson", "r"), ("test_auroc", "AUROC")],
}


def metric_table_column(model: str, suffix: str, task: Task = CLASSIFICATION) -> str:
    """The people's table column of a model's metric: `LSTM AUROC`, `LSTM r`."""
    return f"{model_label(model, task.name)} {suffix}"


def auroc_column(model: str) -> str:
    """The AUROC table's column of a model's test AUROC (its sd: `sd_column`)."""
    return metric_table_column(model, "AUROC")


def sd_column(model: str, suffix: str = "", task: Task = CLASSIFICATION) -> str:
    """The column of its sd over seeds: `LSTM sd` (classification), `LSTM r sd`."""
    return metric_table_column(model, f"{suffix} sd" if suffix else "sd", task)


def summary_frames(
    summary: pd.DataFrame, cell_table: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """From summary.tsv: (the table for people, per-model mean and sd tables to plot) of the
    task's primary metric; for regression the table also gives the AUROC of the level."""
    task = summary_task(summary)
    means, sds = seed_tables(summary)
    models, cells = list(means.columns), [str(c) for c in means.index]
    plot_table = means.reset_index(drop=True)
    plot_table.insert(0, "label", cell_labels(cells, cell_table))
    several_seeds = bool(sds.notna().to_numpy().any())
    people = pd.DataFrame({"cell": cells})
    for column in ("name", "group"):
        values = by_cell(cell_table, column)
        people[column] = [values.get(c, "") for c in cells]
    shown, by_model = [], {model: [] for model in models}  # each model's columns side by side
    for metric, suffix in TABLE_METRICS[task.name]:
        metric_means, metric_sds = seed_tables(summary, metric)
        # Only classification's sd column keeps its short name (`LSTM sd`).
        sd_suffix = suffix if task is REGRESSION else ""
        for model in models:
            column = metric_table_column(model, suffix, task)
            people[column] = metric_means[model].to_numpy()
            shown.append(column)
            by_model[model].append(column)
            if several_seeds:
                people[sd_column(model, sd_suffix, task)] = metric_sds[model].to_numpy()
                by_model[model].append(sd_column(model, sd_suffix, task))
    people = people[["cell", "name", "group"] + [c for m in models for c in by_model[m]]]
    mean_row = {"cell": "mean", "name": f"{len(cells)} cell types", "group": ""}
    mean_row |= {column: people[column].mean() for column in shown}
    rows = [mean_row]
    if task is CLASSIFICATION:  # the published means are of the paper's task
        published = {
            auroc_column(m): v for m, (_, v) in PUBLISHED_MEAN_AUROC.items() if m in models
        }
        rows.append(
            {"cell": "published", "name": "mean over 56 REMC cell types", "group": ""} | published
        )
    people = pd.concat([people, pd.DataFrame(rows)], ignore_index=True)
    return people, plot_table, sds.reset_index(drop=True)


def summary_figures(
    summary_tsv: Path,
    attention: Mapping[str, Path],
    outputs: Mapping[str, Path],
    *,
    cell_table: str | Path | None = None,
) -> None:
    """Across cell types. outputs: keys auroc (PNG), table (TSV), html, heatmap (PNG)."""
    table = read_cell_table(cell_table)
    summary = read_summary(summary_tsv)
    task = summary_task(summary)
    people, plot_table, sds = summary_frames(summary, table)
    with atomic_path(outputs["table"]) as tmp:
        people.to_csv(tmp, sep="\t", index=False, float_format=FLOAT_FORMAT, na_rep="")
    if task is REGRESSION:
        write_html_table(
            people,
            outputs["html"],
            title="Regression: test Pearson r per cell type",
            note="Task: regression of log2(expression + 1). Each model is evaluated at its "
            "best validation-Pearson-r epoch; r is the Pearson correlation of the predicted "
            "and observed levels of the test genes, AUROC that of the predicted level against "
            "the median label (the classification task's labels). With several seeds the value "
            "is their mean (sd: standard deviation over seeds).",
        )
        plot_auroc_summary(
            plot_table,
            outputs["auroc"],
            sd=sds,
            published={},
            metric=metric_label(task.primary),
            task=task.name,
            title="Regression: test Pearson r per cell type",
        )
    else:
        write_html_table(
            people,
            outputs["html"],
            title="Test AUROC per cell type",
            note="Each model is evaluated at its best validation-AUROC epoch; with several "
            "seeds the value is their mean (sd: standard deviation over seeds). The last row "
            "gives the published means over the 56 REMC cell types for comparison.",
        )
        plot_auroc_summary(plot_table, outputs["auroc"], sd=sds)
    rows = {}
    marks: list[str] = []
    for cell, path in attention.items():
        data = read_attention(path)
        marks = [str(m) for m in data["marks"]]
        rows[cell] = data["mark_attention"].mean(axis=0)
    heatmap = pd.DataFrame.from_dict(rows, orient="index", columns=marks)
    heatmap.index = cell_labels(list(rows), table)
    plot_attention_heatmap(heatmap, outputs["heatmap"], title="Mean mark attention (test genes)")


def saliency_figures(
    model_path: Path,
    test_npz: Path,
    out_png: Path,
    out_tsv: Path,
    *,
    flank: int,
    bin_size: int,
    label: str = "",
    threads: int = 1,
) -> pd.DataFrame:
    """Saliency of every test gene, its agreement with attention (TSV) and the figure."""
    # saliency imports torch: only the rules that run a model pay for it.
    from attentivechrome.report.saliency import (
        agreement_table,
        bin_agreement,
        mark_agreement,
        model_saliency,
    )

    data = read_npz(test_npz)
    marks = [str(m) for m in data.marks]
    result = model_saliency(model_path, data.X, marks, threads=threads)
    table = agreement_table(
        data.gene_ids,
        data.y,
        result.logits,
        marks,
        result.bin_attention,
        result.mark_attention,
        result.saliency,
        result.scale,
    )
    with atomic_path(out_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f", na_rep="NA")
    title = f"{label}: attention vs input-gradient saliency ({len(table)} test genes)"
    plot_saliency_agreement(
        result.bin_attention,
        result.saliency,
        bin_agreement(result.bin_attention, result.saliency),
        mark_agreement(result.mark_attention, result.saliency),
        marks,
        out_png,
        flank=flank,
        bin_size=bin_size,
        title=title.strip(": "),  # no label: no leading ': '
    )
    return table


def find_test_gene(gene: str, gene_ids: np.ndarray, source: Path, listing: Path) -> int:
    """Index of `gene` (full or short Ensembl id) among the test genes, or a clear error."""
    ids = [str(g) for g in gene_ids]
    for candidate in (gene, long_id(gene)):
        if candidate in ids:
            return ids.index(candidate)
    examples = ", ".join(ids[:3])
    raise InputError(
        source,
        f"gene {gene!r} is not a test gene of this cell type. Per-gene figures exist only for "
        f"test genes (the model never trained on them and their attention is saved). Valid ids "
        f"are the gene_id column of {listing} ({len(ids)} genes, e.g. {examples}); "
        f"`cut -f1 {listing} | head` lists some",
    )


def gene_figure(
    gene: str,
    model_path: Path,
    test_npz: Path,
    predictions: Path,
    out: Path,
    *,
    flank: int,
    bin_size: int,
    label: str = "",
) -> Path:
    """One test gene: its counts, bin and mark attention, and saliency, in one figure."""
    from attentivechrome.report.saliency import model_saliency  # torch, as above

    data = read_npz(test_npz)
    index = find_test_gene(gene, data.gene_ids, test_npz, predictions)
    marks = [str(m) for m in data.marks]
    result = model_saliency(model_path, data.X[index : index + 1], marks)
    if result.scale is not None:
        observed = "" if data.level is None else f"observed {data.level[index]:.2f}, "
        said = f"log2(expression + 1): {observed}predicted {float(result.scores[0]):.2f}"
    else:
        said = f"predicted probability {float(result.scores[0]):.3f}"
    title = (
        f"{label + ': ' if label else ''}{data.gene_ids[index]}  label {int(data.y[index])} "
        f"(expression {'above' if data.y[index] else 'at or below'} median), {said}"
    )
    return plot_gene(
        data.X[index],
        result.bin_attention[0],
        result.mark_attention[0],
        result.saliency[0],
        marks,
        out,
        flank=flank,
        bin_size=bin_size,
        title=title,
    )
