"""The workflow used as a Snakemake module from a user's own folder and Snakefile."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from helpers import REPO, SNAKEMAKE, job_counts

# Folders that change under the repository whatever the workflow does.
VOLATILE = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".venv"}
PACKAGE_LINE = "attentivechrome package: "
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def user_snakefile() -> str:
    """What a user writes: the repository's workflow as a module, its rules prefixed."""
    return textwrap.dedent(
        f"""\
        import sys


        configfile: "config/config.yaml"


        module attentivechrome:
            snakefile:
                {str(REPO / "workflow" / "Snakefile")!r}
            config:
                config


        use rule * from attentivechrome as attentivechrome_*


        onstart:
            attentivechrome.write_run_config()


        print("{PACKAGE_LINE}" + sys.modules["attentivechrome"].__file__)
        """
    )


def merged(base: dict, over: dict) -> dict:
    """`over` layered on `base`, nested mappings merged as Snakemake layers config files."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and key in out else value
    return out


def absolute(value):
    """A demo path (relative to the repository) made absolute; other values unchanged."""
    if not isinstance(value, str):
        return value
    stem = value.split("{", 1)[0]
    return str(REPO / value) if stem and (REPO / stem).exists() else value


def user_config() -> dict:
    """The test demo (config.yaml under tests/configs/fast.yaml), cut to one short run."""
    config = merged(
        yaml.safe_load((REPO / "config/config.yaml").read_text()),
        yaml.safe_load((REPO / "tests/configs/fast.yaml").read_text()),
    )
    config = merged(
        config,
        {
            "cell_types": ["DEMO1"],
            "models": ["attentivechrome", "logistic"],
            "train": {"epochs": 2, "seeds": [1]},
        },
    )
    config["cell_table"] = absolute(config["cell_table"])
    config["sources"] = {key: absolute(value) for key, value in config["sources"].items()}
    return config


def repository_files() -> set[str]:
    """Every path under the repository, but the folders that change anyway."""
    found = set()
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [name for name in subfolders if name not in VOLATILE]
        base = Path(folder).relative_to(REPO)
        found.update(str(base / name) for name in subfolders + files)
    return found


def run_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m snakemake ARGS` in `folder`, without the caller's PYTHONPATH (so that the
    package can only come from what the workflow itself puts on sys.path, or an install)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [*SNAKEMAKE, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"snakemake {' '.join(args)} failed in {folder}:\n{output}"
    return result


@pytest.mark.slow
def test_workflow_runs_as_a_module_from_another_folder(tmp_path):
    user = tmp_path / "project"
    (user / "config").mkdir(parents=True)
    (user / "Snakefile").write_text(user_snakefile())
    (user / "config" / "config.yaml").write_text(yaml.safe_dump(user_config()))
    before = repository_files()

    # The whole DAG: the module's `all` is the default target, every rule renamed.
    plan = run_in(user, "--dry-run", "--quiet", "rules")
    output = plan.stdout + plan.stderr
    jobs = job_counts(output)
    assert jobs["attentivechrome_all"] == 1
    assert jobs["attentivechrome_train_baseline"] == 1  # logistic, one seed
    assert all(rule.startswith("attentivechrome_") for rule in jobs)
    # Local rules follow the renaming (a `localrules:` list would name missing rules).
    assert "localrules directive specifies rules that are not present" not in output
    # The package comes from the module's own src/, not from the user's folder or an
    # install elsewhere (here: another checkout's editable install).
    package = next(line for line in output.splitlines() if line.startswith(PACKAGE_LINE))
    assert Path(package[len(PACKAGE_LINE) :]) == REPO / "src/attentivechrome/__init__.py"

    # One real run: download, BAMs, counts, datasets, one AttentiveChrome model.
    metrics = "results/DEMO1/attentivechrome/seed1/metrics.json"
    run_in(user, "--cores", "2", metrics)
    assert (user / metrics).is_file()
    assert (user / "results/DEMO1/data/test.npz").is_file()
    assert (user / ".snakemake").is_dir()
    resolved = yaml.safe_load((user / "results/config.resolved.yaml").read_text())
    assert resolved["cell_types"] == ["DEMO1"]
    assert resolved["train"]["epochs"] == 2
    assert resolved["counter"] == SCHEMA["properties"]["counter"]["default"]  # filled in
    assert repository_files() == before, "the run wrote into the repository"
