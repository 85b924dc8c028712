"""Package databases as outside data, written as real files (and, for rpm, read from a real
process): odd bytes in names, versions and descriptions, huge fields, stray files. A source
returns every entry or its documented errors, never a traceback; an entry named with bytes
that are not UTF-8 is still observed under its name, carried losslessly (surrogateescape), and
still caught by a ban list glob, so no one hides a banned package behind an odd byte."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from banwatch.core.policy.model import PACKAGE_MANAGERS, App, MatchRules
from banwatch.core.policy.verify import VerifiedPolicy
from banwatch.device import sources
from banwatch.device.detect.matcher import Matcher
from banwatch.device.detect.scan import scan
from banwatch.device.detect.verdicts import HostIdentity
from banwatch.device.sources import dpkg, rpm
from banwatch.device.sources.base import SourceContext
from banwatch.device.sources.observations import Observation

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BANNED = App("tiktok", "TikTok", "test ban", "high", "report", "banned",
             MatchRules(packages={manager: ("tiktok*",) for manager in PACKAGE_MANAGERS},
                        macos_bundle_names=("TikTok*.app",)))
C_SPACE = b" \t\n\v\f\r"
needs_dpkg_query = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs dpkg-query")
NATIVE_ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=False
                             ).stdout.strip() if shutil.which("dpkg") else "amd64"


def as_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def caught(observations: list[Observation]) -> set[str]:
    """The names the ban list's `tiktok*` globs catch."""
    return {finding.observation.name for finding in Matcher([BANNED]).match_all(observations)}


def collect(name: str, root: str) -> list[Observation]:
    result = sources.run_source(name, SourceContext(root=root))
    assert result.status == "ok", result.error
    return result.observations


# Field values: any bytes but a line break, not starting or ending with what dpkg trims.
VALUE = st.binary(min_size=1, max_size=40).map(lambda raw: raw.replace(b"\n", b"_").strip(C_SPACE)).filter(bool)
ODD = st.binary(min_size=1, max_size=12).filter(lambda raw: raw.replace(b"\n", b"") == raw)


@FUZZ
@given(packages=st.lists(st.tuples(VALUE, VALUE, st.binary(max_size=300)), max_size=6,
                         unique_by=lambda p: p[0].lower()),
       banned_suffix=ODD, description=st.binary(max_size=500))
def test_dpkg_status_with_any_bytes_keeps_every_installed_package(packages, banned_suffix: bytes,
                                                                  description: bytes) -> None:
    banned = b"tiktok" + banned_suffix.strip(C_SPACE)
    stanzas = [(banned, b"1.0\xff", description)] + [p for p in packages if p[0].lower() != banned.lower()]
    with tempfile.TemporaryDirectory() as root:
        database = Path(root, dpkg.DATABASE)
        database.mkdir(parents=True)
        # Description bytes go in as continuation lines (each starts with a space), as dpkg writes them.
        (database / "status").write_bytes(b"\n\n".join(
            b"Package: %s\nStatus: install ok installed\nVersion: %s\nDescription: x\n %s" % (
                name, version, text.replace(b"\n", b"\n ")) for name, version, text in stanzas) + b"\n")
        observations = collect("dpkg", root)
    assert {(o.name, o.version) for o in observations} == {
        (as_text(name.lower()), as_text(version)) for name, version, _ in stanzas}
    assert as_text(banned.lower()) in caught(observations)


