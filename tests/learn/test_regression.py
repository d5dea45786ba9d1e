"""task: regression: every model's regression form, the kept epoch, the ridge baseline,
the outputs, resuming, and split files that cannot be regressed on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import mean_squared_error, r2_score

from attentivechrome.data.dataset import read_npz, write_npz
from attentivechrome.errors import InputError
from attentivechrome.learn.checkpoint import CHECKPOINT_NAME
from attentivechrome.learn.metrics import NoSpreadError, mse, pearson, r_squared, spearman
from attentivechrome.learn.model import LevelScale, scores
from attentivechrome.learn.outputs import load_model
from attentivechrome.learn.ridge import RIDGE_ALPHA_GRID
from attentivechrome.learn.training import train_and_evaluate
from attentivechrome.task import REGRESSION
from helpers import MARKS, SIGNAL_MARK, history, planted_levels, write_splits

REGRESSION_METRICS = ("test_pearson", "test_spearman", "test_r2", "test_mse", "test_auroc")


@pytest.fixture(scope="module")
def levels(tmp_path_factory) -> dict[str, Path]:
    return write_splits(tmp_path_factory.mktemp("levels"), make=planted_levels)


def regress(model: str, splits: dict[str, Path], out: Path, **options) -> dict:
    options.setdefault("epochs", 2)
    return train_and_evaluate(
        model,
        splits["train"],
        splits["valid"],
        splits["test"],
        out,
        cell="E000",
        task="regression",
        **options,
    )


def test_regression_metrics_match_scipy_and_scikit_learn():
    rng = np.random.default_rng(3)
    observed = rng.uniform(0, 8, 50)
    predicted = observed + rng.normal(0, 2, 50)
    assert pearson(observed, predicted) == pytest.approx(pearsonr(observed, predicted)[0])
    assert spearman(observed, predicted) == pytest.approx(spearmanr(observed, predicted)[0])
    assert r_squared(observed, predicted) == pytest.approx(r2_score(observed, predicted))
    assert mse(observed, predicted) == pytest.approx(mean_squared_error(observed, predicted))
    assert np.isnan(pearson(observed, np.full(50, 3.0)))  # a model that predicts one value
    with pytest.raises(NoSpreadError, match="test split: all 50 genes have level 2"):
        pearson(np.full(50, 2.0), predicted, "test split")


def test_attentivechrome_regression_writes_every_output(levels, tmp_path):
    out = tmp_path / "run"
    metrics = regress("attentivechrome", levels, out)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["settings"]["task"] == "regression"
    for key in (*REGRESSION_METRICS, "valid_pearson", "valid_spearman", "valid_auroc"):
        assert np.isfinite(saved[key]), key
    assert "test_loss" not in saved and "valid_auprc" not in saved
    # Predictions are levels, not the standardised outputs: near the observed ones.
    assert saved["test_r2"] > -0.5

    test = read_npz(levels["test"])
    predictions = pd.read_csv(out / "test_predictions.tsv", sep="\t", dtype={"gene_id": str})
    assert list(predictions.columns) == ["gene_id", "label", "level", "prediction"]
    assert list(predictions["gene_id"]) == list(test.gene_ids)
    np.testing.assert_allclose(predictions["level"], test.level, rtol=1e-5)
    assert list(pd.read_csv(out / "history.tsv", sep="\t").columns) == list(
        REGRESSION.history_columns
    )
    with np.load(out / "attention.npz") as attention:
        assert "probabilities" not in attention.files
        np.testing.assert_allclose(attention["levels"], test.level)
        np.testing.assert_allclose(attention["predictions"], predictions["prediction"], atol=1e-4)
        np.testing.assert_allclose(attention["mark_attention"].sum(-1), 1, atol=1e-5)
        predicted = attention["predictions"]
    assert metrics["test_pearson"] == pytest.approx(pearsonr(test.level, predicted)[0], abs=1e-6)
    assert metrics["test_r2"] == pytest.approx(r2_score(test.level, predicted), abs=1e-6)

    # model.pt alone gives the predicted levels: its outputs, unstandardised by its scale.
    model, payload = load_model(out / "model.pt")
    scale = LevelScale.from_payload(payload)
    train_levels = read_npz(levels["train"]).level
    assert (scale.mean, scale.sd) == pytest.approx((train_levels.mean(), train_levels.std()))
    with torch.no_grad():
        outputs = model(torch.from_numpy(test.X.astype(np.float32))).logits
    np.testing.assert_allclose(scores(outputs, scale).numpy(), predictions["prediction"], atol=1e-4)


@pytest.mark.parametrize("model", ["lstm", "lstm-attention", "hierarchical-lstm", "deepchrome"])
def test_every_torch_model_has_a_regression_form(levels, tmp_path, model):
    metrics = regress(model, levels, tmp_path / model, epochs=1)
    assert metrics["settings"]["task"] == "regression"
    assert metrics["n_parameters"] == regress_parameters(model, levels, tmp_path)
    for key in REGRESSION_METRICS:
        assert np.isfinite(metrics[key]), key


def regress_parameters(model: str, splits: dict[str, Path], tmp_path: Path) -> int:
    """The same model's parameter count in classification: the architecture is the same."""
    metrics = train_and_evaluate(
        model, splits["train"], splits["valid"], splits["test"], tmp_path / "c", cell="E0", epochs=1
    )
    return metrics["n_parameters"]


