"""Structured logs: one JSON object per line on stderr."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# No log line grows without bound, whatever a client sent: longer messages keep their
# start, longer tracebacks their end (where the error is).
MAX_MESSAGE_CHARS = 2000
MAX_TRACEBACK_CHARS = 8000


def _clip_start(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more]"


def _clip_end(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"[{len(text) - limit} earlier] ..." + text[-limit:]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name,
               "msg": _clip_start(record.getMessage(), MAX_MESSAGE_CHARS)}
        out.update({k: _clip_start(v, MAX_MESSAGE_CHARS) if isinstance(v, str) else v
                    for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            out["exc"] = _clip_end(self.formatException(record.exc_info),
                                   MAX_TRACEBACK_CHARS)
        return json.dumps(out, default=str)


def configure(level: str = "INFO") -> None:
    """Route the service's and uvicorn's loggers through the JSON formatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("warden", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs each request


log = logging.getLogger("warden.service")
