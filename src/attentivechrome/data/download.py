"""Fetch input files so that a file at ``dest`` can be trusted.

The raw Roadmap files are large (0.3-1.5 GB each, a few hundred GB in all) and the server
is slow and sometimes flaky, so a download must survive dropped connections, resume where
it stopped, and never leave behind a file that merely looks complete. ``fetch`` therefore:

* streams HTTP(S) bodies into ``dest.part`` and resumes it with a Range request;
* retries connection errors, timeouts, 408/429/5xx answers and truncated bodies with
  exponential back-off, but fails at once on other 4xx answers (retrying cannot help).
  urllib3 retries the requests; a body cut off midway is ours to retry, by resuming;
* logs the progress of a long body every ``progress.PROGRESS_SECONDS`` (a stalled link
  shows none until it times out);
* checks the size against Content-Length, the SHA-256 when one is given, and gzip
  integrity by decompressing the whole stream, before renaming the part file to ``dest``.
  Gzip is told by the content, not the name: plain text is accepted under any name (the
  readers check it), while an empty file or an HTML page (a portal's error or login page
  served in place of the data) is refused.

The pipeline fetches only URLs: a local file is an input of the job that reads it, so that
Snakemake reruns what depends on it when it changes, and ``check_local`` gives it the same
checks there. ``fetch`` still copies a local source (plain path or ``file://`` URL), not
linking it, for callers that want a copy.

A ``.part`` left by a transient failure (retries exhausted) is kept on purpose: the next
run resumes it. A ``.part`` that failed verification is always removed.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError

from attentivechrome.errors import InputError
from attentivechrome.io import atomic_path, is_gzip, sha256_of
from attentivechrome.progress import Progress, byte_size

log = logging.getLogger("attentivechrome.data.download")

CHUNK_BYTES = 1 << 20
# Cap a single back-off pause so that many retries never stall a run for hours.
MAX_PAUSE_SECONDS = 300.0
# A transient HTTP status is worth retrying; any other 4xx means the request itself is wrong.
RETRYABLE_STATUS = frozenset({408, 429, *range(500, 600)})
USER_AGENT = "attentivechrome-pipeline/0.1 (+urllib3)"
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


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
    """A failure urllib3 cannot see that another attempt may fix (truncation, bad resume)."""


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
    failures. Pauses follow urllib3's back-off: none before the first retry, then
    ``backoff * 2 ** (k - 1)`` seconds before retry ``k``, at most MAX_PAUSE_SECONDS; a
    Retry-After header (429, 503) is obeyed instead.
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


def check_local(path: str | Path, sha256: str | None = None, contents: bool = True) -> None:
    """Check a local input read where it is as a download is checked: its SHA-256 when one
    is given and, with `contents`, that it is not empty, not an HTML page, and whole when
    gzipped (its readers need not tell a cut-off gzip stream). Raises InputError naming it.
    """
    path = Path(path)
    try:
        _verify(path, sha256.strip().lower() if sha256 else None, contents)
    except _Corrupt as exc:
        raise InputError(path, str(exc)) from None


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


class _LoggedRetry(urllib3.Retry):
    """urllib3's Retry, telling the job's log why it retries (urllib3 tells some at DEBUG)."""

    def sleep(self, response=None) -> None:
        last = self.history[-1]
        reason = _describe(last.error) if last.error else f"HTTP {last.status}"
        pause = (response and self.get_retry_after(response)) or self.get_backoff_time()
        log.warning("attempt %d failed (%s); retry in %.2fs", len(self.history), reason, pause)
        super().sleep(response)


def _fetch_http(
    url: str,
    dest: Path,
    retries: int,
    backoff: float,
    timeout: float,
    sha: str | None,
) -> FetchResult:
    part = dest.with_name(dest.name + ".part")
    # One budget for urllib3's retries and ours, so that `retries` bounds the requests.
    retry = _LoggedRetry(
        total=retries,
        backoff_factor=backoff,
        backoff_max=MAX_PAUSE_SECONDS,
        status_forcelist=RETRYABLE_STATUS,
        raise_on_status=False,  # hand back the last 5xx, so that our message can name it
    )
    fresh_starts = 0  # one download from zero is allowed after a failed verification
    resumed = False
    with _pool_manager(url, timeout) as http:
        while True:
            try:
                retry, resumed_now = _download(http, url, part, retry)
            except MaxRetryError as exc:  # raised only once the whole budget is spent
                tries, reason = retries + 1 + fresh_starts, _describe(exc.reason)
                raise DownloadError(
                    url, f"gave up after {tries} attempts; last error: {reason}"
                ) from None
            except HTTPError as exc:  # e.g. a URL that urllib3 cannot parse
                raise DownloadError(url, _describe(exc)) from None
            resumed |= resumed_now
            try:
                _verify(part, sha)
                break
            except _Corrupt as exc:
                part.unlink(missing_ok=True)
                if fresh_starts:
                    raise DownloadError(
                        url, f"{exc} (again after a fresh download; the remote file is bad)"
                    ) from None
                fresh_starts += 1
                log.warning("%s: %s; deleted it and downloading again from zero", url, exc)

    attempts = len(retry.history) + 1 + fresh_starts
    size = part.stat().st_size
    os.replace(part, dest)
    log.info("fetched %s -> %s (%d bytes, %d attempts)", url, dest, size, attempts)
    return FetchResult(bytes=size, attempts=attempts, resumed=resumed, url=url)


def _pool_manager(url: str, timeout: float) -> urllib3.PoolManager:
    """Connections for ``url``, through the proxy the environment names (as urllib did)."""
    proxy = urllib.request.getproxies().get(urlsplit(url).scheme.lower())
    if proxy and not urllib.request.proxy_bypass(urlsplit(url).hostname or ""):
        return urllib3.ProxyManager(proxy, timeout=timeout)
    return urllib3.PoolManager(timeout=timeout)


def _download(http: urllib3.PoolManager, url: str, part: Path, retry: urllib3.Retry):
    """Request until ``part`` holds a whole body; return (the retry state, resumed).

    urllib3's Retry covers the requests but not a body cut off midway: that is retried
    here by resuming it. Local disk errors propagate, since retrying cannot help.
    """
    while True:
        have = part.stat().st_size if part.exists() else 0
        log.info("GET %s%s", url, f" from byte {have}" if have else "")
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        # Streamed as served, not decoded: Range and Content-Length count the file's bytes.
        response = http.request(
            "GET", url, headers=headers, retries=retry, preload_content=False, decode_content=False
        )
        retry = response.retries  # now with the retries urllib3 made for this request
        try:
            with response:
                return retry, _save_body(response, part, have, url)
        except (_Transient, HTTPError) as exc:  # HTTPError: urllib3's errors reading the body
            retry = retry.increment("GET", url, error=exc)
            retry.sleep()


def _save_body(response: urllib3.BaseHTTPResponse, part: Path, have: int, url: str) -> bool:
    """Append to or rewrite ``part`` from ``response``; return whether it resumed."""
    resumed, expected = _write_plan(response, part, have, url)
    # A 200 answer carries the whole file, so it overwrites any earlier partial bytes.
    done = have if resumed else 0
    name = part.name.removesuffix(".part")
    progress = Progress(log, name, byte_size, total=expected, done=done)
    with open(part, "ab" if resumed else "wb") as out:
        # read1 returns what has arrived, so progress lines keep coming on a slow link.
        while chunk := response.read1(CHUNK_BYTES):
            out.write(chunk)
            done += len(chunk)
            progress.update(done)
    log.info("%s now holds %d bytes", part, done)
    if expected is not None and done != expected:
        if done > expected:
            part.unlink(missing_ok=True)
        raise _Transient(f"body ended at {done} bytes, expected {expected} (truncated)")
    return resumed


def _write_plan(response, part: Path, have: int, url: str) -> tuple[bool, int | None]:
    """Decide from the answer between resuming and restarting; return (resumed, final size)."""
    status = response.status
    length = response.headers.get("Content-Length", "").strip()
    length = int(length) if length.isdigit() else None
    if status == 206:
        start, total = _parse_content_range(response.headers.get("Content-Range"))
        if start != have:
            # The server resumed from a different offset than asked: appending would corrupt.
            part.unlink(missing_ok=True)
            raise _Transient(f"server resumed at byte {start}, asked for {have}; restarting")
        log.info("resuming %s at byte %d", url, have)
        if total is None and length is not None:
            total = have + length
        return True, total
    if 200 <= status < 300:
        if have:
            log.info("server ignored the Range request for %s; restarting from zero", url)
        return False, length

    text = f"HTTP {status} {response.reason or ''}".strip()
    if status == 416 and have:
        # Range not satisfiable: our partial file does not fit the remote one (it may have
        # changed); drop it and start again rather than trusting it.
        part.unlink(missing_ok=True)
        raise _Transient(f"{text} for a resume at byte {have}; restarting from zero")
    if status in RETRYABLE_STATUS:  # urllib3 hands it back once its retries are spent
        raise _Transient(text)
    part.unlink(missing_ok=True)
    raise DownloadError(url, f"{text} (not retried: the request itself was refused)")


def _parse_content_range(value: str | None) -> tuple[int, int | None]:
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        raise _Transient(f"206 answer with unusable Content-Range {value!r}")
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _Transient):
        return str(exc)
    # urllib3 packs some errors as (message, cause); the message alone reads better.
    text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- verification ----------------------------------------------------------------------


def _verify(path: Path, sha: str | None, contents: bool = True) -> None:
    if sha is not None:
        actual = sha256_of(path)
        if actual != sha:
            raise _Corrupt(f"SHA-256 mismatch: expected {sha}, got {actual}")
    if not contents:
        return
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
