"""Fetch input files so that a file at ``dest`` can be trusted.

The raw Roadmap files are large (0.3-1.5 GB each, a few hundred GB in all) and the server
is slow and sometimes flaky, so a download must survive dropped connections, resume where
it stopped, and never leave behind a file that merely looks complete. ``fetch`` therefore:

* streams HTTP(S) bodies into ``dest.part`` and resumes it with a Range request;
* retries connection errors, timeouts, 408/429/5xx answers and truncated bodies with
  exponential back-off, but fails at once on other 4xx answers (retrying cannot help);
* checks the size against Content-Length, the SHA-256 when one is given, and gzip
  integrity by decompressing the whole stream, before renaming the part file to ``dest``.
  Gzip is told by the content, not the name: plain text is accepted under any name (the
  readers check it), while an empty file or an HTML page (a portal's error or login page
  served in place of the data) is refused.

Local sources (plain paths and ``file://`` URLs) are copied, not linked, so that later
edits of the source cannot silently change a pipeline input.

A ``.part`` left by a transient failure (retries exhausted) is kept on purpose: the next
run resumes it. A ``.part`` that failed verification is always removed.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from attentivechrome.errors import InputError
from attentivechrome.io import atomic_path, is_gzip

log = logging.getLogger("attentivechrome.download")

CHUNK_BYTES = 1 << 20
# Cap a single back-off pause so that many retries never stall a run for hours.
MAX_PAUSE_SECONDS = 300.0
# A transient HTTP status is worth retrying; any other 4xx means the request itself is wrong.
RETRYABLE_STATUS = frozenset({408, 429})
USER_AGENT = "attentivechrome-pipeline/0.1 (+urllib)"
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")
# Errors raised by the socket or HTTP layer; OSError covers ConnectionError and timeouts.
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError)


class DownloadError(InputError):
    """A download that failed for good; the message names the URL and the reason.

    An anticipated failure like bad input, so a job reports it in one line, no traceback.
    """

    def __init__(self, url: str, message: str):
        self.url = url
        super().__init__(url, message)


@dataclass(frozen=True)
class FetchResult:
    """What one ``fetch`` call did.

    ``attempts`` counts the requests made (1 for a local copy); ``resumed`` is True when
    at least one request continued a partial file with a Range request.
    """

    bytes: int
    attempts: int
    resumed: bool
    url: str


class _Transient(Exception):
    """A failure that another attempt may fix (network, timeout, 5xx, truncation)."""


class _Permanent(Exception):
    """A failure that retrying cannot fix (e.g. 404)."""


class _Corrupt(Exception):
    """The finished file failed its checksum or gzip check."""


def fetch(
    source: str,
    dest: Path,
    *,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 60.0,
    sha256: str | None = None,
) -> FetchResult:
    """Fetch ``source`` (path, file://, http:// or https:// URL) to ``dest`` atomically.

    ``retries`` is the number of extra attempts after the first one for transient
    failures; the pause before retry ``k`` (1-based) is ``backoff * 2 ** (k - 1)`` seconds.
    A file that fails its SHA-256 or content check (see the module's docstring) is deleted
    and downloaded once more from zero before giving up.
    Raises InputError for a bad local source, DownloadError for a failed download.
    """
    dest = Path(dest)
    if retries < 0 or backoff < 0 or timeout <= 0:
        raise ValueError("retries and backoff must be >= 0 and timeout > 0")
    expected_sha = sha256.strip().lower() if sha256 else None
    dest.parent.mkdir(parents=True, exist_ok=True)

    scheme = urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        return _fetch_http(source, dest, retries, backoff, timeout, expected_sha)
    if scheme == "file":
        return _copy_local(_file_url_path(source), dest, expected_sha)
    if scheme and len(scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise InputError(source, f"unsupported URL scheme {scheme!r}; use a path, file://, http(s)")
    return _copy_local(Path(source), dest, expected_sha)


# --- local sources ---------------------------------------------------------------------


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InputError(url, f"file:// URL names a remote host {parts.netloc!r}")
    return Path(unquote(parts.path))


def _copy_local(src: Path, dest: Path, sha: str | None) -> FetchResult:
    if not src.is_file():
        raise InputError(src, "source file not found (expected an existing regular file)")
    try:
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
            _verify(tmp, sha)
            size = tmp.stat().st_size
    except _Corrupt as exc:
        raise InputError(src, str(exc)) from None
    log.info("copied %s -> %s (%d bytes)", src, dest, size)
    return FetchResult(bytes=size, attempts=1, resumed=False, url=src.resolve().as_uri())


# --- HTTP sources ----------------------------------------------------------------------


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _fetch_http(
    url: str,
    dest: Path,
    retries: int,
    backoff: float,
    timeout: float,
    sha: str | None,
) -> FetchResult:
    part = _part_path(dest)
    attempts = 0
    failures = 0  # transient failures so far, bounded by ``retries``
    restarted = False  # one full restart is allowed after a failed verification
    resumed = False
    while True:
        attempts += 1
        try:
            resumed |= _download_once(url, part, timeout, attempts)
        except _Permanent as exc:
            part.unlink(missing_ok=True)
            raise DownloadError(url, str(exc)) from None
        except _Transient as exc:
            failures += 1
            if failures > retries:
                raise DownloadError(
                    url, f"gave up after {attempts} attempts; last error: {exc}"
                ) from None
            pause = min(backoff * 2 ** (failures - 1), MAX_PAUSE_SECONDS)
            log.warning("attempt %d for %s failed (%s); retry in %.2fs", attempts, url, exc, pause)
            time.sleep(pause)
            continue

        try:
            _verify(part, sha)
        except _Corrupt as exc:
            part.unlink(missing_ok=True)
            if restarted:
                raise DownloadError(
                    url, f"{exc} (again after a fresh download; the remote file is bad)"
                ) from None
            restarted = True
            log.warning("%s: %s; deleted it and downloading again from zero", url, exc)
            continue

        size = part.stat().st_size
        os.replace(part, dest)
        log.info("fetched %s -> %s (%d bytes, %d attempts)", url, dest, size, attempts)
        return FetchResult(bytes=size, attempts=attempts, resumed=resumed, url=url)


def _download_once(url: str, part: Path, timeout: float, attempt: int) -> bool:
    """Make one request, appending to or rewriting ``part``; return whether it resumed.

    Raises _Transient or _Permanent; returns only when the body is complete as far as
    the server's headers allow us to tell. Local disk errors propagate unchanged, since
    retrying a full disk only wastes time.
    """
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    log.info("attempt %d: GET %s%s", attempt, url, f" from byte {have}" if have else "")
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _status_error(exc.code, exc.reason, part, have) from None
    except _NETWORK_ERRORS as exc:
        raise _Transient(_describe(exc)) from None

    with response:
        resumed, expected = _open_target(response, part, have, url)
        received = _stream_body(response, part, append=resumed)
    size = part.stat().st_size
    log.info("attempt %d: received %d bytes, %s now holds %d bytes", attempt, received, part, size)
    if expected is not None and size != expected:
        if size > expected:
            part.unlink(missing_ok=True)
        raise _Transient(f"body ended at {size} bytes, expected {expected} (truncated)")
    return resumed


def _open_target(response, part: Path, have: int, url: str) -> tuple[bool, int | None]:
    """Decide between resuming and restarting; return (resumed, expected final size)."""
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.strip().isdigit() else None
    if response.status == 206:
        start, total = _parse_content_range(response.headers.get("Content-Range"), url)
        if start != have:
            # The server resumed from a different offset than asked: appending would corrupt.
            part.unlink(missing_ok=True)
            raise _Transient(f"server resumed at byte {start}, asked for {have}; restarting")
        log.info("resuming %s at byte %d", url, have)
        if total is None and length is not None:
            total = have + length
        return True, total
    if have:
        log.info("server ignored the Range request for %s; restarting from zero", url)
    return False, length


def _stream_body(response, part: Path, *, append: bool) -> int:
    """Copy the body into ``part`` chunk by chunk; return the number of bytes received."""
    received = 0
    # A 200 answer carries the whole file, so it overwrites any earlier partial bytes.
    with open(part, "ab" if append else "wb") as out:
        while True:
            try:
                chunk = response.read(CHUNK_BYTES)
            except _NETWORK_ERRORS as exc:
                out.flush()
                raise _Transient(_describe(exc)) from None
            if not chunk:
                return received
            out.write(chunk)
            received += len(chunk)


def _parse_content_range(value: str | None, url: str) -> tuple[int, int | None]:
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        raise _Transient(f"206 answer with unusable Content-Range {value!r}")
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _status_error(code: int, reason: str, part: Path, have: int) -> Exception:
    """Classify an HTTP error answer as transient or permanent."""
    text = f"HTTP {code} {reason}".strip()
    if code == 416 and have:
        # Range not satisfiable: our partial file does not fit the remote one (it may have
        # changed); drop it and start again rather than trusting it.
        part.unlink(missing_ok=True)
        return _Transient(f"{text} for a resume at byte {have}; restarting from zero")
    if code >= 500 or code in RETRYABLE_STATUS:
        return _Transient(text)
    return _Permanent(f"{text} (not retried: the request itself was refused)")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, str):
        exc = exc.reason
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection closed early ({len(exc.partial)} bytes of the last read)"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# --- verification ----------------------------------------------------------------------


def _verify(path: Path, sha: str | None) -> None:
    if sha is not None:
        actual = _sha256_of(path)
        if actual != sha:
            raise _Corrupt(f"SHA-256 mismatch: expected {sha}, got {actual}")
    if path.stat().st_size == 0:
        raise _Corrupt("empty file")
    if is_gzip(path):
        problem = _gzip_problem(path)
        if problem:
            raise _Corrupt(f"corrupted gzip ({problem})")
    elif _looks_like_html(path):
        raise _Corrupt("an HTML page, not the data (an error or login page of the server?)")


def _looks_like_html(path: Path) -> bool:
    with open(path, "rb") as handle:
        start = handle.read(512).lstrip().lower()
    return start.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body"))


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _gzip_problem(path: Path) -> str | None:
    """Decompress every member to nowhere; return why it failed, or None when intact.

    The gzip module checks each member's CRC-32 and length and raises EOFError on a
    truncated stream, so reading to the end is a full integrity check.
    """
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(CHUNK_BYTES):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
