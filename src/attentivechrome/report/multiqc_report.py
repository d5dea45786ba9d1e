"""Rule qc_multiqc: MultiQC (from pip) over the QC custom content, one HTML file.

MultiQC runs in a process of its own (it sets up logging and configuration globally), from
the Python that runs this step, and reads only the files it is given (no search of the
results). It keeps the sample names as written (`--fullnames`: no cleaning of suffixes such
as `.rep2`), checks for no new version (no network) and writes no data folder.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from attentivechrome.report.qc import SECTIONS

log = logging.getLogger(__name__)

TITLE = "AttentiveChrome: reads per sample"


def multiqc_command(content: Sequence[Path], folder: Path, name: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "multiqc",
        "--force",
        "--no-data-dir",
        "--no-version-check",
        "--no-ansi",
        "--fullnames",
        "--module",
        "custom_content",
        "--title",
        TITLE,
        "--cl-config",
        json.dumps({"custom_content": {"order": [f"attentivechrome_{s}" for s in SECTIONS]}}),
        "--outdir",
        str(folder),
        "--filename",
        name,
        *map(str, content),
    ]


def qc_multiqc(content: Sequence[Path], out: Path) -> None:
    """The MultiQC report of the custom content files `content`, written to `out`; what
    MultiQC prints goes to this step's log."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A private folder beside `out`: a failed run leaves no partial report there.
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as work:
        result = subprocess.run(
            multiqc_command(content, Path(work), out.name),
            capture_output=True,
            text=True,
        )
        for line in (result.stdout + result.stderr).splitlines():
            if line.strip():
                log.info("multiqc: %s", line.rstrip())
        report = Path(work) / out.name
        if result.returncode != 0 or not report.is_file():
            raise RuntimeError(f"MultiQC failed (exit {result.returncode}), see the lines above")
        report.replace(out)
    log.info("MultiQC report of %d files: %s", len(content), out)
