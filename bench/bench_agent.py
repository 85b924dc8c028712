"""The agent service: exec-to-detection and exec-to-kill latency, and what it costs when idle.

Latency: 1,000 short banned processes (a tagged copy of `sleep`) start at a steady rate while
`banwatch-agent run` (enforce mode, exec events) runs. The floor, measured in the same run,
is a minimal process-connector listener in its own process that only receives the same
events. Exec time is the kernel's timestamp on each exec event (CLOCK_MONOTONIC).
- exec-to-detection: the agent's match finished, minus the exec; floor: the listener's
  receive, minus the exec. Target: p99 within 10 ms of the floor's p99.
- exec-to-kill: the process's exit as its parent (this benchmark) sees it, minus the exec.
  Target: p99 under 25 ms.
Idle: with 1,000 background processes and 20 unrelated execs per second for 60 s, the
agent's CPU share of one core (target < 1%) and peak RSS (target < 32 MB), with the floor
listener's CPU share beside it, and the import time of what `banwatch-agent run` loads (its entry
module and the service commands) in a fresh interpreter.

Needs root (exec events); set BANWATCH_BENCH_IDLE_SECONDS to shorten the idle phase.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from banwatch.device.sources.exec_events import ExecEvents, unavailable_reason
from bench.common import import_seconds
from tests.device import Device, app, banned_copy, unique_tag, wait_for

BANNED_PROCESSES = 1000
RATE = 100  # banned starts per second
IDLE_BACKGROUND = 1000
IDLE_EXECS_PER_SECOND = 20
IDLE_SECONDS = float(os.environ.get("BANWATCH_BENCH_IDLE_SECONDS", "60"))
DETECTION_MARGIN_MS, KILL_TARGET_MS, CPU_TARGET, RSS_TARGET_MB = 10.0, 25.0, 1.0, 32.0
# What `banwatch-agent run` imports before the agent starts.
AGENT_MODULES = ("banwatch.device.cli.main", "banwatch.device.cli.service")


def floor_listener() -> None:
    """The floor: receive exec events, note when each arrived; print them all on SIGTERM."""
    seen: dict[int, tuple[int, int]] = {}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ExecEvents() as events:
        selector = selectors.DefaultSelector()
        selector.register(events, selectors.EVENT_READ)
        print("ready", flush=True)
        while not stop.is_set():
            if selector.select(0.2):
                arrived = time.monotonic_ns()
                for event in events.receive():
                    seen[event.pid] = (event.timestamp_ns, arrived)
    json.dump({str(pid): value for pid, value in seen.items()}, sys.stdout)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Reaper(threading.Thread):
    """Notes when each watched child exits (monotonic ns, through its pidfd), then reaps it."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.selector = selectors.DefaultSelector()
        self.exits: dict[int, tuple[int, int]] = {}
        self.done = threading.Event()

    def watch(self, pid: int) -> None:
        self.selector.register(os.pidfd_open(pid), selectors.EVENT_READ, pid)

    def run(self) -> None:
        while not self.done.is_set():
            for key, _ in self.selector.select(0.2):
                exited = time.monotonic_ns()
                _, status = os.waitpid(key.data, 0)
                self.exits[key.data] = (exited, status)
                self.selector.unregister(key.fd)
                os.close(key.fd)


def spawn(argv: list[str]) -> int:
    return os.posix_spawn(argv[0], argv, os.environ)


def start_floor() -> subprocess.Popen[str]:
    floor = subprocess.Popen([sys.executable, __file__, "--floor"], stdout=subprocess.PIPE, text=True)
    assert floor.stdout is not None
    assert floor.stdout.readline().strip() == "ready"
    return floor


def stop_floor(floor: subprocess.Popen[str]) -> dict[int, tuple[int, int]]:
    floor.send_signal(signal.SIGTERM)
    out, _ = floor.communicate(timeout=30)
    return {int(pid): tuple(value) for pid, value in json.loads(out).items()}  # type: ignore[misc]


