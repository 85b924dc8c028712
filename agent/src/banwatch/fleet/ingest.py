"""Drop box → fleet store: verify every report, store it once, quarantine what must not count.

Files are examined in batches on a thread pool (signature checks release the GIL), then each
batch is stored in one transaction. Only after that transaction has committed are its files
moved out of the drop box: accepted ones to the archive, refused ones to the quarantine. A
crash between the commit and the moves leaves files that the next run finds already stored
(same report id, same content): they are counted as copies, never as new reports.

A report id seen again with the same content is a copy (a re-upload after a lost ack); with
different content it is quarantined as a replay. Files whose names do not end in
`.report.json`, and dot files (uploads still in flight), are left alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from banwatch.errors import InputError
from banwatch.fleet.defaults import sibling_dirs
from banwatch.fleet.records import ReportRecord, report_record
from banwatch.fleet.store import FleetStore, QuarantinedFile
from banwatch.report import isoformat
from banwatch.report_envelope import (
    MAX_REPORT_BYTES,
    REPORT_FILE_SUFFIX,
    ReportRejected,
    claimed_host,
    open_signed_report,
)

BATCH = 1000


@dataclass(frozen=True)
class Examined:
    """One drop-box file after its checks: a record to store, or the reason it is refused."""

    path: str
    data: bytes
    record: ReportRecord | None = None
    rejection: str | None = None


@dataclass
class IngestResult:
    new: int = 0
    copies: int = 0
    quarantined: list[QuarantinedFile] = field(default_factory=list)

    @property
    def examined(self) -> int:
        return self.new + self.copies + len(self.quarantined)


def report_files(dropbox: str) -> list[str]:
    """Every finished report upload under `dropbox` (any depth), oldest first by file name."""
    if not os.path.isdir(dropbox):
        raise InputError.single(dropbox, "no drop box directory here",
                                "point --from at the directory devices upload reports to")
    found = []
    for folder, subfolders, names in os.walk(dropbox):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        found += [os.path.join(folder, n) for n in names if n.endswith(REPORT_FILE_SUFFIX) and not n.startswith(".")]
    return sorted(found, key=lambda path: (os.path.basename(path), path))


def read_report_file(path: str) -> bytes:
    """The file's bytes, if it is a regular file (never a link a device planted) of sane size."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ReportRejected("not a regular file: a symbolic link") from None
        raise ReportRejected(f"unreadable: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ReportRejected("not a regular file")
        return handle.read(MAX_REPORT_BYTES + 1)


def examine(path: str, enrolled: Mapping[str, Ed25519PublicKey]) -> Examined:
    data = b""
    try:
        data = read_report_file(path)
        opened = open_signed_report(data, enrolled)
        record = report_record(opened.report, hashlib.sha256(opened.payload).hexdigest())
    except ReportRejected as exc:
        return Examined(path, data, rejection=str(exc))
    return Examined(path, data, record=record)


def _quarantine_entry(examined: Examined, reason: str) -> QuarantinedFile:
    digest = hashlib.sha256(examined.data).hexdigest()
    try:
        host: str | None = claimed_host(examined.data)
    except ReportRejected:
        host = None
    return QuarantinedFile(examined.path, f"{digest[:16]}-{os.path.basename(examined.path)}", host, reason, digest)


def _move(path: str, folder: str, name: str) -> None:
    """Move a file out of the drop box; gone already (another copy handled it) is fine."""
    target = os.path.join(folder, name)
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copyfile(path, target)
        os.unlink(path)


@contextlib.contextmanager
def ingest_lock(store_path: str) -> Iterator[None]:
    """One ingest per store at a time: two at once would examine the same files."""
    path = f"{store_path}.ingest-lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError.single(store_path, "another 'banwatch fleet ingest' is running on this store",
                                    "wait for it to finish") from None
        yield
    finally:
        os.close(fd)


class Ingest:
    """One ingest run of a drop box into a store."""

    def __init__(self, store: FleetStore, enrolled: Mapping[str, Ed25519PublicKey], *,
                 now: Callable[[], dt.datetime] | None = None) -> None:
        self.store = store
        self.enrolled = enrolled
        self.now = now or (lambda: dt.datetime.now(dt.timezone.utc))
        self.quarantine_dir, self.archive_dir = sibling_dirs(store.path)

    def run(self, dropbox: str, progress: Callable[[int, int], None] | None = None) -> IngestResult:
        files = report_files(dropbox)
        result = IngestResult()
        workers = os.cpu_count() or 2
        with ingest_lock(self.store.path), ThreadPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(files), BATCH):
                paths = files[start:start + BATCH]
                step = -(-len(paths) // workers)  # one task per worker: less hand-over, same parallelism
                parts = pool.map(self._examine_all, [paths[i:i + step] for i in range(0, len(paths), step)])
                self._store_batch([examined for part in parts for examined in part], result)
                if progress:
                    progress(min(start + BATCH, len(files)), len(files))
            self.store.begin()
            self.store.log_ingest(isoformat(self.now()), os.path.abspath(dropbox), result.new, result.copies,
                                  len(result.quarantined))
            self.store.commit()
        return result

    def _examine_all(self, paths: list[str]) -> list[Examined]:
        return [examine(path, self.enrolled) for path in paths]

    def _store_batch(self, batch: list[Examined], result: IngestResult) -> None:
        accepted: list[tuple[ReportRecord, bytes]] = []
        copies: list[Examined] = []
        refused: list[QuarantinedFile] = []
        self.store.begin()
        try:
            known = self.store.known_digests([e.record.report_id for e in batch if e.record])
            for examined in batch:
                record = examined.record
                if record is None:
                    refused.append(_quarantine_entry(examined, str(examined.rejection)))
                    continue
                seen = known.get(record.report_id)
                if seen is None:
                    known[record.report_id] = record.content_sha256
                    accepted.append((record, examined.data))
                elif seen == record.content_sha256:
                    copies.append(examined)
                else:
                    refused.append(_quarantine_entry(
                        examined, f"replay: report id {record.report_id} was already ingested with other content"))
            stamp = isoformat(self.now())
            self.store.add_reports(accepted, stamp)
            self.store.count_copies(e.record.report_id for e in copies if e.record)
            self.store.add_quarantined(refused, stamp)
            self.store.commit()
        except BaseException:
            self.store.rollback()
            raise
        self._move_out(batch, refused)
        result.new += len(accepted)
        result.copies += len(copies)
        result.quarantined += refused

    def _move_out(self, batch: list[Examined], refused: list[QuarantinedFile]) -> None:
        """After the commit: the batch's files leave the drop box."""
        day_folder = os.path.join(self.archive_dir, self.now().strftime("%Y-%m-%d"))
        os.makedirs(day_folder, mode=0o750, exist_ok=True)
        if refused:
            os.makedirs(self.quarantine_dir, mode=0o750, exist_ok=True)
        quarantined = {q.file: q.stored_as for q in refused}
        for examined in batch:
            if examined.path in quarantined:
                _move(examined.path, self.quarantine_dir, quarantined[examined.path])
            else:
                _move(examined.path, day_folder, os.path.basename(examined.path))
