"""The report spool: signed reports wait here, crash-safe and bounded, until they are delivered.

Each report is sealed with the device key and written with `write_atomic` as
`<generated_at>-<report_id>.report.json`, so the directory sorted by name is oldest first and a
crash leaves whole reports or none (a leftover temp file is never listed, and the next `put` that
lists the directory removes it). When more than `max_reports` or `max_bytes` wait, the oldest are
dropped; how many is kept in `dropped.json` until the next report carries it as
`delivery: {"dropped": N}`.

A put does not list the directory each time: the spool keeps the reports it knows of, and lists
again when another process may have put since (every put counts itself in the lock file first, so
a count that moved means another spool wrote), and before it drops anything (a deliverer may have
removed reports meanwhile). So a put costs the same with 10 reports waiting or 10,000.

The count survives crashes exactly. Before the carrying report is written, the state names it
as the carrier; before reports are dropped, the state counts them and names them. `pending`
holds such names back, and the next `put` settles what a crash interrupted: the count was told
if the carrier's file exists, and reports named for dropping go. A dropped report that itself
carried a count hands that count on, so none is ever lost with it.

Every report also carries `sequence: {"epoch": E, "number": N}`, inside what is signed: N grows
with every put, across restarts, so the fleet store orders a device's reports by it and never by
the device's clock. Numbers are reserved in blocks, durably, in the same state file before any of
them is used, so a put costs no extra write: a crash or a restart skips the rest of a block (gaps),
and no number is ever given twice. The epoch is a random id made when the state file is new (a
fresh install, a wiped state directory): the numbers start again under it, and the fleet store
knows the new epoch supersedes the old.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from banwatch.core.atomic import fsync_directory, write_atomic
from banwatch.core.report.envelope import REPORT_FILE_SUFFIX, report_file_name, seal_report
from banwatch.device.config import AgentConfig, SpoolSettings
from banwatch.device.report_key import load_report_key

STATE_FILE = "dropped.json"  # the drop count and the report sequence (named for what it first held)
LOCK_FILE = ".lock"
DELIVERY_LOCK_FILE = ".delivery.lock"
TEMP_SUFFIX = ".tmp"  # what write_atomic names its temp files: .<name>.<random>.tmp


# Sequence numbers reserved per write of the state: one write per this many puts (or per start).
SEQUENCE_BLOCK = 1024
# The lock file holds how many puts were made by any process, as this many bytes (little-endian).
PUT_COUNT_BYTES = 8


@dataclass(frozen=True)
class SpoolState:
    dropped: int = 0  # dropped, and not yet told by any report
    carried: int = 0  # being told by the report named `carrier`
    carrier: str | None = None
    dropping: tuple[str, ...] = ()  # counted in `dropped`, perhaps not yet unlinked
    epoch: str | None = None  # the report sequence's epoch; None: no number given yet
    reserved: int = 0  # the highest sequence number reserved (every number given is at most this)


@dataclass(frozen=True)
class SpoolUsage:
    reports: int
    bytes: int
    dropped: int  # waiting to be carried by the next report

    def document(self) -> dict[str, int]:
        return asdict(self)


def is_report_name(name: str) -> bool:
    """A spooled report's file name: not a dot file (a write in flight), no directory, the suffix."""
    return name.endswith(REPORT_FILE_SUFFIX) and not name.startswith(".") and "/" not in name


def report_names(listing: Iterable[str]) -> list[str]:
    """The names of a directory `listing` that are spooled reports (`is_report_name`), sorted:
    oldest first."""
    return sorted(filter(is_report_name, listing))


