"""Every validation rule of the policy source, each checked by the message it gives."""

from __future__ import annotations

import datetime as dt

import pytest

from banwatch.control.policy_source import load_policy_source
from banwatch.core.errors import InputError
from tests.conftest import TODAY, example_documents


def problems_of(folder, today=TODAY) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_policy_source(folder, today)
    return [str(p) for p in caught.value.problems]


def only_problem(folder, today=TODAY) -> str:
    problems = problems_of(folder, today)
    assert len(problems) == 1, problems
    return problems[0]


def test_example_source_is_valid(example_policy_dir):
    policy = load_policy_source(example_policy_dir, TODAY)
    assert [a.id for a in policy.apps] == ["tiktok", "wechat", "capcut", "temu"]
    assert [a.id for a in policy.apps if not a.banned] == ["wechat", "capcut", "temu"]
    assert [e.id for e in policy.expired_exemptions(TODAY)] == ["EX-2025-031"]
    assert {e.id for e in policy.active_exemptions(TODAY)} == {"EX-2026-014", "EX-2026-022"}
    assert policy.never_exempt_groups == {"classified"}
    tiktok = policy.app("tiktok")
    assert "com.zhiliaoapp.musically.go" in tiktok.match.android_packages
    assert "BytedancePte.Ltd.TikTok_6yccndn6064se" in tiktok.match.windows_appx_families
    assert policy.digest.startswith("sha256:")


def test_unknown_key_names_file_line_entry_and_suggests(write_policy):
    banlist = """\
schema: 1
apps:
  - id: tiktok
    name: TikTok
    reason: banned
    severity: critical
    action: kill
    match:
      proces_names: [TikTok]
"""
    message = problems_of(write_policy(banlist=banlist, exemptions="schema: 1\nexemptions: []\n"))[0]
    assert "banlist.yml:9:" in message
    assert "app 'tiktok'" in message
    assert "unknown key 'proces_names'" in message
    assert "did you mean 'process_names'" in message


def test_wrong_type_is_named(write_policy):
    banlist, register = example_documents()
    banlist["apps"][0]["match"]["process_names"] = "TikTok"
    message = only_problem(write_policy(banlist, register))
    assert "'process_names' must be a list, found text" in message
    assert "app 'tiktok'" in message


def test_unquoted_yes_is_reported_as_boolean(write_policy):
    banlist, register = example_documents()
    banlist["apps"][0]["name"] = True
    message = only_problem(write_policy(banlist, register))
    assert "'name' must be non-empty text, found a boolean (true)" in message
    assert "quote" in message


def test_exemption_for_unknown_app(write_policy):
    banlist, register = example_documents()
    register["exemptions"][0]["app"] = "tiktk"
    message = only_problem(write_policy(banlist, register))
    assert "exemptions.yml" in message and "exemption 'EX-2026-014'" in message
    assert "app 'tiktk' is not on the ban list (did you mean 'tiktok'?)" in message


def test_missing_expiry(write_policy):
    banlist, register = example_documents()
    del register["exemptions"][1]["expires"]
    message = only_problem(write_policy(banlist, register))
    assert "exemption 'EX-2026-022': 'expires' is missing" in message


def test_expiry_beyond_maximum_from_approval(write_policy):
    banlist, register = example_documents()
    register["exemptions"][0]["approved_on"] = dt.date(2026, 9, 1)
    register["exemptions"][0]["expires"] = dt.date(2027, 9, 2)
    message = only_problem(write_policy(banlist, register))
    assert "366 days after approved_on 2026-09-01, more than the maximum of 365" in message
    assert "no later than 2027-09-01" in message


def test_expiry_beyond_configured_maximum_from_today(write_policy):
    banlist, register = example_documents()
    register["max_exemption_days"] = 30
    del register["exemptions"][1]["approved_on"]
    register["exemptions"][1]["expires"] = TODAY + dt.timedelta(days=31)
    register["exemptions"][0]["expires"] = dt.date(2026, 9, 20)
    message = only_problem(write_policy(banlist, register))
    assert "EX-2026-022" in message and f"31 days after today ({TODAY})" in message
    assert "maximum of 30" in message


