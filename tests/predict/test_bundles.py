"""Bundles: exported from a training run, read in another folder, scoring by mark name,
depth scaling, and the refusals of bundles that do not fit the sample."""

from __future__ import annotations

import json
import logging
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from attentivechrome.data.dataset import read_npz
from attentivechrome.errors import InputError
from attentivechrome.learn.outputs import load_model
from attentivechrome.learn.training import predict, train_and_evaluate
from attentivechrome.predict.bundle import bundle_export, read_bundle
from attentivechrome.predict.scoring import score_sample
from helpers import MARKS, SIGNAL_MARK, write_splits

WINDOW = {"flank": 5000, "bin_size": 100}


@pytest.fixture(scope="module", params=["attentivechrome", "logistic"])
def trained(request, tmp_path_factory):
    """A short training run of each kind and its bundle."""
    folder = tmp_path_factory.mktemp(request.param)
    splits = write_splits(folder)
    run = folder / "run"
    train_and_evaluate(
        request.param,
        splits["train"],
        splits["valid"],
        splits["test"],
        run,
        cell="E000",
        epochs=2,
    )
    bundle = folder / "bundle.zip"
    bundle_export(
        run / "model.pt", run / "metrics.json", splits, WINDOW, {"cell_types": ["E000"]}, bundle
    )
    return request.param, splits, run, bundle


def scored(bundle: Path, X: np.ndarray, marks=MARKS, depth="raw", window=WINDOW):
    return score_sample(read_bundle(bundle), X, marks, window, depth, "S1")


def test_a_bundle_read_in_another_folder_scores_as_the_run_did(trained, tmp_path):
    model, splits, run, bundle = trained
    elsewhere = tmp_path / "other" / "place.zip"
    elsewhere.parent.mkdir()
    shutil.copy(bundle, elsewhere)
    test = read_npz(splits["test"])
    probabilities = scored(elsewhere, test.X)[0].probabilities
    if model == "logistic":
        from_run = np.loadtxt(run / "test_predictions.tsv", skiprows=1, usecols=2)
        assert np.allclose(probabilities, from_run, atol=1e-6)
    else:
        net, _ = load_model(run / "model.pt")
        x = torch.from_numpy(test.X.astype(np.float32))
        assert np.array_equal(probabilities, predict(net, x, torch.zeros(len(x))).probabilities)
    # ...and again in the same process: nothing of the first read is kept.
    assert np.array_equal(probabilities, scored(bundle, test.X)[0].probabilities)


def test_the_model_card_says_what_the_model_is(trained):
    model, splits, run, bundle = trained
    with zipfile.ZipFile(bundle) as archive:
        assert sorted(archive.namelist()) == ["card.json", "weights.pt"]
        card = json.loads(archive.read("card.json"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert card["model"] == model and card["cell"] == "E000" and card["seed"] == 1
    assert card["marks"] == list(MARKS) and card["window"] == WINDOW and card["n_bins"] == 100
    assert card["split_sizes"] == {"train": 96, "valid": 64, "test": 64}
    assert card["metrics"]["test_auroc"] == metrics["test_auroc"]
    assert card["versions"]["torch"] == torch.__version__
    assert card["config"] == {"cell_types": ["E000"]}
    X = np.concatenate([read_npz(p).X for p in splits.values()])
    assert card["depth"]["H3K4me3"] == pytest.approx(X[:, SIGNAL_MARK].sum() / len(X))


def test_marks_are_matched_by_name_not_position(trained):
    _, splits, _, bundle = trained
    test = read_npz(splits["test"])
    order = [3, 0, 4, 1, 2]
    shuffled = scored(bundle, test.X[:, order], marks=[MARKS[i] for i in order])
    assert np.array_equal(shuffled[0].probabilities, scored(bundle, test.X)[0].probabilities)
    # A sixth mark the model does not use is left out.
    extra = np.concatenate([test.X, test.X[:, :1]], axis=1)
    with_extra = scored(bundle, extra, marks=[*MARKS, "H3K27ac"])[0].probabilities
    assert np.array_equal(with_extra, scored(bundle, test.X)[0].probabilities)


def test_depth_scaling_undoes_a_deeper_sample(trained, caplog):
    _, splits, _, bundle = trained
    test = read_npz(splits["test"])
    train_depth = read_bundle(bundle).depth
    deeper = test.X * 4
    with caplog.at_level(logging.WARNING):
        raw, ratios = scored(bundle, deeper, depth="raw")
    warned = [r.getMessage() for r in caplog.records if "x the depth" in r.getMessage()]
    assert len(warned) == len(MARKS) and warned[0].startswith("S1 H3K27me3: 3.97x")
    here = deeper.sum(axis=2).mean(axis=0)
    assert ratios["H3K4me3"] == pytest.approx(here[SIGNAL_MARK] / train_depth["H3K4me3"])
    # The deeper sample scaled scores as the test genes at the training depth would.
    factors = np.array([train_depth[m] for m in MARKS]) / test.X.sum(axis=2).mean(axis=0)
    same_depth = scored(bundle, test.X * factors[None, :, None], depth="raw")[0]
    rescaled = scored(bundle, deeper, depth="scaled")[0]
    assert np.allclose(rescaled.probabilities, same_depth.probabilities, atol=1e-5)
    assert np.abs(raw.probabilities - rescaled.probabilities).max() > 1e-4


def test_a_bundle_that_does_not_fit_the_sample_stops_with_the_names(trained):
    _, splits, _, bundle = trained
    test = read_npz(splits["test"])
    with pytest.raises(InputError, match="lacks H3K9me3") as error:
        scored(bundle, test.X[:, :4], marks=MARKS[:4])
    assert str(error.value).startswith(str(bundle)) and "\n" not in str(error.value)
    with pytest.raises(InputError, match="bins of 100 bp; this run counts .* bins of 200 bp"):
        scored(bundle, test.X[:, :, :50], window={"flank": 5000, "bin_size": 200})
    with pytest.raises(InputError, match="takes 100 bins, the sample has 50"):
        scored(bundle, test.X[:, :, :50])


@pytest.mark.parametrize("damage", ["truncated", "no-card", "other-format", "wrong-shapes"])
def test_a_corrupt_bundle_is_one_clear_error(trained, tmp_path, damage):
    model, _, _, bundle = trained
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bundle) as archive:
        card = json.loads(archive.read("card.json"))
        weights = archive.read("weights.pt")
    if damage == "truncated":
        bad.write_bytes(bundle.read_bytes()[:-200])
    else:
        members = {"weights.pt": weights}
        if damage == "other-format":
            members["card.json"] = json.dumps({**card, "format_version": 99})
        if damage == "wrong-shapes":
            if model == "logistic":
                pytest.skip("logistic regression's weights have no architecture to check")
            members["card.json"] = json.dumps(
                {**card, "hyperparameters": {**card["hyperparameters"], "bin_hidden": 8}}
            )
        with zipfile.ZipFile(bad, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    with pytest.raises(InputError) as error:
        read_bundle(bad)
    assert str(error.value).startswith(str(bad)) and "\n" not in str(error.value)
