"""Spool and ship 500 reports, each against the least the same job can cost.

Spool floor: seal each report and write it with `write_atomic` alone (what any crash-safe spool
must do). Measured: `Spool.put`, which also keeps the bounds (a listing per put) and the drop
count. Target: at most 1.5x.

Ship floor: the same 500 sealed files sent with paramiko alone over one connection to a real
local sshd, with the same requests per file (exclusive open, write, fsync@openssh.com, close,
rename). Measured: `Shipper.ship_once`, which also reads the spool and forgets each delivered
report. Target: at most 1.5x. Also shown: against a plain `put` per file (no fsync, no rename),
the price of never losing a report on the collector; target at most 5x.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import uuid
from functools import partial
from pathlib import Path

import paramiko
from paramiko.sftp import CMD_EXTENDED

from banwatch.core.atomic import write_atomic
from banwatch.core.report.envelope import report_file_name, seal_report
from banwatch.device.keys import load_report_key
from banwatch.device.report.ship import SFTP_FSYNC, Shipper
from banwatch.device.report.spool import Spool
from bench.common import line, timed
from tests.device_config import write_agent_config
from tests.drop_box import make_drop_box

REPORTS = 500


def a_report(index: int) -> dict:
    return {"schema": "banwatch.report/1", "report_id": str(uuid.UUID(int=index + 1, version=4)),
            "generated_at": f"2026-11-26T10:{index // 60 % 60:02d}:{index % 60:02d}Z",
            "host": {"name": "lab-ep-01", "groups": ["general"]}, "findings": [],
            "summary": {"verdict": "compliant", "violation": 0, "exempt": 0, "under_review": 0}}


def connect_and_send(shipper: Shipper, files: list[tuple[str, bytes]], target: Path, *, durable: bool) -> None:
    client = shipper._connect()  # the floors log in exactly as the shipper does
    try:
        send(client.open_sftp(), files, target, durable=durable)
    finally:
        client.close()


def send(sftp: paramiko.SFTPClient, files: list[tuple[str, bytes]], target: Path, *, durable: bool) -> None:
    for name, data in files:
        if not durable:
            sftp.putfo(io.BytesIO(data), str(target / name), confirm=False)
            continue
        temp = str(target / f".{name}.part")
        with sftp.open(temp, "wxb") as handle:
            handle.set_pipelined(True)
            handle.write(data)
            handle.flush()
            sftp._request(CMD_EXTENDED, SFTP_FSYNC, handle.handle)
        sftp.rename(temp, str(target / name))


def main() -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="banwatch-bench-reporting-"))
    try:
        config = write_agent_config(folder / "device")
        key = load_report_key(config)
        reports = [a_report(index) for index in range(REPORTS)]
        floor_dir = folder / "floor"
        floor_dir.mkdir()

        def floor_spool() -> None:
            for report in reports:
                write_atomic(str(floor_dir / report_file_name(report)), seal_report(report, key), 0o600)

        spool = Spool.for_config(config)
        spool_floor = timed(floor_spool)
        spooled = timed(lambda: [spool.put(report) for report in reports])
        results = [line(f"spool {REPORTS} reports", spooled, spool_floor, 1.5)]

        box = make_drop_box(folder / "collector", [Path(config.ship_key + ".pub").read_text().strip()])
        config = write_agent_config(folder / "device", collector_host="127.0.0.1", collector_port=box.port,
                                    collector_user=box.user, collector_known_hosts=str(box.known_hosts),
                                    collector_dir=str(box.incoming))
        box.start()
        try:
            shipper = Shipper(config.collector, Spool.for_config(config, sealing=False))
            files = [(path.name, path.read_bytes()) for path in sorted(floor_dir.iterdir())]
            floors = {}
            for kind in ("same", "plain"):
                (folder / "collector" / kind).mkdir()
                floors[kind] = timed(partial(connect_and_send, shipper, files, folder / "collector" / kind,
                                             durable=kind == "same"))
            shipped = timed(shipper.ship_once)
            results.append(line(f"ship {REPORTS} reports vs paramiko alone", shipped, floors["same"], 1.5))
            results.append(line(f"ship {REPORTS} reports vs plain put", shipped, floors["plain"], 5.0))
        finally:
            box.stop()
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)