def test_kept_epoch_is_the_best_validation_pearson_not_auroc(tmp_path):
    """Levels loosely tied to the labels (|label + noise|), where the epoch with the best
    validation Pearson r is not the one with the best AUROC of the level."""
    splits = write_splits(tmp_path)
    rng = np.random.default_rng(5)
    for path in splits.values():
        data = read_npz(path)
        data.level = np.abs(data.y + rng.normal(0, 1.0, data.n)).astype(np.float32)
        write_npz(data, path)
    metrics = regress("attentivechrome", splits, tmp_path / "run", epochs=4, lr=1e-3, seed=2)
    table = history(tmp_path / "run")
    best = int(table["valid_pearson"].to_numpy().argmax())  # the first maximum
    assert best != int(table["valid_auroc"].to_numpy().argmax())
    assert metrics["best_epoch"] == best + 1
    assert metrics["valid_pearson"] == pytest.approx(table["valid_pearson"].max(), abs=1e-6)


def test_ridge_picks_its_strength_on_validation_pearson(levels, tmp_path):
    metrics = regress("logistic", levels, tmp_path / "run")
    table = pd.read_csv(tmp_path / "run/history.tsv", sep="\t")
    assert list(table["alpha"]) == list(RIDGE_ALPHA_GRID) == [1e6, 1e5, 1e4, 1e3, 100, 10, 1]
    chosen = int(table["valid_pearson"].to_numpy().argmax())
    assert metrics["alpha"] == table["alpha"].iloc[chosen] and "C" not in metrics
    assert metrics["best_epoch"] == chosen + 1
    assert metrics["test_pearson"] > 0.9  # the planted level is near-linear in the counts
    payload = torch.load(tmp_path / "run/model.pt", weights_only=True)
    assert payload["task"] == "regression" and payload["alpha"] == metrics["alpha"]


def test_regression_resumes_to_the_uninterrupted_numbers(levels, tmp_path):
    whole = regress("attentivechrome", levels, tmp_path / "whole")
    out = tmp_path / "resumed"

    def stop(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        regress("attentivechrome", levels, out, on_epoch_end=stop)
    seen: list[int] = []
    resumed = regress("attentivechrome", levels, out, on_epoch_end=seen.append)
    assert seen == [2]
    assert {k: v for k, v in resumed.items() if k != "seconds_total"} == {
        k: v for k, v in whole.items() if k != "seconds_total"
    }
    assert not (out / CHECKPOINT_NAME).exists()


def test_a_classification_checkpoint_is_not_resumed_by_regression(levels, tmp_path):
    out = tmp_path / "run"

    def stop(epoch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(
            "attentivechrome", *levels.values(), out, cell="E000", epochs=2, on_epoch_end=stop
        )
    seen: list[int] = []
    regress("attentivechrome", levels, out, on_epoch_end=seen.append)
    assert seen == [1, 2]


def test_split_files_without_levels_are_refused_for_regression(tmp_path):
    splits = write_splits(tmp_path)  # classification's: labels only
    with pytest.raises(InputError, match="train.npz: no expression levels"):
        regress("attentivechrome", splits, tmp_path / "out")
    assert not (tmp_path / "out/metrics.json").exists()


@pytest.mark.parametrize(
    ("level", "message"),
    [
        (np.full(64, 3.0, np.float32), "valid split: all 64 genes have level 3"),
        (np.r_[-1.0, np.ones(63)].astype(np.float32), "level -1.0, expected log2"),
        (np.r_[np.nan, np.ones(63)].astype(np.float32), "level nan"),
        (np.ones(10, np.float32), "level must be 64 numbers"),
    ],
)
def test_bad_levels_name_the_split_file(levels, tmp_path, level, message):
    data = read_npz(levels["valid"])
    data.level = None
    bad = tmp_path / "valid.npz"
    write_npz(data, bad)
    with np.load(bad) as archive:
        arrays = dict(archive)
    np.savez(bad, **arrays, level=level)
    with pytest.raises(InputError, match=message) as error:
        regress("attentivechrome", {**levels, "valid": bad}, tmp_path / "out")
    assert str(bad) in str(error.value)


@pytest.mark.slow
def test_planted_level_is_learned_and_its_mark_attended(tmp_path):
    """Only H3K4me3 near the TSS carries the level: test Pearson r >= 0.9, and that mark
    and those bins attended (lr 1e-3, as the planted classification test)."""
    paths = write_splits(tmp_path, sizes=(400, 200, 200), seed=1, make=planted_levels)
    out = tmp_path / "run"
    metrics = regress("attentivechrome", paths, out, epochs=6, lr=1e-3)
    assert metrics["test_pearson"] >= 0.9 and metrics["test_r2"] > 0.7
    with np.load(out / "attention.npz") as attention:
        high = attention["levels"] > np.median(attention["levels"])
        marks = attention["mark_attention"][high]
        near_tss = attention["bin_attention"][high, SIGNAL_MARK, 45:55].sum(axis=1)
    assert marks.mean(axis=0).argmax() == SIGNAL_MARK
    assert (marks.argmax(axis=1) == SIGNAL_MARK).mean() > 0.8
    assert near_tss.mean() > 3 * 10 / 100  # three times the uniform share of those ten bins
    assert list(MARKS)[SIGNAL_MARK] == "H3K4me3"


def test_deepchrome_regresses_on_pytorch_layers_whatever_the_kernel(levels, tmp_path):
    """DeepChrome's fused numba step computes classification's loss: a regression with
    kernel numba trains exactly as with the reference layers."""
    numba = regress("deepchrome", levels, tmp_path / "numba", epochs=1, kernel="numba")
    torch_layers = regress("deepchrome", levels, tmp_path / "torch", epochs=1, kernel="torch")
    for key in REGRESSION_METRICS:
        assert numba[key] == torch_layers[key], key
