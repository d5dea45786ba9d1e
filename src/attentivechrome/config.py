"""The configuration a run resolved, written where users can read it back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import yaml

from .io import atomic_write_text


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
