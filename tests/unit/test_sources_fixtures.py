"""Sources for other platforms, read from directory trees and recorded data laid out as on a device."""

from __future__ import annotations

import os
import plistlib
from pathlib import Path

import pytest

from banwatch.device import sources
from banwatch.device.sources import rpm
from banwatch.device.sources.base import SourceContext
from banwatch.device.sources.windows_appx import parse_full_name
from banwatch.device.sources.windows_registry import RecordedRegistry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def collect(name: str, ctx: SourceContext):
    result = sources.run_source(name, ctx)
    assert result.status == "ok", result.error
    return result.observations


def test_rpm_query_output_is_parsed():
    observations = rpm.parse_query_output((FIXTURES / "rpm-qa.txt").read_text())
    assert [(o.name, o.version) for o in observations] == [
        ("bash", "5.1.8-9.el9"), ("openssh-server", "8.7p1-38.el9"), ("tiktok-desktop", "1:2.4.0-1.el9"),
        ("tzdata", "2024a-1.el9")]


def test_rpm_database_without_tool_is_an_error_not_a_crash(tmp_path, monkeypatch):
    (tmp_path / "var/lib/rpm").mkdir(parents=True)
    (tmp_path / "var/lib/rpm/rpmdb.sqlite").write_bytes(b"")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = sources.run_source("rpm", SourceContext(root=str(tmp_path)))
    assert result.status == "error"
    assert "rpm tool is not installed" in result.error


def test_snap_current_revisions(tmp_path):
    meta = tmp_path / "snap/tiktok-web/x2/meta"
    meta.mkdir(parents=True)
    (meta / "snap.yaml").write_text("name: tiktok-web\nversion: '2.1.0'\n")
    (tmp_path / "snap/tiktok-web/x1").mkdir()
    os.symlink("x2", tmp_path / "snap/tiktok-web/current")
    (tmp_path / "snap/core22/1380").mkdir(parents=True)  # not mounted: no meta, still listed
    os.symlink("1380", tmp_path / "snap/core22/current")
    (tmp_path / "snap/bin").mkdir()
    observations = collect("snap", SourceContext(root=str(tmp_path)))
    assert [(o.name, o.version, o.extra["revision"]) for o in observations] == [
        ("core22", None, "1380"), ("tiktok-web", "2.1.0", "x2")]


def _flatpak_app(installation: Path, app_id: str, version: str | None) -> None:
    deployed = installation / "app" / app_id / "x86_64/stable/active"
    (deployed / "files/share/metainfo").mkdir(parents=True)
    if version:
        (deployed / f"files/share/metainfo/{app_id}.metainfo.xml").write_text(
            f'<component><id>{app_id}</id><releases><release version="{version}" date="2026-01-01"/>'
            '<release version="0.1"/></releases></component>')
    os.symlink("x86_64/stable", installation / "app" / app_id / "current")


def test_flatpak_system_and_per_user(tmp_path):
    _flatpak_app(tmp_path / "var/lib/flatpak", "org.mozilla.firefox", "133.0")
    _flatpak_app(tmp_path / "home/alice/.local/share/flatpak", "io.github.tiktok_desktop", None)
    observations = collect("flatpak", SourceContext(root=str(tmp_path)))
    assert [(o.name, o.version, o.scope) for o in observations] == [
        ("org.mozilla.firefox", "133.0", "system"), ("io.github.tiktok_desktop", None, "user:alice")]


def test_brew_formulae_and_casks(tmp_path):
    (tmp_path / "opt/homebrew/Cellar/wget/1.24.5").mkdir(parents=True)
    (tmp_path / "opt/homebrew/Cellar/wget/1.21.0").mkdir(parents=True)
    (tmp_path / "opt/homebrew/Caskroom/tiktok-live-studio/0.86.2").mkdir(parents=True)
    observations = collect("brew", SourceContext(root=str(tmp_path)))
    assert [(o.name, o.version, o.extra["kind"]) for o in observations] == [
        ("wget", "1.24.5", "formula"), ("tiktok-live-studio", "0.86.2", "cask")]


def _bundle(folder: Path, name: str, info: dict, binary: bool = False) -> None:
    contents = folder / name / "Contents"
    contents.mkdir(parents=True)
    fmt = plistlib.FMT_BINARY if binary else plistlib.FMT_XML
    (contents / "Info.plist").write_bytes(plistlib.dumps(info, fmt=fmt))


