"""Supervised mode: the agent as a service on hosts without systemd (and in the fleet lab).

`start` detaches a small supervisor (double fork, new session, output to the log file) that
runs `banwatch-agent run` and restarts it when it dies, backing off when it keeps dying.
`stop` ends the supervisor, which stops the agent first. The pid file names the supervisor
with its start time, so a stale file or a reused pid is never mistaken for a running service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import psutil

from banwatch.core.atomic import write_atomic
from banwatch.device.config import AgentConfig
from banwatch.device.service.status import process_alive, read_json

PID_FILE = "agent.pid"
STARTED, RUNNING, STOPPED, NOT_RUNNING = "started", "running", "stopped", "not running"
# Restart delays double from the first to the last while the agent keeps dying young.
FIRST_BACKOFF, MAX_BACKOFF, HEALTHY_RUN = 1.0, 60.0, 60.0
STOP_GRACE = 20.0  # seconds the agent gets to finish its scan before SIGKILL


@dataclass(frozen=True)
class ServiceResult:
    result: str
    pid: int | None

    def document(self) -> dict[str, object]:
        return {"result": self.result, "pid": self.pid}


def pid_path(config: AgentConfig) -> str:
    return os.path.join(config.run_dir, PID_FILE)


def running_supervisor(config: AgentConfig) -> int | None:
    record = read_json(pid_path(config)) or {}
    return record["pid"] if process_alive(record.get("pid"), record.get("started")) else None


def start(config: AgentConfig) -> ServiceResult:
    pid = running_supervisor(config)
    if pid is not None:
        return ServiceResult(RUNNING, pid)
    os.makedirs(config.run_dir, mode=0o755, exist_ok=True)
    os.makedirs(os.path.dirname(config.log_file), mode=0o750, exist_ok=True)
    child = os.fork()
    if child == 0:  # pragma: no cover - the detached side, observed through its pid file
        _detach_and_supervise(config)
    os.waitpid(child, 0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = running_supervisor(config)
        if pid is not None:
            return ServiceResult(STARTED, pid)
        time.sleep(0.02)
    raise RuntimeError(f"the supervisor did not start; see {config.log_file}")


def stop(config: AgentConfig) -> ServiceResult:
    pid = running_supervisor(config)
    if pid is None:
        return ServiceResult(NOT_RUNNING, None)
    process = psutil.Process(pid)
    process.terminate()
    try:
        process.wait(STOP_GRACE + 5)
    except psutil.TimeoutExpired:
        process.kill()
        process.wait(5)
    return ServiceResult(STOPPED, pid)


def _detach_and_supervise(config: AgentConfig) -> None:  # pragma: no cover - runs detached
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    os.chdir("/")
    os.umask(0o027)
    log = os.open(config.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 1024)  # nothing of the SSH session (or Ansible's pipes) stays open
    try:
        Supervisor(config).run()
    finally:
        os._exit(0)


class Supervisor:
    """Runs the agent, restarts it when it dies, stops it on SIGTERM, passes SIGHUP on."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.stopping = threading.Event()
        self.agent: subprocess.Popen[bytes] | None = None

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGHUP, self._on_hup)
        me = psutil.Process()
        write_atomic(pid_path(self.config), json.dumps({"pid": me.pid, "started": me.create_time()}).encode(),
                     0o644, durable=False)
        backoff = FIRST_BACKOFF
        try:
            while not self.stopping.is_set():
                began = time.monotonic()
                self.agent = subprocess.Popen([sys.executable, "-m", "banwatch.device.cli.main", "run",
                                               "--config", self.config.path])
                code = self.agent.wait()
                if self.stopping.is_set():
                    break
                if time.monotonic() - began > HEALTHY_RUN:
                    backoff = FIRST_BACKOFF
                sys.stderr.write(f"banwatch supervisor: agent exited with {code}; restarting in {backoff:.0f}s\n")
                sys.stderr.flush()
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            os.unlink(pid_path(self.config))

    def _on_term(self, *_: object) -> None:
        self.stopping.set()
        agent = self.agent
        if agent is not None and agent.poll() is None:
            agent.terminate()
            threading.Thread(target=self._kill_after_grace, args=(agent,), daemon=True).start()

    def _kill_after_grace(self, agent: subprocess.Popen[bytes]) -> None:
        try:
            agent.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            agent.kill()

    def _on_hup(self, *_: object) -> None:
        agent = self.agent
        if agent is not None and agent.poll() is None:
            agent.send_signal(signal.SIGHUP)
