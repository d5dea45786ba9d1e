"""Every test here runs the real `snakemake` (minutes each, in all): marked slow, so that
`pytest -m "not slow"` is the quick loop."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.slow)
