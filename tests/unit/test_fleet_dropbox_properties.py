"""Whatever devices put in the drop box, ingest neither breaks nor loses anything (issue 14, part 5).

Property-based: any file names (any bytes a file system takes, `..`, dot files, escape
sequences, 255 bytes long, in any folders), any contents (signed reports with any field
changed to any JSON value, reports of other or unknown devices, junk, copies, links, FIFOs).
Each time: no traceback; nothing written outside the drop box and the store's folders; every
report file ends up stored or refused (kept aside) with a reason, every other file where it was;
and every valid report among them is stored and shown.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banwatch.control.policy_source import load_policy_source
from banwatch.core import render, signing
from banwatch.core.report.envelope import MAX_REPORT_BYTES, REPORT_FILE_SUFFIX, REPORT_PAYLOAD_TYPE
from banwatch.fleet.defaults import sibling_dirs
from banwatch.fleet.enrolled import load_enrolled
from banwatch.fleet.html import render_page
from banwatch.fleet.ingest import Ingest
from banwatch.fleet.store import FleetStore
from banwatch.fleet.views import fleet_hosts, status_rows, status_table
from tests.conftest import EXAMPLE_POLICY
from tests.fleet_reports import Fleet, tiktok_process

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)
HOSTS = {"lab-ep-50": ["general"], "lab-ep-51": ["general"]}
SUFFIX = REPORT_FILE_SUFFIX.encode()
# What a refusal reason starts with (docs/fleet.md, "Ingest").
REASONS = ("oversized:", "malformed:", "unknown device:", "not signed by ", "replay:", "not a regular file",
           "unreadable:")
SOME = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def keys() -> dict[str, Ed25519PrivateKey]:
    return {host: Ed25519PrivateKey.generate() for host in HOSTS}


@cache
def base_report() -> dict[str, Any]:
    """A real report with a finding, made once (the policy pipeline is slow for hypothesis)."""
    with tempfile.TemporaryDirectory() as folder:
        fleet = Fleet(Path(folder), load_policy_source(EXAMPLE_POLICY, NOW.date()), HOSTS)
        report = fleet.report("lab-ep-50", NOW, [tiktok_process()])
    report["sequence"] = {"epoch": "0123456789abcdef", "number": 7}
    return report


def a_report(host: str = "lab-ep-50", **changes: Any) -> dict[str, Any]:
    report = copy.deepcopy(base_report())
    report["report_id"] = str(uuid.uuid4())
    report["host"]["name"] = host
    report.update(changes)
    return report


def seal(report: Any, key: Ed25519PrivateKey, *, ascii_only: bool = False) -> bytes:
    """Sealed as a device would, or with every non-ASCII character escaped: the only way JSON can
    carry a lone surrogate, which no agent writes but any device may send."""
    payload = json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only)
    return signing.canonical_json(signing.sign(payload.encode("utf-8"), REPORT_PAYLOAD_TYPE, [key])) + b"\n"


class DropBoxWorld:
    """A temp root: `outside/` (must never change), the drop box, the store beside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dropbox = root / "dropbox"
        self.enrolled = root / "enrolled"
        self.outside = root / "outside"
        for folder in (self.dropbox, self.enrolled, self.outside):
            folder.mkdir()
        for host, key in keys().items():
            (self.enrolled / f"{host}.pub").write_bytes(signing.public_pem(key.public_key()))
        (self.outside / "secret.report.json").write_bytes(b"not the drop box's")
        self.store = root / "store" / "fleet.db"
        self.refused, self.archive = (Path(p) for p in sibling_dirs(str(self.store)))
        self.placed: dict[bytes, bytes | None] = {}  # path in the drop box -> its bytes (None: not a regular file)

    def place(self, relative: bytes, data: bytes | None, kind: str = "file") -> None:
        path = os.path.join(os.fsencode(self.dropbox), relative)
        if path in self.placed or os.path.lexists(path):
            return
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except (FileExistsError, NotADirectoryError):  # a file of that name is in the way: no such folder
            return
        if kind == "link":
            os.symlink(os.fsencode(self.outside / "secret.report.json"), path)
        elif kind == "fifo":
            os.mkfifo(path)
        else:
            with open(path, "wb") as handle:
                handle.write(data or b"")
        self.placed[path] = data if kind == "file" else None

    def snapshot(self, folder: Path) -> dict[bytes, bytes]:
        found = {}
        for top, _, names in os.walk(os.fsencode(folder)):
            for name in names:
                path = os.path.join(top, name)
                found[path] = os.readlink(path) if os.path.islink(path) else Path(os.fsdecode(path)).read_bytes()
        return found

    def ingest(self) -> Any:
        with FleetStore(str(self.store), create=True) as store:
            return Ingest(store, load_enrolled(str(self.enrolled)), now=lambda: NOW).run(str(self.dropbox))


