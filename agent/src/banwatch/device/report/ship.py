"""The shipper: spooled reports to the collector's drop box over SFTP, each landing there once.

One SSH connection per batch, as the device's own SSH key, the collector's host key pinned
from `collector_known_hosts` (an unknown or changed key is refused; nothing is ever added).
Each report is written to a fresh temporary name (created exclusively), flushed to the
collector's disk (`fsync@openssh.com`), renamed to its final name with SFTP's plain `rename`,
which never replaces an existing file, and only then removed from the spool. When that rename
finds the final name taken, an earlier run was cut off after delivering: the report is there.
A failed batch is retried with exponential backoff and full jitter.

The drop box answers only the requests in `SFTP_REQUESTS` (the banwatch_collector role allows
exactly these), so a device can add reports but never read, list, replace or delete one.
"""

from __future__ import annotations

import errno
import posixpath
import secrets
import threading
from collections.abc import Callable

import paramiko
from paramiko.sftp import CMD_EXTENDED

from banwatch.core.errors import InputError
from banwatch.core.report.envelope import PART_SUFFIX
from banwatch.device.config import CollectorSettings
from banwatch.device.report.schedule import IDLE_INTERVAL, Backoff, ShipResult, ShipSchedule
from banwatch.device.report.spool import Spool

# What the shipper asks of the drop box, and all the collector allows (sftp-server -p).
SFTP_REQUESTS = ("open", "close", "write", "fsync", "rename", "lstat")
SFTP_FSYNC = "fsync@openssh.com"
CONNECT_TIMEOUT = 15.0


class ConnectionLost(Exception):
    """The SSH connection ended mid-batch: the rest of the batch waits for the next attempt."""


class Shipper:
    def __init__(self, collector: CollectorSettings, spool: Spool, *, timeout: float = CONNECT_TIMEOUT) -> None:
        self.collector = collector
        self.spool = spool
        self.timeout = timeout
        self.schedule = ShipSchedule(self.ship_once)

    def ship_once(self) -> ShipResult:
        """Send everything spooled, over one connection. Problems with the collector or the network
        come back in the result; a missing key or known_hosts file raises InputError."""
        if not self.spool.pending():
            return ShipResult()
        with self.spool.delivering():
            names = self.spool.pending()
            result = ShipResult()
            try:
                client = self._connect()
            except (paramiko.SSHException, OSError) as exc:
                return ShipResult(failed=len(names), pending=len(names), error=f"cannot connect: {describe(exc)}")
            try:
                sftp = client.open_sftp()
                for index, name in enumerate(names):
                    try:
                        self._deliver(sftp, name)
                        result.sent += 1
                    except ConnectionLost as exc:
                        result.failed += len(names) - index
                        result.error = f"connection lost at {name}: {exc}"
                        break
                    except OSError as exc:
                        result.failed += 1
                        result.error = f"{name}: {describe(exc)}"
            except (paramiko.SSHException, EOFError, OSError) as exc:
                result.failed = len(names) - result.sent
                result.error = f"no SFTP session: {describe(exc)}"
            finally:
                client.close()
                if result.sent:
                    self.spool.flush()
        result.pending = len(self.spool.pending())
        return result

    def nudge(self) -> None:
        """A report was just spooled: ship now rather than at the next interval."""
        self.schedule.nudge()

    def ship_forever(self, stop: threading.Event, *, backoff: Backoff | None = None,
                     interval: float = IDLE_INTERVAL, on_result: Callable[[ShipResult], None] | None = None) -> None:
        """Ship in this process until `stop` is set, on the schedule of `ship_schedule`."""
        self.schedule.run(stop, backoff=backoff, interval=interval, on_result=on_result)

    def _connect(self) -> paramiko.SSHClient:
        collector = self.collector
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(collector.known_hosts)
        except FileNotFoundError:
            raise InputError.single(collector.known_hosts, "the collector's pinned host key file is missing",
                                    "deploy it (banwatch_agent role, banwatch_agent_collector_known_hosts)") from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            key = paramiko.Ed25519Key(filename=collector.key)
        except FileNotFoundError:
            raise InputError.single(collector.key, "the device's SSH key for the collector is missing",
                                    "run 'banwatch-agent keys init' and enrol the device") from None
        client.connect(collector.host, collector.port, username=collector.user, pkey=key, timeout=self.timeout,
                       banner_timeout=self.timeout, auth_timeout=self.timeout, channel_timeout=self.timeout,
                       allow_agent=False, look_for_keys=False)
        return client

    def _deliver(self, sftp: paramiko.SFTPClient, name: str) -> None:
        try:
            data = self.spool.read(name)
        except FileNotFoundError:  # delivered meanwhile by playbooks/collect.yml
            return
        final = posixpath.join(self.collector.directory, name)
        temp = posixpath.join(self.collector.directory, f".{name}.{secrets.token_hex(6)}{PART_SUFFIX}")
        try:
            with sftp.open(temp, "wxb") as handle:  # exclusive: never another device's file
                handle.set_pipelined(True)  # no round trip per chunk; errors still surface at flush
                handle.write(data)
                handle.flush()
                # paramiko has no call for OpenSSH's fsync extension: the request its posix_rename makes, by hand.
                sftp._request(CMD_EXTENDED, SFTP_FSYNC, handle.handle)
            try:
                sftp.rename(temp, final)
            except OSError:
                if not exists(sftp, final):
                    raise
        except (EOFError, paramiko.SSHException) as exc:
            raise ConnectionLost(describe(exc)) from None
        except OSError:
            if not sftp.get_channel().get_transport().is_active():
                raise ConnectionLost("the collector closed the connection") from None
            raise
        self.spool.remove(name, durable=False)


def exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    return True


def describe(exc: BaseException) -> str:
    if isinstance(exc, paramiko.BadHostKeyException):
        return (f"the collector's host key does not match the pinned one ({exc.hostname}); "
                "nothing was sent (check collector_known_hosts)")
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
        return f"{exc}; the host key is not pinned, so nothing was sent (check collector_known_hosts)"
    return str(exc) or type(exc).__name__
