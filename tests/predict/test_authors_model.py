"""The authors' published model format, loaded as a bundle, gives their probabilities."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attentivechrome.data.dataset import long_id
from attentivechrome.errors import InputError
from attentivechrome.learn.outputs import read_gene_predictions
from attentivechrome.predict.bundle import read_bundle
from attentivechrome.predict.sample import predict_cell

FIXTURES = Path(__file__).parents[1] / "fixtures" / "authors-model"
MODEL = FIXTURES / "DEMO1_attchrome_avgAUC_model.pt"
WINDOW = {"flank": 5000, "bin_size": 100}
AUTHORS_TEST_AUROC = 0.7102141927734962  # what their training printed for this file


@pytest.fixture(scope="module")
def test_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("authors") / "DEMO1_test.csv"
    with gzip.open(FIXTURES / "DEMO1_test.csv.gz", "rb") as packed, open(path, "wb") as out:
        shutil.copyfileobj(packed, out)
    return path


def authors_probabilities() -> pd.DataFrame:
    table = pd.read_csv(FIXTURES / "DEMO1_test_probabilities.tsv", sep="\t", dtype={"gene": str})
    table["gene_id"] = [long_id(g) for g in table["gene"]]
    return table


def predict_csv(csv: Path, out: Path) -> tuple[pd.DataFrame, dict]:
    card = predict_cell(
        "DEMO1",
        "attentivechrome",
        [MODEL],
        [MODEL.name],
        out / "table.tsv",
        out / "card.json",
        window=WINDOW,
        depth="scaled",
        csv=csv,
        out_attention=out / "attention.npz",
    )
    return read_gene_predictions(out / "table.tsv"), card


def test_the_authors_file_reproduces_their_probabilities(test_csv, tmp_path):
    ours, card = predict_csv(test_csv, tmp_path)
    theirs = authors_probabilities()
    assert list(ours["gene_id"]) == list(theirs["gene_id"])
    assert np.array_equal(ours["label"].to_numpy(int), theirs["label"].to_numpy())
    # The table keeps 6 significant digits; the attention file none of that rounding.
    assert np.abs(ours["probability"] - theirs["probability"]).max() < 1e-6
    assert card["auroc_all"] == pytest.approx(AUTHORS_TEST_AUROC, abs=1e-6)
    assert card["depth"] == "scaled" and card["ensemble"][0]["depth_ratio"] is None
    saved = json.loads((tmp_path / "card.json").read_text())
    assert saved["ensemble"][0]["cell"] == "DEMO1"  # from the authors' file name
    with np.load(tmp_path / "attention.npz") as attention:
        assert attention["bin_attention"].shape == (len(theirs), 5, 100)
        assert list(attention["marks"]) == ["H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3"]


def test_a_csv_without_labels_is_scored_the_same(test_csv, tmp_path):
    rows = pd.read_csv(test_csv, header=None, dtype={0: str})
    unlabelled = tmp_path / "unlabelled.csv"
    rows.iloc[:, :-1].to_csv(unlabelled, header=False, index=False)
    ours, card = predict_csv(unlabelled, tmp_path)
    theirs = authors_probabilities()
    assert ours["label"].isna().all() and card["labels"] is False
    assert np.abs(ours["probability"] - theirs["probability"]).max() < 1e-6


def test_the_card_of_an_authors_file(tmp_path):
    bundle = read_bundle(MODEL)
    assert bundle.model_name == "attentivechrome"
    assert bundle.card["hyperparameters"] == {
        "n_marks": 5,
        "n_bins": 100,
        "bin_hidden": 32,
        "mark_hidden": 16,
    }
    assert bundle.depth is None and bundle.card["transform"] == "none"


@pytest.mark.parametrize("damage", ["truncated", "other-model", "text"])
def test_a_damaged_model_file_is_one_clear_error(tmp_path, damage):
    import torch

    bad = tmp_path / "E003_attchrome_avgAUC_model.pt"
    if damage == "truncated":
        bad.write_bytes(MODEL.read_bytes()[:100_000])
    elif damage == "other-model":
        state = torch.load(MODEL, weights_only=True)
        state.pop("fdiff1_1.bias")
        torch.save(state, bad)
    else:
        bad.write_text("<html>404 Not Found</html>\n")
    with pytest.raises(InputError) as error:
        read_bundle(bad)
    message = str(error.value)
    assert message.startswith(str(bad)) and "\n" not in message


def test_the_command_line_scores_a_csv_and_refuses_a_bad_bundle(test_csv, tmp_path):
    command = [sys.executable, "-m", "attentivechrome.predict", "--csv", str(test_csv)]
    done = subprocess.run(
        [*command, "--bundle", str(MODEL), "--out", str(tmp_path / "out" / "E")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    ours = read_gene_predictions(tmp_path / "out" / "E.tsv")
    assert np.abs(ours["probability"] - authors_probabilities()["probability"]).max() < 1e-6
    assert (tmp_path / "out" / "E.attention.npz").exists()

    bad = tmp_path / "bad.pt"
    bad.write_text("not a model\n")
    failed = subprocess.run(
        [*command, "--bundle", str(bad), "--out", str(tmp_path / "bad" / "E")],
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1
    errors = [line for line in failed.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and str(bad) in errors[0] and "Traceback" not in failed.stderr
    assert not (tmp_path / "bad").exists()
