"""Regression runs score every gene, export bundles and predict samples with the predicted
level log2(expression + 1) where classification has the probability."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attentivechrome.data.dataset import read_npz
from attentivechrome.errors import InputError
from attentivechrome.learn.outputs import REGRESSION_GENE_COLUMNS, read_gene_predictions
from attentivechrome.learn.training import train_and_evaluate
from attentivechrome.predict.bundle import bundle_export, read_bundle
from attentivechrome.predict.sample import predict_cell
from attentivechrome.predict.scoring import score_sample
from helpers import MARKS, gene_table, planted_levels, write_splits

WINDOW = {"flank": 5000, "bin_size": 100}


def trained(folder: Path, model: str, task: str, splits: dict[str, Path]) -> Path:
    """A short run of `model` and its bundle; returns the run folder (bundle.zip beside)."""
    genes = folder / "genes.tsv"
    gene_table(splits).to_csv(genes, sep="\t", index=False)
    run = folder / f"{model}-{task}"
    train_and_evaluate(model, *splits.values(), run, cell="E000", epochs=2, task=task, genes=genes)
    config = {"cell_types": ["E000"], "task": task}
    bundle_export(
        run / "model.pt", run / "metrics.json", splits, WINDOW, config, run / "bundle.zip"
    )
    return run


@pytest.fixture(scope="module")
def levels(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("levels")
    return folder, write_splits(folder, make=planted_levels)


@pytest.fixture(scope="module", params=["attentivechrome", "logistic"])
def regression_run(request, levels) -> Path:
    folder, splits = levels
    return trained(folder, request.param, "regression", splits)


def test_every_gene_carries_its_observed_and_predicted_level(regression_run, levels):
    _, splits = levels
    every = read_gene_predictions(regression_run / "predictions.tsv")
    assert list(every.columns) == REGRESSION_GENE_COLUMNS
    observed = np.concatenate([read_npz(splits[name]).level for name in splits])
    np.testing.assert_allclose(every["level"], observed, rtol=1e-5)
    test = pd.read_csv(regression_run / "test_predictions.tsv", sep="\t")
    tested = every[every["split"] == "test"].reset_index(drop=True)
    np.testing.assert_allclose(tested["prediction"], test["prediction"], atol=1e-6)
    by_rank = every.sort_values("rank")
    assert by_rank["rank"].iloc[0] == 1 and (np.diff(by_rank["prediction"]) <= 0).all()
    assert every.loc[every["split"] == "train", "prediction"].std() > 0


def test_a_regression_bundle_scores_levels_as_the_run_did(regression_run, levels):
    _, splits = levels
    bundle = read_bundle(regression_run / "bundle.zip")
    metrics = json.loads((regression_run / "metrics.json").read_text())
    assert (
        bundle.task == "regression"
        and bundle.card["metrics"]["test_pearson"] == (metrics["test_pearson"])
    )
    assert bundle.level_scale is not None
    if bundle.model_name == "logistic":
        assert bundle.card["hyperparameters"]["alpha"] == metrics["alpha"]
    test = read_npz(splits["test"])
    scored, _ = score_sample(bundle, test.X, MARKS, WINDOW, "raw", "S1")
    written = pd.read_csv(regression_run / "test_predictions.tsv", sep="\t")["prediction"]
    np.testing.assert_allclose(scored.scores, written, atol=1e-4)


def sample_files(folder: Path, splits: dict[str, Path]) -> dict[str, Path]:
    """The whole planted cell type as a sample to predict: counts, genes and expression
    (expression + 1 = 2 ** level, so that its levels are the splits')."""
    data = [read_npz(splits[name]) for name in splits]
    counts = folder / "S1-counts.npz"
    gene_ids = np.concatenate([d.gene_ids for d in data])
    np.savez(counts, X=np.concatenate([d.X for d in data]), gene_ids=gene_ids, marks=MARKS)
    genes = folder / "S1-genes.tsv"
    gene_table(splits).to_csv(genes, sep="\t", index=False)
    expression = folder / "S1-expression.tsv"
    level = np.concatenate([d.level for d in data]).astype(np.float64)
    pd.DataFrame({"gene_id": gene_ids, "S1": 2**level - 1}).to_csv(
        expression, sep="\t", index=False
    )
    return {"counts": counts, "genes": genes, "expression": expression}


def test_a_sample_predicted_by_regression_bundles_gets_levels(regression_run, levels, tmp_path):
    folder, splits = levels
    model = "attentivechrome" if "attentivechrome" in regression_run.name else "logistic"
    out = tmp_path / "S1.tsv"
    card = predict_cell(
        "S1",
        model,
        [regression_run / "bundle.zip"] * 2,
        ["first", "second"],
        out,
        tmp_path / "S1.json",
        window=WINDOW,
        depth="raw",
        out_figure=tmp_path / "S1.png",
        **sample_files(tmp_path, splits),
    )
    table = read_gene_predictions(out)
    assert list(table.columns) == REGRESSION_GENE_COLUMNS
    assert card["task"] == "regression" and card["combined_by"] == "mean predicted level"
    known = table["level"].notna()
    assert known.all()
    expected = np.corrcoef(table["level"], table["prediction"])[0, 1]
    assert card["pearson_all"] == pytest.approx(expected, abs=2e-3)  # the table rounds to 6 digits
    assert {"pearson_test", "spearman_all", "auroc_all", "auroc_test"} <= set(card)
    every = read_gene_predictions(regression_run / "predictions.tsv")
    np.testing.assert_allclose(table["prediction"], every["prediction"], atol=1e-4)


def test_an_ensemble_of_both_tasks_is_refused(regression_run, levels, tmp_path):
    folder, splits = levels
    model = "attentivechrome" if "attentivechrome" in regression_run.name else "logistic"
    classification = trained(tmp_path, model, "classification", write_splits(tmp_path))
    with pytest.raises(InputError, match="a classification model in an ensemble with") as error:
        predict_cell(
            "S1",
            model,
            [regression_run / "bundle.zip", classification / "bundle.zip"],
            ["regression", "classification"],
            tmp_path / "S1.tsv",
            tmp_path / "S1.json",
            window=WINDOW,
            depth="raw",
            **sample_files(tmp_path, splits),
        )
    assert "\n" not in str(error.value)
    assert not (tmp_path / "S1.tsv").exists()
