"""One drop-box file → a record to store, or the reason it is refused; many files on all cores.

Checking a report (read, Ed25519 signature, shape) is CPU work that threads cannot share well
with the SQLite writer: every GIL hand-over stalls the writer. Large ingests therefore check
files in worker processes (forked, so they start at once with the file list and the enrolled
keys), which hand back finished records; small ones check them in-process.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import multiprocessing
import os
import stat
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from banwatch.core.report.envelope import MAX_REPORT_BYTES, ReportRejected, open_signed_report
from banwatch.fleet.records import ReportRecord, report_record
from banwatch.fleet.signature import sodium_signature_valid

# Below this many files, starting worker processes costs more than it saves.
PARALLEL_FROM = 2000


class Examined(NamedTuple):
    """One drop-box file after its checks: a record to store, the reason it is refused, or why this
    ingest may not read it (then it stays where it is: the fix is the ingest's, not the device's)."""

    path: str
    data: bytes
    record: ReportRecord | None = None
    rejection: str | None = None
    unreadable: str | None = None


class Unreadable(Exception):
    """The ingest is not allowed to read the file (its permissions): nothing a device did."""


# How examined files cross the pipe from a worker: plain tuples. A named tuple pickles through
# a Python-level method (`__getnewargs__`), which cost the workers 15 µs a file, the
# plain form 3.
_WireExamined = tuple[str, bytes, "tuple[object, ...] | None", "str | None", "str | None"]


def _to_wire(examined: list[Examined]) -> list[_WireExamined]:
    return [(e.path, e.data, e.record and tuple(e.record), e.rejection, e.unreadable) for e in examined]


def _from_wire(items: list[_WireExamined]) -> list[Examined]:
    return [Examined(path, data, record and ReportRecord._make(record), rejection, unreadable)
            for path, data, record, rejection, unreadable in items]


def read_report_file(path: str) -> bytes:
    """The file's bytes, if it is a regular file (never a link a device planted) of sane size.
    Read with plain system calls: a buffered file object costs more than the read itself."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ReportRejected("not a regular file: a symbolic link") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise Unreadable(exc.strerror) from None
        raise ReportRejected(f"unreadable: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ReportRejected("not a regular file")
        # Past the limit is all `open_signed_report` needs to see to refuse it as oversized.
        wanted = min(info.st_size, MAX_REPORT_BYTES) + 1
        data = os.read(fd, wanted)
        # A local file gives all of it at once; a network file system may give less.
        while len(data) < wanted - 1 and (more := os.read(fd, wanted - len(data))):
            data += more
        return data
    finally:
        os.close(fd)


def examine(path: str, enrolled: Mapping[str, Ed25519PublicKey]) -> Examined:
    data = b""
    try:
        data = read_report_file(path)
        opened = open_signed_report(data, enrolled, sodium_signature_valid)
        record = report_record(opened.report, hashlib.sha256(opened.payload).hexdigest())
    except ReportRejected as exc:
        return Examined(path, data, rejection=str(exc))
    except Unreadable as exc:
        return Examined(path, data, unreadable=str(exc))
    return Examined(path, data, record=record)


def _worker(files: list[str], enrolled: Mapping[str, Ed25519PublicKey], channel: Connection,
            inherited: list[Connection]) -> None:
    """A forked checker: receives (batch, part, start, end) ranges of `files`, sends back (batch,
    part, examined); stops at None, or when the ingest is gone. Only indices cross the pipe one
    way, so it never fills up. It first closes the ingest's ends of the pipes it inherited: then,
    should the ingest die (even by SIGKILL), the pipe reports end of file and the worker ends."""
    for connection in inherited:
        connection.close()
    with contextlib.suppress(EOFError, BrokenPipeError):
        while (task := channel.recv()) is not None:
            batch, part, start, end = task
            channel.send((batch, part, _to_wire([examine(path, enrolled) for path in files[start:end]])))


class Examiner:
    """Examines the files of one ingest in batches: `submit(start, end)` starts checking
    files[start:end] and returns a function that waits for the results, so the next batch is
    checked while the last one is stored. Everything is received on the caller's thread: no
    thread of this process competes with the SQLite writer for the GIL."""

    def __init__(self, files: list[str], enrolled: Mapping[str, Ed25519PublicKey],
                 parallel_from: int = PARALLEL_FROM) -> None:
        self.files = files
        self.enrolled = enrolled
        self.channels: list[Connection] = []
        self.processes: list[BaseProcess] = []
        self.received: dict[tuple[int, int], list[Examined]] = {}
        self.batches = 0
        workers = os.cpu_count() or 1
        if len(files) >= parallel_from and workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")  # the workers inherit files and keys as they are
            for _ in range(workers):
                ours, theirs = context.Pipe()
                process = context.Process(target=_worker, args=(files, enrolled, theirs, [*self.channels, ours]),
                                          daemon=True)
                process.start()
                theirs.close()
                self.channels.append(ours)
                self.processes.append(process)

    def submit(self, start: int, end: int) -> Callable[[], list[Examined]]:
        if not self.channels or start >= end:
            return lambda: [examine(path, self.enrolled) for path in self.files[start:end]]
        batch, self.batches = self.batches, self.batches + 1
        step = -(-(end - start) // len(self.channels))
        parts = 0
        for part, first in enumerate(range(start, end, step)):
            self.channels[part].send((batch, part, first, min(first + step, end)))
            parts += 1
        return lambda: self._collect(batch, parts)

    def _collect(self, batch: int, parts: int) -> list[Examined]:
        while sum(1 for key in self.received if key[0] == batch) < parts:
            for ready in wait([*self.channels, *(p.sentinel for p in self.processes)]):
                if not isinstance(ready, Connection):
                    raise RuntimeError("a report-checking worker process died; nothing of this batch was stored")
                got_batch, part, examined = ready.recv()
                self.received[(got_batch, part)] = _from_wire(examined)
        return [examined for part in range(parts) for examined in self.received.pop((batch, part))]

    def __enter__(self) -> Examiner:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        for channel in self.channels:
            with contextlib.suppress(OSError):
                channel.send(None)
            channel.close()
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
