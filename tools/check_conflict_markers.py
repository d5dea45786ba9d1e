"""Fail when a tracked file holds a line that is a merge-conflict marker.

A marker is a whole line: `<<<<<<< ` or `>>>>>>> ` followed by a label (or nothing),
`|||||||` (diff3 style) likewise, or exactly seven `=`. A reStructuredText underline of
more `=` is not a marker. Binary files (a NUL byte) are skipped.

    python tools/check_conflict_markers.py [FOLDER]    # FOLDER: a git checkout, default .
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MARKER = re.compile(rb"^(?:(?:<{7}|>{7}|\|{7})(?: .*)?|={7})\r?$", re.MULTILINE)


def tracked_files(root: Path) -> list[Path]:
    """The files git tracks under `root` (which must be a git checkout)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True
    ).stdout
    return [root / name.decode() for name in listed.split(b"\0") if name]


def markers(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of every conflict marker in the file."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):  # deleted but not staged; a submodule
        return []
    if b"\0" in data:
        return []
    return [
        (data.count(b"\n", 0, match.start()) + 1, match.group().decode(errors="replace").rstrip())
        for match in MARKER.finditer(data)
    ]


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else ".")
    found = [
        f"{path.relative_to(root)}:{number}: {line}"
        for path in tracked_files(root)
        for number, line in markers(path)
    ]
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(f"{len(found)} merge-conflict marker lines: resolve them", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
