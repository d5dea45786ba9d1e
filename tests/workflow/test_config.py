"""Bad configurations fail before any job runs, or in the first job that can tell."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from helpers import REPO, job_counts, planned_jobs, snakemake

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


def test_tracks_and_qc_switch_off_and_need_an_assembly_for_the_session(tmp_path):
    own = tmp_path / "own.yaml"
    minimal = {"cell_types": ["DEMO1"], "sources": DEMO["sources"], "results": str(tmp_path)}
    own.write_text(yaml.safe_dump(minimal))
    # A sizes file names no assembly: the tracks, but no session or hub, and a warning.
    plan = snakemake("--configfile", str(own), "--dry-run", "--quiet", "rules")
    jobs = job_counts(plan.stdout + plan.stderr)
    assert "tracks.genome is not set" in plan.stdout + plan.stderr
    assert jobs["bam_coverage"] == 5 and jobs["tracks_attention"] == 1 and jobs["qc_multiqc"] == 1
    assert "tracks_session" not in jobs
    off = tmp_path / "off.yaml"
    off.write_text(yaml.safe_dump({"tracks": {"enabled": False}, "qc": {"enabled": False}}))
    jobs = planned_jobs("--configfile", str(own), str(off))
    assert not {"bam_coverage", "tracks_attention", "qc_samples", "qc_multiqc"} & set(jobs)


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
        (
            {"task": "regression", "authors_data": "zenodo"},
            "task: regression needs each gene's expression, which the authors' processed "
            "matrices (authors_data) do not hold",
        ),
    ],
)
def test_bad_config_is_refused_before_any_job(tmp_path, settings, message):
    result = run_with(tmp_path, settings)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def first_error_line(output: str) -> str:
    """The first line of the reason Snakemake prints under its `XError in file ...:` line."""
    lines = output.splitlines()
    where = next(i for i, line in enumerate(lines) if "Error in file" in line)
    return lines[where + 1]


@pytest.mark.parametrize(
    ("settings", "start", "end"),
    [
        (
            {"train": {"seeds": 3}},
            "config key train.seeds: 3 is not of type 'array'; expected a non-empty list of "
            "unique integers >= 0 (training seeds;",
            "",
        ),
        (
            {"train": {"seeds": [1, 1]}},
            "config key train.seeds: [1, 1] has non-unique elements; expected a non-empty list "
            "of unique integers >= 0",
            "",
        ),
        (
            {"models": ["attentivechrome", "deepchrom"]},
            "config key models[1]: 'deepchrom' is not one of ['attentivechrome', 'deepchrome', "
            "'lstm', 'lstm-attention', 'hierarchical-lstm', 'logistic'] (did you mean "
            "deepchrome?)",
            "",
        ),
        (
            {"seeds": [1, 2]},
            "config key seeds: Additional properties are not allowed ('seeds' was unexpected); "
            "the top level takes samples, cell_types,",
            "; did you mean train.seeds?",
        ),
        (
            {"train": {"bin_size": 50}},
            "config key train.bin_size: Additional properties are not allowed ('bin_size' was "
            "unexpected); train takes epochs, batch_size,",
            "; did you mean window.bin_size?",
        ),
        (
            {"train": {"lstm_kernel": "numba"}},
            "config key train.lstm_kernel: Additional properties are not allowed",
            "; did you mean train.kernel?",
        ),
        (
            {"window": {"bin_size": 0}},
            "config key window.bin_size: 0 is less than the minimum of 1; expected an integer >= 1",
            "",
        ),
        (
            {"counting": {"min_mapq": "10"}},
            "config key counting.min_mapq: '10' is not of type 'integer'; expected an integer "
            ">= 0 and <= 255 (write 10 without quotes)",
            "",
        ),
    ],
    ids=[
        "seeds-number",
        "seeds-twice",
        "model-misspelled",
        "wrong-level",
        "wrong-section",
        "renamed-kernel-key",
        "bin-size-zero",
        "mapq-quoted",
    ],
)
def test_config_errors_name_the_key_its_value_and_what_is_allowed(tmp_path, settings, start, end):
    result = run_with(tmp_path, settings)
    assert result.returncode != 0
    line = first_error_line(result.stdout + result.stderr)
    assert line.startswith(start) and line.endswith(end)
    assert "Error validating config file" not in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_authors_matrices_need_no_reference_sources(tmp_path):
    """The authors' route reads neither the expression table, the annotation nor the sizes."""
    for split in ("train", "valid", "test"):
        folder = tmp_path / "zenodo/DEMO1/classification"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}.csv").write_text("000003,1,0,1,0,2,0,1\n")
    config = tmp_path / "authors.yaml"
    minimal = {
        "authors_data": str(tmp_path / "zenodo"),
        "cell_types": ["DEMO1"],
        "marks": ["H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3"],
        "results": str(tmp_path / "results"),
    }
    config.write_text(yaml.safe_dump(minimal))
    jobs = planned_jobs("--configfile", str(config))
    assert jobs["datasets_import"] == 1 and jobs["train_attentivechrome"] == 1
    assert not {"download", "reference_genes", "bins_count"} & set(jobs)
    assert not (tmp_path / "results").exists()


def test_without_authors_data_the_reference_sources_are_required(tmp_path):
    config = tmp_path / "bare.yaml"
    config.write_text(yaml.safe_dump({"cell_types": ["DEMO1"], "sources": {"genes": "g.gtf"}}))
    result = snakemake("--dry-run", "--configfile", str(config), check=False)
    assert first_error_line(result.stdout + result.stderr).startswith(
        "config key sources.expression: 'expression' is a required property; expected text"
    )


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