def eligible(path: bytes, dropbox: bytes) -> bool:
    """What ingest takes: a `*.report.json` not a dot file, in no dot folder under the drop box."""
    parts = os.path.relpath(path, dropbox).split(b"/")
    return parts[-1].endswith(SUFFIX) and not any(part.startswith(b".") for part in parts)


def digests(folder: Path) -> set[str]:
    return {hashlib.sha256(Path(os.fsdecode(p)).read_bytes()).hexdigest() for p in _files(folder)}


def _files(folder: Path) -> Iterator[bytes]:
    """The regular files under `folder` (a refused link or FIFO is not read)."""
    for top, _, names in os.walk(os.fsencode(folder)):
        for name in names:
            if stat.S_ISREG(os.lstat(os.path.join(top, name)).st_mode):
                yield os.path.join(top, name)


def check_world(world: DropBoxWorld, result: Any, valid: set[str]) -> None:
    """Nothing outside touched, nothing lost, every refusal recorded with a reason, every valid
    report stored and shown (in every view, without a traceback)."""
    dropbox = os.fsencode(world.dropbox)
    assert world.snapshot(world.outside) == {os.fsencode(world.outside / "secret.report.json"): b"not the drop box's"}
    assert set(os.listdir(world.root)) == {"dropbox", "enrolled", "outside", "store"}
    assert set(os.listdir(world.store.parent)) <= {"fleet.db", "fleet.db-wal", "fleet.db-shm", "fleet.db.ingest-lock",
                                                   "fleet-refused", "fleet-ingested"}
    taken = {path: data for path, data in world.placed.items() if eligible(path, dropbox)}
    for path, data in world.placed.items():
        if path not in taken:  # left alone, as it was
            assert os.path.lexists(path) and (data is None or Path(os.fsdecode(path)).read_bytes() == data)
        else:
            assert not os.path.lexists(path)
    assert result.new + result.copies + len(result.refused) == len(taken)
    kept = digests(world.refused) | digests(world.archive)
    # Every byte kept: an empty file may share its refused name with a link or FIFO of the same
    # name (nothing of theirs is read, so their digest is the empty one), which holds no bytes either.
    assert {hashlib.sha256(data).hexdigest() for data in taken.values() if data} <= kept
    assert all(entry.reason.startswith(REASONS) for entry in result.refused), [q.reason for q in result.refused]
    with sqlite3.connect(world.store) as db:
        stored = {row[0] for row in db.execute("SELECT report_id FROM reports")}
        assert db.execute("SELECT count(*) FROM refused").fetchone()[0] == len(
            {(q.sha256, q.file) for q in result.refused})
    assert valid <= stored
    with FleetStore(str(world.store)) as store:
        hosts = fleet_hosts(store.latest(), None)
        lines = fleet_hosts(store.latest_lines(), None)
    rows = status_rows(hosts, NOW, dt.timedelta(days=1))
    assert status_table(lines, NOW, dt.timedelta(days=1)) == [row.cells() for row in rows]
    render.table(("host", "state", "source", "agent", "policy", "last report", "why"), [row.cells() for row in rows])
    json.dumps([row.document() for row in rows], ensure_ascii=False).encode("utf-8")
    render_page(generated_at="now", store="s", status=rows, exemptions=None, uncovered=[], refused=0)


# --- file names -------------------------------------------------------------------------------

_STEMS = st.one_of(
    st.binary(min_size=1, max_size=260),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=90).map(str.encode),
    st.sampled_from([b"..", b"...", b"..%2f..%2fetc", b"\x1b[2J\x1b]0;owned\x07", b"\n", b"-rf", b"~", b" ",
                     b"\xff\xfe"]),
)
NAMES = st.builds(lambda dot, stem, suffix: (dot + stem.replace(b"/", b"_").replace(b"\0", b"_") + suffix)[-255:],
                  st.sampled_from([b"", b"", b"."]), _STEMS,
                  st.sampled_from([SUFFIX, SUFFIX, SUFFIX, b"", SUFFIX + b".x1.part", b".json"])).filter(
    lambda name: name not in (b".", b".."))
FOLDERS = st.lists(st.one_of(NAMES, st.sampled_from([b".hidden", b"lab-ep-50", b"a b"])), max_size=2).map(
    lambda parts: [part[:200] for part in parts])
