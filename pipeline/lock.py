"""One build per output: a lock file, created atomically, that a second build finds.

Two builds into one output raced: one crashed with a traceback, and once a stray
shard of the crashed build stayed beside the other's, which `verify` passed and
datatrove's `shard-*.bin` pattern would read. A build now first creates
`OUTPUT/.corpusmill.lock` (JSON: host, pid, start time, a token) in one atomic
step, and removes it when it ends, however it ends:

- local disks: `open(O_CREAT | O_EXCL)`;
- S3 (and S3-compatible stores): a conditional put (`If-None-Match: *`), with the
  client settings Beam's `--s3_*` options give;
- Google Cloud Storage: an upload with `if_generation_match=0`, where
  `apache-beam[gcp]` brings its client;
- any other scheme: a check then a write, which is not atomic (logged).

A second build fails at once with `OUTPUT is being built by HOST pid PID since
TIME`. A lock left by a killed build on this host (its pid is gone) is taken
over; a lock from another host cannot be judged from here, and `--force` takes
any lock over.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import uuid
from dataclasses import asdict, dataclass

from manifests.io import LOCK_FILE


log = logging.getLogger(__name__)


class OutputLocked(RuntimeError):
    """Another build holds the output."""


@dataclass(frozen=True)
class LockInfo:
    host: str
    pid: int
    started: str        # ISO 8601, UTC
    token: str          # tells this build's lock from a later one's

    @classmethod
    def mine(cls) -> "LockInfo":
        return cls(socket.gethostname(), os.getpid(),
                   datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), uuid.uuid4().hex)

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> "LockInfo | None":
        try:
            fields = json.loads(data)
            return cls(str(fields["host"]), int(fields["pid"]), str(fields["started"]), str(fields["token"]))
        except (ValueError, KeyError, TypeError):
            return None

    def is_stale(self) -> bool:
        """Left by a build on this host whose process is gone."""
        return self.host == socket.gethostname() and not pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # alive, someone else's
        return True
    return True


class OutputLock:
    """`with OutputLock(output, options, force):` holds the output for one build."""

    def __init__(self, output: str, options=None, force: bool = False):
        self.path = f"{output.rstrip('/')}/{LOCK_FILE}"
        self.options, self.force = options, force
        self.info = LockInfo.mine()
        self.store = store_for(self.path, options)

    def __enter__(self) -> "OutputLock":
        if self.store.create(self.path, self.info.encode()):
            return self
        held = LockInfo.decode(self.store.read(self.path) or b"")
        if held is not None and not held.is_stale() and not self.force:
            output = self.path.rsplit("/", 1)[0]
            raise OutputLocked(f"{output} is being built by {held.host} pid {held.pid} since {held.started} "
                               f"(lock {self.path}; --force takes it over)")
        why = "forced" if held is not None and not held.is_stale() else f"left by a build that is gone: {held}"
        log.warning("taking over %s (%s)", self.path, why)
        self.store.delete(self.path)
        if not self.store.create(self.path, self.info.encode()):
            raise OutputLocked(f"{self.path}: another build took the lock over at the same moment")
        return self

    def __exit__(self, *exc) -> None:
        current = LockInfo.decode(self.store.read(self.path) or b"")
        if current is not None and current.token == self.info.token:   # never remove a later build's lock
            self.store.delete(self.path)


def store_for(path: str, options):
    if path.startswith("s3://"):
        return S3Store(options)
    if path.startswith("gs://"):
        try:
            from google.cloud import storage  # noqa: F401
            return GcsStore()
        except ImportError:
            pass
    if "://" in path and not path.startswith("file://"):
        return CheckThenWriteStore()
    return LocalStore()


class LocalStore:
    def create(self, path: str, data: bytes) -> bool:
        path = path.removeprefix("file://")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True

    def read(self, path: str) -> bytes | None:
        try:
            with open(path.removeprefix("file://"), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def delete(self, path: str) -> None:
        try:
            os.remove(path.removeprefix("file://"))
        except FileNotFoundError:
            pass


def _bucket_key(path: str) -> tuple[str, str]:
    bucket, _, key = path.split("://", 1)[1].partition("/")
    return bucket, key


class S3Store:
    """Conditional creation with boto3, configured as Beam's S3 filesystem is."""

    def __init__(self, options):
        import boto3
        settings = {}
        if options is not None:
            from apache_beam.options.pipeline_options import S3Options
            s3 = options.view_as(S3Options)
            settings = {"endpoint_url": s3.s3_endpoint_url, "aws_access_key_id": s3.s3_access_key_id,
                        "aws_secret_access_key": s3.s3_secret_access_key, "aws_session_token": s3.s3_session_token,
                        "region_name": s3.s3_region_name}
        self.client = boto3.client("s3", **{k: v for k, v in settings.items() if v})

    def create(self, path: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError
        bucket, key = _bucket_key(path)
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def read(self, path: str) -> bytes | None:
        from botocore.exceptions import ClientError
        bucket, key = _bucket_key(path)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def delete(self, path: str) -> None:
        bucket, key = _bucket_key(path)
        self.client.delete_object(Bucket=bucket, Key=key)


class GcsStore:
    """Conditional creation with google-cloud-storage (`if_generation_match=0`)."""

    def __init__(self):
        from google.cloud import storage
        self.client = storage.Client()

    def _blob(self, path: str):
        bucket, key = _bucket_key(path)
        return self.client.bucket(bucket).blob(key)

    def create(self, path: str, data: bytes) -> bool:
        from google.api_core.exceptions import PreconditionFailed
        try:
            self._blob(path).upload_from_string(data, if_generation_match=0)
        except PreconditionFailed:
            return False
        return True

    def read(self, path: str) -> bytes | None:
        from google.api_core.exceptions import NotFound
        try:
            return self._blob(path).download_as_bytes()
        except NotFound:
            return None

    def delete(self, path: str) -> None:
        from google.api_core.exceptions import NotFound
        try:
            self._blob(path).delete()
        except NotFound:
            pass


class CheckThenWriteStore:
    """A filesystem with no conditional creation (hdfs://, ...): a check, then a write."""

    def create(self, path: str, data: bytes) -> bool:
        from apache_beam.io.filesystems import FileSystems
        if FileSystems.exists(path):
            return False
        log.warning("%s: this filesystem cannot create a file atomically; the lock is a check then a write", path)
        with FileSystems.create(path) as f:
            f.write(data)
        return True

    def read(self, path: str) -> bytes | None:
        from apache_beam.io.filesystems import FileSystems
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path) as f:
            return f.read()

    def delete(self, path: str) -> None:
        from apache_beam.io.filesystems import FileSystems
        if FileSystems.exists(path):
            FileSystems.delete([path])
