"""File access shared by every step: plain or gzipped text, headed tables, atomic writes,
file checksums, and a thread that feeds a child process's pipe.

Outputs appear complete under their final name or not at all.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TypeVar

import pandas as pd

from attentivechrome.errors import InputError, separator_hint

GZIP_MAGIC = b"\x1f\x8b"
#: The process's umask, read once (setting it is the only way to read it).
UMASK = os.umask(0o022)
os.umask(UMASK)
T = TypeVar("T")


def is_gzip(path: str | Path) -> bool:
    """Whether a file is gzipped, by its magic bytes: names like `.gz` are not trusted."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks (files may be larger than memory)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def open_text(path: str | Path):
    """Open a plain or gzipped text file, deciding by the magic bytes, not the name."""
    path = Path(path)
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def header_separator(header: str) -> str:
    """The separator of a table told by its header line: a comma without a tab, else a tab."""
    return "," if "," in header and "\t" not in header else "\t"


def read_table(
    path: str | Path, sep: str = "\t", skiprows: int = 0, **read_csv_args
) -> pd.DataFrame:
    """A table with a header line (plain or gzipped), after checks pandas does not make.

    pandas renames a repeated column name (`E003`, `E003.1`) and reads a space-separated
    file as one column; both would go on silently wrong, so both are errors here. The
    header is the line after the first `skiprows` lines (comments), which are not read.
    """
    header = skiprows + 1
    with open_text(path) as handle:
        for _ in range(skiprows):
            handle.readline()
        columns = handle.readline().rstrip("\r\n").split(sep)
        repeated = sorted({name for name in columns if columns.count(name) > 1})
        if repeated:
            raise InputError(
                path, f"column name(s) {', '.join(repeated)} appear more than once", line=header
            )
        if sep == "\t" and separator_hint(columns[0]):
            raise InputError(
                path, f"expected a tab-separated header{separator_hint(columns[0])}", line=header
            )
        handle.seek(0)
        return pd.read_csv(handle, sep=sep, skiprows=skiprows, **read_csv_args)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only on success.

    The temporary name keeps the real suffix so that tools which look at the
    extension (numpy, torch, gzip) behave as with the final file. The file gets the
    permissions of any new file (0666 less the umask), not mkstemp's private 0600, so that
    others (a web server serving the tracks) can read the outputs.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.fchmod(fd, 0o666 & ~UMASK)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


class BackgroundWriter:
    """Writes blocks to a pipe from a thread, so that the producer and the pipe's reader
    (bedtobam, bgzip) run at the same time."""

    def __init__(self, pipe: BinaryIO):
        self.pipe = pipe
        self.blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        # After a failure (the reader died: broken pipe) keep taking blocks until the final
        # None, so that the producer never blocks on a full queue.
        while (block := self.blocks.get()) is not None:
            if self.error is None:
                try:
                    self.pipe.write(block)
                except BaseException as exc:
                    self.error = exc
        try:
            self.pipe.close()
        except BaseException as exc:
            self.error = self.error or exc

    def write(self, block: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.blocks.put(block)

    def close(self) -> None:
        self.blocks.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def close_quietly(self) -> None:
        """Stop the thread after a failure elsewhere (the pipe's reader is already killed)."""
        with contextlib.suppress(BrokenPipeError):
            self.close()


def pipe_into(
    command: list[str],
    out: BinaryIO,
    produce: Callable[[BackgroundWriter], T],
    name: str,
    about: str,
) -> T:
    """Run `command` with its output into `out`, feeding its input with `produce(writer)`.

    The producer runs here while a thread writes to the pipe, so both work at once. If the
    command dies, its own error message is raised (RuntimeError); if the producer fails,
    the command is killed and the producer's exception propagates. The message names
    the command (`name`) and what it worked on (`about`).
    """
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=out, stderr=err)
        writer = BackgroundWriter(proc.stdin)
        result, fed = None, False
        try:
            result = produce(writer)
            writer.close()
            fed = True
        except BrokenPipeError:
            writer.close_quietly()  # the command died: its own message is reported below
        except BaseException:
            proc.kill()
            writer.close_quietly()
            proc.wait()
            raise
        code = proc.wait()
        if code != 0 or not fed:
            err.seek(0)
            message = err.read().decode(errors="replace").strip()
            raise RuntimeError(f"{name} failed (exit {code}) on {about}: {message}")
    return result