CONTENTS = st.sampled_from(["valid", "valid", "other host", "forged", "unknown device", "copy", "junk", "empty",
                            "oversized", "link", "fifo"])


def content(kind: str, report: dict[str, Any], name: bytes, last: bytes) -> bytes | None:
    """The bytes of a file of this kind (None: a link or a FIFO, made by `place`)."""
    if kind in ("valid", "other host"):
        return seal(report, keys()[report["host"]["name"]])
    if kind == "forged":  # lab-ep-50's report, signed by lab-ep-51
        return seal(report, keys()["lab-ep-51"])
    if kind == "unknown device":
        return seal(a_report("lab-ep-99"), Ed25519PrivateKey.generate())
    return {"copy": last, "junk": b'{"payload": "\xff' + name, "empty": b"",
            "oversized": b" " * (MAX_REPORT_BYTES + 1)}.get(kind)


@SOME
@given(files=st.lists(st.tuples(FOLDERS, NAMES, CONTENTS), min_size=1, max_size=8))
def test_any_file_names_are_ingested_or_left_and_nothing_escapes_or_is_lost(files):
    with tempfile.TemporaryDirectory() as folder:
        world = DropBoxWorld(Path(folder))
        valid, last = set(), b""
        for folders, name, kind in files:
            relative = b"/".join([*folders, name])
            report = a_report("lab-ep-51" if kind == "other host" else "lab-ep-50")
            data = content(kind, report, name, last)
            path = os.path.join(os.fsencode(world.dropbox), relative)
            world.place(relative, data, kind if kind in ("link", "fifo") else "file")
            if kind in ("valid", "other host") and world.placed.get(path) == data \
                    and eligible(path, os.fsencode(world.dropbox)):
                valid.add(report["report_id"])
            last = data or last
        result = world.ingest()
        check_world(world, result, valid)


# --- report contents --------------------------------------------------------------------------

# Values at the edges of what each layer takes: SQLite's integers, the calendar, Unicode, names.
EDGES = (None, True, -1, 2**63 - 1, 2**63, -(2**63) - 1, 1e308, "", "\ud800", "Tik\udcffTok", "a,b", "a\n",
         "\x1b[2J", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2026-11-24T12:00:00", "x" * 5000,
         [], {}, [None], {"": None}, ["violation"], {"epoch": "e", "number": 2**63})
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
              st.floats(allow_nan=False), st.text(max_size=30),
              st.sampled_from(["", "\x1b[31m", "2026-11-24T12:00:00Z", "9999-12-31T23:59:59-01:00",
                               "0001-01-01T00:00:00+01:00", "2026-11-24T12:00:00", "\ud800", "a,b", "tiktok",
                               "violation", "exempt"])),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children,
                                                                              max_size=3)),
    max_leaves=6)
VALUES = st.one_of(st.sampled_from(EDGES), JSON_VALUES)
FIELDS = (
    ("generated_at",), ("host", "groups"), ("host",), ("agent",), ("agent", "version"), ("agent", "detection"),
    ("policy",), ("policy", "version"), ("policy", "state"), ("policy", "exemptions"), ("policy", "last_rejection"),
    ("policy", "last_rejection", "reason"), ("policy", "digest"), ("findings",), ("findings", 0),
    ("findings", 0, "app"), ("findings", 0, "verdict"), ("findings", 0, "exemption"), ("findings", 0, "evidence"),
    ("findings", 0, "evidence", "pid"), ("findings", 0, "action_taken"), ("summary",), ("summary", "violation"),
    ("summary", "verdict"), ("summary", "exempt"), ("errors",), ("delivery",), ("delivery", "dropped"),
    ("sequence",), ("sequence", "epoch"), ("sequence", "number"), ("schema",), ("report_id",), ("raw_bytes",),
)
PATHS = st.sampled_from(FIELDS)


