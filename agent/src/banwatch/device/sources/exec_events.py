"""Exec events from the Linux kernel's process connector: which process just started a program.

A netlink socket (NETLINK_CONNECTOR, multicast group CN_IDX_PROC) receives one message
per fork, exec, exit…; a classic BPF filter on the socket drops all but PROC_EVENT_EXEC
in the kernel, so thread creation and exits elsewhere on the machine never wake the agent.
The kernel sends these only to a listener with CAP_NET_ADMIN in the initial PID namespace,
and only on Linux: `unavailable_reason` says why not, so the agent falls back to polling
and reports the mode in force. A receive
buffer overrun (ENOBUFS) means events were lost; `receive` counts it in `overruns` and the
caller rescans everything.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import struct
import sys
from dataclasses import dataclass

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE = 1, 2
PROC_EVENT_EXEC = 0x00000002
NLMSG_DONE = 3
PROC_PID_INIT_INO = 0xEFFFFFFC  # the inode of the initial PID namespace (include/linux/proc_ns.h)
RECEIVE_BUFFER = 4 * 1024 * 1024  # room for a burst of events while a scan runs

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
_EVENT = struct.Struct("=IIQII")  # what, cpu, timestamp_ns, then exec: process_pid, process_tgid
_EVENT_OFFSET = _NLMSGHDR.size + _CN_MSG.size
_MAX_DATAGRAM = 65536
SO_ATTACH_FILTER = 26
# Classic BPF: load the event's `what` (a host-order u32 that BPF_ABS reads big-endian), keep execs.
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_RET_K = 0x20, 0x15, 0x06
_EXEC_AS_LOADED = int.from_bytes(struct.pack("=I", PROC_EVENT_EXEC), "big")
_EXEC_ONLY = (
    (_BPF_LD_W_ABS, 0, 0, _EVENT_OFFSET),
    (_BPF_JEQ_K, 0, 1, _EXEC_AS_LOADED),
    (_BPF_RET_K, 0, 0, 0xFFFFFFFF),
    (_BPF_RET_K, 0, 0, 0),
)


class EventsUnavailable(Exception):
    """The kernel will not send exec events to this process; the message says why."""


@dataclass(frozen=True)
class ExecEvent:
    pid: int  # the thread group (process) that called exec
    timestamp_ns: int  # when the kernel saw it, on the CLOCK_MONOTONIC clock


def unavailable_reason() -> str | None:
    """Why exec events cannot be had here, or None when they can (then `open` may still fail)."""
    if not sys.platform.startswith("linux"):
        return f"exec events need Linux (this is {sys.platform})"
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError as exc:
        return f"cannot tell the PID namespace: {exc.strerror}"
    if namespace != PROC_PID_INIT_INO:
        return "inside a PID namespace other than the initial one (the kernel sends it no exec events)"
    return None


def _connector_message(payload: bytes) -> bytes:
    body = _CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(payload), 0) + payload
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), NLMSG_DONE, 0, 0, 0) + body


def parse_exec_events(datagram: bytes) -> list[ExecEvent]:
    """The exec events in one datagram (it may hold several netlink messages); others are skipped."""
    events = []
    offset = 0
    while offset + _EVENT_OFFSET + _EVENT.size <= len(datagram):
        length, _type, _flags, _seq, _pid = _NLMSGHDR.unpack_from(datagram, offset)
        if length < _NLMSGHDR.size:
            break
        idx, val = struct.unpack_from("=II", datagram, offset + _NLMSGHDR.size)
        if (idx, val) == (CN_IDX_PROC, CN_VAL_PROC):
            what, _cpu, timestamp, _pid, tgid = _EVENT.unpack_from(datagram, offset + _EVENT_OFFSET)
            if what == PROC_EVENT_EXEC:
                events.append(ExecEvent(tgid, timestamp))
        offset += (length + 3) & ~3  # NLMSG_ALIGN
    return events


class ExecEvents:
    """A subscribed process-connector socket; use as a context manager, select on `fileno()`."""

    def __init__(self) -> None:
        reason = unavailable_reason()
        if reason:
            raise EventsUnavailable(reason)
        try:
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        except OSError as exc:
            raise EventsUnavailable(f"no process connector socket: {exc.strerror}") from None
        try:
            self._set_buffer()
            self.filtered = self._attach_exec_filter()
            self.sock.bind((0, CN_IDX_PROC))
            self.sock.send(_connector_message(struct.pack("=I", PROC_CN_MCAST_LISTEN)))
        except OSError as exc:
            self.sock.close()
            hint = " (needs root or CAP_NET_ADMIN)" if exc.errno in (errno.EPERM, errno.EACCES) else ""
            raise EventsUnavailable(f"cannot subscribe to exec events: {exc.strerror}{hint}") from None
        self.sock.setblocking(False)
        self.overruns = 0  # buffer overruns since the caller last reset it: execs never seen

    def _set_buffer(self) -> None:
        try:  # past the system's rmem_max when privileged, which a burst of execs may need
            self.sock.setsockopt(socket.SOL_SOCKET, 33, RECEIVE_BUFFER)  # SO_RCVBUFFORCE
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)

    def _attach_exec_filter(self) -> bool:
        """Drop every event but exec in the kernel; without it (no BPF) events are skipped here."""
        program = b"".join(struct.pack("=HBBI", *instruction) for instruction in _EXEC_ONLY)
        buffer = ctypes.create_string_buffer(program)
        fprog = struct.pack("@HP", len(_EXEC_ONLY), ctypes.addressof(buffer))  # struct sock_fprog
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        except OSError:
            return False
        return True

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> list[ExecEvent]:
        """Every exec event waiting on the socket (empty when none); an overrun is counted, not raised."""
        events: list[ExecEvent] = []
        while True:
            try:
                datagram = self.sock.recv(_MAX_DATAGRAM)
            except BlockingIOError:
                return events
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.overruns += 1
                continue
            events.extend(parse_exec_events(datagram))

    def close(self) -> None:
        if self.sock.fileno() < 0:
            return
        with contextlib.suppress(OSError):  # lets the kernel stop building events once no one listens
            self.sock.send(_connector_message(struct.pack("=I", PROC_CN_MCAST_IGNORE)))
        self.sock.close()

    def __enter__(self) -> ExecEvents:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
