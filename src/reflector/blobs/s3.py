"""Blobs in any S3-compatible service: AWS S3, SeaweedFS, MinIO, Garage, Ceph, R2, ...

boto3 is synchronous, so every call runs in a worker thread and the event loop stays free.
Uploads use boto3's managed transfer: files above the multipart threshold go up in parts of
``multipart_chunksize`` bytes, a few at a time, so memory stays flat for multi-GB recordings.
Every botocore failure is turned into a :class:`BlobError` that names the endpoint, the bucket and
what was being done, because a raw botocore traceback tells an operator very little.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
from boto3.exceptions import RetriesExceededError, S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from .keys import validate_key, validate_prefix
from .protocol import (
    BlobError,
    BlobInfo,
    BlobNotFound,
    BlobRangeError,
    BlobStoreFull,
    BlobUnavailable,
)
from .ranges import check_range_args, clamp_range

T = TypeVar("T")

MiB = 1024 * 1024
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
"""SigV4 pre-signed URLs cannot live longer than a week."""

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_MISSING_BUCKET_CODES = {"NoSuchBucket"}
_AUTH_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "403",
}
_BUSY_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"}
"""Answers that mean "not now" rather than "never": retried by jobs (see BlobUnavailable)."""
_FULL_CODES = {"XMinioStorageFull", "InsufficientStorage", "507"}
"""Answers of S3 services that say their disks are full (HTTP 507)."""
_UNREACHABLE = (BotoConnectionError, ConnectionClosedError, ReadTimeoutError)


def _unwrap(exc: Exception) -> Exception:
    """The botocore error inside boto3's transfer wrappers, which hide the error code."""
    if isinstance(exc, RetriesExceededError) and isinstance(exc.last_exception, Exception):
        return exc.last_exception
    if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, Exception):
        return exc.__context__
    return exc