@FUZZ
@given(data=st.binary(max_size=4000), journal=st.binary(max_size=500))
def test_dpkg_database_of_any_bytes_is_read_without_failing(data: bytes, journal: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        database = Path(root, dpkg.DATABASE)
        (database / "updates").mkdir(parents=True)
        (database / "status").write_bytes(data)
        (database / "updates" / "0001").write_bytes(journal)
        for observation in collect("dpkg", root):
            assert observation.name and observation.extra["state"] in dpkg.PRESENT_STATES


def _field(name: str) -> st.SearchStrategy[str]:
    """A field name as dpkg accepts it: in any case."""
    return st.sampled_from([name, name.lower(), name.upper(), name.swapcase()])


@st.composite
def dpkg_stanza(draw: st.DrawFn) -> tuple[str, str]:
    """One well-formed status entry, spelled in any of the ways dpkg reads alike; and its name."""
    name = draw(st.from_regex(r"\A[a-z0-9][a-z0-9+.-]{1,15}\Z"))
    state = draw(st.sampled_from(["installed", "unpacked", "half-configured", "half-installed",
                                  "triggers-pending", "triggers-awaited", "config-files", "not-installed"]))
    space = draw(st.sampled_from(["", " ", "\t", "  "]))
    end = draw(st.sampled_from(["", " ", "\t", "\r"]))
    version = draw(st.from_regex(r"\A([1-9]:)?[0-9][0-9a-z.+~]{0,6}(-[0-9a-z.+~]{1,4})?\Z"))
    # This machine's own architecture or all: dpkg qualifies a foreign one's name (tiktok:i386)
    # by an architecture it was built for, which its database does not hold.
    arch = draw(st.sampled_from([NATIVE_ARCH, "all"]))
    multi_arch = draw(st.sampled_from(["", "same", "SAME", "foreign", "allowed"]))
    if arch == "all" and multi_arch.lower() == "same":
        multi_arch = "foreign"
    lines = [("Package", draw(st.sampled_from([name, name.upper()]))),
             ("Status", f"{draw(st.sampled_from(['install', 'hold', 'deinstall']))} ok "
                        f"{draw(st.sampled_from([state, state.upper()]))}"),
             ("Architecture", arch), ("Maintainer", "m <m@example.org>"), ("Description", "d\n more\n .\n end")]
    if state != "not-installed":
        lines.append(("Version", version))
    if multi_arch:
        lines.append(("Multi-Arch", multi_arch))
    if state == "triggers-pending":
        lines.append(("Triggers-Pending", "some-trigger"))
    if state == "triggers-awaited":
        lines.append(("Triggers-Awaited", "dpkg"))
    order = draw(st.permutations(lines))
    return "".join(f"{draw(_field(key))}:{space}{value}{end}\n" for key, value in order), name


@needs_dpkg_query
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(dpkg_stanza(), min_size=1, max_size=6, unique_by=lambda entry: entry[1]),
       in_journal=st.integers(0, 6))
def test_dpkg_lists_what_dpkg_query_lists_however_the_entries_are_spelled(entries, in_journal: int) -> None:
    """dpkg's own reader, on the same files, is the reference: a package dpkg counts as present
    (a field name or status word in capitals, say) must not be missing from the scan."""
    texts = [text for text, _name in entries]
    with tempfile.TemporaryDirectory() as root:
        database = Path(root, dpkg.DATABASE)
        (database / "updates").mkdir(parents=True)
        (database / "info").mkdir()
        (database / "status").write_text("\n".join(texts[in_journal:]) + "\n")
        if texts[:in_journal]:
            (database / "updates" / "0000").write_text("\n".join(texts[:in_journal]) + "\n")
        listed = subprocess.run(["dpkg-query", f"--admindir={database}", "-W", "-f",
                                 "${binary:Package}\t${Version}\t${db:Status-Status}\n"],
                                capture_output=True, text=True, check=False)
        assert listed.returncode == 0 and "error" not in listed.stderr, listed.stderr
        theirs = {(package, version) for package, version, state in
                  (line.split("\t") for line in listed.stdout.splitlines()) if state in dpkg.PRESENT_STATES}
        ours = {(o.identifier, o.version) for o in collect("dpkg", root)}
    assert ours == theirs


def test_a_scan_reports_a_banned_package_whose_name_is_not_utf8(tmp_path: Path) -> None:
    """Through the scanner, as the agent runs it: the finding names the package by its own bytes."""
    database = tmp_path / dpkg.DATABASE
    database.mkdir(parents=True)
    (database / "status").write_bytes(b"Package: TikTok\xff\xfe\nStatus: install ok installed\nVersion: 1\xc3(\n")
    policy = VerifiedPolicy({"version": 1}, "sha256:test", (BANNED,), ())
    report = scan(policy, HostIdentity("ws-01", frozenset()), ctx=SourceContext(root=str(tmp_path), details=False),
                  source_names=["dpkg"], policy_info={"version": 1, "digest": policy.digest})
    (finding,) = report.findings
    assert (finding.app, finding.verdict) == ("tiktok", "violation")
    assert finding.evidence.name.encode("utf-8", "surrogateescape") == b"tiktok\xff\xfe"


