"""Streaming a file of unknown length to S3 as it is written, in bounded memory.

``streaming_upload`` yields a writable stream; boto3's ``upload_fileobj`` reads the other end
of a pipe in a thread of its own and sends it as a multipart upload (a single PutObject if it
stays under one part). Memory holds a few parts at most. The object appears only if the
writer finishes: if it raises, the upload is abandoned (the multipart upload aborted), and
no object, complete or partial, is left.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, TYPE_CHECKING, cast

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from s3meta.aws.errors import error_code
from s3meta.aws.s3 import bucket_error, translate_error
from s3meta.errors import S3MetaError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3's smallest part but the last is 5 MiB; 8 MiB is boto3's default part size.
PART_SIZE = 8 * 1024 * 1024
# Parts read ahead of the uploads: with the one being read, memory holds about (this + 1)
# parts. boto3's TransferConfig does not take it; its s3transfer base documents it.
_PARTS_IN_MEMORY = 2
_UPLOAD_THREADS = 2


class UploadAbandoned(S3MetaError):
    """The writer stopped before the end, so the upload was abandoned."""


@contextmanager
def streaming_upload(
    client: S3Client, bucket: str, key: str, *, part_size: int = PART_SIZE
) -> Iterator[IO[bytes]]:
    """A stream whose bytes become ``s3://bucket/key`` when the block ends without error.

    Raises s3meta's error for S3's refusal (``translate_error``), from the block's next
    write after it or at the end.
    """
    read_end, write_end = os.pipe()
    source = _Source(os.fdopen(read_end, "rb"))
    failures: list[BaseException] = []

    def upload() -> None:
        try:
            # boto3 needs only read(); the stubs ask for a whole file object.
            readable = cast("IO[bytes]", source)
            client.upload_fileobj(readable, bucket, key, Config=_config(part_size))
        except BaseException as exc:  # noqa: BLE001 -- handed to the writer's thread
            failures.append(exc)
        finally:
            # A writer still writing gets a broken pipe, rather than waiting for ever.
            source.close()

    thread = threading.Thread(target=upload, name=f"upload-{bucket}", daemon=True)
    thread.start()
    sink = os.fdopen(write_end, "wb")
    try:
        yield sink
        with suppress(BrokenPipeError):
            sink.close()  # the end of the stream: the upload completes
    except BaseException as exc:
        source.abandon()
        with suppress(OSError):
            sink.close()
        thread.join()
        if failures and isinstance(exc, BrokenPipeError):
            raise _error(failures[0], bucket, key) from exc
        raise
    thread.join()
    if failures:
        raise _error(failures[0], bucket, key)


def _config(part_size: int) -> TransferConfig:
    config = TransferConfig(
        multipart_threshold=part_size,
        multipart_chunksize=part_size,
        max_concurrency=_UPLOAD_THREADS,
        preferred_transfer_client="classic",
    )
    config.max_in_memory_upload_chunks = _PARTS_IN_MEMORY
    return config


def _error(exc: BaseException, bucket: str, key: str) -> BaseException:
    if isinstance(exc, ClientError) and error_code(exc) == "NoSuchBucket":
        return bucket_error(exc, bucket, "PutObject", where=f"s3://{bucket}")
    if isinstance(exc, ClientError | BotoCoreError):
        return translate_error(exc, bucket, key)
    return exc


class _Source:
    """The pipe's read end as boto3 reads it: a read that ends the stream in an error,
    not in a short, complete-looking object, if the writer gave up."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._pipe = pipe
        self._abandoned = threading.Event()

    def read(self, size: int = -1) -> bytes:
        data = self._pipe.read(size)
        # Short means the write end closed: the end of the export, or its abandonment.
        if (size < 0 or len(data) < size) and self._abandoned.is_set():
            raise UploadAbandoned("the export stopped before its end; nothing was uploaded")
        return data

    def abandon(self) -> None:
        """Say the writer gave up; set before its end of the pipe closes."""
        self._abandoned.set()

    def close(self) -> None:
        self._pipe.close()
