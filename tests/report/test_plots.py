"""Figures, saliency and the per-gene plot on small synthetic data and tiny real models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from attentivechrome.errors import InputError
from attentivechrome.learn.model import ModelOutput
from attentivechrome.learn.training import train_and_evaluate
from attentivechrome.report import comparison, figures, plots
from attentivechrome.report.saliency import (
    agreement_table,
    bin_agreement,
    input_saliency,
    mark_agreement,
    rowwise_spearman,
)
from helpers import MARKS, SIGNAL_MARK, write_splits

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WINDOW = {"flank": 5000, "bin_size": 100}  # the test data's 100 bins


@pytest.fixture(autouse=True)
def one_torch_thread():
    torch.set_num_threads(1)


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000  # an empty canvas is far smaller than a drawn figure
    assert not list(path.parent.glob(f".{path.stem}.*"))  # no temporary left behind


def softmax(values, axis):
    e = np.exp(values - values.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.fixture
def attention():
    rng = np.random.default_rng(1)
    n, bins = 40, 100
    return {
        "bin_attention": softmax(rng.normal(size=(n, 5, bins)), axis=2).astype(np.float32),
        "mark_attention": softmax(rng.normal(size=(n, 5)), axis=1).astype(np.float32),
        "probabilities": rng.uniform(size=n).astype(np.float32),
        "labels": rng.integers(0, 2, size=n).astype(np.int8),
        "gene_ids": np.array([f"ENSG{i:011d}" for i in range(n)]),
        "marks": np.array(MARKS),
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real AttentiveChrome trained briefly on the planted data (a few seconds on CPU)."""
    root = tmp_path_factory.mktemp("planted")
    write_splits(root, sizes=(160, 60, 60))
    metrics = train_and_evaluate(
        "attentivechrome",
        root / "train.npz",
        root / "valid.npz",
        root / "test.npz",
        root / "model",
        cell="PLANTED",
        epochs=4,
        lr=5e-3,
        transform="log1p",
        device="cpu",
        threads=1,
        checkpoint=False,
    )
    return root, metrics


# ---------------------------------------------------------------- pure figures


@pytest.mark.slow
def test_attention_and_mark_figures_are_drawn(attention, tmp_path):
    out = plots.plot_attention_profiles(
        attention["bin_attention"], attention["probabilities"], MARKS, tmp_path / "p.png", **WINDOW
    )
    assert_png(out)
    assert_png(
        plots.plot_mark_attention(
            attention["mark_attention"], attention["probabilities"], MARKS, tmp_path / "m.png"
        )
    )


def test_profiles_survive_a_single_predicted_class(attention, tmp_path):
    everyone_high = np.ones_like(attention["probabilities"])
    out = plots.plot_attention_profiles(
        attention["bin_attention"],
        everyone_high,
        MARKS,
        tmp_path / "p.png",
        threshold=0.5,
        **WINDOW,
    )
    assert_png(out)


def test_predicted_high_is_the_upper_half_by_rank():
    high = plots.predicted_high(np.array([0.51, 0.52, 0.50, 0.53, 0.505]))
    assert high.tolist() == [True, True, False, True, False]
    assert plots.predicted_high(np.array([0.2, 0.6]), threshold=0.5).tolist() == [False, True]


def test_curves_and_training_figures_are_drawn(attention, tmp_path):
    labels = attention["labels"]
    runs = {
        model: pd.DataFrame({"label": labels, "probability": np.clip(labels * w + 0.3, 0, 1)})
        for model, w in (("attentivechrome", 0.4), ("logistic", 0.1))
    }
    assert_png(plots.plot_roc_pr(runs, tmp_path / "roc.png"))
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [0.7, 0.6, 0.5],
            "valid_loss": [0.7, 0.65, 0.66],
            "valid_auroc": [0.6, 0.7, 0.68],
        }
    )
    out = plots.plot_training(
        {"attentivechrome": history, "deepchrome": history},
        tmp_path / "train.png",
        best_epochs={"attentivechrome": 2, "deepchrome": 2},
    )
    assert_png(out)


def long_summary(cells, aurocs: dict[str, list[float]], sd: float | None = None) -> pd.DataFrame:
    """summary.tsv rows (cell, model) as write_summary lays them out."""
    rows = [
        {"cell": cell, "model": model, "test_auroc_mean": values[i], "test_auroc_sd": sd}
        for i, cell in enumerate(cells)
        for model, values in aurocs.items()
    ]
    return pd.DataFrame(rows)


