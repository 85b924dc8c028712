"""`banwatch-agent run`: the long-running agent, scanning on start, on a new policy, and periodically.

One instance per device (a lock in the state directory). Each scan leaves the full report in
the state directory and a short account in the status file, which is what `status` and the
rollout's health gate read. A failing scan is recorded and retried at the next interval; it
never stops the agent. SIGHUP re-reads the policy and scans at once; SIGTERM and SIGINT finish
the current scan and exit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil

from banwatch import __version__
from banwatch.agent_config import AgentConfig
from banwatch.agent_status import write_status
from banwatch.atomic import write_atomic
from banwatch.device_policy import PolicyRejected, PolicyStore
from banwatch.errors import InputError
from banwatch.report import isoformat
from banwatch.scanner import scan
from banwatch.sources.base import SourceContext
from banwatch.sources.exe_hash import HashCache
from banwatch.verdicts import HostIdentity

LOCK_FILE = "agent.lock"
LAST_REPORT = "last-report.json"
# How often the installed policy file is checked for a replacement (a stat, nothing more).
POLICY_CHECK_SECONDS = 1.0
# Periodic scans are spread by up to this fraction of the interval, so a fleet does not scan in step.
SPLAY = 0.1


@contextlib.contextmanager
def single_instance(config: AgentConfig) -> Iterator[None]:
    """Hold the agent lock for the life of the process; a second `run` fails with the holder's pid."""
    os.makedirs(config.state_dir, mode=0o750, exist_ok=True)
    path = os.path.join(config.state_dir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise InputError.single(path, f"another banwatch-agent is running (pid {holder})",
                                    "stop it first ('banwatch-agent service stop'), or use 'status'") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _policy_stamp(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


class Agent:
    """The scan loop and the account it keeps of itself."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.store = PolicyStore(config)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.hash_cache = HashCache()
        now = dt.datetime.now(dt.timezone.utc)
        self.status: dict[str, Any] = {
            "pid": os.getpid(),
            "process_started": psutil.Process().create_time(),
            "started_at": isoformat(now),
            "agent_version": __version__,
            "detection": "polling",
            "scan_interval": config.scan_interval,
            "policy": None,
            "last_scan": None,
            "scans": 0,
            "last_error": None,
        }

    def request_stop(self, *_: object) -> None:
        self.stop.set()
        self.wake.set()

    def request_scan(self, *_: object) -> None:
        self.wake.set()

    def run(self) -> None:
        with single_instance(self.config):
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self.request_stop)
            signal.signal(signal.SIGHUP, self.request_scan)
            self._publish()
            stamp: object = object()  # differs from any real stamp: scan at once on start
            next_scan = 0.0
            while not self.stop.is_set():
                current = _policy_stamp(self.config.policy_path)
                if current != stamp or self.wake.is_set() or time.monotonic() >= next_scan:
                    stamp = current
                    self.wake.clear()
                    self.scan_once()
                    splay = self.config.scan_interval * SPLAY * random.random()  # noqa: S311 - spread, not secrecy
                    next_scan = time.monotonic() + self.config.scan_interval + splay
                self.wake.wait(POLICY_CHECK_SECONDS)

    def scan_once(self) -> dict[str, Any] | None:
        """One full scan with the installed policy; the report, or None when there was no usable policy."""
        now = dt.datetime.now(dt.timezone.utc)
        try:
            policy, info = self.store.load(now)
        except PolicyRejected as exc:
            self.status["policy"] = {"state": "unusable", "reason": str(exc)}
            self._error(now, f"no usable policy at {self.config.policy_path}: {exc}")
            return None
        host = HostIdentity(info.get("host_name") or self.config.host_name, frozenset(info.get("host_groups", ())))
        try:
            report = scan(policy, host, ctx=SourceContext(details=False, hash_cache=self.hash_cache), now=now,
                          policy_info=info)
        except Exception as exc:  # noqa: BLE001 - a failed scan is reported and retried, never fatal
            self._error(now, f"scan failed: {type(exc).__name__}: {exc}")
            return None
        report["agent"]["detection"] = self.status["detection"]
        write_atomic(os.path.join(self.config.state_dir, LAST_REPORT),
                     json.dumps(report, indent=2, default=str).encode(), 0o640)
        self.status["policy"] = {key: info.get(key) for key in ("version", "digest", "state", "expires_at")}
        self.status["last_scan"] = {
            "at": report["generated_at"], "report_id": report["report_id"],
            "policy_version": info["version"], "policy_digest": info["digest"],
            **report["summary"], "errors": report["errors"],
        }
        self.status["scans"] += 1
        self.status["last_error"] = None
        self._publish()
        return report

    def _error(self, now: dt.datetime, message: str) -> None:
        self.status["last_error"] = {"at": isoformat(now), "message": message}
        self._publish()

    def _publish(self) -> None:
        self.status["updated_at"] = isoformat(dt.datetime.now(dt.timezone.utc))
        write_status(self.config, self.status)
