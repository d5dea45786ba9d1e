"""fetch() against real files and a real local HTTP server with injected faults."""

from __future__ import annotations

import gzip
import hashlib
import logging
import random
import re
import time
from pathlib import Path

import pytest

from attentivechrome import progress
from attentivechrome.data.download import DownloadError, fetch
from attentivechrome.errors import InputError
from http_server import FaultyServer

# Tiny pauses and a small retry budget keep every test fast and the request count bounded.
FAST = {"backoff": 0.01, "retries": 3, "timeout": 5.0}


def _payload(size: int = 200_000, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def _gzip_payload() -> bytes:
    # Random bytes do not compress, so the gzip is large enough to be cut in the middle.
    return gzip.compress(_payload(150_000, seed=1), mtime=0)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def server():
    with FaultyServer() as running:
        yield running


# --- local sources ---------------------------------------------------------------------


def test_plain_relative_path_is_copied(tmp_path, monkeypatch):
    data = _payload(1000)
    (tmp_path / "src.bin").write_bytes(data)
    monkeypatch.chdir(tmp_path)
    dest = tmp_path / "out" / "copy.bin"

    result = fetch("src.bin", dest)

    assert dest.read_bytes() == data
    assert not dest.is_symlink()
    assert result.bytes == len(data) and result.attempts == 1 and not result.resumed
    assert _leftovers(dest.parent) == ["copy.bin"]


def test_file_url_is_copied(tmp_path):
    src = tmp_path / "a dir" / "reads.tagAlign.gz"
    src.parent.mkdir()
    src.write_bytes(_gzip_payload())
    dest = tmp_path / "reads.tagAlign.gz"

    result = fetch(src.as_uri(), dest)  # as_uri percent-encodes the space

    assert dest.read_bytes() == src.read_bytes()
    assert result.url == src.as_uri()


def test_missing_local_file_names_it(tmp_path):
    missing = tmp_path / "nowhere.tagAlign.gz"
    with pytest.raises(InputError, match="nowhere.tagAlign.gz.*not found"):
        fetch(str(missing), tmp_path / "dest.gz")
    assert not (tmp_path / "dest.gz").exists()


def test_corrupt_local_gzip_is_refused_and_not_copied(tmp_path):
    src = tmp_path / "bad.gz"
    src.write_bytes(_gzip_payload()[:-100])  # truncated gzip
    dest = tmp_path / "out" / "bad.gz"
    with pytest.raises(InputError, match="bad.gz.*corrupted gzip"):
        fetch(str(src), dest)
    assert _leftovers(dest.parent) == []


# --- HTTP ------------------------------------------------------------------------------


def test_http_download_is_identical(server, tmp_path):
    data = _gzip_payload()
    server.files["/E003-H3K4me3.tagAlign.gz"] = data
    dest = tmp_path / "E003-H3K4me3.tagAlign.gz"

    result = fetch(server.url("/E003-H3K4me3.tagAlign.gz"), dest, **FAST)

    assert dest.read_bytes() == data
    assert (result.bytes, result.attempts, result.resumed) == (len(data), 1, False)
    assert _leftovers(tmp_path) == [dest.name]
    assert server.requests[0].range is None


def test_resume_after_drop_uses_range(server, tmp_path, caplog):
    data = _gzip_payload()
    server.files["/x.gz"] = data
    server.faults.drop_after_bytes = 40_000
    server.faults.drop_requests = 1
    dest = tmp_path / "x.gz"

    with caplog.at_level(logging.INFO, logger="attentivechrome.data.download"):
        result = fetch(server.url("/x.gz"), dest, **FAST)

    assert dest.read_bytes() == data
    assert result.resumed and result.attempts == 2
    assert [(r.range, r.status) for r in server.requests] == [
        (None, 200),
        ("bytes=40000-", 206),
    ]
    assert "resuming" in caplog.text


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    data = _payload()
    server.files["/f.bin"] = data
    server.faults.drop_after_bytes = 50_000
    server.faults.drop_requests = 1
    server.faults.ignore_range = True
    dest = tmp_path / "f.bin"

    result = fetch(server.url("/f.bin"), dest, **FAST)

    assert dest.read_bytes() == data  # not the first 50 kB followed by the whole file
    assert not result.resumed
    assert [r.status for r in server.requests] == [200, 200]


def test_stale_part_larger_than_remote_is_discarded(server, tmp_path):
    data = _payload(1000)
    server.files["/f.bin"] = data
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"x" * 5000)  # left by a run on another file

    fetch(server.url("/f.bin"), dest, **FAST)

    assert dest.read_bytes() == data
    assert [r.status for r in server.requests] == [416, 200]