def test_summary_figures_and_tables(attention, tmp_path):
    cells = ["E003", "E004", "E005"]
    aurocs = {
        "attentivechrome": [0.81, 0.83, 0.79],
        "lstm": [0.80, 0.82, 0.78],
        "logistic": [0.75, 0.77, 0.74],
    }
    long_summary(cells, aurocs, sd=0.004).to_csv(tmp_path / "summary.tsv", sep="\t", index=False)
    table = tmp_path / "cells.tsv"
    table.write_text("id\tname\tgroup\nE003\tES-H1 cells\tESC\nE004\tH1 BMP4 mesendoderm\tES\n")
    attention_paths = {}
    for cell in cells:
        attention_paths[cell] = tmp_path / f"{cell}.npz"
        np.savez(attention_paths[cell], **attention)
    outputs = {
        "auroc": tmp_path / "auroc.png",
        "table": tmp_path / "auroc.tsv",
        "html": tmp_path / "auroc.html",
        "heatmap": tmp_path / "heat.png",
    }
    figures.summary_figures(tmp_path / "summary.tsv", attention_paths, outputs, cell_table=table)
    assert_png(outputs["auroc"])
    assert_png(outputs["heatmap"])
    written = pd.read_csv(outputs["table"], sep="\t")
    assert list(written["cell"]) == [*cells, "mean", "published"]
    assert written.loc[0, "name"] == "ES-H1 cells"
    assert written.loc[3, "AttentiveChrome AUROC"] == pytest.approx(0.81)
    assert written.loc[0, "AttentiveChrome sd"] == pytest.approx(0.004)
    assert written.loc[4, "AttentiveChrome AUROC"] == pytest.approx(0.8115)
    assert written.loc[4, "LSTM AUROC"] == pytest.approx(0.8052)  # the flat LSTM's number
    assert "<table" in outputs["html"].read_text()


def test_comparison_table_and_pairwise_figure(tmp_path):
    cells = ["E003", "E004", "E005", "E006"]
    aurocs = {"attentivechrome": [0.81, 0.83, 0.79, 0.80], "deepchrome": [0.80, 0.83, 0.80, 0.78]}
    long_summary(cells, aurocs).to_csv(tmp_path / "summary.tsv", sep="\t", index=False)
    outputs = {
        "table": tmp_path / "comparison.tsv",
        "html": tmp_path / "comparison.html",
        "figure": tmp_path / "pairs.png",
    }
    table = comparison.compare_models(tmp_path / "summary.tsv", outputs)
    assert_png(outputs["figure"])
    written = pd.read_csv(outputs["table"], sep="\t")
    assert written.loc[0, ["model_a", "model_b"]].tolist() == ["attentivechrome", "deepchrome"]
    assert (table.loc[0, "wins"], table.loc[0, "ties"], table.loc[0, "losses"]) == (2, 1, 1)
    assert "DeepChrome" in outputs["html"].read_text()


def test_cell_labels_name_the_cell_types_the_table_names(tmp_path):
    path = tmp_path / "cells.tsv"
    path.write_text("id\tname\nE003\tES-H1 cells\nE004\t\n")  # no group column: allowed
    assert figures.cell_label("E003", path) == "E003 ES-H1 cells"
    assert figures.cell_label("E004", path) == "E004"  # listed without a name
    assert figures.cell_label("E005", path) == "E005"  # not listed
    assert figures.cell_label("E003", None) == "E003"  # no table


def test_a_cell_table_without_names_is_rejected(tmp_path):
    path = tmp_path / "cells.tsv"
    path.write_text("id\tlabel\nE003\tES\n")
    with pytest.raises(InputError, match=r"cells.tsv: missing column\(s\) name"):
        figures.read_cell_table(path)


# ---------------------------------------------------------------- saliency


def test_spearman_matches_scipy_and_flags_constant_rows():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(3, 50)), rng.normal(size=(3, 50))
    b[2] = 1.0
    rho = rowwise_spearman(a, b)
    assert rho[0] == pytest.approx(spearmanr(a[0], b[0]).statistic)
    assert rowwise_spearman(a, a) == pytest.approx(np.ones(3))
    assert np.isnan(rho[2])


class LinearOnOneMark(nn.Module):
    """logit = sum_b w_b * x[mark 3, b]: saliency must be |w| on that mark, 0 elsewhere."""

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.weights = weights

    def forward(self, x):
        return ModelOutput((x[:, SIGNAL_MARK] * self.weights).sum(dim=1))


