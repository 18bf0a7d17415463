"""``logging`` records as ``plugin/log`` notifications (imported only when a plugin asks for its logger)."""

from __future__ import annotations

import logging
import os
import sys

from . import context as _context
from .context import current_run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

__all__ = ["RpcLogHandler", "plugin_logger"]

def _level_name(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "fatal"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    if levelno >= logging.DEBUG:
        return "debug"
    return "trace"


class RpcLogHandler(logging.Handler):
    """Sends each record as ``plugin/log`` ``{level, msg, runId?, fields?}``; ``extra={"fields": {...}}`` adds
    fields. Without a connection, writes ``LEVEL: message`` to stderr (the host reads the level from it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.exc_info:
                msg = msg + "\n" + self.formatter_exc(record)
            elif record.exc_text:
                msg = msg + "\n" + record.exc_text
            params: Dict[str, Any] = {"level": _level_name(record.levelno), "msg": msg}
            run = current_run.get()
            if run is not None:
                params["runId"] = run.run_id
            fields = getattr(record, "fields", None)
            if isinstance(fields, dict) and fields:
                params["fields"] = fields
            svc = _context.active_service
            if svc is not None:
                try:
                    if svc.peer.notify("plugin/log", params):
                        return
                except (TypeError, ValueError):  # fields that are not JSON
                    params.pop("fields", None)
                    if svc.peer.notify("plugin/log", params):
                        return
            sys.stderr.write("%s: %s\n" % (params["level"].upper(), msg))
            sys.stderr.flush()
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)

    def formatter_exc(self, record: logging.LogRecord) -> str:
        if not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)  # type: ignore[arg-type]
        return record.exc_text


_handler: Optional[RpcLogHandler] = None


def plugin_logger(name: str) -> logging.Logger:
    """The plugin's logger: level from ``PLUGD_LOG_LEVEL`` (default INFO), records sent to the host, not
    propagated to the root logger (so a ``logging.basicConfig`` does not print them twice)."""
    global _handler
    logger = logging.getLogger(name)
    if _handler is None:
        _handler = RpcLogHandler()
    if _handler not in logger.handlers:
        logger.addHandler(_handler)
        logger.propagate = False
        level = os.environ.get("PLUGD_LOG_LEVEL", "INFO").upper()
        logger.setLevel(getattr(logging, level, logging.INFO) if isinstance(getattr(logging, level, None), int)
                        else logging.INFO)
    return logger