def test_server_errors_are_retried(server, tmp_path):
    data = _payload(5000)
    server.files["/f.bin"] = data
    server.faults.error_requests = 2

    result = fetch(server.url("/f.bin"), tmp_path / "f.bin", **FAST)

    assert result.attempts == 3
    assert (tmp_path / "f.bin").read_bytes() == data
    assert [r.status for r in server.requests] == [500, 500, 200]


def test_too_many_requests_is_retried(server, tmp_path):
    server.files["/f.bin"] = b"hello"
    server.faults.error_requests = 1
    server.faults.error_status = 429
    assert fetch(server.url("/f.bin"), tmp_path / "f.bin", **FAST).attempts == 2


def test_timeout_is_retried(server, tmp_path):
    server.files["/f.bin"] = b"slow start"
    server.faults.stall_requests = 1
    server.faults.stall_seconds = 1.0

    result = fetch(server.url("/f.bin"), tmp_path / "f.bin", backoff=0.01, timeout=0.2)

    assert result.attempts == 2
    assert (tmp_path / "f.bin").read_bytes() == b"slow start"


def test_not_found_fails_at_once(server, tmp_path):
    url = server.url("/E999-H3K4me3.tagAlign.gz")
    with pytest.raises(DownloadError) as caught:
        fetch(url, tmp_path / "a.gz", **FAST)
    message = str(caught.value)
    assert url in message and "404" in message and "not retried" in message
    assert len(server.requests) == 1
    assert _leftovers(tmp_path) == []


def test_corrupted_gzip_fails_after_one_fresh_retry(server, tmp_path):
    server.files["/x.gz"] = _gzip_payload()
    server.faults.corrupt_gzip = True
    url = server.url("/x.gz")

    with pytest.raises(DownloadError, match="corrupted gzip") as caught:
        fetch(url, tmp_path / "x.gz", **FAST)

    assert url in str(caught.value)
    # Downloaded twice, both times from zero, then nothing trusted-looking is left.
    assert [r.range for r in server.requests] == [None, None]
    assert _leftovers(tmp_path) == []


def test_sha256_mismatch_fails(server, tmp_path):
    data = _payload(3000)
    server.files["/f.bin"] = data
    wrong = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        fetch(server.url("/f.bin"), tmp_path / "f.bin", sha256=wrong, **FAST)
    assert _leftovers(tmp_path) == []


def test_sha256_match_passes(server, tmp_path):
    data = _payload(3000)
    server.files["/f.bin"] = data
    good = hashlib.sha256(data).hexdigest().upper()  # case does not matter
    fetch(server.url("/f.bin"), tmp_path / "f.bin", sha256=good, **FAST)
    assert (tmp_path / "f.bin").read_bytes() == data


def test_retries_exhausted_fails_clearly(server, tmp_path):
    server.files["/f.bin"] = b"never served"
    server.faults.error_requests = 100
    server.faults.error_status = 503
    url = server.url("/f.bin")

    with pytest.raises(DownloadError, match=r"gave up after 3 attempts.*503") as caught:
        fetch(url, tmp_path / "f.bin", retries=2, backoff=0.01, timeout=5.0)

    assert url in str(caught.value)
    assert len(server.requests) == 3
    assert not (tmp_path / "f.bin").exists()