def test_exemption_on_never_exemptable_group(write_policy):
    banlist, register = example_documents()
    register["exemptions"][0]["groups"] = ["press_office", "classified"]
    message = only_problem(write_policy(banlist, register))
    assert "group 'classified' is marked never exemptable" in message
    assert "EX-2026-014" in message


def test_exemption_on_never_exemptable_host(write_policy):
    banlist, register = example_documents()
    register["never_exempt"]["hosts"] = ["ws-intel-03.corp.example.gov"]
    message = only_problem(write_policy(banlist, register))
    assert "host 'ws-intel-03.corp.example.gov' is marked never exemptable" in message


def test_duplicate_app_id(write_policy):
    banlist, register = example_documents()
    banlist["apps"][2]["id"] = "wechat"
    message = only_problem(write_policy(banlist, register))
    assert "app 'wechat'" in message and "duplicate app id (first used in entry 2)" in message


def test_duplicate_exemption_id(write_policy):
    banlist, register = example_documents()
    register["exemptions"][2]["id"] = "EX-2026-014"
    message = only_problem(write_policy(banlist, register))
    assert "duplicate exemption id (first used in entry 1)" in message


def test_empty_match_block(write_policy):
    banlist, register = example_documents()
    banlist["apps"][3]["match"] = {}
    message = only_problem(write_policy(banlist, register))
    assert "app 'temu'" in message and "the match block is empty" in message


@pytest.mark.parametrize("pattern", ["*", "**", "?*", "*.*", "a*", "[a-z]*"])
def test_glob_that_matches_everything(write_policy, pattern):
    banlist, register = example_documents()
    banlist["apps"][1]["match"]["process_names"] = ["WeChat", pattern]
    message = only_problem(write_policy(banlist, register))
    assert f"glob '{pattern}' in 'process_names' could match everything" in message


def test_broad_path_glob_is_refused(write_policy):
    banlist, register = example_documents()
    banlist["apps"][0]["match"]["executable_paths"] = ["/**/*"]
    assert "could match everything" in only_problem(write_policy(banlist, register))


def test_several_problems_are_reported_together(write_policy):
    banlist, register = example_documents()
    banlist["apps"][0]["severity"] = "extreme"
    register["exemptions"][0]["app"] = "nope"
    del register["exemptions"][1]["ticket"]
    problems = problems_of(write_policy(banlist, register))
    assert len(problems) == 3
    assert any("'severity' is 'extreme', which is not one of" in p for p in problems)
    assert any("'ticket' is missing" in p for p in problems)


def test_under_review_app_cannot_be_killed(write_policy):
    banlist, register = example_documents()
    banlist["apps"][1]["action"] = "kill"
    assert "an app under review cannot have action 'kill'" in only_problem(write_policy(banlist, register))


def test_bad_identifiers(write_policy):
    banlist, register = example_documents()
    match = banlist["apps"][0]["match"]
    match["executable_sha256"] = ["abc"]
    match["domains"].append("https://tiktok.com/")
    match["windows_appx_families"] = ["TikTok"]
    problems = problems_of(write_policy(banlist, register))
    assert len(problems) == 3
    assert any("SHA-256 is 64 hexadecimal" in p for p in problems)
    assert any("'https://tiktok.com/' is not a valid entry for 'domains'" in p for p in problems)


def test_expired_exemption_is_history_not_error(write_policy):
    banlist, register = example_documents()
    policy = load_policy_source(write_policy(banlist, register), dt.date(2030, 1, 1))
    assert len(policy.expired_exemptions(dt.date(2030, 1, 1))) == 3


def test_missing_file_and_directory(tmp_path):
    message = problems_of(tmp_path / "nope")[0]
    assert "not a directory" in message
    (tmp_path / "banlist.yml").write_text("schema: 1\napps: []\n")
    problems = problems_of(tmp_path)
    assert any("exemptions.yml: file not found" in p for p in problems)
    assert any("'apps' must be a non-empty list" in p for p in problems)


def test_wrong_schema_version(write_policy):
    banlist, register = example_documents()
    register["schema"] = 2
    assert "this banwatch reads schema 1" in only_problem(write_policy(banlist, register))