def changed(report: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """`report` with the value at `path` replaced (where the path no longer exists, nothing changes)."""
    target: Any = report
    for step in path[:-1]:
        try:
            target = target[step]
        except (KeyError, IndexError, TypeError):
            return report
    with contextlib.suppress(IndexError, TypeError):
        target[path[-1]] = value
    return report


@SOME
@given(changes=st.lists(st.tuples(PATHS, VALUES), min_size=1, max_size=3),
       ascii_only=st.booleans(), not_a_report=st.one_of(st.none(), st.none(), st.none(), JSON_VALUES))
def test_any_report_content_is_stored_or_refused_and_valid_ones_are_never_lost(changes, ascii_only,
                                                                                    not_a_report):
    with tempfile.TemporaryDirectory() as folder:
        world = DropBoxWorld(Path(folder))
        report: Any = a_report()
        for path, value in changes:
            report = changed(report, path, value)
        if not_a_report is not None:  # now and then, signed JSON that is no report object at all
            report = not_a_report
        try:
            data = seal(report, keys()["lab-ep-50"], ascii_only=ascii_only)
        except UnicodeEncodeError:  # a lone surrogate cannot be UTF-8: only the escaped form carries it
            data = seal(report, keys()["lab-ep-50"], ascii_only=True)
        world.place(b"changed" + SUFFIX, data)
        pristine = a_report("lab-ep-51")
        world.place(b"zz-valid" + SUFFIX, seal(pristine, keys()["lab-ep-51"]))
        result = world.ingest()
        check_world(world, result, {pristine["report_id"]})
        assert result.new + len(result.refused) == 2


def test_every_field_at_every_edge_is_stored_or_refused_in_one_batch(tmp_path):
    """Each field a view reads, set to each edge value, in one report each, all in one batch with
    a valid report: none fails the batch, and the valid one is stored."""
    world = DropBoxWorld(tmp_path)
    for index, (path, value) in enumerate((p, v) for p in FIELDS for v in EDGES):
        report = changed(a_report(), path, value)
        world.place(f"edge-{index:04d}".encode() + SUFFIX, seal(report, keys()["lab-ep-50"], ascii_only=True))
    pristine = a_report("lab-ep-51")
    world.place(b"zz-valid" + SUFFIX, seal(pristine, keys()["lab-ep-51"]))
    result = world.ingest()
    check_world(world, result, {pristine["report_id"]})


def test_a_report_claiming_an_unstorable_number_is_refused_not_a_failed_batch(tmp_path):
    """SQLite keeps whole numbers up to 2**63 - 1: a larger one is refused as malformed, and the
    rest of the batch is stored."""
    world = DropBoxWorld(tmp_path)
    huge = a_report(summary={"verdict": "violation", "violation": 2**64, "exempt": 0, "under_review": 0})
    world.place(b"huge" + SUFFIX, seal(huge, keys()["lab-ep-50"]))
    pristine = a_report("lab-ep-51")
    world.place(b"fine" + SUFFIX, seal(pristine, keys()["lab-ep-51"]))
    result = world.ingest()
    assert [q.reason for q in result.refused] == ["malformed: summary violation is not a whole number"]
    check_world(world, result, {pristine["report_id"]})


def test_a_lone_surrogate_is_refused_not_a_failed_batch(tmp_path):
    """JSON can escape one; neither UTF-8 nor SQLite can hold it (`strict_json` refuses it)."""
    world = DropBoxWorld(tmp_path)
    odd = a_report()
    odd["findings"][0]["evidence"]["name"] = "Tik\ud800Tok"
    world.place(b"odd" + SUFFIX, seal(odd, keys()["lab-ep-50"], ascii_only=True))
    result = world.ingest()
    assert [q.reason.split(":")[0] for q in result.refused] == ["malformed"]
    check_world(world, result, set())


def test_an_envelope_payload_survives_a_round_trip():
    """The helper seals as `report_envelope.seal_report` does (so the properties test real files)."""
    report = a_report()
    envelope = json.loads(seal(report, keys()["lab-ep-50"]))
    assert json.loads(base64.b64decode(envelope["payload"])) == report


def test_odd_file_names_reach_the_admin_escaped_through_the_command_line(tmp_path):
    world = DropBoxWorld(tmp_path)
    world.place(b"\x1b[2J\xff" + SUFFIX, b'{"payload": "')
    pristine = a_report("lab-ep-51")
    world.place(b"ok" + SUFFIX, seal(pristine, keys()["lab-ep-51"]))

    def fleet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "banwatch.cli", "fleet", *args, "--store", "store/fleet.db"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)

    ingested = fleet("ingest", "--from", "dropbox", "--enrolled", "enrolled")
    assert ingested.returncode == 1 and "Traceback" not in ingested.stderr
    assert "dropbox/\\x1b[2J\\xff.report.json: malformed: not a signed banwatch report" in ingested.stderr
    assert "\x1b" not in ingested.stderr + ingested.stdout
    shown = fleet("status", "--format", "json")
    assert [row["host"] for row in json.loads(shown.stdout)] == ["lab-ep-51"]
    assert "1 report file(s) refused, kept in " in fleet("status").stdout
