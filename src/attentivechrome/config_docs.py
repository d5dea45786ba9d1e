"""config/README.md's table of configuration keys, generated from the config schema.

The schema (workflow/schemas/config.schema.yaml) is the one place a key, its default and its
meaning are written; config/README.md shows them between two markers, and the prose around
the markers is written by hand. From the repository root:

    python -m attentivechrome.config_docs            # rewrite the table in config/README.md
    python -m attentivechrome.config_docs --check    # exit 1 if it differs (make lint)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

SCHEMA = Path("workflow/schemas/config.schema.yaml")
README = Path("config/README.md")
BEGIN = (
    "<!-- generated from workflow/schemas/config.schema.yaml by "
    "`python -m attentivechrome.config_docs`: do not edit -->"
)
END = "<!-- end of the generated table -->"


def key_rows(section: dict, prefix: str = "") -> list[tuple[str, dict, bool]]:
    """(key, its schema, whether it is required) for every key of `section` (the schema or
    one of its objects) in schema order, a section's keys after it as `section.key`."""
    rows = []
    required = set(section.get("required", ()))
    for name, spec in section.get("properties", {}).items():
        rows.append((prefix + name, spec, name in required))
        rows += key_rows(spec, f"{prefix}{name}.")
    return rows


def required_unless(schema: dict) -> dict[str, str]:
    """Keys the schema requires unless another key is given (`if: {required: [k]}` with the
    requirements under `else:`), each with that other key."""
    unless = schema.get("if", {}).get("required", ())
    if len(unless) != 1:
        return {}

    def required(section: dict, prefix: str = "") -> list[str]:
        keys = [prefix + name for name in section.get("required", ())]
        for name, spec in section.get("properties", {}).items():
            keys += required(spec, f"{prefix}{name}.")
        return keys

    return dict.fromkeys(required(schema.get("else", {})), unless[0])


def format_default(value) -> str:
    """A default as it is written in a YAML configuration."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(format_default(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_default(v)}" for k, v in value.items()) + "}"
    return str(value)


def cell(text: str) -> str:
    """Text for one cell of a Markdown table: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def table(schema: dict) -> str:
    """The Markdown table of every key: its meaning and its default where the schema has
    one, or `required`. A section's own default (`{}`: the section may be left out) is not
    shown; its keys' defaults are.
    """
    lines = ["| key | meaning | default |", "|---|---|---|"]
    unless = required_unless(schema)
    for key, spec, required in key_rows(schema):
        if "description" not in spec:
            raise ValueError(f"{SCHEMA}: `{key}` has no description")
        default = "required" if required else ""
        if key in unless:
            default = f"required unless `{unless[key]}`"
        if "default" in spec and "properties" not in spec:
            default = f"`{format_default(spec['default'])}`"
        lines.append(f"| `{key}` | {cell(spec['description'])} | {default} |")
    return "\n".join(lines) + "\n"


def render(readme: str, schema: dict) -> str:
    """`readme` with the text between its markers replaced by the generated table."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise ValueError(f"{README} must hold each marker once: {BEGIN} ... {END}")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n\n{table(schema)}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, exit 1 if stale")
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root")
    args = parser.parse_args(argv)
    readme_path, schema_path = args.root / README, args.root / SCHEMA
    readme = readme_path.read_text()
    expected = render(readme, yaml.safe_load(schema_path.read_text()))
    if expected == readme:
        return 0
    if args.check:
        print(
            f"{readme_path}: its table of keys differs from {schema_path}. Keys, defaults and "
            "meanings are written in the schema; regenerate the table with "
            "`python -m attentivechrome.config_docs`.",
            file=sys.stderr,
        )
        return 1
    readme_path.write_text(expected)
    print(f"{readme_path}: table regenerated from {schema_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