def test_dpkg_huge_fields_are_read_whole(tmp_path: Path) -> None:
    database = tmp_path / dpkg.DATABASE
    database.mkdir(parents=True)
    huge = b"\n ".join([b"x" * 1000] * 3000)
    (database / "status").write_bytes(b"Package: tiktok-desktop\nStatus: install ok installed\nVersion: "
                                      + b"9" * 100_000 + b"\nDescription: big\n " + huge + b"\n")
    (observation,) = collect("dpkg", str(tmp_path))
    assert observation.name == "tiktok-desktop" and len(observation.version or "") == 100_000


# rpm: one record per `NAME\tEPOCH:VERSION-RELEASE\tARCH\n`; a name may hold anything but the
# last two fields hold no tab or line break.
RPM_NAME = st.binary(min_size=1, max_size=20).filter(lambda raw: raw.strip(b"\n") == raw and raw != b"gpg-pubkey")
RPM_FIELD = st.binary(min_size=1, max_size=12).map(lambda raw: raw.replace(b"\t", b"_").replace(b"\n", b"_"))


def rpm_output(records: list[tuple[bytes, bytes, bytes]]) -> bytes:
    return b"".join(b"%s\t0:%s\t%s\n" % record for record in records)


@FUZZ
@given(records=st.lists(st.tuples(RPM_NAME, RPM_FIELD, RPM_FIELD), max_size=8), suffix=ODD)
def test_rpm_output_with_any_bytes_keeps_every_package_and_its_name(records, suffix: bytes) -> None:
    records = [(b"gpg-pubkey", b"fd431d51-4ae0493b", b"(none)"), (b"tiktok" + suffix, b"1.0-1", b"x86_64"),
               *records]
    observations = rpm.parse_query_output(as_text(rpm_output(records)))
    assert sorted((o.name, o.version) for o in observations) == sorted(
        (as_text(name), as_text(version)) for name, version, _arch in records[1:])
    assert as_text(b"tiktok" + suffix) in caught(observations)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_rpm_output_of_any_bytes_is_parsed_without_failing(data: bytes) -> None:
    for observation in rpm.parse_query_output(as_text(data)):
        assert observation.name


