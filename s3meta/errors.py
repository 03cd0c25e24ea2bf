"""s3meta's exceptions: retry rules and the CLI name these, not botocore's or SQLAlchemy's."""


class S3MetaError(Exception):
    """Base of every error s3meta raises on purpose."""


class ConfigError(S3MetaError):
    """The configuration is unusable; the message names the variable."""


class ObjectNotFound(S3MetaError):
    """S3 says the object does not exist (HeadObject 404): it was deleted or never was."""


class UnusableVersionId(S3MetaError):
    """S3 refused a HeadObject's version id (400): malformed, or the bucket keeps no versions."""


class DeleteMarkerFound(ObjectNotFound):
    """What HeadObject found is a delete marker (``x-amz-delete-marker``), of ``version_id``."""

    def __init__(self, message: str, version_id: str | None) -> None:
        super().__init__(message)
        self.version_id = version_id


class TransientError(S3MetaError):
    """A failure that may pass: throttling, 5xx, a dropped connection. Worth retrying."""


class PermanentError(S3MetaError):
    """A failure that retrying cannot fix: access denied, invalid bucket, bad request."""


class StorageUnavailable(TransientError):
    """S3 could not be reached or asked us to slow down."""


class DatabaseUnavailable(TransientError):
    """The database connection was lost or the server refused work for now."""


class DatabaseError(PermanentError):
    """The database refused the query for a reason that retrying will not change."""


class SchemaNotMigrated(DatabaseError):
    """The database lacks s3meta's tables: ``alembic upgrade head`` has not been run."""


class QueueNotFound(PermanentError):
    """An SQS queue s3meta needs does not exist."""


class QueueUnavailable(TransientError):
    """SQS could not be reached or is throttling us."""


class PublishError(TransientError):
    """The broker did not accept a task; the event that asked for it must be kept."""


class InvalidTaskArguments(PermanentError, ValueError):
    """``extract_metadata`` was given arguments no run can use: not a bucket, not a key."""


class CacheUnavailable(TransientError):
    """The cache (Redis) could not be reached or refused the command; callers go around it."""
