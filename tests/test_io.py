"""Shared file helpers."""

from __future__ import annotations

import hashlib

from attentivechrome.io import UMASK, atomic_write_text, sha256_of


def test_sha256_of_a_file_larger_than_one_read(tmp_path):
    data = bytes(range(256)) * 40_000  # 10 MB: more than one block
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()


def test_atomic_outputs_are_as_readable_as_any_new_file(tmp_path):
    out = tmp_path / "track.bw"
    atomic_write_text(out, "x")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    # Not mkstemp's private 0600: a web server serving a track hub must read them.
    assert out.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o666 & ~UMASK
