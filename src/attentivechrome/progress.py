"""Progress lines for long steps, so that a job's log shows life while it works.

A line is written at most once per PROGRESS_SECONDS (and only when work was done since the
last one); checking costs a clock read, well under a microsecond.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

#: Seconds between progress lines: a few per minute, whatever the step's speed.
PROGRESS_SECONDS = 10.0


def byte_size(n: float) -> str:
    """A byte count in binary units, e.g. `312.5 MiB`."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def read_count(n: float) -> str:
    return f"{n:,.0f} reads"


class Progress:
    """Logs `name: done [of total (share)], rate/s`; the rate is the one since the last line,
    so that a link or a disk slowing down shows."""

    def __init__(
        self,
        log: logging.Logger,
        name: str,
        amount: Callable[[float], str] = read_count,
        total: float | None = None,
        done: float = 0,
    ):
        self.log, self.name, self.amount, self.total = log, name, amount, total
        self.interval = PROGRESS_SECONDS
        self.last_time, self.last_done = time.monotonic(), done

    def update(self, done: float) -> None:
        now = time.monotonic()
        if now - self.last_time < self.interval or done == self.last_done:
            return
        rate = (done - self.last_done) / max(now - self.last_time, 1e-9)
        self.last_time, self.last_done = now, done
        of_total = f" of {self.amount(self.total)} ({done / self.total:.0%})" if self.total else ""
        self.log.info("%s: %s%s, %s/s", self.name, self.amount(done), of_total, self.amount(rate))
