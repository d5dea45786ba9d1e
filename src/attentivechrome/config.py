"""The configuration: checked against the schema with one-line messages, and the one a run
resolved, written where users can read it back."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import yaml

from attentivechrome.errors import InputError
from attentivechrome.io import atomic_write_text


def write_resolved_config(
    config: Mapping, path: str | Path, files: Iterable[str | Path], overrides: Mapping
) -> None:
    """Write the validated configuration (schema defaults filled in) as YAML.

    The header names the config files and the `--config` overrides it came from, in the
    order Snakemake applied them. Keys left out here (e.g. `train.lr`) take each model's
    published value, which metrics.json records per model.
    """
    plain = json.loads(json.dumps(dict(config)))  # Snakemake's mappings as plain YAML
    started = datetime.now(UTC)
    header = [
        f"# Resolved configuration of the run started {started:%Y-%m-%d %H:%M:%S} UTC",
        "# from config files, in order: " + (", ".join(map(str, files)) or "none"),
        "# --config overrides: " + (json.dumps(dict(overrides)) if overrides else "none"),
        "# with the schema's defaults (workflow/schemas/config.schema.yaml) filled in.",
    ]
    body = yaml.safe_dump(plain, sort_keys=False, default_flow_style=False)
    atomic_write_text(path, "\n".join(header) + "\n" + body)


def check_config(config: Mapping, schema_path: str | Path) -> None:
    """Stop on the configuration's most relevant schema violation, in one line.

    Snakemake's own validation prints "Error validating config file." above a dump of the
    schema; this names the key as a dotted path (`train.seeds`), the value, what the schema
    allows and the key's description, before Snakemake fills in the defaults.
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    schema = yaml.safe_load(Path(schema_path).read_text())
    error = best_match(Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        raise InputError(None, config_message(error, schema))


def config_message(error, schema: Mapping) -> str:
    """One line about a jsonschema ValidationError of the configuration."""
    path = list(error.absolute_path)
    problem = error.message
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        path.append(missing[0])
    elif error.validator == "additionalProperties":
        allowed = _node(schema, path).get("properties", {})
        unknown = next(key for key in error.instance if key not in allowed)
        path.append(unknown)
        problem += f"; {_level(path[:-1])} takes {', '.join(allowed)}"
        problem += _suggestion(unknown, schema, path[:-1], allowed)
    node = _node(schema, path)
    # jsonschema's message already lists an enum's values and an unknown key's level.
    expected = _expected(node) if error.validator not in ("enum", "additionalProperties") else ""
    if expected:
        problem += f"; expected {expected}"
    if isinstance(error.instance, str) and error.validator in ("type", "enum"):
        problem += _text_hint(error.instance, node)
    description = _description(schema, path)
    if description and error.validator != "additionalProperties":
        problem += f" ({description})"
    return f"config key {dotted(path)}: {problem}"


def dotted(path: Sequence) -> str:
    """A key's place in the configuration: `train.seeds`, `models[1]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


def _level(path: Sequence) -> str:
    return f"{dotted(path)}" if path else "the top level"


def _node(schema: Mapping, path: Sequence) -> Mapping:
    """The schema of the value at `path` ({} where the schema says nothing)."""
    node = schema
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        else:
            extra = node.get("additionalProperties")
            node = extra if isinstance(extra, Mapping) else {}
    return node


#: The most characters of a key's description that a message quotes.
DESCRIBED = 160


def _description(schema: Mapping, path: Sequence) -> str:
    """The description of the key at `path`, or of the nearest key above it that has one."""
    for end in range(len(path), 0, -1):
        description = _node(schema, path[:end]).get("description")
        if description:
            words = " ".join(description.split())
            return (
                words if len(words) <= DESCRIBED else words[:DESCRIBED].rsplit(" ", 1)[0] + " ..."
            )
    return ""


def _expected(node: Mapping) -> str:
    """What a schema node allows, in words: `a list of unique integers >= 0`."""
    if "enum" in node:
        return "one of " + ", ".join(map(str, node["enum"]))
    kind = node.get("type")
    if kind == "array":
        items = _expected(node.get("items", {})) or "values"
        unique = "unique " if node.get("uniqueItems") else ""
        least = f" (at least {node['minItems']})" if node.get("minItems", 0) > 1 else ""
        nonempty = "a non-empty list" if node.get("minItems") == 1 else "a list"
        return f"{nonempty} of {unique}{_plural(items)}{least}"
    if kind in ("integer", "number"):
        bounds = [
            f"{sign} {node[key]}"
            for key, sign in (
                ("minimum", ">="),
                ("exclusiveMinimum", ">"),
                ("maximum", "<="),
                ("exclusiveMaximum", "<"),
            )
            if key in node
        ]
        article = "an integer" if kind == "integer" else "a number"
        return f"{article} {' and '.join(bounds)}".strip()
    if kind == "string":
        return "text" + (f" matching {node['pattern']}" if "pattern" in node else "")
    if kind == "boolean":
        return "true or false"
    if kind == "object":
        keys = node.get("properties", {})
        return "a mapping" + (f" of {', '.join(keys)}" if keys else "")
    return ""


def _plural(words: str) -> str:
    """`an integer >= 0` as a list's items: `integers >= 0`."""
    for single, many in (
        ("an integer", "integers"),
        ("a number", "numbers"),
        ("text", "texts"),
        ("one of", "values of"),
        ("true or false", "true or false values"),
    ):
        if words.startswith(single):
            return many + words[len(single) :]
    return words


def _text_hint(value: str, node: Mapping) -> str:
    """Why a text value is refused: a number in quotes, or a near-miss of an allowed value."""
    if node.get("type") in ("integer", "number"):
        try:
            float(value)
        except ValueError:
            return ""
        return f" (write {value.strip()} without quotes)"
    close = difflib.get_close_matches(value, [str(v) for v in node.get("enum", [])], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _suggestion(key: str, schema: Mapping, level: Sequence, allowed: Mapping) -> str:
    """Where an unknown key belongs: the same name at another level, or a near spelling."""
    elsewhere = [dotted(path) for path in _key_paths(schema) if path[-1] == key]
    if elsewhere:
        return f"; did you mean {' or '.join(elsewhere)}?"
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f"; did you mean {dotted([*level, close[0]])}?" if close else ""


def _key_paths(node: Mapping, prefix: tuple = ()) -> list[tuple]:
    """Every key of the schema, as paths."""
    paths = []
    for name, child in node.get("properties", {}).items():
        paths.append((*prefix, name))
        paths += _key_paths(child, (*prefix, name))
    return paths
