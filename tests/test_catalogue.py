"""What the Snakemake workflow catalogue reads: config/README.md and its settings file."""

from __future__ import annotations

import re

import pytest
import yaml

from helpers import REPO

CONFIG_README = (REPO / "config/README.md").read_text()
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
CATALOGUE = REPO / ".snakemake-workflow-catalog.yml"
# A file name as the texts write them: config/README.md, workflow/Snakefile, README.md.
FILE_NAME = re.compile(r"(?<![\w/.<{-])(?:[\w-]+/)*(?:[\w.-]+\.(?:md|ya?ml|smk|tsv)|Snakefile)\b")
SOURCE_FOLDERS = {"config", "envs", "profiles", "resources", "src", "workflow"}
# A path in backquotes, without placeholders (<tag>, {cell}).
QUOTED_PATH = re.compile(r"`([\w.-]+/[\w./-]*)`")


def schema_keys(properties: dict, prefix: str = "") -> list[str]:
    """Every key of the schema, nested ones as `section.key`."""
    keys = []
    for name, spec in properties.items():
        keys.append(prefix + name)
        keys += schema_keys(spec.get("properties", {}), f"{prefix}{name}.")
    return keys


def strings(value) -> list[str]:
    """Every string in a parsed YAML document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def test_schema_keys_are_found_by_the_walk():
    keys = schema_keys(SCHEMA["properties"])
    assert {"sources", "sources.genes", "train.seeds", "window.bin_size"} <= set(keys)


@pytest.mark.parametrize("key", schema_keys(SCHEMA["properties"]))
def test_config_readme_describes_every_schema_key(key):
    assert f"`{key}`" in CONFIG_README, f"config/README.md does not describe `{key}`"


def test_config_readme_names_files_that_exist():
    named = set(QUOTED_PATH.findall(CONFIG_README))
    assert {"config/config.yaml", "config/remc.yaml", "config/own-data.yaml"} <= named
    # Paths in the repository's own folders (not results/..., nor download names).
    own = [name for name in named if name.split("/", 1)[0] in SOURCE_FOLDERS]
    assert "workflow/schemas/config.schema.yaml" in own
    for name in own:
        assert (REPO / name).exists(), f"config/README.md names {name}, which is missing"


def test_catalogue_settings_parse_as_the_catalogue_reads_them():
    settings = yaml.safe_load(CATALOGUE.read_text())
    usage = settings["usage"]
    assert isinstance(usage["report"], bool)
    deployment = usage["software-stack-deployment"]
    assert set(deployment) <= {"conda", "apptainer", "apptainer+conda", "singularity"}
    assert all(isinstance(value, bool) for value in deployment.values())
    assert isinstance(usage["mandatory-flags"]["desc"], str)
    assert isinstance(usage["mandatory-flags"]["flags"], str | list)


def test_catalogue_settings_name_files_that_exist():
    named = {
        name
        for text in strings(yaml.safe_load(CATALOGUE.read_text()))
        for name in FILE_NAME.findall(text)
    }
    assert "config/README.md" in named
    for name in named:
        assert (REPO / name).is_file(), f"{CATALOGUE.name} names {name}, which is missing"


def test_repository_has_the_layout_of_standardized_usage():
    # The catalogue and a `module` read workflow/Snakefile; the root Snakefile only includes
    # it, so that `snakemake` from the root runs the same workflow.
    assert (REPO / "workflow/Snakefile").is_file()
    root = (REPO / "Snakefile").read_text()
    assert 'include: "workflow/Snakefile"' in root
    assert not re.search(r"^(rule|use rule) ", root, re.MULTILINE)  # no rules of its own
    assert list((REPO / "workflow/rules").glob("*.smk"))
    readme = (REPO / "README.md").read_text().lower()
    assert "snakemake" in readme and "workflow" in readme


def config_keys(text: str) -> set[str]:
    """Every key the demo's config shows, set or commented out, nested ones as `a.b`."""
    keys, parents = set(), {}
    for line in text.splitlines():
        match = re.match(r"^(\s*)#?\s?(\w+):(\s|$)", line)
        if not match or (line.lstrip().startswith("#") and " " in line.split(":")[0].strip("# ")):
            continue
        depth = len(match.group(1)) // 2
        parents[depth] = match.group(2)
        keys.add(".".join(parents[d] for d in range(depth + 1)))
    return keys


@pytest.mark.parametrize("key", schema_keys(SCHEMA["properties"]))
def test_demo_config_shows_every_schema_key(key):
    shown = config_keys((REPO / "config/config.yaml").read_text())
    assert key in shown, f"config/config.yaml does not show `{key}` (set or commented out)"