def test_partial_file_from_failed_run_is_resumed_next_run(server, tmp_path):
    data = _gzip_payload()
    server.files["/x.gz"] = data
    server.faults.drop_after_bytes = 30_000
    server.faults.drop_requests = 2
    dest = tmp_path / "x.gz"

    with pytest.raises(DownloadError, match="gave up"):
        fetch(server.url("/x.gz"), dest, retries=1, backoff=0.01, timeout=5.0)
    assert not dest.exists()
    assert (tmp_path / "x.gz.part").stat().st_size == 60_000  # kept, untrusted by name

    result = fetch(server.url("/x.gz"), dest, **FAST)

    assert result.resumed and dest.read_bytes() == data
    assert server.requests[-1].range == "bytes=60000-"
    assert _leftovers(tmp_path) == ["x.gz"]


def test_missing_content_length_works(server, tmp_path):
    data = _gzip_payload()
    server.files["/x.gz"] = data
    server.faults.no_content_length = True

    result = fetch(server.url("/x.gz"), tmp_path / "x.gz", **FAST)

    assert (tmp_path / "x.gz").read_bytes() == data
    assert result.attempts == 1


def test_truncation_without_content_length_is_caught_by_gzip_check(server, tmp_path):
    data = _gzip_payload()
    server.files["/x.gz"] = data
    server.faults.no_content_length = True
    server.faults.drop_after_bytes = 20_000
    server.faults.drop_requests = 1

    result = fetch(server.url("/x.gz"), tmp_path / "x.gz", **FAST)

    # The short body looked complete; the gzip check caught it and a fresh download fixed it.
    assert (tmp_path / "x.gz").read_bytes() == data
    assert result.attempts == 2
    assert [r.range for r in server.requests] == [None, None]


def test_proxy_from_the_environment_is_used(server, tmp_path, monkeypatch):
    # As urllib did: http_proxy is honoured, so the server sees the absolute URL asked for.
    url = "http://data.example.invalid/f.bin"
    server.files[url] = b"through the proxy"
    monkeypatch.setenv("http_proxy", server.url(""))
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)

    fetch(url, tmp_path / "f.bin", **FAST)

    assert (tmp_path / "f.bin").read_bytes() == b"through the proxy"
    assert [r.path for r in server.requests] == [url]


# --- progress lines --------------------------------------------------------------------


def _progress_lines(caplog, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{name}: ")]


@pytest.mark.parametrize("content_length", [True, False])
def test_progress_is_logged_while_the_body_streams_in(
    server, tmp_path, caplog, monkeypatch, content_length
):
    monkeypatch.setattr(progress, "PROGRESS_SECONDS", 0.05)
    server.files["/f.bin"] = _payload(200_000)
    server.faults.no_content_length = not content_length
    server.faults.trickle_bytes = 20_000  # ten blocks, half a second in all
    server.faults.trickle_seconds = 0.05

    with caplog.at_level(logging.INFO, logger="attentivechrome.data.download"):
        fetch(server.url("/f.bin"), tmp_path / "f.bin", **FAST)

    lines = _progress_lines(caplog, "f.bin")
    total = r" of 195\.3 KiB \((\d+)%\)" if content_length else ""  # no total when unknown
    pattern = re.compile(rf"f\.bin: \d+\.\d KiB{total}, \d+\.\d (B|KiB|MiB|GiB)/s")
    assert lines and all(pattern.fullmatch(line) for line in lines), lines
    if content_length:
        percents = [int(pattern.fullmatch(line).group(1)) for line in lines]
        assert percents == sorted(percents) and 0 < percents[-1] <= 100


def test_progress_lines_are_throttled(server, tmp_path, caplog, monkeypatch):
    interval = 0.2
    monkeypatch.setattr(progress, "PROGRESS_SECONDS", interval)
    server.files["/f.bin"] = _payload(200_000)
    server.faults.trickle_bytes = 2_000  # a hundred blocks, each read on its own
    server.faults.trickle_seconds = 0.005

    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="attentivechrome.data.download"):
        fetch(server.url("/f.bin"), tmp_path / "f.bin", **FAST)
    elapsed = time.monotonic() - started

    # At most one line per interval, however many blocks arrived in it.
    assert 1 <= len(_progress_lines(caplog, "f.bin")) <= elapsed / interval + 1
