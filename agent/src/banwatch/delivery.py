"""Where the running agent's reports go: sealed into the spool, then shipped from it.

This is the daemon's `ReportSink`. Every report is signed with the device key and written to
the crash-safe spool before anything is sent, and the newest is kept as `last-report.json`
for people on the device. When a collector is configured, a shipper thread delivers the
spool, woken by each new report and retrying with backoff while the collector is away; with
none, reports wait in the spool for playbooks/collect.yml.
"""

from __future__ import annotations

import threading
from typing import Any

from banwatch.agent_config import AgentConfig
from banwatch.device_keys import init_keys
from banwatch.report_sink import LastReportFile
from banwatch.shipper import Shipper, ShipResult
from banwatch.spool import Spool

STOP_WAIT = 10.0  # seconds an exiting agent gives an upload in flight


class SpooledDelivery:
    def __init__(self, config: AgentConfig) -> None:
        init_keys(config)  # made at deploy; made here too, so the agent never runs unable to sign
        self.spool = Spool.for_config(config)
        self.last = LastReportFile(config.state_dir)
        self.shipper = Shipper(config.collector, Spool.for_config(config, sealing=False)) if config.collector else None
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.last_shipment: dict[str, Any] | None = None

    def start(self) -> None:
        if self.shipper is not None and self.thread is None:
            self.thread = threading.Thread(target=self.shipper.ship_forever, args=(self.stopping,),
                                           kwargs={"on_result": self._shipped}, name="shipper", daemon=True)
            self.thread.start()

    def put(self, report: dict[str, Any]) -> None:
        self.spool.put(report)
        self.last.put(report)
        if self.shipper is not None:
            self.shipper.nudge()

    def depth(self) -> int:
        return self.spool.usage().reports

    def stop(self) -> None:
        """Stop shipping (what is unsent stays spooled for the next start)."""
        self.stopping.set()
        if self.shipper is not None:
            self.shipper.nudge()
        if self.thread is not None:
            self.thread.join(STOP_WAIT)

    def _shipped(self, result: ShipResult) -> None:
        self.last_shipment = result.document()
