"""Bad configurations fail before any job runs, or in the first job that can tell."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from helpers import REPO, snakemake

# Every test here runs the real Snakemake on the demo (seconds to a minute each).
pytestmark = pytest.mark.slow


def run_with(tmp_path, settings: dict, *targets: str, dry: bool = True):
    """The demo with `settings` layered over it (config files apply in the order given)."""
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"results": str(tmp_path / "results"), **settings}))
    args = [*targets, "--cores", "1", "--configfile", "config/config.yaml", str(config)]
    return snakemake(*args, *(["--dry-run"] if dry else []), check=False)


def resolved(results, *args: str) -> dict:
    """The configuration a real run resolved (its cheapest job: the chromosome sizes)."""
    snakemake(f"{results}/reference/chrom.sizes", "--cores", "1", *args)
    return yaml.safe_load((results / "config.resolved.yaml").read_text())


DEMO = yaml.safe_load((REPO / "config/config.yaml").read_text())
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def test_paper_config_takes_published_settings_not_the_demos(tmp_path):
    config = resolved(
        tmp_path, "--configfile", "config/remc.yaml", "--config", f"results={tmp_path}"
    )
    remc = yaml.safe_load((REPO / "config/remc.yaml").read_text())
    # Each model's published rate and schedule, not the demo's 1e-3 and 20 epochs.
    assert "lr" not in config["train"] and "epochs" not in config["train"]
    assert config["train"]["seeds"] == [1]
    assert config["split"] == {"train": 6601, "valid": 6601}
    assert config["cell_types"] == remc["cell_types"] and len(config["cell_types"]) == 56
    assert config["cell_table"] == "config/cell_types.tsv"


def test_config_leaving_keys_out_gets_the_schema_defaults(tmp_path):
    own = tmp_path / "own.yaml"
    minimal = {"cell_types": ["DEMO1"], "sources": DEMO["sources"], "results": str(tmp_path)}
    own.write_text(yaml.safe_dump(minimal))
    config = resolved(tmp_path, "--configfile", str(own))
    defaults = SCHEMA["properties"]
    assert "lr" not in config["train"] and "cell_table" not in config
    assert "epochs" not in config["train"]  # each model's own schedule (model.MODELS)
    assert config["train"]["seeds"] == defaults["train"]["properties"]["seeds"]["default"]
    assert config["split"] == {"train": 6601, "valid": 6601}
    assert config["models"] == defaults["models"]["default"] == ["attentivechrome"]
    assert config["models"] != DEMO["models"]
    header = (tmp_path / "config.resolved.yaml").read_text().splitlines()[1]
    assert header.endswith(str(own))


def test_no_config_file_means_the_demo(tmp_path):
    config = resolved(tmp_path, "--config", f"results={tmp_path}")
    for key, value in {**DEMO, "results": str(tmp_path)}.items():
        if isinstance(value, dict):  # sections gain the schema's defaults for unset keys
            assert config[key].items() >= value.items(), key
        else:
            assert config[key] == value, key
    assert config["train"]["lr"] == DEMO["train"]["lr"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"colour": "red"}, "Additional properties are not allowed ('colour' was unexpected)"),
        ({"marks": ["H3K4me3", "H3K4m3"]}, "mark H3K4m3 is not a Roadmap mark"),
        ({"cell_types": []}, "[] should be non-empty"),
        ({"window": {"bin_size": 300}}, "bin_size 300 must be positive and divide the window"),
        ({"counter": "fastest"}, "'fastest' is not one of ['fast', 'multicov']"),
        ({"train": {"epochs": 0}}, "0 is less than the minimum of 1"),
    ],
)
def test_bad_config_is_refused_before_any_job(tmp_path, settings, message):
    result = run_with(tmp_path, settings)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_split_larger_than_the_gene_count_names_the_numbers(tmp_path):
    settings = {"split": {"train": 1000, "valid": 1000}}
    target = str(tmp_path / "results/reference/genes.tsv")
    result = run_with(tmp_path, settings, target, dry=False)
    assert result.returncode != 0
    log = (tmp_path / "results/logs/reference/genes.log").read_text()
    assert "split: train=1000, valid=1000 leaves -800 test genes out of 1200" in log
    assert not (tmp_path / "results/reference/genes.tsv").exists()


def test_cell_type_missing_from_the_expression_matrix(tmp_path):
    matrix = pd.read_csv(REPO / "resources/demo/demo.RPKM.pc.gz", sep="\t")
    matrix.drop(columns="DEMO2").to_csv(tmp_path / "rpkm.tsv", sep="\t", index=False)
    sources = yaml.safe_load((REPO / "config/config.yaml").read_text())["sources"]
    settings = {"sources": {**sources, "expression": str(tmp_path / "rpkm.tsv")}}
    target = str(tmp_path / "results/DEMO2/data/test.npz")
    result = run_with(tmp_path, settings, target, dry=False)
    assert result.returncode != 0
    # Stopped where the table is first read, before any reads are counted.
    log = (tmp_path / "results/logs/reference/genes.log").read_text()
    assert "rpkm.tsv, line 1: cell type DEMO2 is not a column" in log
    assert not (tmp_path / "results/reference/genes.tsv").exists()
    assert not list((tmp_path / "results").glob("*/counts.npz"))
