"""One exception type for bad user input, so messages name the file and line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class InputError(ValueError):
    """Raised when an input file or setting is malformed.

    The message always says which file (and line or gene, when known) is wrong and
    what was expected, so users can fix the input without reading a traceback.
    """

    def renamed(self, path: str | Path) -> InputError:
        """The same error, naming `path` (e.g. the user's source instead of a local copy)."""
        return InputError(path, self.message, line=self.line)

    def __init__(self, path: str | Path | None, message: str, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.message = message
        where = self.path
        if where is not None and line is not None:
            where = f"{where}, line {line}"
        super().__init__(message if where is None else f"{where}: {message}")


@contextmanager
def reported_as(source: str | Path, local: str | Path) -> Iterator[None]:
    """Let input errors about `local`, a downloaded copy, name the user's `source`.

    The user knows the file or URL they configured, not the copy under results/downloads/.
    """
    try:
        yield
    except InputError as error:
        if error.path != str(local) or str(source) == str(local):
            raise
        raise error.renamed(source) from None


def separator_hint(line: str | bytes) -> str:
    """Why a line splits into too few tab-separated fields, when spaces explain it."""
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    if "\t" not in text and len(text.split()) > 1:
        return " (its columns are separated by spaces, not tabs)"
    return ""
