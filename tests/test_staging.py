"""A chunk lands exactly at its offset in the upload file, whether the kernel copies it or,
where it cannot (another file system, an old kernel), the server does."""

from __future__ import annotations

import errno
import os

import pytest

from reflector.blobs.staging import UploadStaging


@pytest.fixture(params=["kernel copy", "copied by hand"])
def staging(request, tmp_path, monkeypatch) -> UploadStaging:
    if request.param == "copied by hand":

        def refused(*args, **kwargs):
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", refused)
    return UploadStaging(tmp_path)


def _chunk(store: UploadStaging, data: bytes):
    path = store.new_chunk("u1")
    path.write_bytes(data)
    return path


def test_chunks_are_appended_and_rewritten_at_their_offsets(staging):
    first, second = os.urandom(3_000_000), os.urandom(2_500_000)
    staging.create("u1")
    received = staging.write_at("u1", 0, _chunk(staging, first), 0)
    assert received == len(first)
    received = staging.write_at("u1", received, _chunk(staging, second), received)
    assert staging.path("u1").read_bytes() == first + second
    # A rewrite of bytes in the middle changes those and keeps the rest.
    patch = os.urandom(1_000_000)
    assert staging.write_at("u1", 2_000_000, _chunk(staging, patch), received) == received
    expected = (first + second)[:2_000_000] + patch + (first + second)[3_000_000:]
    assert staging.path("u1").read_bytes() == expected


def test_bytes_after_the_counter_are_cut_before_a_chunk_goes_on(staging):
    staging.create("u1")
    staging.path("u1").write_bytes(b"kept" + b"left by a crash")
    assert staging.write_at("u1", 4, _chunk(staging, b"-next"), 4) == 9
    assert staging.path("u1").read_bytes() == b"kept-next"
