"""``ctx``: what a handler gets besides its input.

:class:`PluginContext` (lifecycle hooks and event handlers) has the plugin's config, its logger and the reverse
calls; :class:`Context` (entry and timer handlers) adds the run: its id, progress, output, exports and
cancellation. Reverse calls come in a blocking form for sync handlers (``ctx.call``) and an awaitable one for
async handlers (``await ctx.acall``); they need ``[plugin.permissions] reverse_rpc = true`` in plugin.toml.
"""

from __future__ import annotations

import contextvars

from .errors import Cancelled

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    import threading
    from typing import Any, Callable, Dict, List, Optional

__all__ = ["PluginContext", "Context", "current_run"]

#: The Service serving this process (set while it serves), for log records.
active_service: Any = None

#: The run being served by the current thread or task (its Context), for log records' runId.
current_run: contextvars.ContextVar[Optional[Context]] = contextvars.ContextVar("plugd_current_run", default=None)

_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")


def _host_timeout(timeout: Optional[float]) -> Optional[float]:
    # Leave the host a moment to answer TIMEOUT itself (it enforces timeoutMs) before giving up locally.
    return None if timeout is None else timeout + 1.0


class PluginContext:
    """The plugin-wide context (hooks, event handlers); :class:`Context` extends it for runs."""

    _incoming: Any = None  # the request a Context serves; None for the plugin-wide context

    def __init__(self, service: Any) -> None:
        self._svc = service

    # -- plugin facts -------------------------------------------------------------------------------------------
    @property
    def plugin_id(self) -> str:
        return self._svc.plugin_id

    @property
    def config(self) -> Dict[str, Any]:
        """The plugin's effective config: from the handshake, replaced on ``plugin/configChanged``."""
        return self._svc.config

    @property
    def data_dir(self) -> Optional[str]:
        """The plugin's data folder, if the host gave one in the handshake."""
        return self._svc.data_dir

    @property
    def logger(self) -> logging.Logger:
        """A ``logging.Logger`` whose records go to the host as ``plugin/log`` (with the run's id when logged
        while serving a run), or to stderr when there is no connection."""
        return self._svc.logger

    @property
    def run_id(self) -> Optional[str]:
        return None

    def log(self, msg: str, level: str = "info", **fields: Any) -> None:
        """A structured log record (``plugin/log``) without going through ``logging``."""
        params: Dict[str, Any] = {"level": level if level in _LEVELS else "info", "msg": str(msg)}
        run_id = self.run_id
        if run_id is not None:
            params["runId"] = run_id
        if fields:
            params["fields"] = fields
        if not self._svc.peer.notify("plugin/log", params):
            self._svc.stderr_log(params)

    # -- reverse calls ------------------------------------------------------------------------------------------
    def request(self, method: str, params: Any = None, *, timeout: Optional[float] = None) -> Any:
        """Any plugin -> host request, blocking this thread (not for async handlers: use :meth:`arequest`).
        Fails with ``Cancelled`` if the run this context serves is cancelled meanwhile."""
        return self._svc.peer.request(method, params, timeout=timeout, cancel=self._incoming)

    async def arequest(self, method: str, params: Any = None, *, timeout: Optional[float] = None) -> Any:
        return await self._svc.peer.arequest(method, params, timeout=timeout)

    def _call_params(self, plugin: str, entry: str, input: Any, timeout: Optional[float]) -> Dict[str, Any]:
        p: Dict[str, Any] = {"plugin": plugin, "entry": entry, "input": {} if input is None else input}
        if timeout is not None:
            p["timeoutMs"] = max(1, int(timeout * 1000))
        if self.run_id is not None:
            p["parentRunId"] = self.run_id
        return p

    def call(self, plugin: str, entry: str, input: Any = None, *, timeout: Optional[float] = None) -> Any:
        """Calls another plugin's entry through the host (``host/call``) and returns its output. ``timeout`` in
        seconds. Errors of the called entry are raised as :class:`plugd.RpcError` (a PluginError)."""
        return self.request("host/call", self._call_params(plugin, entry, input, timeout),
                            timeout=_host_timeout(timeout))

    async def acall(self, plugin: str, entry: str, input: Any = None, *, timeout: Optional[float] = None) -> Any:
        return await self.arequest("host/call", self._call_params(plugin, entry, input, timeout),
                                   timeout=_host_timeout(timeout))

    @staticmethod
    def _message(content: Any, message_type: str, description: str, priority: int,
                 metadata: Optional[Dict[str, Any]], fields: Dict[str, Any]) -> Dict[str, Any]:
        msg: Dict[str, Any] = {"type": message_type, "message_type": message_type, "description": description,
                               "priority": priority, "content": content}
        if metadata:
            msg["metadata"] = metadata
        msg.update(fields)
        return msg

    def push_message(self, content: Any = None, *, message_type: str = "text", description: str = "",
                     priority: int = 0, metadata: Optional[Dict[str, Any]] = None, **fields: Any) -> Any:
        """Pushes a message to the host's message plane (``host/pushMessage``); returns ``{"submitted": …}``.
        Extra keyword arguments (``source``, ``visibility``, ``parts``, …) are sent as they are."""
        return self.request("host/pushMessage",
                            self._message(content, message_type, description, priority, metadata, fields))

    async def apush_message(self, content: Any = None, *, message_type: str = "text", description: str = "",
                            priority: int = 0, metadata: Optional[Dict[str, Any]] = None, **fields: Any) -> Any:
        return await self.arequest("host/pushMessage",
                                   self._message(content, message_type, description, priority, metadata, fields))

    def emit_event(self, type: str, payload: Any = None) -> Any:
        """Emits a custom event (``host/emitEvent``) other plugins can subscribe to."""
        return self.request("host/emitEvent", {"type": type, "payload": payload})

    async def aemit_event(self, type: str, payload: Any = None) -> Any:
        return await self.arequest("host/emitEvent", {"type": type, "payload": payload})

    def get_config(self) -> Dict[str, Any]:
        """Reads the plugin's effective config from the host (``host/getConfig``)."""
        return self.request("host/getConfig", {})

    async def aget_config(self) -> Dict[str, Any]:
        return await self.arequest("host/getConfig", {})

    def update_config(self, patch: Dict[str, Any]) -> Any:
        """Asks the host to merge ``patch`` into the plugin's config (``host/updateConfig`` ``{config}``)."""
        return self.request("host/updateConfig", {"config": patch})

    async def aupdate_config(self, patch: Dict[str, Any]) -> Any:
        return await self.arequest("host/updateConfig", {"config": patch})

    def update_status(self, status: Dict[str, Any]) -> Any:
        """Reports a free-form status object (``host/updateStatus``)."""
        return self.request("host/updateStatus", status)

    async def aupdate_status(self, status: Dict[str, Any]) -> Any:
        return await self.arequest("host/updateStatus", status)

    def query_bus(self, **query: Any) -> Any:
        """Queries the host's bus (``host/queryBus``) with the given filters."""
        return self.request("host/queryBus", query)

    async def aquery_bus(self, **query: Any) -> Any:
        return await self.arequest("host/queryBus", query)


