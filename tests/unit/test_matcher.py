"""Matching precedence and the ways a process is recognised."""

from __future__ import annotations

from banwatch.core.policy.model import App, MatchRules
from banwatch.device.detect.matcher import Matcher
from banwatch.device.sources.observations import KIND_BUNDLE, KIND_PACKAGE, KIND_PROCESS, Observation

SHA = "a" * 64


def app(app_id="tiktok", status="banned", **rules) -> App:
    return App(app_id, app_id.title(), "r", "critical", "kill", status, MatchRules(**rules))


def process(name, exe=None, cmdline=None, sha256=None) -> Observation:
    return Observation("processes", KIND_PROCESS, name, pid=42, exe=exe, cmdline=cmdline or [], sha256=sha256)


def rules_hit(matcher, obs):
    return [(f.app.id, f.rule, f.pattern) for f in matcher.match(obs)]


def test_most_specific_rule_wins():
    matcher = Matcher([app(process_names=("TikTok",), executable_paths=("/opt/tt/*",), executable_sha256=(SHA,))])
    assert rules_hit(matcher, process("TikTok", "/opt/tt/TikTok", sha256=SHA)) == [("tiktok", "executable_sha256", SHA)]
    assert rules_hit(matcher, process("TikTok", "/opt/tt/TikTok")) == [("tiktok", "executable_paths", "/opt/tt/*")]
    assert rules_hit(matcher, process("TikTok", "/usr/bin/TikTok")) == [("tiktok", "process_names", "TikTok")]


def test_renamed_binary_found_by_hash_only():
    matcher = Matcher([app(process_names=("TikTok",), executable_sha256=(SHA,))])
    assert rules_hit(matcher, process("notes", "/tmp/notes", sha256=SHA))[0][1] == "executable_sha256"
    assert rules_hit(matcher, process("notes", "/tmp/notes", sha256="b" * 64)) == []


def test_names_from_exe_argv0_and_windows_suffix():
    matcher = Matcher([app(process_names=("TikTok LIVE Studio",))])
    long_name = "TikTok LIVE Studio"
    assert rules_hit(matcher, process(long_name[:15], f"/opt/x/{long_name}"))  # comm was cut at 15
    assert rules_hit(matcher, process("python3", None, [f"/opt/x/{long_name}", "--x"]))  # exe unreadable
    assert rules_hit(matcher, process("x", "C:\\Apps\\TikTok LIVE Studio.exe"))


def test_command_line_rule_for_interpreted_apps():
    matcher = Matcher([app(command_line=("*/tiktok.py",))])
    assert rules_hit(matcher, process("python3", "/usr/bin/python3", ["python3", "/opt/x/tiktok.py"])) == [
        ("tiktok", "command_line", "*/tiktok.py")]
    assert rules_hit(matcher, process("tiktok.py", "/usr/bin/python3", ["/opt/x/tiktok.py"])) == []


def test_one_finding_per_app_and_several_apps():
    matcher = Matcher([app(process_names=("TikTok", "Tik*")), app("other", process_names=("TikTok",))])
    assert sorted(f[0] for f in rules_hit(matcher, process("TikTok", "/usr/bin/TikTok"))) == ["other", "tiktok"]


def test_packages_only_match_their_manager():
    matcher = Matcher([app(packages={"snap": ("tiktok-*",)})])
    assert rules_hit(matcher, Observation("snap", KIND_PACKAGE, "tiktok-web"))[0][1] == "packages.snap"
    assert rules_hit(matcher, Observation("dpkg", KIND_PACKAGE, "tiktok-web")) == []


def test_bundles_and_wanted_sources():
    matcher = Matcher([app(macos_bundle_ids=("com.zhiliaoapp.musically",),
                           macos_bundle_names=("TikTok LIVE Studio.app",))])
    bundle = Observation("macos_apps", KIND_BUNDLE, "TikTok", identifier="com.zhiliaoapp.musically",
                         extra={"bundle_name": "TikTok LIVE Studio.app"})
    assert rules_hit(matcher, bundle) == [("tiktok", "macos_bundle_ids", "com.zhiliaoapp.musically")]
    assert matcher.wanted_sources() == ["macos_apps"]
    assert not matcher.needs_hashes
