"""`banwatch-agent run`: the long-running agent. Catches a banned app the moment it starts.

One instance per device (a lock in the state directory), one selector loop in the main thread,
beside a scan worker, the report writer and the shipper:

- detection: exec events from the kernel's process connector where it sends them (root, the
  initial PID namespace, Linux), each new process matched at once; elsewhere a poll of the
  process table every `poll_interval` seconds. An event buffer overrun triggers a full scan,
  and the next report says how many overruns there were.
- full scans on start, when a new policy is installed, and every `scan_interval` seconds plus
  a random splay; package sources again whenever their databases change. Scans run on a
  worker thread (detect/background.py), so exec events never wait for one.
- actions on violations in `enforce` mode (act/actions.py); every report leaves through one
  `ReportSink` (report/sink.py), after its actions have an outcome (report/outbox.py).
- signals: SIGHUP reloads configuration and policy, sends pending reports, and rescans;
  SIGTERM/SIGINT finish the running scan and kills, send every pending report and exit.
- self-limits (watchdog.py), a status file for `status` and the rollout's health gate, and
  JSON log lines on stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import gc
import os
import random
import selectors
import signal
import time
from collections.abc import Iterator
from typing import Any

import psutil

from banwatch import __version__
from banwatch.core.errors import InputError
from banwatch.core.policy.verify import PolicyRejected
from banwatch.core.timestamps import isoformat
from banwatch.device.act.actions import Responder
from banwatch.device.act.kill import Killer
from banwatch.device.act.quarantine import QuarantineStore
from banwatch.device.config import AgentConfig, load_config
from banwatch.device.detect.background import ScanRunner
from banwatch.device.detect.detector import Detector
from banwatch.device.detect.verdicts import HostIdentity
from banwatch.device.policy_store import PolicyStore
from banwatch.device.report.build import build_report
from banwatch.device.report.delivery import SpooledDelivery
from banwatch.device.report.finding import Detection, ReportedFinding
from banwatch.device.report.model import Report
from banwatch.device.report.outbox import Outbox, Waiting
from banwatch.device.report.sink import ReportSink
from banwatch.device.service.log import agent_logger
from banwatch.device.service.status import write_status
from banwatch.device.service.watchdog import CHECK_SECONDS, CPU_OVER, MEMORY_OVER, RESTART, Watchdog
from banwatch.device.sources import processes
from banwatch.device.sources.base import SourceContext
from banwatch.device.sources.exe_hash import HashCache
from banwatch.device.sources.exec_events import EventsUnavailable, ExecEvents
from banwatch.device.sources.observations import SourceResult
from banwatch.device.sources.package_watch import PackageWatch

LOCK_FILE = "agent.lock"
# How often the installed policy file is checked for a replacement (a stat, nothing more).
POLICY_CHECK_SECONDS = 1.0
# Periodic scans are spread by up to this fraction of the interval, so a fleet does not scan in step.
SPLAY = 0.1
# Periodic work is stretched this much while the agent is over its CPU limit.
BACKOFF_FACTOR = 4
STATUS_EVERY = 1.0  # seconds between status rewrites caused by detections alone
EXIT_RESTART_ME = 75  # EX_TEMPFAIL: over the memory limit; the service manager starts a fresh agent
EVENTS, POLLING = "events", "polling"
LOOP_ERROR_PAUSE = 0.1  # seconds the loop waits after an unexpected error, before going on
LOOP_RESCAN_SECONDS = 5.0  # ... and how soon a full scan looks again at everything
SCAN_RETRY_SECONDS = 60.0  # a scan that failed is tried again this soon, not a full interval later


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


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _detection_fields(finding: ReportedFinding) -> dict[str, Any]:
    """How the finding was detected, for its log lines."""
    return finding.detection.document() if finding.detection is not None else {}


class Agent:
    """The loop, the policy in force, and the account the agent keeps of itself."""

    def __init__(self, config: AgentConfig, sink: ReportSink | None = None) -> None:
        self.config = config
        self.log = agent_logger(config.log_level)
        self.store = PolicyStore(config)
        self.selector = selectors.DefaultSelector()
        self.killer = Killer(self.selector, config.kill_grace)
        self.scans = ScanRunner(lambda: self._flag("scanned"))
        self.responder = Responder(self.killer, QuarantineStore(config.state_dir), config.mode)
        # Reports are signed into the spool and shipped from there, unless a caller brings its own sink.
        self.delivery = SpooledDelivery(config, on_shipped=lambda: self._flag("shipped")) if sink is None else None
        self.outbox = Outbox(sink or self.delivery)
        self.watchdog = Watchdog(config.cpu_limit_percent, config.memory_limit_mb)
        self.hash_cache = HashCache()
        self.detector: Detector | None = None
        self.events: ExecEvents | None = None
        self.packages: PackageWatch | None = None
        self.polled: set[tuple[int | None, str | None, tuple[str, ...]]] = set()
        self.flags: set[str] = set()  # "stop", "reload": set by signal handlers, acted on by the loop
        self.exit_code = 0
        self.events_lost = 0  # overruns not yet told in a report
        self.rescan_for_lost_events = False
        self.policy_stamp: object = object()
        self.due: dict[str, float] = {}  # timer name → time.monotonic() it is due
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector.register(self._wake_read, selectors.EVENT_READ, self._drain_wake)
        self._published = 0.0
        self._dirty = False
        self.faults: dict[str, str] = {}  # the loop's and the scans' own; the writer and shipper keep theirs
        now = _utcnow()
        self.status: dict[str, Any] = {
            "pid": os.getpid(),
            "process_started": psutil.Process().create_time(),
            "started_at": isoformat(now),
            "agent_version": __version__,
            "mode": config.mode,
            "detection": None,
            "detection_reason": None,
            "scan_interval": config.scan_interval,
            "poll_interval": config.poll_interval,
            "policy": None,
            "last_scan": None,
            "last_package_scan": None,
            "scans": 0,
            "detections": 0,
            "last_detection": None,
            "events_lost": 0,
            "spool_depth": 0,
            "pending_reports": 0,
            "self_limits": None,
            "last_error": None,
            "faults": {},
        }

    # --- signals and the loop -------------------------------------------------------------

    def request_stop(self, *_: object) -> None:
        self._flag("stop")

    def request_reload(self, *_: object) -> None:
        self._flag("reload")

    def _flag(self, name: str) -> None:
        self.flags.add(name)
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_write, b"\0")

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_read, 512):
                pass

    def run(self) -> int:
        """Hold the lock, serve until SIGTERM/SIGINT; the exit code (75: restart me)."""
        with single_instance(self.config):
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self.request_stop)
            signal.signal(signal.SIGHUP, self.request_reload)
            return self.serve()

    def serve(self) -> int:
        """The loop itself (tests drive it from a thread and stop it with `request_stop`)."""
        self.log.info("agent starting", extra={"fields": {"version": __version__, "mode": self.config.mode}})
        self._open_detection()
        if self.delivery is not None:
            self.delivery.start()
        now = time.monotonic()
        self.due = {"policy": now, "watchdog": now + CHECK_SECONDS}
        try:
            while "stop" not in self.flags or self.killer.pending or self.scans.busy:
                try:
                    self._wait_and_dispatch()
                    self._run_due()
                except Exception as exc:  # noqa: BLE001 - one bad event must not end detection
                    self._loop_failed(exc)
        finally:
            self._shutdown()
        return self.exit_code

    def _loop_failed(self, exc: Exception) -> None:
        """Log an exception the loop met, with its traceback, and keep it in `status` (a fault, which
        the health gate fails on) until the next full scan runs through; pending reports stay."""
        self.faults["loop"] = f"{type(exc).__name__}: {exc}"
        self.log.error("the agent's loop met an unexpected error; detection goes on", exc_info=exc)
        self._error(f"the agent's loop met an unexpected error, and goes on: {self.faults['loop']}")
        # What the error cut short (a detection, say) is found again by a full scan, soon.
        self.due["scan"] = min(self.due.get("scan", float("inf")), time.monotonic() + LOOP_RESCAN_SECONDS)
        time.sleep(LOOP_ERROR_PAUSE)  # an error that repeats at once must not spin a core

    def _wait_and_dispatch(self) -> None:
        soonest = min(self.due.values(), default=time.monotonic() + 1)
        for deadline in (self.killer.next_deadline(), self.outbox.next_due()):
            if deadline is not None and deadline < soonest:
                soonest = deadline
        if self._dirty:
            soonest = min(soonest, self._published + STATUS_EVERY)
        for key, _ in self.selector.select(max(0.0, soonest - time.monotonic())):
            key.data()

    def _run_due(self) -> None:
        if "scanned" in self.flags:
            self.flags.discard("scanned")
            self._scanned()
        if "reload" in self.flags:
            self.flags.discard("reload")
            self._reload()
        if "shipped" in self.flags:  # status shows the last shipment
            self.flags.discard("shipped")
            self._dirty = True
        if self.killer.pending:
            self.killer.tick()
        if "stop" in self.flags:
            return
        now = time.monotonic()
        if now >= min(self.due.values()):
            for name in [name for name, due in self.due.items() if due <= now]:
                getattr(self, f"_due_{name}")()
            self._note_sink_failures()
            if self._current_faults() != self.status["faults"]:  # a thread failed, or recovered
                self._dirty = True
        if self.outbox.waiting:
            self._send_ready()
        if self._dirty and time.monotonic() - self._published >= STATUS_EVERY:
            self._publish()

    def _shutdown(self) -> None:
        self._send_ready(everything=True)
        taken = self.outbox.close()  # every report is in the sink before the agent exits
        self._note_sink_failures()
        if not taken:
            self._error(f"{self.outbox.depth()} report(s) not taken by the sink before exit")
        if self.delivery is not None:
            self.delivery.stop()  # what was not shipped yet stays spooled for the next start
        if self.events is not None:
            self.selector.unregister(self.events)
            self.events.close()
        self.log.info("agent stopped", extra={"fields": {"exit_code": self.exit_code}})
        self._publish()

    def _send_ready(self, *, everything: bool = False) -> None:
        if self.outbox.flush(everything=everything) or everything:
            self._dirty = True
        self._note_sink_failures()

    def _note_sink_failures(self) -> None:
        while not self.outbox.failures.empty():
            failure = self.outbox.failures.get()
            if not isinstance(failure, OSError):  # not the disk: a bug, whose traceback is wanted
                self.log.error("the report writer met an unexpected error", exc_info=failure)
            self._error(f"the report sink failed, the report is kept and retried: "
                        f"{type(failure).__name__}: {failure}")

    # --- detection ----------------------------------------------------------------------------

    def _open_detection(self) -> None:
        reason = "configured (detection: polling)" if self.config.detection == POLLING else None
        if reason is None:
            try:
                self.events = ExecEvents()
            except EventsUnavailable as exc:
                reason = str(exc)
        if self.events is not None:
            self.selector.register(self.events, selectors.EVENT_READ, self._on_events)
            self.status.update(detection=EVENTS, detection_reason=None)
        else:
            self.status.update(detection=POLLING, detection_reason=reason)
        self.log.info("detection mode", extra={"fields": {"detection": self.status["detection"], "reason": reason}})

    def _close_detection(self) -> None:
        if self.events is not None:
            self.selector.unregister(self.events)
            self.events.close()
            self.events = None
        self.due.pop("poll", None)

    def _on_events(self) -> None:
        source = self.events
        if source is None:
            return
        try:
            events = source.receive()
        except OSError as exc:  # the socket itself failed: poll from now on, and look at everything
            self._close_detection()
            self.status.update(detection=POLLING, detection_reason=f"exec events failed: {exc}")
            self._error(f"exec events failed ({exc}); polling from now on")
            self._poll(judge=False)
            self.due["poll"] = time.monotonic() + self.config.poll_interval
            self.due["scan"] = time.monotonic()
            return
        if source.overruns:
            self.events_lost += source.overruns
            self.status["events_lost"] += source.overruns
            self.log.warning("exec events were lost (buffer overrun): full scan now",
                             extra={"fields": {"overruns": source.overruns}})
            source.overruns = 0
            self.due["scan"] = time.monotonic()
            self.rescan_for_lost_events = True
        detector = self.detector
        if detector is None:
            return
        for event in events:
            obs = processes.read_process("/proc", event.pid)
            if obs is None:
                continue
            findings = detector.judge(obs, _utcnow())
            if findings:
                detected = time.monotonic_ns()
                for finding in findings:
                    finding.detection = Detection(EVENTS, exec_to_detection_ms=(detected - event.timestamp_ns) / 1e6)
                self._dispatch(findings, event.timestamp_ns)

    def _due_poll(self) -> None:
        self._poll(judge=True)
        self.due["poll"] = time.monotonic() + self.config.poll_interval * self._stretch()

    def _poll(self, *, judge: bool) -> None:
        """Judge the processes not seen at the last poll (same pid, program and arguments)."""
        observations = processes.collect(SourceContext(details=False))
        seen = set()
        now = _utcnow()
        for obs in observations:
            key = (obs.pid, obs.exe, tuple(obs.cmdline or ()))
            seen.add(key)
            if judge and key not in self.polled and self.detector is not None:
                findings = self.detector.judge(obs, now)
                for finding in findings:
                    finding.detection = Detection(POLLING)
                if findings:
                    self._dispatch(findings, None)
        self.polled = seen

    def _dispatch(self, findings: list[ReportedFinding], exec_ns: int | None) -> None:
        """Act on fresh detections and add them to the open batch report."""
        batch = self.outbox.batch(self._batch_report, self.config.report_delay)
        for finding in findings:
            batch.report.findings.append(finding)
            batch.outstanding += 1
            self.responder.act(finding, lambda f=finding: self._acted(batch, f, exec_ns))
            self.log.info("detected", extra={"fields": {
                "app": finding.app, "verdict": finding.verdict, "pid": finding.evidence.pid,
                "exe": finding.evidence.exe, "rule": {"kind": finding.rule.kind, "pattern": finding.rule.pattern},
                **_detection_fields(finding)}})
        first = findings[0]
        self.status["detections"] += len(findings)
        self.status["last_detection"] = {"at": isoformat(_utcnow()), "app": first.app, "verdict": first.verdict,
                                         "pid": first.evidence.pid}
        self._dirty = True

    def _acted(self, held: Waiting, finding: ReportedFinding, exec_ns: int | None) -> None:
        held.outstanding -= 1
        record = finding.response
        if not record.taken:
            return
        if exec_ns is not None and finding.detection is not None:
            finding.detection.exec_to_action_ms = (time.monotonic_ns() - exec_ns) / 1e6
        self.log.info("acted", extra={"fields": {
            "app": finding.app, "pid": finding.evidence.pid, "action": record.action_taken,
            "outcome": record.outcome, "quarantine": record.quarantine.document() if record.quarantine else None,
            **_detection_fields(finding)}})

    def _batch_report(self) -> Report:
        detector = self.detector
        if detector is None:  # detections need a policy, so there is one
            raise RuntimeError("a detection without a policy in force")
        report = build_report(detector.host, verdicts=[], results=[SourceResult("processes", "ok")],
                              policy=detector.info, generated_at=_utcnow())
        return self._annotate(report, "exec" if self.events is not None else "poll")

    def _annotate(self, report: Report, trigger: str) -> Report:
        """What the daemon adds to a report: why it was made, and how the agent runs."""
        report.trigger = trigger
        report.agent = dataclasses.replace(
            report.agent, detection=self.status["detection"], mode=self.config.mode,
            detection_reason=self.status["detection_reason"] or None, events_lost=self.events_lost or None,
            self_limits=self.watchdog.last if self.watchdog.episodes else None)
        self.events_lost = 0
        return report

    # --- policy and scans ---------------------------------------------------------------------

    def _due_policy(self) -> None:
        current = _policy_stamp(self.config.policy_path)
        self.due["policy"] = time.monotonic() + POLICY_CHECK_SECONDS
        if current == self.policy_stamp:
            return
        first = self.detector is None and self.status["scans"] == 0
        self.policy_stamp = current
        if self._load_policy():
            self._scan("start" if first else "policy")

    def _load_policy(self) -> bool:
        """Load the policy to enforce, under the rules `policy install` applies (PolicyStore.load).
        A file at the policy path that fails them leaves the last good policy in force (the one the
        device kept, else the one this agent runs), and `status`, the log and every report say so
        (`policy.rejected`) until a good policy is in place. True when a policy is in force."""
        now = _utcnow()
        try:
            policy, info = self.store.load(now)
        except PolicyRejected as exc:
            if self.detector is None:
                self.status["policy"] = {"state": "unusable", "reason": str(exc), "rejected": exc.record}
                self._error(f"no usable policy at {self.config.policy_path}: {exc}")
                return False
            # Nothing kept on disk (a policy installed before the device kept one): this agent's stays.
            policy = self.detector.policy
            info = {**self.detector.info, "rejected": exc.record, "last_rejection": exc.record}
        rejected = info.get("rejected")
        if rejected:
            self._error(f"the policy at {rejected['file']} was rejected: {rejected['reason']}; "
                        f"version {info.get('version')}, the last good one, stays in force")
        host = HostIdentity(info.get("host_name") or self.config.host_name, frozenset(info.get("host_groups", ())))
        self.detector = Detector(policy, info, host, self.hash_cache)
        self.responder.policy_version = info.get("version")
        self.status["policy"] = {key: info.get(key) for key in ("version", "digest", "state", "expires_at")}
        if rejected:
            self.status["policy"].update(rejected=rejected, reason=f"kept in force: {rejected['file']} was rejected "
                                                                   f"({rejected['reason']})")
        wanted = self.detector.matcher.wanted_sources()
        self.packages = PackageWatch(wanted)
        self.due["packages"] = time.monotonic() + self.config.package_check_interval
        if self.events is None and "poll" not in self.due:
            self._poll(judge=False)  # the scan that follows covers what runs now
            self.due["poll"] = time.monotonic() + self.config.poll_interval
        self.log.info("policy in force", extra={"fields": {"version": info.get("version"), "state": info.get("state")}})
        return True

    def _due_scan(self) -> None:
        self._scan("events_lost" if self.rescan_for_lost_events else "periodic")
        self.rescan_for_lost_events = False

    def _scan(self, trigger: str, source_names: list[str] | None = None) -> None:
        """Ask for a full scan (or of the named sources); `_scanned` acts on it when it is done."""
        if not source_names:
            splay = self.config.scan_interval * SPLAY * random.random()  # noqa: S311 - spread, not secrecy
            self.due["scan"] = time.monotonic() + (self.config.scan_interval + splay) * self._stretch()
        if self.detector is not None:
            self.scans.request(self.detector, trigger, source_names)

    def _scanned(self) -> None:
        """Act on every finished scan and queue its report to leave."""
        for job in self.scans.finished():
            report = job.report
            if report is None:
                self.faults["scan"] = job.error or "scan failed"
                self._error(f"{self.faults['scan']}; tried again in {SCAN_RETRY_SECONDS:.0f} s")
                self.due["scan"] = min(self.due.get("scan", float("inf")), time.monotonic() + SCAN_RETRY_SECONDS)
                continue
            self._annotate(report, job.trigger)
            held = self.outbox.hold(report)
            for finding in report.findings:
                held.outstanding += 1
                self.responder.act(finding, lambda f=finding, h=held: self._acted(h, f, None))
            info = job.detector.info
            summary = report.summary.document()
            account = {"at": isoformat(report.generated_at), "report_id": report.report_id, "trigger": job.trigger,
                       "policy_version": info["version"], "policy_digest": info["digest"],
                       **summary, "errors": [error.document() for error in report.errors]}
            if job.source_names:
                self.status["last_package_scan"] = {**account, "sources": job.source_names}
            else:
                self.status["last_scan"] = account
                self.status["scans"] += 1
                self.status["last_error"] = None
                self.faults.clear()
            self.log.info("scanned", extra={"fields": {"trigger": job.trigger, **summary,
                                                       "errors": len(report.errors)}})
        self._send_ready()
        self._publish()

    def _due_packages(self) -> None:
        self.due["packages"] = time.monotonic() + self.config.package_check_interval * self._stretch()
        changed = self.packages.changed() if self.packages else []
        if changed:
            self._scan("packages_changed", changed)

    # --- reload, self-limits, status ------------------------------------------------------------

    def _reload(self) -> None:
        """SIGHUP: send what is pending, re-read configuration and policy, and scan."""
        self.outbox.seal()
        self._send_ready()
        try:
            config = load_config(self.config.path)
        except InputError as exc:
            self._error(f"configuration not reloaded, the running one stays: {exc}")
            return
        if config.state_dir != self.config.state_dir:
            self.log.warning("state_dir changes only with a restart", extra={"fields": {"state_dir": config.state_dir}})
            config = dataclasses.replace(config, state_dir=self.config.state_dir)
        detection_changed = config.detection != self.config.detection
        self.config = config
        self.log.setLevel(config.log_level.upper())
        self.store = PolicyStore(config)
        self.responder.mode = config.mode
        self.killer.grace = config.kill_grace
        self.watchdog.cpu_limit_percent = config.cpu_limit_percent
        self.watchdog.memory_limit_mb = config.memory_limit_mb
        self.status.update(mode=config.mode, scan_interval=config.scan_interval, poll_interval=config.poll_interval)
        if detection_changed:
            self._close_detection()
            self._open_detection()
        self.log.info("configuration reloaded", extra={"fields": {"mode": config.mode}})
        self.policy_stamp = _policy_stamp(config.policy_path)
        if self._load_policy():
            self._scan("reload")

    def _due_watchdog(self) -> None:
        self.due["watchdog"] = time.monotonic() + CHECK_SECONDS
        verdict = self.watchdog.check()
        self.status["self_limits"] = self.watchdog.last
        self._dirty = True
        if verdict == CPU_OVER:
            self.log.warning("over the CPU limit: backing off periodic work", extra={"fields": self.watchdog.last})
        elif verdict == MEMORY_OVER:
            self.log.warning("over the memory limit: dropping caches", extra={"fields": self.watchdog.last})
            self.hash_cache = HashCache()
            if self.detector is not None:
                self.detector = Detector(self.detector.policy, self.detector.info, self.detector.host, self.hash_cache)
            gc.collect()
        elif verdict == RESTART:
            self._error(f"over the memory limit ({self.watchdog.last['rss_mb']} MB > "
                        f"{self.config.memory_limit_mb} MB) after dropping caches: exiting to be restarted")
            self.exit_code = EXIT_RESTART_ME
            self.flags.add("stop")

    def _stretch(self) -> int:
        return BACKOFF_FACTOR if self.watchdog.backing_off else 1

    def _error(self, message: str) -> None:
        self.status["last_error"] = {"at": isoformat(_utcnow()), "message": message}
        self.log.error(message)
        self._publish()

    def _current_faults(self) -> dict[str, str]:
        """Each part of the agent that is failing now, and why: what the health gate refuses."""
        faults = dict(self.faults)
        if self.outbox.fault:
            faults["report_writer"] = self.outbox.fault
        shipper_fault = self.delivery.fault if self.delivery is not None else None
        if shipper_fault:
            faults["shipper"] = shipper_fault
        return faults

    def _publish(self) -> None:
        self.status["updated_at"] = isoformat(_utcnow())
        self.status["pending_reports"] = self.outbox.depth()
        self.status["spool_depth"] = self.outbox.sink.depth()
        self.status["faults"] = self._current_faults()
        if self.delivery is not None:
            self.status["last_shipment"] = self.delivery.last_shipment
        try:
            write_status(self.config, self.status)
        except OSError as exc:  # a full disk, say: the loop goes on, and tries again at the next change
            self.log.error(f"the status file could not be written: {exc}")
        self._published = time.monotonic()
        self._dirty = False