def agent_log_events(log: Path, message: str) -> dict[int, dict[str, object]]:
    found = {}
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if record.get("message") == message and record.get("pid") is not None:
            found[int(record["pid"])] = record
    return found


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def latency_phase(device: Device, agent: subprocess.Popen[bytes], log: Path, tag: str) -> list[str]:
    binary = str(banned_copy(device.root / "bin", f"{tag}-app"))
    reaper = Reaper()
    floor = start_floor()
    reaper.start()
    pids = []
    started = time.monotonic()
    for index in range(BANNED_PROCESSES):
        delay = started + index / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pids.append(spawn([binary, "5"]))
        reaper.watch(pids[-1])
    wait_for(lambda: all(pid in reaper.exits for pid in pids), timeout=60, what="every banned process to end")
    time.sleep(0.5)
    floor_seen = stop_floor(floor)
    reaper.done.set()
    detected = agent_log_events(log, "detected")
    killed = {pid: (exit_ns, status) for pid, (exit_ns, status) in reaper.exits.items()
              if pid in floor_seen and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM}
    floor_ms = [(floor_seen[p][1] - floor_seen[p][0]) / 1e6 for p in pids if p in floor_seen]
    detect_ms = [float(detected[p]["exec_to_detection_ms"]) for p in pids if p in detected]  # type: ignore[arg-type]
    kill_ms = [(killed[p][0] - floor_seen[p][0]) / 1e6 for p in pids if p in killed]
    lines = [f"{BANNED_PROCESSES} banned processes at {RATE}/s: floor saw {len(floor_ms)}, agent detected "
             f"{len(detect_ms)}, killed {len(kill_ms)} (SIGTERM)"]
    for name, values in (("exec-to-detection", detect_ms), ("exec-to-kill", kill_ms)):
        if not values:
            lines.append(f"{name}: nothing measured OVER TARGET")
    if detect_ms and floor_ms:
        p99, floor_p99 = percentile(detect_ms, 0.99), percentile(floor_ms, 0.99)
        verdict = "ok" if p99 - floor_p99 <= DETECTION_MARGIN_MS else "OVER TARGET"
        lines.append(f"exec-to-detection: p50 {percentile(detect_ms, 0.5):.2f} ms, p99 {p99:.2f} ms vs floor "
                     f"p50 {percentile(floor_ms, 0.5):.2f} ms, p99 {floor_p99:.2f} ms = +{p99 - floor_p99:.2f} ms "
                     f"(target p99 <= floor + {DETECTION_MARGIN_MS:.0f} ms) {verdict}")
    if kill_ms:
        p99 = percentile(kill_ms, 0.99)
        lines.append(f"exec-to-kill: p50 {percentile(kill_ms, 0.5):.2f} ms, p99 {p99:.2f} ms "
                     f"(target p99 < {KILL_TARGET_MS:.0f} ms) {'ok' if p99 < KILL_TARGET_MS else 'OVER TARGET'}")
    complete = len(detect_ms) == len(kill_ms) == BANNED_PROCESSES
    lines.append(f"every banned process detected and killed: {'ok' if complete else 'OVER TARGET'}")
    return lines


def idle_phase(agent: subprocess.Popen[bytes]) -> list[str]:
    sleeper = shutil.which("sleep") or "/bin/sleep"
    innocent = shutil.which("true") or "/bin/true"
    background = [subprocess.Popen([sleeper, "600"]) for _ in range(IDLE_BACKGROUND)]
    floor = start_floor()
    floor_seen: dict[int, tuple[int, int]] = {}
    try:
        watched, floor_process = psutil.Process(agent.pid), psutil.Process(floor.pid)
        began, agent_cpu, floor_cpu = time.monotonic(), cpu_seconds(watched), cpu_seconds(floor_process)
        ticks = int(IDLE_SECONDS * IDLE_EXECS_PER_SECOND)
        for index in range(ticks):
            delay = began + index / IDLE_EXECS_PER_SECOND - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            subprocess.run([innocent], check=True)
        time.sleep(max(0.0, began + IDLE_SECONDS - time.monotonic()))
        elapsed = time.monotonic() - began
        agent_used, floor_used = cpu_seconds(watched) - agent_cpu, cpu_seconds(floor_process) - floor_cpu
        agent_share, floor_share = 100 * agent_used / elapsed, 100 * floor_used / elapsed
        rss = peak_rss_mb(agent.pid)
    finally:
        floor_seen = stop_floor(floor)
        for proc in background:
            proc.kill()
        for proc in background:
            proc.wait()
    machine_rate = len(floor_seen) / elapsed  # other users of this machine exec too: every agent sees it all
    return [
        f"idle ({IDLE_BACKGROUND} background processes, {IDLE_EXECS_PER_SECOND} execs/s of ours, "
        f"{machine_rate:.0f} execs/s machine-wide, {IDLE_SECONDS:.0f} s): "
        f"agent CPU {agent_share:.2f}% of one core vs floor listener {floor_share:.2f}% (target < {CPU_TARGET:.0f}%) "
        f"{'ok' if agent_share < CPU_TARGET else 'OVER TARGET'}",
        f"CPU per exec handled: agent {agent_used / max(len(floor_seen), 1) * 1e6:.0f} us vs floor listener "
        f"{floor_used / max(len(floor_seen), 1) * 1e6:.0f} us ({len(floor_seen)} execs)",
        f"agent peak RSS: {rss:.1f} MB (target < {RSS_TARGET_MB:.0f} MB) "
        f"{'ok' if rss < RSS_TARGET_MB else 'OVER TARGET'}, import {import_seconds(*AGENT_MODULES):.3f} s",
    ]


def main() -> list[str]:
    reason = unavailable_reason() or (None if os.geteuid() == 0 else "exec events need root")
    if reason:
        return [f"skipped: {reason}"]
    tag = unique_tag()
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as folder:
        device = Device(Path(folder))
        device.install([app(tag, process_names=[f"{tag}-app"])])
        device.write_config(mode="enforce", report_delay=5)
        log = Path(folder) / "agent-stderr.jsonl"
        with open(log, "wb") as stderr:
            agent = subprocess.Popen(device.agent_command(), stderr=stderr)
        try:
            status = device.state_dir / "status.json"
            wait_for(lambda: status.exists() and json.loads(status.read_text()).get("scans"), what="the agent")
            lines = latency_phase(device, agent, log, tag)
            lines += idle_phase(agent)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(60)
    return lines


if __name__ == "__main__":
    if sys.argv[1:] == ["--floor"]:
        floor_listener()
    else:
        print("\n".join(main()))