def test_rpm_source_reads_the_tools_bytes_losslessly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real subprocess path: a stand-in `rpm` on PATH prints names that are not UTF-8 and
    hold a form feed, a CR and a tab (what text mode and str.splitlines would have split)."""
    printed = tmp_path / "printed"
    printed.write_bytes(rpm_output([(b"tiktok\xff", b"1.0-1", b"x86_64"), (b"tik\x0ctok\rx", b"2", b"noarch"),
                                    (b"gpg-pubkey-tiktok", b"3", b"noarch"), (b"bash\ttab", b"5.1", b"x86_64")]))
    tool = tmp_path / "bin" / "rpm"
    tool.parent.mkdir()
    tool.write_text(f"#!/bin/sh\nexec {shutil.which('cat')} '{printed}'\n")
    tool.chmod(0o755)
    (tmp_path / "var/lib/rpm").mkdir(parents=True)
    (tmp_path / "var/lib/rpm/rpmdb.sqlite").write_bytes(b"db")
    monkeypatch.setenv("PATH", str(tool.parent))
    observations = collect("rpm", str(tmp_path))
    assert sorted(o.name for o in observations) == sorted(
        as_text(name) for name in (b"tiktok\xff", b"tik\x0ctok\rx", b"gpg-pubkey-tiktok", b"bash\ttab"))
    assert caught(observations) == {as_text(b"tiktok\xff")}


# Names on disk (snap, flatpak, brew, macOS bundles) that are not UTF-8: real directories.
FILE_NAME = st.binary(min_size=1, max_size=12).filter(lambda raw: b"/" not in raw and b"\0" not in raw)


@FUZZ
@given(suffix=FILE_NAME, meta=st.binary(max_size=600), plist=st.binary(max_size=600), stray=st.booleans())
def test_installed_apps_named_with_any_bytes_are_observed_and_caught(suffix: bytes, meta: bytes, plist: bytes,
                                                                    stray: bool) -> None:
    name = b"tiktok" + suffix
    with tempfile.TemporaryDirectory() as folder:
        root = os.fsencode(folder)
        os.makedirs(os.path.join(root, b"snap", name, b"x1", b"meta"))
        Path(os.fsdecode(os.path.join(root, b"snap", name, b"x1", b"meta", b"snap.yaml"))).write_bytes(meta)
        os.symlink(b"x1", os.path.join(root, b"snap", name, b"current"))
        flatpak_app = os.path.join(root, b"var/lib/flatpak/app", b"io." + name)
        os.makedirs(os.path.join(flatpak_app, b"x86_64/stable/active/files/share/metainfo"))
        Path(os.fsdecode(os.path.join(flatpak_app, b"x86_64/stable/active/files/share/metainfo",
                                      b"io." + name + b".metainfo.xml"))).write_bytes(meta)
        os.symlink(b"x86_64/stable", os.path.join(flatpak_app, b"current"))
        cellar = os.path.join(root, b"opt/homebrew/Cellar")
        os.makedirs(os.path.join(cellar, name, b"1.0\xfe"))
        if stray:
            Path(os.fsdecode(os.path.join(cellar, b".DS_Store"))).write_bytes(b"\0")
        bundle = os.path.join(root, b"Applications", b"TikTok" + suffix + b".app", b"Contents")
        os.makedirs(bundle)
        Path(os.fsdecode(os.path.join(bundle, b"Info.plist"))).write_bytes(plist)
        observed = {source: collect(source, folder) for source in ("snap", "flatpak", "brew", "macos_apps")}
    expected = {"snap": as_text(name), "flatpak": as_text(b"io." + name), "brew": as_text(name)}
    for source, wanted in expected.items():
        assert [o.name for o in observed[source]] == [wanted], source
    assert caught(observed["snap"] + observed["brew"]) == {as_text(name)}
    (bundle_seen,) = observed["macos_apps"]
    assert bundle_seen.extra["bundle_name"] == as_text(b"TikTok" + suffix + b".app")
    assert caught([bundle_seen]) == {bundle_seen.name}


@FUZZ
@given(position=st.integers(min_value=0), byte=st.integers(0, 255), binary=st.booleans())
def test_a_damaged_info_plist_costs_only_its_details(position: int, byte: int, binary: bool) -> None:
    """plistlib raises far more than it documents on a damaged file (ExpatError, IndexError, …)."""
    good = bytearray(plistlib.dumps({"CFBundleName": "TikTok", "CFBundleIdentifier": "com.zhiliaoapp.musically",
                                     "Nested": [1, {"a": b"\0" * 20}]},
                                    fmt=plistlib.FMT_BINARY if binary else plistlib.FMT_XML))
    good[position % len(good)] = byte
    with tempfile.TemporaryDirectory() as folder:
        contents = Path(folder, "Applications", "TikTok.app", "Contents")
        contents.mkdir(parents=True)
        (contents / "Info.plist").write_bytes(bytes(good))
        (observation,) = collect("macos_apps", folder)
    assert observation.extra["bundle_name"] == "TikTok.app"


def test_snap_yaml_alias_bomb_costs_only_the_version(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]" for i in range(1, 9)]
    meta = tmp_path / "snap/tiktok-web/x1/meta"
    meta.mkdir(parents=True)
    (meta / "snap.yaml").write_text("\n".join(lines) + "\nversion: *a8\n")
    os.symlink("x1", tmp_path / "snap/tiktok-web/current")
    (observation,) = collect("snap", str(tmp_path))
    assert (observation.name, observation.version) == ("tiktok-web", None)
