"""The policy in force, ready to judge one process the moment it starts, or the whole device.

An exec event needs the single new process matched at once: read it from /proc, hash its
executable only when the policy has hash rules (cached per file identity), and run it
through the same Matcher and verdicts a full scan uses.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from banwatch.core.policy.verify import VerifiedPolicy
from banwatch.device.detect.matcher import Matcher
from banwatch.device.detect.scan import scan
from banwatch.device.detect.verdicts import HostIdentity, decide
from banwatch.device.report.finding import ReportedFinding
from banwatch.device.report.model import Report
from banwatch.device.sources.base import SourceContext
from banwatch.device.sources.exe_hash import HashCache
from banwatch.device.sources.observations import Observation
from banwatch.device.sources.processes import add_details


class Detector:
    def __init__(self, policy: VerifiedPolicy, info: dict[str, Any], host: HostIdentity, hash_cache: HashCache) -> None:
        self.policy = policy
        self.info = info
        self.host = host
        self.hash_cache = hash_cache  # the loop's: exec events
        self.scan_hash_cache = HashCache()  # the scan thread's own (a cache is not shared across threads)
        self.matcher = Matcher(policy.apps)

    @property
    def version(self) -> int | None:
        return self.info.get("version")

    def judge(self, obs: Observation, now: dt.datetime) -> list[ReportedFinding]:
        """The findings on one process (none for the vast majority)."""
        if self.matcher.needs_hashes:
            obs.sha256 = self.hash_cache.for_process(obs.pid, obs.exe)
        findings = self.matcher.match(obs)
        if not findings:
            return []
        add_details(obs)
        verdicts = decide(findings, self.policy.exemptions, self.host, now.date())
        return [ReportedFinding.from_verdict(verdict) for verdict in verdicts]

    def scan(self, now: dt.datetime, source_names: list[str] | None = None) -> Report:
        """A full scan (or of the named sources) with this policy: the report."""
        return scan(self.policy, self.host, ctx=SourceContext(details=False, hash_cache=self.scan_hash_cache), now=now,
                    policy_info=self.info, source_names=source_names)
