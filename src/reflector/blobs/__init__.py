"""Blob storage: recordings, MP3s and stage outputs, in a local directory or an S3 bucket.

:func:`make_blob_store` builds the store that the settings ask for. The S3 store is imported
only when used, so the embedded mode does not pay for loading boto3.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .keys import validate_key, validate_prefix
from .local import LocalBlobStore
from .protocol import (
    BlobError,
    BlobInfo,
    BlobNotFound,
    BlobRangeError,
    BlobStore,
    BlobStoreFull,
    BlobUnavailable,
)

if TYPE_CHECKING:
    from .s3 import S3BlobStore

__all__ = [
    "BlobError",
    "BlobInfo",
    "BlobNotFound",
    "BlobRangeError",
    "BlobStore",
    "BlobStoreFull",
    "BlobUnavailable",
    "LocalBlobStore",
    "S3BlobStore",
    "make_blob_store",
    "validate_key",
    "validate_prefix",
]

BLOBS_DIR_NAME = "blobs"
"""The local store lives in this folder of the data dir, beside databases and models."""


def __getattr__(name: str) -> Any:
    if name == "S3BlobStore":
        from .s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_blob_store(
    backend: Literal["local", "s3"],
    *,
    data_dir: Path,
    s3_bucket: str | None = None,
    s3_endpoint_url: str | None = None,
    s3_region: str | None = None,
    s3_access_key: str | None = None,
    s3_secret_key: str | None = None,
) -> BlobStore:
    """The store for ``REFLECTOR_STORAGE_BACKEND``; :class:`ValueError` names what is missing.

    ``local`` keeps blobs in ``<data_dir>/blobs``. ``s3`` needs a bucket; endpoint, region and
    keys are optional (AWS and boto3's credential chain are the fallbacks), but a key without
    its secret, or the reverse, is refused rather than silently ignored.
    """
    if backend == "local":
        return LocalBlobStore(Path(data_dir) / BLOBS_DIR_NAME)
    if backend != "s3":
        raise ValueError(
            f"unknown storage backend {backend!r}; REFLECTOR_STORAGE_BACKEND must be "
            "'local' or 's3'"
        )
    if not s3_bucket:
        raise ValueError("REFLECTOR_STORAGE_BACKEND=s3 needs a bucket: set REFLECTOR_S3_BUCKET")
    if bool(s3_access_key) != bool(s3_secret_key):
        raise ValueError(
            "set both REFLECTOR_S3_ACCESS_KEY and REFLECTOR_S3_SECRET_KEY, or neither "
            "(to use the AWS credential chain)"
        )
    if s3_endpoint_url and not s3_endpoint_url.startswith(("http://", "https://")):
        raise ValueError(
            f"REFLECTOR_S3_ENDPOINT_URL must start with http:// or https://, got "
            f"{s3_endpoint_url!r}"
        )
    from .s3 import S3BlobStore

    return S3BlobStore(
        s3_bucket,
        endpoint_url=s3_endpoint_url or None,
        region=s3_region or None,
        access_key=s3_access_key or None,
        secret_key=s3_secret_key or None,
    )
