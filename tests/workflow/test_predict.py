"""Using trained models through the real `snakemake`: every gene scored, bundles, samples
predicted from this run's models, from bundles of another run and from the authors' file."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile

import numpy as np
import pandas as pd
import yaml

from attentivechrome.learn.outputs import read_gene_predictions
from helpers import FAST, REPO, planned_jobs, snakemake

AUTHORS_MODEL = REPO / "tests/fixtures/authors-model/DEMO1_attchrome_avgAUC_model.pt"


def test_demo_predicts_two_cell_types_from_the_first_ones_models(demo):
    for cell in ("DEMO1", "DEMO2", "DEMO3"):
        for model in ("attentivechrome", "deepchrome", "lstm", "lstm-attention", "logistic"):
            for seed in (1, 2):
                assert zipfile.is_zipfile(demo / f"bundles/{cell}/{model}-seed{seed}.zip")
            every = read_gene_predictions(demo / f"{cell}/{model}/seed1/predictions.tsv")
            assert len(every) == 1200 and every["label"].notna().all()
    table = read_gene_predictions(demo / "predict/DEMO2/attentivechrome.tsv")
    card = json.loads((demo / "predict/DEMO2/attentivechrome.json").read_text())
    assert len(table) == 1200 and table["label"].notna().all()
    assert set(table["split"]) == {"train", "valid", "test"}
    assert [m["source"] for m in card["ensemble"]] == [
        "DEMO1 attentivechrome seed 1",
        "DEMO1 attentivechrome seed 2",
    ]
    assert card["combined_by"] == "mean probability" and card["depth"] == "scaled"
    assert 0.5 < card["auroc_test"] < 1
    ratios = card["ensemble"][0]["depth_ratio"]
    assert sorted(ratios) == ["H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3"]
    with np.load(demo / "predict/DEMO2/attentivechrome.attention.npz") as attention:
        assert attention["bin_attention"].shape == (1200, 5, 100)
    assert (demo / "predict/DEMO3/attentivechrome.png").stat().st_size > 10_000


def test_new_samples_from_bundles_of_another_run_and_from_the_authors_file(demo, tmp_path):
    """DEMO3 as a new sample (reads, no expression column, not trained) scored by the demo
    run's DEMO1 bundles copied elsewhere, and DEMO2 by the authors' published format."""
    elsewhere = tmp_path / "shared-models"
    elsewhere.mkdir()
    for seed in (1, 2):
        shutil.copy(demo / f"bundles/DEMO1/attentivechrome-seed{seed}.zip", elsewhere)
    authors_csv = tmp_path / "DEMO1_test.csv"
    with gzip.open(AUTHORS_MODEL.with_name("DEMO1_test.csv.gz"), "rb") as packed:
        authors_csv.write_bytes(packed.read())
    expression = pd.read_csv(REPO / "resources/demo/demo.RPKM.pc.gz", sep="\t")
    without_demo3 = tmp_path / "expression.tsv"
    expression.drop(columns="DEMO3").to_csv(without_demo3, sep="\t", index=False)
    settings = {
        "results": str(tmp_path / "results"),
        "cell_types": ["DEMO1"],
        "models": ["attentivechrome"],
        "train": {"epochs": 1, "seeds": [1]},
        "sources": {"expression": str(without_demo3)},
        "pretrained": {
            "demo1-a": str(elsewhere / "attentivechrome-seed1.zip"),
            "demo1-b": str(elsewhere / "attentivechrome-seed2.zip"),
            "authors": str(AUTHORS_MODEL),
        },
        "predict": {
            "DEMO3": {"model": ["demo1-a", "demo1-b"]},
            "DEMO2": {"model": "authors"},
            "kipoi-style": {"model": "authors", "csv": str(authors_csv)},
        },
    }
    config = tmp_path / "predict.yaml"
    config.write_text(yaml.safe_dump(settings))
    snakemake("--cores", "2", *FAST, str(config))
    results = tmp_path / "results"
    assert not (results / "DEMO3/attentivechrome").exists()  # predicted, not trained

    new = read_gene_predictions(results / "predict/DEMO3/attentivechrome.tsv")
    there = read_gene_predictions(demo / "predict/DEMO3/attentivechrome.tsv")
    assert new["label"].isna().all()  # no expression column for DEMO3 here
    assert np.array_equal(new["probability"].to_numpy(), there["probability"].to_numpy())
    with (
        np.load(results / "predict/DEMO3/attentivechrome.attention.npz") as here,
        np.load(demo / "predict/DEMO3/attentivechrome.attention.npz") as before,
    ):
        assert np.array_equal(here["bin_attention"], before["bin_attention"])
    card = json.loads((results / "predict/DEMO3/attentivechrome.json").read_text())
    assert card["labels"] is False and len(card["ensemble"]) == 2

    authors = json.loads((results / "predict/DEMO2/attentivechrome.json").read_text())
    assert (
        authors["ensemble"][0]["cell"] == "DEMO1" and authors["ensemble"][0]["depth_ratio"] is None
    )
    assert 0.5 < authors["auroc_test"] < 1  # DEMO2 has expression: labelled
    # The authors' matrix given as csv: their own probabilities (the unit test's numbers).
    kipoi = read_gene_predictions(results / "predict/kipoi-style/attentivechrome.tsv")
    theirs = pd.read_csv(AUTHORS_MODEL.with_name("DEMO1_test_probabilities.tsv"), sep="\t")
    assert np.abs(kipoi["probability"] - theirs["probability"]).max() < 1e-6
    log = (results / "logs/predict/DEMO2/attentivechrome.log").read_text()
    assert "training depth is not known" in log


def test_a_prediction_naming_no_model_is_refused_before_any_job(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(
        yaml.safe_dump({"results": str(tmp_path / "r"), "predict": {"DEMO2": {"model": "E003"}}})
    )
    result = snakemake("-n", *FAST, str(config), check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert (
        "predict.DEMO2.model: E003 is neither a cell type trained in this run (DEMO1, DEMO2, "
        "DEMO3) nor a name under pretrained (none given)" in output
    )
    assert "Traceback" not in output and not (tmp_path / "r").exists()


def test_a_pretrained_url_is_fetched_by_the_download_rule(tmp_path):
    config = tmp_path / "url.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "results": str(tmp_path / "r"),
                "pretrained": {"E005": "https://example.org/models/E005_attchrome_avgAUC_model.pt"},
                "predict": {"DEMO2": {"model": "E005"}, "DEMO3": {"model": ["E005", "DEMO1"]}},
            }
        )
    )
    target = str(tmp_path / "r/predict/DEMO2/attentivechrome.tsv")
    jobs = planned_jobs(target, *FAST, str(config))
    assert jobs["download"] == 1 and jobs["predict_cell_attention"] == 1
    assert "train_attentivechrome" not in jobs  # a pretrained model only
    result = snakemake("-n", "-p", target, *FAST, str(config))
    assert "downloads/pretrained/E005.pt" in result.stdout + result.stderr