def test_saliency_of_a_linear_model_is_its_weights():
    weights = torch.linspace(-1, 1, 100)
    x = np.random.default_rng(3).poisson(2.0, size=(7, 5, 100))
    result = input_saliency(LinearOnOneMark(weights), x, batch_size=3)
    assert result.saliency.shape == (7, 5, 100)
    assert result.logits.shape == (7,)
    assert result.bin_attention is None
    expected = np.tile(np.abs(weights.numpy()), (7, 1))
    np.testing.assert_allclose(result.saliency[:, SIGNAL_MARK], expected)
    assert not result.saliency[:, [0, 1, 2, 4]].any()


def test_saliency_of_a_trained_model_is_highest_on_the_planted_mark(trained):
    root, metrics = trained
    assert metrics["test_auroc"] > 0.9  # the model did learn the planted signal
    from attentivechrome.data.dataset import read_npz
    from attentivechrome.report.saliency import mark_saliency, model_saliency

    test = read_npz(root / "test.npz")
    result = model_saliency(root / "model" / "model.pt", test.X, MARKS)
    n = len(test.y)
    assert result.saliency.shape == (n, 5, 100)
    assert result.bin_attention.shape == (n, 5, 100)
    assert result.mark_attention.shape == (n, 5)
    # Attention from the saliency pass is the attention the training run saved.
    with np.load(root / "model" / "attention.npz") as saved:
        np.testing.assert_allclose(result.mark_attention, saved["mark_attention"], atol=1e-5)
    shares = mark_saliency(result.saliency).mean(axis=0)
    assert shares.argmax() == SIGNAL_MARK
    table = agreement_table(
        test.gene_ids,
        test.y,
        result.logits,
        MARKS,
        result.bin_attention,
        result.mark_attention,
        result.saliency,
    )
    assert len(table) == n
    assert set(table["top_mark_saliency"]) <= set(MARKS)
    assert bin_agreement(result.bin_attention, result.saliency).shape == (n, 5)
    assert mark_agreement(result.mark_attention, result.saliency).shape == (n,)


@pytest.mark.slow
def test_saliency_figure_and_table(trained, tmp_path):
    root, _ = trained
    table = figures.saliency_figures(
        root / "model" / "model.pt",
        root / "test.npz",
        tmp_path / "saliency.png",
        tmp_path / "agreement.tsv",
        **WINDOW,
        label="PLANTED",
    )
    assert_png(tmp_path / "saliency.png")
    written = pd.read_csv(tmp_path / "agreement.tsv", sep="\t")
    assert list(written["gene_id"]) == list(table["gene_id"])
    assert {f"bin_spearman_{m}" for m in MARKS} <= set(written.columns)


@pytest.mark.slow
def test_cell_figures_from_a_training_run(trained, tmp_path):
    root, _ = trained
    outputs = {key: tmp_path / f"{key}.png" for key in ("profile", "marks", "curves", "training")}
    figures.cell_figures(
        "PLANTED",
        root / "model" / "attention.npz",
        {"attentivechrome": root / "model"},
        outputs,
        **WINDOW,
    )
    for path in outputs.values():
        assert_png(path)


# ---------------------------------------------------------------- one gene


@pytest.mark.slow
def test_gene_figure_for_a_test_gene(trained, tmp_path):
    root, _ = trained
    gene = str(pd.read_csv(root / "model" / "test_predictions.tsv", sep="\t")["gene_id"][5])
    out = figures.gene_figure(
        gene,
        root / "model" / "model.pt",
        root / "test.npz",
        root / "model" / "test_predictions.tsv",
        tmp_path / "genes" / f"{gene}.png",
        **WINDOW,
    )
    assert_png(out)


def test_gene_figure_refuses_a_gene_outside_the_test_split(trained, tmp_path):
    root, _ = trained
    train_gene = "ENSG00000000007"  # in the train split of the planted data
    with pytest.raises(InputError) as error:
        figures.gene_figure(
            train_gene,
            root / "model" / "model.pt",
            root / "test.npz",
            root / "model" / "test_predictions.tsv",
            tmp_path / "x.png",
            **WINDOW,
        )
    message = str(error.value)
    assert f"gene '{train_gene}' is not a test gene" in message
    assert "test_predictions.tsv" in message and "gene_id column" in message
    assert not (tmp_path / "x.png").exists()
