"""tools/check_conflict_markers.py, which `make lint` runs on every tracked file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import REPO

CHECK = [sys.executable, str(REPO / "tools/check_conflict_markers.py")]


def git_checkout(folder, files: dict[str, str | bytes]):
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    subprocess.run(["git", "add", "."], cwd=folder, check=True)


def run_check(folder) -> subprocess.CompletedProcess:
    return subprocess.run([*CHECK, str(folder)], capture_output=True, text=True)


def test_the_repository_has_no_conflict_markers():
    result = run_check(REPO)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "marker", ["<<<<<<< HEAD", "=======", ">>>>>>> annotation", "||||||| base", "<<<<<<<"]
)
def test_a_marker_line_fails(tmp_path, marker):
    git_checkout(tmp_path, {"src/a.py": f'"""Doc.\n{marker}\nmore\n"""\n'})
    result = run_check(tmp_path)
    assert result.returncode == 1
    assert f"src/a.py:2: {marker}" in result.stderr


def test_underlines_and_untracked_files_pass(tmp_path):
    git_checkout(
        tmp_path,
        {
            "report.rst": "Title\n" + "=" * 20 + "\n\nShort\n========\n",
            "notes.md": "a <<<<<<<< b\nx ======= y\n>>>>>>>>\n",
            "data.bin": b"\0=======\n",  # binary: skipped
        },
    )
    (tmp_path / "untracked.txt").write_text("=======\n")
    assert run_check(tmp_path).returncode == 0
