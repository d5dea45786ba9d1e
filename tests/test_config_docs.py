"""config/README.md's table of keys is generated from the config schema (config_docs)."""

from __future__ import annotations

import re

import pytest
import yaml

from attentivechrome import config_docs
from helpers import REPO

SCHEMA = yaml.safe_load((REPO / config_docs.SCHEMA).read_text())
ROWS = config_docs.key_rows(SCHEMA)
# A measured speed-up ("about 2x", "1.14x faster"): stated in benchmarks/README.md only.
SPEED_UP = re.compile(r"\b\d+(?:\.\d+)?x\b")


def test_committed_config_readme_is_the_generated_one():
    readme = (REPO / config_docs.README).read_text()
    assert config_docs.render(readme, SCHEMA) == readme, (
        "config/README.md differs from the schema: run python -m attentivechrome.config_docs"
    )
    assert config_docs.main(["--check", "--root", str(REPO)]) == 0


@pytest.mark.parametrize("key,spec", [(key, spec) for key, spec, _ in ROWS])
def test_every_key_has_a_description_without_speed_ups(key, spec):
    assert spec.get("description"), f"`{key}` has no description in the schema"
    assert not SPEED_UP.search(spec["description"]), f"`{key}`: a measured figure"


@pytest.mark.parametrize("key,spec", [(key, spec) for key, spec, _ in ROWS if "enum" in spec])
def test_descriptions_name_every_allowed_value(key, spec):
    for value in spec["enum"]:
        assert f"`{value}`" in spec["description"], f"`{key}` does not describe `{value}`"


def test_table_rows_defaults_and_required_keys():
    table = config_docs.table(SCHEMA)
    assert len(table.splitlines()) == 2 + len(ROWS)
    assert "| `train.seeds` | " in table and table.count("| `[1]` |") >= 1
    assert re.search(
        r"^\| `sources\.genes` \|.*\| required unless `authors_data` \|$", table, re.MULTILINE
    )
    assert re.search(r"^\| `downloads` \| [^|]* \|  \|$", table, re.MULTILINE)  # a section
    assert re.search(r"^\| `downloads\.keep` \|.*\| `false` \|$", table, re.MULTILINE)


def test_format_and_escapes():
    assert config_docs.format_default([True, "a", 1]) == "[true, a, 1]"
    assert config_docs.format_default({}) == "{}"
    assert config_docs.cell("a |\n  b") == "a \\| b"


def test_a_hand_edit_fails_the_check_and_regenerating_fixes_it(tmp_path, capsys):
    for path in (config_docs.README, config_docs.SCHEMA):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text((REPO / path).read_text())
    readme = tmp_path / config_docs.README
    readme.write_text(readme.read_text().replace("| `system` |", "| `tcmalloc` |"))
    assert config_docs.main(["--check", "--root", str(tmp_path)]) == 1
    assert "differs from" in capsys.readouterr().err
    assert config_docs.main(["--root", str(tmp_path)]) == 0
    assert readme.read_text() == (REPO / config_docs.README).read_text()
    assert config_docs.main(["--check", "--root", str(tmp_path)]) == 0


def test_text_outside_the_markers_is_kept_and_markers_are_required():
    text = f"head\n{config_docs.BEGIN}\nold\n{config_docs.END}\ntail\n"
    rendered = config_docs.render(text, SCHEMA)
    assert rendered.startswith("head\n") and rendered.endswith(f"{config_docs.END}\ntail\n")
    with pytest.raises(ValueError, match="marker"):
        config_docs.render("no markers", SCHEMA)