class Spool:
    """One directory of sealed reports. `put` is for the agent; `pending`, `read` and `remove`
    are for whoever delivers them (the shipper, or playbooks/collect.yml by the same rules)."""

    def __init__(self, settings: SpoolSettings, key: Ed25519PrivateKey | None = None) -> None:
        self.settings = settings
        self.directory = settings.directory
        self._key = key
        # The spooled reports this spool knows of, and their sizes (a report never changes: named
        # by its id, written whole); None until its first put lists the directory.
        self._known: dict[str, int] | None = None
        self._puts_counted = -1  # the lock file's put count after this spool's last put
        # The block of sequence numbers this spool reserved: (epoch, reserved), and the next to give.
        self._block: tuple[str | None, int] = (None, 0)
        self._next = 1

    @classmethod
    def for_config(cls, config: AgentConfig, *, sealing: bool = True) -> Spool:
        """The device's spool; `sealing=False` for a reader that never puts (no key needed)."""
        return cls(config.spool, load_report_key(config) if sealing else None)

    def put(self, report: Mapping[str, Any]) -> str:
        """Seal and spool `report`; drop the oldest if the spool is over its bounds. The path written."""
        if self._key is None:
            raise RuntimeError("this spool was opened without the device key: it cannot put")
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        with self._locked(LOCK_FILE) as lock:
            known = self._count_put(lock)
            state, number = self._number(self._settle(self._load_state()))
            document = dict(report)
            document["sequence"] = {"epoch": state.epoch, "number": number}
            if state.dropped:
                document["delivery"] = {"dropped": state.dropped}
            name = report_file_name(document)
            data = seal_report(document, self._key)
            if state.dropped:
                self._save_state(replace(state, dropped=0, carried=state.dropped, carrier=name))
            path = os.path.join(self.directory, name)
            write_atomic(path, data, 0o600)
            known[name] = len(data)
            victims = self._over_bounds(known, keep=name)
            if state.dropped or victims:  # counted and named before they go
                told = sum(self._carried_by(victim) for victim in victims)
                self._save_state(replace(state, dropped=len(victims) + told, carried=0, carrier=None,
                                         dropping=tuple(victims)))
            self._unlink(victims)
            return path

    def pending(self) -> list[str]:
        """Names of the reports waiting, oldest first (a report still being settled is held back)."""
        state = self._load_state()
        held = {state.carrier, *state.dropping}
        return [name for name in self._report_names() if name not in held]

    def read(self, name: str) -> bytes:
        with open(os.path.join(self.directory, self._checked(name)), "rb") as handle:
            return handle.read()

    def remove(self, name: str, *, durable: bool = True) -> None:
        """Forget a delivered report (already gone is fine: another shipper delivered it).
        `durable=False` leaves the directory's fsync to `flush()`, for a batch: a removal lost
        to a power cut only means the report is delivered again, and counted once by its id."""
        try:
            os.unlink(os.path.join(self.directory, self._checked(name)))
        except FileNotFoundError:
            return
        if durable:
            self.flush()

    def flush(self) -> None:
        fsync_directory(self.directory)

    @contextlib.contextmanager
    def delivering(self) -> Iterator[None]:
        """One deliverer at a time (the agent's shipper, `banwatch-agent ship`), so none sends a report twice."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        with self._locked(DELIVERY_LOCK_FILE):
            yield

    def usage(self) -> SpoolUsage:
        names = self._report_names()
        return SpoolUsage(len(names), sum(map(self._size, names)), self._load_state().dropped)

    def _report_names(self) -> list[str]:
        try:
            return report_names(os.listdir(self.directory))
        except FileNotFoundError:
            return []

    def _size(self, name: str) -> int:
        try:
            return os.stat(os.path.join(self.directory, name)).st_size
        except FileNotFoundError:
            return 0

    def _count_put(self, lock: int) -> dict[str, int]:
        """Under the put lock, before anything is written: count this put in the lock file, and the
        reports this spool knows of, listed again if another spool put since this one's last put."""
        counted = int.from_bytes(os.pread(lock, PUT_COUNT_BYTES, 0), "little")
        known = self._known if self._known is not None and counted == self._puts_counted else self._list()
        self._puts_counted = (counted + 1) % 2 ** (8 * PUT_COUNT_BYTES)
        os.pwrite(lock, self._puts_counted.to_bytes(PUT_COUNT_BYTES, "little"), 0)
        return known

    def _list(self) -> dict[str, int]:
        """The spooled reports as the directory holds them now (sizes known before are kept), and
        what a crash left half-written goes."""
        listing = os.listdir(self.directory)
        self._remove_temp_files(listing)
        before = self._known or {}
        self._known = {name: before.get(name) or self._size(name) for name in listing if is_report_name(name)}
        return self._known

    def _over_bounds(self, known: dict[str, int], keep: str) -> list[str]:
        """The oldest spooled reports to drop so that at most max_reports and max_bytes remain
        (never `keep`). Over by what this spool knows, it lists again first: a deliverer may have
        removed reports since."""
        if self._within_bounds(len(known), sum(known.values())):
            return []
        known = self._list()
        count, total = len(known), sum(known.values())
        victims = []
        for name in sorted(known):  # oldest first
            if self._within_bounds(count, total):
                break
            if name == keep:
                continue
            victims.append(name)
            count, total = count - 1, total - known[name]
        for name in victims:
            del known[name]
        return victims

    def _within_bounds(self, count: int, total: int) -> bool:
        return count <= self.settings.max_reports and total <= self.settings.max_bytes

    def _carried_by(self, name: str) -> int:
        """The drop count a spooled report tells (0 for most), read before it is dropped itself."""
        try:
            envelope = json.loads(self.read(name))
            delivery = json.loads(base64.b64decode(envelope["payload"])).get("delivery") or {}
            return int(delivery.get("dropped", 0))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return 0

    def _unlink(self, names: tuple[str, ...] | list[str]) -> None:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.directory, name))
        if names:
            fsync_directory(self.directory)

    def _number(self, state: SpoolState) -> tuple[SpoolState, int]:
        """The next sequence number, and the state that reserves it. From this spool's block while
        no one (another process's spool) has reserved since; else a new block after theirs,
        written (durably) before any number of it is used."""
        if (state.epoch, state.reserved) != self._block or self._next > state.reserved:
            epoch = state.epoch or os.urandom(8).hex()
            self._next = max(state.reserved, 0) + 1 if state.epoch else 1
            state = replace(state, epoch=epoch, reserved=self._next + SEQUENCE_BLOCK - 1)
            self._save_state(state)
            self._block = (epoch, state.reserved)
        number, self._next = self._next, self._next + 1
        return state, number

    def _settle(self, state: SpoolState) -> SpoolState:
        """Finish what a crash interrupted: was the carrier written (count told) or not (still to
        tell)? Reports already counted as dropped go now."""
        if state.carrier is None and not state.dropping:
            return state
        self._unlink(state.dropping)
        told = state.carrier is None or os.path.exists(os.path.join(self.directory, state.carrier))
        settled = replace(state, dropped=state.dropped if told else state.dropped + state.carried, carried=0,
                          carrier=None, dropping=())
        self._save_state(settled)
        return settled

    def _load_state(self) -> SpoolState:
        """The state as saved; a new one (a new sequence epoch) when there is none. A state saved
        before reports were numbered has no epoch: its first put starts one."""
        try:
            with open(os.path.join(self.directory, STATE_FILE), encoding="utf-8") as handle:
                data = json.load(handle)
            epoch = data.get("epoch")
            return SpoolState(int(data["dropped"]), int(data["carried"]), data["carrier"], tuple(data["dropping"]),
                              epoch if isinstance(epoch, str) and epoch else None, int(data.get("reserved", 0)))
        except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
            return SpoolState()  # none yet (write_atomic never half-writes one)

    def _save_state(self, state: SpoolState) -> None:
        """Under the put lock: every put reads the state again, so another process's put sees this."""
        write_atomic(os.path.join(self.directory, STATE_FILE), json.dumps(asdict(state)).encode(), 0o600)

    def _remove_temp_files(self, listing: list[str]) -> None:
        """What a write cut short by a crash left behind (only ever called under the lock)."""
        for name in listing:
            if not name.startswith(".") or not name.endswith(TEMP_SUFFIX) or len(name) <= len(TEMP_SUFFIX):
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.directory, name))

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[int]:
        fd = os.open(os.path.join(self.directory, name), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)

    @staticmethod
    def _checked(name: str) -> str:
        if not is_report_name(name):
            raise ValueError(f"not a spooled report's name: {name!r}")
        return name
