"""Glob semantics as written in banwatch.core.globs."""

from __future__ import annotations

import pytest

from banwatch.core.globs import PatternSet, too_broad


def tags(patterns, text, path=False):
    return sorted(tag for _, tag in PatternSet([(p, p) for p in patterns], path=path).match(text))


def test_names_are_case_insensitive_and_whole():
    assert tags(["TikTok"], "tiktok") == ["TikTok"]
    assert tags(["TikTok"], "TikTokHelper") == []
    assert tags(["TikTok*"], "TikTok LIVE Studio") == ["TikTok*"]
    assert tags(["?ikTok"], "TikTok") == ["?ikTok"]
    assert tags(["[Tt]ikTok"], "tikTok") == ["[Tt]ikTok"]
    assert tags(["Tik[!T]ok"], "TikTok") == []


def test_path_star_stays_in_one_component_double_star_crosses():
    assert tags(["/opt/tiktok/*"], "/opt/tiktok/bin", path=True) == ["/opt/tiktok/*"]
    assert tags(["/opt/tiktok/*"], "/opt/tiktok/bin/tiktok", path=True) == []
    assert tags(["/opt/tiktok/**"], "/opt/tiktok/bin/tiktok", path=True) == ["/opt/tiktok/**"]
    assert tags(["/opt/TikTok/*"], "/opt/tiktok/x", path=True) == []
    assert tags(["*tiktok*"], "/opt/TikTok/x") == ["*tiktok*"]  # names: * crosses /  # POSIX paths keep their case


def test_windows_paths_fold_case_and_separators():
    pattern = "C:\\Program Files\\TikTok LIVE Studio\\**"
    assert tags([pattern], "c:\\program files\\tiktok live studio\\bin\\TikTok LIVE Studio.exe", path=True) == [pattern]


def test_regex_characters_are_literal():
    assert tags(["a.b+(c)"], "a.b+(c)") == ["a.b+(c)"]
    assert tags(["a.b+(c)"], "axb+(c)") == []


@pytest.mark.parametrize(("pattern", "broad"), [("*", True), ("**/*", True), ("*.*", True), ("ab*", True),
                                                ("TikTok", False), ("Tik*", False), ("*.exe", False)])
def test_too_broad(pattern, broad):
    assert too_broad(pattern) is broad