class S3BlobStore:
    """Blobs in ``bucket`` of an S3-compatible service, under an optional key ``prefix``.

    Leave ``access_key``/``secret_key`` unset to use boto3's usual credential chain (``AWS_*``
    variables, ``~/.aws``, an instance role). ``path_style`` addressing (``endpoint/bucket/key``)
    is what self-hosted services expect; AWS accepts it too. With ``create_bucket``, :meth:`check`
    creates a missing bucket instead of reporting it.
    """

    name = "s3"

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        path_style: bool = True,
        prefix: str = "",
        *,
        create_bucket: bool = False,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 3,
        multipart_threshold: int = 8 * MiB,
        multipart_chunksize: int = 8 * MiB,
        max_concurrency: int = 4,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.bucket = bucket
        self.prefix = validate_prefix(prefix) if prefix else ""
        self.region = region
        self.create_bucket = create_bucket
        config = Config(
            region_name=region or "us-east-1",
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "virtual"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=max(10, 2 * max_concurrency),
            # Since botocore 1.36 every upload carries a CRC checksum by default, which several
            # S3-compatible services reject; send checksums only where the API requires one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session per store: boto3's default session is shared global state and not
        # thread-safe, while a client is safe to use from many threads.
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )
        self.endpoint: str = self._client.meta.endpoint_url
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )

    def __repr__(self) -> str:
        return f"S3BlobStore(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _error(self, exc: Exception, action: str, key: str | None) -> BlobError:
        """A message for people: which endpoint, which bucket/key, what failed and a hint."""
        exc = _unwrap(exc)
        where = f"S3 endpoint {self.endpoint}"
        bucket = f"bucket {self.bucket!r}"
        what = f"{action} {key!r} in {bucket}" if key is not None else f"{action} {bucket}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            detail = f"{code}: {error.get('Message', '')}".rstrip(": ")
            if code in _MISSING_BUCKET_CODES:
                return BlobError(f"{where}: the bucket does not exist, could not {what}")
            if code in _MISSING_CODES and key is not None:
                return BlobNotFound(f"no blob {key!r} in {bucket} at {where}")
            if code in _AUTH_CODES:
                return BlobError(
                    f"{where}: access denied to {what}: {detail}; check the access key, the "
                    "secret key and the bucket's permissions"
                )
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if status == 507 or code in _FULL_CODES:
                return BlobStoreFull(f"{where} is full, could not {what}: {detail}")
            if status >= 500 or code in _BUSY_CODES:
                return BlobUnavailable(f"{where} cannot serve now, could not {what}: {detail}")
            return BlobError(f"{where}: could not {what}: {detail}")
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return BlobError(
                f"{where}: no usable credentials to {what}; set an access key and a secret key"
            )
        if isinstance(exc, _UNREACHABLE):
            return BlobUnavailable(f"cannot reach {where} to {what}: {exc}")
        return BlobError(f"{where}: could not {what}: {exc}")

    async def _run(self, action: str, key: str | None, call: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(call)
        except (ClientError, BotoCoreError, S3UploadFailedError, RetriesExceededError) as exc:
            raise self._error(exc, action, key) from None

    async def put_file(self, key: str, path: Path, content_type: str | None = None) -> BlobInfo:
        full_key = self._key(key)
        source = Path(path)
        extra = {"ContentType": content_type} if content_type else None

        def upload() -> int:
            size = source.stat().st_size  # a missing source is the caller's FileNotFoundError
            self._client.upload_file(
                str(source), self.bucket, full_key, ExtraArgs=extra, Config=self._transfer
            )
            return size

        return BlobInfo(key, await self._run("upload", key, upload))

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> BlobInfo:
        full_key = self._key(key)
        extra = {"ContentType": content_type} if content_type else {}
        call = functools.partial(
            self._client.put_object, Bucket=self.bucket, Key=full_key, Body=data, **extra
        )
        await self._run("write", key, call)
        return BlobInfo(key, len(data))

    async def get_bytes(self, key: str) -> bytes:
        full_key = self._key(key)

        def read() -> bytes:
            response = self._client.get_object(Bucket=self.bucket, Key=full_key)
            with response["Body"] as body:
                return body.read()

        return await self._run("read", key, read)

    async def download(self, key: str, path: Path) -> Path:
        full_key = self._key(key)
        destination = Path(path)

        def fetch() -> None:
            destination.parent.mkdir(parents=True, exist_ok=True)
            # boto3 writes to a temporary name and renames it when complete.
            self._client.download_file(
                self.bucket, full_key, str(destination), Config=self._transfer
            )

        await self._run("download", key, fetch)
        return destination

    async def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 64 * 1024
    ) -> AsyncIterator[bytes]:
        check_range_args(start, end, chunk_size)
        full_key = self._key(key)
        # S3 clamps an end past the last byte itself, as HTTP does.
        wanted = f"bytes={start}-" if end is None else f"bytes={start}-{end}"
        call = functools.partial(
            self._client.get_object, Bucket=self.bucket, Key=full_key, Range=wanted
        )
        try:
            response = await asyncio.to_thread(call)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "InvalidRange":
                raise self._error(exc, "read", key) from None
            # 416 hides the size, and an empty blob read from 0 is fine for us but not for S3.
            info = await self.stat(key)
            if info is None:
                raise BlobNotFound(f"no blob {key!r} in S3 bucket {self.bucket!r}") from None
            if clamp_range(key, start, end, info.size) is None:
                return
            raise BlobRangeError(key, start, info.size) from None
        except BotoCoreError as exc:
            raise self._error(exc, "read", key) from None
        body = response["Body"]
        try:
            read = functools.partial(body.read, chunk_size)
            while chunk := await self._run("read", key, read):
                yield chunk
        finally:
            # Also when the consumer stops early: frees the HTTP connection.
            body.close()

    async def stat(self, key: str) -> BlobInfo | None:
        call = functools.partial(self._client.head_object, Bucket=self.bucket, Key=self._key(key))
        try:
            response = await self._run("stat", key, call)
        except BlobNotFound:
            return None
        return BlobInfo(key, int(response["ContentLength"]))

    async def delete(self, key: str) -> None:
        # S3 answers a delete of a missing key with success, as the protocol wants.
        call = functools.partial(self._client.delete_object, Bucket=self.bucket, Key=self._key(key))
        await self._run("delete", key, call)

    async def delete_prefix(self, prefix: str) -> int:
        full_prefix = self.prefix + validate_prefix(prefix)

        def remove_all() -> int:
            removed = 0
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full_prefix
            )
            # A listing page holds at most 1000 keys, the most one DeleteObjects accepts.
            for page in pages:
                objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if not objects:
                    continue
                response = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
                if failed := response.get("Errors"):
                    first = failed[0]
                    raise BlobError(
                        f"S3 endpoint {self.endpoint}, bucket {self.bucket!r}: could not delete "
                        f"{len(failed)} blobs under {prefix!r}, e.g. {first.get('Key')!r} "
                        f"({first.get('Code')}: {first.get('Message')})"
                    )
                removed += len(objects)
            return removed

        return await self._run("delete blobs under", prefix, remove_all)

    async def check(self) -> None:
        call = functools.partial(self._client.head_bucket, Bucket=self.bucket)
        try:
            await asyncio.to_thread(call)
            return
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in _MISSING_CODES | _MISSING_BUCKET_CODES:
                raise self._error(exc, "open", None) from None
        except BotoCoreError as exc:
            raise self._error(exc, "open", None) from None
        if not self.create_bucket:
            missing = f"bucket {self.bucket!r} does not exist; create it first"
            raise BlobError(f"S3 endpoint {self.endpoint}: {missing}")
        await self._create_bucket()

    async def _create_bucket(self) -> None:
        options: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            # us-east-1 is the one region that rejects an explicit location.
            options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await asyncio.to_thread(functools.partial(self._client.create_bucket, **options))
        except ClientError as exc:
            # Another replica may have created it between our check and now.
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise self._error(exc, "create", None) from None
        except BotoCoreError as exc:
            raise self._error(exc, "create", None) from None

    async def presigned_url(self, key: str, expires_seconds: int = 3600) -> str:
        """A URL anyone can GET the blob with until it expires; no credentials needed.

        Signing happens locally (no request to S3), so a URL for a missing key is still issued.
        """
        if not 1 <= expires_seconds <= MAX_PRESIGN_SECONDS:
            raise ValueError(
                f"expires_seconds must be between 1 and {MAX_PRESIGN_SECONDS}, got "
                f"{expires_seconds}"
            )
        call = functools.partial(
            self._client.generate_presigned_url,
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=expires_seconds,
        )
        # In a thread: resolving credentials (an instance role) can take a network round trip.
        return await self._run("sign a link to", key, call)
