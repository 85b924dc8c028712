"""Exemption check: who is covered, until when, and who never is."""

from __future__ import annotations

import datetime as dt

from banwatch.core.policy.model import Exemption, MatchRules
from banwatch.device.detect.matcher import Finding
from banwatch.device.detect.verdicts import HostIdentity, decide
from banwatch.device.sources.observations import KIND_PROCESS, Observation
from tests.unit.test_matcher import app

EXPIRES = dt.date(2027, 1, 31)


def finding(app_obj=None) -> Finding:
    return Finding(app_obj or app(process_names=("TikTok",)), Observation("processes", KIND_PROCESS, "TikTok"),
                   "process_names", "TikTok")


def exemption(hosts=(), groups=(), expires=EXPIRES, ex_id="EX-1", app_id="tiktok") -> Exemption:
    return Exemption(ex_id, app_id, tuple(hosts), tuple(groups), "r", "ciso", "T-1", expires)


def verdict(host, exemptions, today=dt.date(2027, 1, 1)):
    return decide([finding()], exemptions, host, today)[0]


def test_exempt_by_host_and_by_group():
    assert verdict(HostIdentity("ws-1", frozenset()), [exemption(hosts=["ws-1"])]).verdict == "exempt"
    v = verdict(HostIdentity("ws-2", frozenset({"press"})), [exemption(groups=["press"])])
    assert (v.verdict, v.exemption.id) == ("exempt", "EX-1")
    assert verdict(HostIdentity("ws-3", frozenset({"other"})), [exemption(groups=["press"])]).verdict == "violation"


def test_exemption_for_another_app_does_not_cover():
    other_app = exemption(hosts=["ws-1"], app_id="wechat")
    assert verdict(HostIdentity("ws-1", frozenset()), [other_app]).verdict == "violation"


def test_expiry_day_is_covered_the_day_after_is_not():
    host = HostIdentity("ws-1", frozenset())
    assert verdict(host, [exemption(hosts=["ws-1"])], today=EXPIRES).verdict == "exempt"
    late = verdict(host, [exemption(hosts=["ws-1"])], today=EXPIRES + dt.timedelta(days=1))
    assert late.verdict == "violation"
    assert late.note == f"exemption EX-1 expired on {EXPIRES}"


def test_under_review_app_is_never_a_violation():
    review = app("wechat", status="under_review", process_names=("WeChat",))
    v = decide([finding(review)], [], HostIdentity("ws-1", frozenset()), dt.date(2027, 1, 1))[0]
    assert v.verdict == "under_review"


def test_latest_of_several_exemptions_is_named():
    host = HostIdentity("ws-1", frozenset({"press"}))
    later = exemption(groups=["press"], ex_id="EX-2", expires=EXPIRES + dt.timedelta(days=30))
    assert verdict(host, [exemption(hosts=["ws-1"]), later]).exemption.id == "EX-2"


def test_match_rules_default_is_empty():
    assert not any(vars(MatchRules()).values())