class Context(PluginContext):
    """The context of one run (an entry or timer invoke)."""

    def __init__(self, service: Any, params: Dict[str, Any], incoming: Any) -> None:
        super().__init__(service)
        self._incoming = incoming
        self._run_id: str = str(params.get("runId", ""))
        self.entry_id: str = params.get("entry", "")
        #: The invoke's input object as it came.
        self.input: Dict[str, Any] = params.get("input") if isinstance(params.get("input"), dict) else {}
        #: The host's timeout for this run in ms, if it sent one.
        self.timeout_ms: Optional[int] = params.get("timeoutMs")
        #: Plugin ids of the calls this run is nested in, outermost first.
        self.call_chain: List[str] = params.get("callChain") or []
        self.meta: Dict[str, Any] = params.get("meta") or {}
        self._event: Optional[threading.Event] = None

    @property
    def run_id(self) -> str:
        return self._run_id

    # -- cancellation -------------------------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        """True once the caller cancelled the run (``$/cancelRequest``, also sent when its timeout fires)."""
        return self._incoming.cancelled

    def check_cancelled(self) -> None:
        """Raises :class:`plugd.Cancelled` if the run was cancelled."""
        if self._incoming.cancelled:
            raise Cancelled()

    @property
    def cancel_event(self) -> threading.Event:
        """A ``threading.Event`` set when the run is cancelled: ``ctx.cancel_event.wait(timeout)``."""
        if self._event is None:
            import threading

            event = threading.Event()
            self._incoming.on_cancel(event.set)
            self._event = event
        return self._event

    def sleep(self, seconds: float) -> None:
        """Sleeps, waking at once (raising Cancelled) if the run is cancelled."""
        if self.cancel_event.wait(seconds):
            raise Cancelled()

    async def asleep(self, seconds: float) -> None:
        """``await asyncio.sleep`` that raises Cancelled if the run is cancelled (before or during)."""
        import asyncio

        self.check_cancelled()
        waiter = asyncio.ensure_future(self.wait_cancelled())
        try:
            await asyncio.wait([waiter], timeout=seconds)
        finally:
            waiter.cancel()
        self.check_cancelled()

    async def wait_cancelled(self) -> None:
        """Returns when the run is cancelled."""
        if self._incoming.cancelled:
            return
        import asyncio

        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result(None))

        remove = self._incoming.on_cancel(wake)
        try:
            await future
        finally:
            remove()

    # -- progress, output, exports ------------------------------------------------------------------------------
    def progress(self, progress: Optional[float] = None, *, message: Optional[str] = None,
                 step: Optional[int] = None, step_total: Optional[int] = None, stage: Optional[str] = None,
                 eta: Optional[float] = None, metrics: Optional[Dict[str, float]] = None) -> None:
        """Reports progress (``run/progress``): ``progress`` is 0..1; ``step``/``step_total``, ``stage``,
        ``message``, ``eta`` (seconds left) and ``metrics`` are optional."""
        p: Dict[str, Any] = {"runId": self._run_id}
        if progress is not None:
            progress = min(1.0, max(0.0, float(progress)))
            p["progress"] = int(progress) if progress.is_integer() else progress
        if step is not None:
            p["step"] = step
        if step_total is not None:
            p["stepTotal"] = step_total
        if message is not None:
            p["message"] = message
        if stage is not None:
            p["stage"] = stage
        if eta is not None:
            p["eta"] = eta
        if metrics:
            p["metrics"] = metrics
        self._svc.peer.notify("run/progress", p)

    def output(self, chunk: Any, stream: Optional[str] = None) -> None:
        """Streams a chunk of output (``run/output``); bytes are decoded as UTF-8."""
        if isinstance(chunk, (bytes, bytearray)):
            chunk = bytes(chunk).decode("utf-8", "replace")
        p: Dict[str, Any] = {"runId": self._run_id, "chunk": str(chunk)}
        if stream is not None:
            p["stream"] = stream
        self._svc.peer.notify("run/output", p)

    def _export(self, type: str, label: Optional[str], options: Dict[str, Any], **payload: Any) -> None:
        p: Dict[str, Any] = {"runId": self._run_id, "type": type}
        if label is not None:
            p["label"] = label
        p.update(payload)
        for k in ("description", "mime", "metadata"):
            if options.get(k) is not None:
                p[k] = options[k]
        self._svc.peer.notify("run/export", p)

    def export_text(self, text: str, label: Optional[str] = None, *, description: Optional[str] = None,
                    mime: Optional[str] = None, metadata: Optional[Dict[str, Any]] = None) -> None:
        self._export("text", label, {"description": description, "mime": mime, "metadata": metadata},
                     data=str(text))

    def export_json(self, value: Any, label: Optional[str] = None, *, description: Optional[str] = None,
                    mime: Optional[str] = None, metadata: Optional[Dict[str, Any]] = None) -> None:
        self._export("json", label, {"description": description, "mime": mime, "metadata": metadata}, data=value)

    def export_url(self, url: str, label: Optional[str] = None, *, description: Optional[str] = None,
                   mime: Optional[str] = None, metadata: Optional[Dict[str, Any]] = None) -> None:
        self._export("url", label, {"description": description, "mime": mime, "metadata": metadata}, url=url)

    def export_binary(self, data: bytes, label: Optional[str] = None, *, description: Optional[str] = None,
                      mime: str = "application/octet-stream", metadata: Optional[Dict[str, Any]] = None) -> None:
        """Exports bytes (sent base64-encoded)."""
        import binascii

        self._export("binary", label, {"description": description, "mime": mime, "metadata": metadata},
                     data=binascii.b2a_base64(bytes(data), newline=False).decode("ascii"))

    def export_binary_url(self, url: str, label: Optional[str] = None, *, description: Optional[str] = None,
                          mime: Optional[str] = None, metadata: Optional[Dict[str, Any]] = None) -> None:
        self._export("binary_url", label, {"description": description, "mime": mime, "metadata": metadata},
                     url=url)

    def __repr__(self) -> str:
        return "Context(run_id=%r, entry_id=%r%s)" % (self._run_id, self.entry_id,
                                                      ", cancelled" if self.cancelled else "")
