"""The agent's log: one JSON object per line on stderr, which journald (or the supervised
service's log file) keeps. Fields beyond the message go in as `extra={"fields": {...}}`."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

LOGGER_NAME = "banwatch.agent"


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


class CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is logged, not the one at the first call:
    a stream swapped out and closed since (a test's capture, a re-exec) never eats a line."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr


def agent_logger(level: str = "info") -> logging.Logger:
    """The agent's logger, writing JSON lines to stderr at `level` (set again on reload)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = CurrentStderr()
        handler.setFormatter(JsonLines())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper())
    return logger
