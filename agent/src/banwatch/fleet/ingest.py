"""Drop box → fleet store: verify every report, store it once, refuse what must not count.

Files are examined in batches (on worker processes for large ingests, see `examine`), each
batch stored in one transaction while the next is examined. Only after that transaction has
committed are its files moved out of the drop box: accepted ones to the archive, refused ones to
the refused folder (`defaults.sibling_dirs`). A crash between the commit and the moves leaves
files that the next run finds already stored (same report id, same content): they are counted
as copies, never as new reports.

A report id seen again with the same content is a copy (a re-upload after a lost ack); with
different content it is refused as a replay. Files whose names do not end in
`.report.json`, and dot files (uploads still in flight), are left alone, except partial uploads
(`.<name>.<random>.part`) older than PARTIAL_UPLOAD_AGE: a cut connection left them, the device
has since sent the report again under a new name, and no device may remove them itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from banwatch.core.errors import InputError
from banwatch.core.report.envelope import (
    PART_SUFFIX,
    REPORT_FILE_SUFFIX,
    ReportRejected,
    claimed_host,
    report_file_name,
)
from banwatch.core.timestamps import isoformat
from banwatch.fleet.defaults import CLOCK_TOLERANCE, sibling_dirs
from banwatch.fleet.examine import PARALLEL_FROM, Examined, Examiner
from banwatch.fleet.records import ReportRecord
from banwatch.fleet.store import Arrival, FleetStore, RefusedFile

# Batches start small, so storing starts as soon as the first files are checked, and grow, so a
# large ingest waits on few commits (each one an fsync).
FIRST_BATCH, LARGEST_BATCH = 500, 8000


# A partial upload this old is not in flight: uploads take seconds, and the shipper gives up on
# a connection after 15 s without progress.
PARTIAL_UPLOAD_AGE = 3600.0
# A refused file is kept as `<16 hex digits of its digest>-<its name>`, within NAME_MAX (255 bytes).
_STORED_NAME_BYTES = 255 - 17


@dataclass
class IngestResult:
    new: int = 0
    copies: int = 0
    refused: list[RefusedFile] = field(default_factory=list)
    partial_uploads_removed: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (file, why): left in the drop box



def batch_bounds(count: int) -> list[tuple[int, int]]:
    """(start, end) of each batch of `count` files: FIRST_BATCH, then twice as many each time, up to LARGEST_BATCH."""
    bounds, start, size = [], 0, FIRST_BATCH
    while start < count:
        bounds.append((start, min(start + size, count)))
        start, size = start + size, min(2 * size, LARGEST_BATCH)
    return bounds


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


def remove_partial_uploads(dropbox: str, older_than: float, now: float) -> int:
    """Remove the partial uploads under `dropbox` last written before `now - older_than`; how many."""
    removed = 0
    for folder, _, names in os.walk(dropbox):
        for name in names:
            if not (name.startswith(".") and name.endswith(PART_SUFFIX)):
                continue
            path = os.path.join(folder, name)
            try:
                if os.lstat(path).st_mtime < now - older_than:
                    os.unlink(path)
                    removed += 1
            except FileNotFoundError:
                continue  # finished (renamed) or removed meanwhile
    return removed


def _shown_path(path: str) -> str:
    """A drop-box path as the store and messages keep it: a device chose the file's name, so bytes
    that are not UTF-8 and characters that are not printable are written escaped (`\\xff`, `\\n`)."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return text if text.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _refused_entry(examined: Examined, reason: str) -> RefusedFile:
    digest = hashlib.sha256(examined.data).hexdigest()
    try:
        host: str | None = claimed_host(examined.data)
    except ReportRejected:
        host = None
    name = _shown_path(os.path.basename(examined.path)).encode()[:_STORED_NAME_BYTES].decode(errors="ignore")
    return RefusedFile(_shown_path(examined.path), f"{digest[:16]}-{name}", host, reason, digest)


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
                 now: Callable[[], dt.datetime] | None = None, parallel_from: int = PARALLEL_FROM,
                 clock_tolerance: dt.timedelta = CLOCK_TOLERANCE) -> None:
        """`parallel_from`: from how many files on, reports are checked in worker processes;
        `clock_tolerance`: how far past its arrival a report may be dated (`store.Arrival`)."""
        self.store = store
        self.clock_tolerance = clock_tolerance
        self.parallel_from = parallel_from
        self.enrolled = enrolled
        self.now = now or (lambda: dt.datetime.now(dt.timezone.utc))
        self.refused_dir, self.archive_dir = sibling_dirs(store.path)

    def run(self, dropbox: str, progress: Callable[[int, int], None] | None = None) -> IngestResult:
        files = report_files(dropbox)
        result = IngestResult()
        # Workers are forked before the lock is taken, so they never hold it (a lock outliving a
        # killed ingest would stop the next one).
        with Examiner(files, self.enrolled, self.parallel_from) as examiner, ingest_lock(self.store.path):
            # The next batch is examined while this one is stored.
            batches = batch_bounds(len(files))
            upcoming = examiner.submit(*(batches[0] if batches else (0, 0)))
            for (_, end), following in zip(batches, [*batches[1:], (0, 0)]):
                examined = upcoming()
                upcoming = examiner.submit(*following)
                self._store_batch(examined, result)
                if progress:
                    progress(end, len(files))
            result.partial_uploads_removed = remove_partial_uploads(dropbox, PARTIAL_UPLOAD_AGE,
                                                                    self.now().timestamp())
            self.store.begin()
            self.store.log_ingest(isoformat(self.now()), os.path.abspath(dropbox), result.new, result.copies,
                                  len(result.refused))
            self.store.commit()
        return result

    def _store_batch(self, batch: list[Examined], result: IngestResult) -> None:
        accepted: list[tuple[ReportRecord, bytes]] = []
        copies: list[Examined] = []
        refused: dict[str, RefusedFile] = {}  # by the file's own path, which may not be what the store shows
        self.store.begin()
        try:
            known = self.store.known_digests([e.record.report_id for e in batch if e.record])
            for examined in batch:
                record = examined.record
                if examined.unreadable is not None:
                    continue
                if record is None:
                    refused[examined.path] = _refused_entry(examined, str(examined.rejection))
                    continue
                seen = known.get(record.report_id)
                if seen is None:
                    known[record.report_id] = record.content_sha256
                    accepted.append((record, examined.data))
                elif seen == record.content_sha256:
                    copies.append(examined)
                else:
                    refused[examined.path] = _refused_entry(
                        examined, f"replay: report id {record.report_id} was already ingested with other content")
            arrival = Arrival(self.now(), self.clock_tolerance)
            self.store.add_reports(accepted, arrival)
            self.store.count_copies(e.record.report_id for e in copies if e.record)
            self.store.add_refused(refused.values(), arrival.received_at)
            self.store.commit()
        except BaseException:
            self.store.rollback()
            raise
        self._move_out(batch, refused)
        result.new += len(accepted)
        result.copies += len(copies)
        result.refused += refused.values()
        result.unreadable += [(_shown_path(e.path), e.unreadable) for e in batch if e.unreadable is not None]

    def _move_out(self, batch: list[Examined], refused: dict[str, RefusedFile]) -> None:
        """After the commit: the batch's files leave the drop box."""
        day_folder = os.path.join(self.archive_dir, self.now().strftime("%Y-%m-%d"))
        os.makedirs(day_folder, mode=0o750, exist_ok=True)
        if refused:
            os.makedirs(self.refused_dir, mode=0o750, exist_ok=True)
        for examined in batch:
            if examined.unreadable is not None:  # stays for an ingest that may read it
                continue
            if examined.path in refused:  # every file without a record, and replays
                _move(examined.path, self.refused_dir, refused[examined.path].stored_as)
            else:  # named by its verified id, whatever name the device gave the file: never overwrites another's
                record = examined.record
                _move(examined.path, day_folder,
                      report_file_name({"generated_at": record.generated_at, "report_id": record.report_id}))
