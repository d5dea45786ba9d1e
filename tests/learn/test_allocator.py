"""tcmalloc for training: the restart happens once, loads the library, changes no result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from attentivechrome.learn.allocator import RESTARTED, find_tcmalloc, restart_with_allocator
from helpers import history, write_splits

SRC = Path(__file__).resolve().parents[2] / "src"


def _missing() -> str | None:
    # tcmalloc is optional (config train.allocator, off by default); without it, or without
    # /proc to read a process's mappings from, these tests have nothing to check.
    if find_tcmalloc() is None:
        return (
            "libtcmalloc is not installed (Debian libtcmalloc-minimal4, which `make setup` "
            "installs, or conda gperftools)"
        )
    if not Path("/proc/self/maps").exists():
        return "no /proc/self/maps to read a process's mappings from"
    return None


MISSING = _missing()
needs_tcmalloc = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def run_script(path: Path, body: str, *args: str) -> list[str]:
    path.write_text(f"import sys\nsys.path.insert(0, {str(SRC)!r})\n" + textwrap.dedent(body))
    env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.splitlines()


@needs_tcmalloc
@pytest.mark.parametrize("allocator", ["system", "tcmalloc"])
def test_the_requested_allocator_is_the_one_mapped(tmp_path, allocator):
    """Read the child's own memory map: tcmalloc's file is mapped exactly when asked for."""
    lines = run_script(
        tmp_path / "maps.py",
        """
        import os
        from attentivechrome.learn.allocator import find_tcmalloc, restart_with_allocator
        restart_with_allocator(sys.argv[1])
        with open("/proc/self/maps") as maps:
            mapped = {line.split()[-1] for line in maps if "libtcmalloc" in line}
        print(os.path.realpath(find_tcmalloc()))
        print(*sorted(mapped) or ["-"])
        """,
        allocator,
    )
    library, mapped = lines[-2], lines[-1]
    assert mapped == (library if allocator == "tcmalloc" else "-")
    assert os.path.basename(library).startswith("libtcmalloc")


@needs_tcmalloc
def test_restart_loads_tcmalloc_once(tmp_path):
    lines = run_script(
        tmp_path / "restart.py",
        f"""
        import os
        from attentivechrome.learn.allocator import loaded_tcmalloc, restart_with_tcmalloc
        print("before", os.environ.get({RESTARTED!r}, "-"), flush=True)
        restart_with_tcmalloc()
        restart_with_tcmalloc()  # a second call in the restarted process does nothing
        print("after", loaded_tcmalloc())
        """,
    )
    # The first process printed "before" and was replaced; the restarted one printed both.
    assert lines[0] == "before -"
    assert lines[1] == f"before {find_tcmalloc()}"
    assert len(lines) == 3 and lines[2].startswith("after /") and "libtcmalloc" in lines[2]


@pytest.mark.slow
@needs_tcmalloc
def test_training_results_are_the_same_with_tcmalloc(tmp_path):
    paths = write_splits(tmp_path / "data", sizes=(64, 48, 48), seed=3)
    body = """
        import json
        from attentivechrome.learn.allocator import loaded_tcmalloc, restart_with_allocator
        from attentivechrome.learn.training import train_and_evaluate
        restart_with_allocator(sys.argv[2])
        data, out = sys.argv[1], sys.argv[3]
        metrics = train_and_evaluate(
            "attentivechrome", f"{data}/train.npz", f"{data}/valid.npz", f"{data}/test.npz",
            out, cell="E000", epochs=2, device="cpu", checkpoint=False,
        )
        metrics.pop("seconds_total")
        print(json.dumps({"allocator": loaded_tcmalloc(), "metrics": metrics}))
    """
    runs = {}
    for allocator in ("system", "tcmalloc"):
        out = tmp_path / allocator
        lines = run_script(
            tmp_path / "train.py", body, str(paths["train"].parent), allocator, str(out)
        )
        runs[allocator] = json.loads(lines[-1])
    assert runs["system"]["allocator"] is None
    assert "libtcmalloc" in runs["tcmalloc"]["allocator"]
    assert runs["system"]["metrics"] == runs["tcmalloc"]["metrics"]
    system, fast = tmp_path / "system", tmp_path / "tcmalloc"
    predictions = "test_predictions.tsv"
    assert (system / predictions).read_text() == (fast / predictions).read_text()
    pd.testing.assert_frame_equal(history(system), history(fast))  # all but the seconds


def test_an_unknown_allocator_is_refused():
    with pytest.raises(ValueError, match="allocator must be one of"):
        restart_with_allocator("jemalloc")
