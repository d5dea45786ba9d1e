"""Logging for pipeline steps: one log file per job, and clean messages for bad input."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from attentivechrome.errors import InputError

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def step_logging(log_file: str | Path | None) -> Iterator[logging.Logger]:
    """Send log records to the job's log file (and stderr); turn InputError into one line.

    A user who feeds a damaged file should read what is wrong and where, not a traceback
    from deep inside pandas; unexpected errors keep their traceback for bug reports.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers, force=True)
    logger = logging.getLogger("attentivechrome")
    try:
        yield logger
    except InputError as error:
        logger.error("%s", error)
        raise SystemExit(1) from None
    except Exception:
        logger.exception("step failed")
        raise
