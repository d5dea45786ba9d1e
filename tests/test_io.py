"""Shared file helpers."""

from __future__ import annotations

import hashlib

from attentivechrome.io import sha256_of


def test_sha256_of_a_file_larger_than_one_read(tmp_path):
    data = bytes(range(256)) * 40_000  # 10 MB: more than one block
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()