def test_macos_bundles_xml_binary_nested_and_per_user(tmp_path):
    apps = tmp_path / "Applications"
    _bundle(apps, "TikTok LIVE Studio.app", {"CFBundleName": "TikTok LIVE Studio", "CFBundleIdentifier":
            "com.bytedance.tiktok.livestudio", "CFBundleShortVersionString": "0.86.2",
            "CFBundleExecutable": "TikTok LIVE Studio"}, binary=True)
    _bundle(apps / "Vendor Tools", "Helper.app", {"CFBundleIdentifier": "com.vendor.helper", "CFBundleVersion": "7"})
    _bundle(tmp_path / "Users/jdoe/Applications", "TikTok.app", {"CFBundleDisplayName": "TikTok",
            "CFBundleIdentifier": "com.zhiliaoapp.musically"})
    (apps / "Broken.app").mkdir()
    observations = collect("macos_apps", SourceContext(root=str(tmp_path)))
    seen = {(o.name, o.identifier, o.version, o.scope) for o in observations}
    assert seen == {
        ("TikTok LIVE Studio", "com.bytedance.tiktok.livestudio", "0.86.2", "system"),
        ("Broken", None, None, "system"),
        ("Helper", "com.vendor.helper", "7", "system"),
        ("TikTok", "com.zhiliaoapp.musically", None, "user:jdoe"),
    }
    live = next(o for o in observations if o.name == "TikTok LIVE Studio")
    assert live.exe.endswith("Contents/MacOS/TikTok LIVE Studio")
    assert live.extra["bundle_name"] == "TikTok LIVE Studio.app"


@pytest.fixture
def registry() -> RecordedRegistry:
    return RecordedRegistry.from_file(str(FIXTURES / "windows" / "registry.json"))


def test_windows_programs_from_recorded_registry(registry):
    observations = collect("windows_programs", SourceContext(registry=registry))
    assert sorted((o.name, o.version, o.scope) for o in observations) == [
        ("7-Zip 24.09 (x64 edition)", "24.09.00.0", "system"),
        ("Google Chrome", "131.0.6778.86", "system"),
        ("TikTok LIVE Studio", "0.86.2", "user:S-1-5-21-3623811015-3361044348-30300820-1013"),
    ]


def test_windows_appx_families_from_recorded_registry(registry):
    observations = collect("windows_appx", SourceContext(registry=registry))
    assert sorted((o.identifier, o.version, o.scope.split(":")[0]) for o in observations) == [
        ("BytedancePte.Ltd.TikTok_6yccndn6064se", "38.6.0.0", "user"),
        ("Microsoft.WindowsCalculator_8wekyb3d8bbwe", "11.2410.0.0", "system"),
        ("Microsoft.WindowsTerminal_8wekyb3d8bbwe", "1.21.3231.0", "user"),
    ]


def test_appx_full_name_parsing():
    assert parse_full_name("BytedancePte.Ltd.TikTok_38.6.0.0_x64__6yccndn6064se") == (
        "BytedancePte.Ltd.TikTok", "38.6.0.0", "x64", "BytedancePte.Ltd.TikTok_6yccndn6064se")
    assert parse_full_name("not-a-package") is None


def test_windows_sources_unavailable_off_windows():
    for name in ("windows_programs", "windows_appx"):
        result = sources.run_source(name, SourceContext())
        assert result.status == "unavailable"


def test_one_failing_source_does_not_stop_others(tmp_path, monkeypatch):
    def broken(_ctx):
        raise PermissionError("denied: /var/lib/dpkg/status")

    monkeypatch.setitem(sources.SOURCES, "dpkg", broken)
    results = sources.run_sources(["dpkg", "brew", "processes"], SourceContext(details=False))
    assert [r.status for r in results] == ["error", "unavailable", "ok"]
    assert "PermissionError: denied" in results[0].error
    assert results[2].observations


def test_metainfo_with_entity_declarations_is_refused():
    from banwatch.device.sources.flatpak_release import first_release_version  # noqa: PLC0415

    bomb = (b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b'<component><releases><release version="&b;"/></releases></component>')
    assert first_release_version(bomb) is None
    assert first_release_version(b'<component><releases><release version="2.0"/></releases></component>') == "2.0"
    assert first_release_version(b"<component><release version='9'/></component>") is None
