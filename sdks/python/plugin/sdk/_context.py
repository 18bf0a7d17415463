"""The ``ctx`` a N.E.K.O plugin class receives in its constructor, backed by plugd's Python SDK.

``plugd.neko_runner`` builds one :class:`NekoContext` per process, during the handshake (when the host has sent the
plugin's id and config) and passes it to the plugin class. Every call to the host goes through plugd's peer
(``host/pushMessage``, ``host/updateConfig``, ``host/call``, ``host/updateStatus``, ``host/queryBus``); run
progress and exports are plugd notifications of the run being served (``run/progress``, ``run/export``).

"Smart" methods follow N.E.K.O: called from a coroutine (an event loop runs in this thread) they return an
awaitable, otherwise they do the work and return its value. Local work (reading config, progress, exports) is done
at once in both cases, so a forgotten ``await`` loses nothing.
"""

from __future__ import annotations

import sys

from ._core import NotSupportedError, SdkError, TransportError, ValidationError, code_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

__all__ = ["NekoContext", "NekoLogger", "running_loop", "ready", "failed", "Receipt"]

#: progress ``stage`` and ``message`` limits of the N.E.K.O run protocol.
STAGE_MAX = 128
MESSAGE_MAX = 512
#: N.E.K.O's inline export binary limit.
EXPORT_INLINE_BINARY_MAX_BYTES = 256 * 1024
#: The message types plugd's message store accepts.
MESSAGE_TYPES = ("text", "url", "binary", "binary_url")


def running_loop() -> Any:
    """The asyncio loop running in this thread, or None (without importing asyncio if nobody did)."""
    aio = sys.modules.get("asyncio")
    if aio is None:
        return None
    get = getattr(aio, "_get_running_loop", None)
    if get is not None:
        return get()
    try:
        return aio.get_running_loop()
    except RuntimeError:
        return None


class _Ready:
    """An awaitable that is already done (a value or an exception)."""

    __slots__ = ("_value", "_error")

    def __init__(self, value: Any = None, error: Optional[BaseException] = None) -> None:
        self._value = value
        self._error = error

    def __await__(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value
        yield  # noqa: unreachable - makes this a generator

    def __repr__(self) -> str:
        return "<ready %r>" % (self._error or self._value,)


def ready(value: Any) -> Any:
    """``value`` as it is, or as an awaitable when called from a coroutine."""
    return _Ready(value) if running_loop() is not None else value


def failed(error: BaseException) -> Any:
    """Raises ``error`` now, or when awaited if called from a coroutine."""
    if running_loop() is not None:
        return _Ready(error=error)
    raise error


def smart(fn: Callable[[], Any]) -> Any:
    """Runs ``fn`` now; its value (or exception) comes back directly, or awaitable from a coroutine."""
    if running_loop() is None:
        return fn()
    try:
        return _Ready(fn())
    except Exception as e:
        return _Ready(error=e)


class Receipt(dict):
    """``push_message``'s answer: a dict (N.E.K.O's API is sync) that may also be awaited."""

    def __await__(self) -> Any:
        return self
        yield  # noqa: unreachable


# -- logging ----------------------------------------------------------------------------------------------------

class NekoLogger:
    """A loguru-flavoured logger over plugd's: ``logger.info("x={} y={}", x, y)`` (loguru) and
    ``logger.info("x=%s", x)`` (logging) both work. Records reach the host as ``plugin/log`` (with the run id when
    logged while serving a run) and show in ``GET /plugin/{id}/logs``."""

    def __init__(self, logger: Any, component: Optional[str] = None) -> None:
        self._logger = logger
        self._component = component

    @property
    def std(self) -> Any:
        """The underlying ``logging.Logger``."""
        return self._logger

    def _format(self, msg: Any, args: Any, kwargs: Dict[str, Any]) -> str:
        text = str(msg)
        if args or kwargs:
            try:
                if "{" in text:
                    text = text.format(*args, **kwargs)
                elif args:
                    text = text % args
            except Exception:
                text = " ".join([text] + [str(a) for a in args])
        if self._component:
            text = "[%s] %s" % (self._component, text)
        return text

    def _log(self, level: int, msg: Any, args: Any, kwargs: Dict[str, Any], exc_info: Any = None) -> None:
        if exc_info is None:
            exc_info = kwargs.pop("exc_info", None)
        else:
            kwargs.pop("exc_info", None)
        kwargs.pop("stacklevel", None)
        extra = kwargs.pop("extra", None)
        if not self._logger.isEnabledFor(level):
            return
        self._logger.log(level, "%s", self._format(msg, args, kwargs), exc_info=exc_info, extra=extra)

    def trace(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(5, msg, args, kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(10, msg, args, kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(20, msg, args, kwargs)

    success = info

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(30, msg, args, kwargs)

    warn = warning

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(40, msg, args, kwargs)

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(50, msg, args, kwargs)

    fatal = critical

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._log(40, msg, args, kwargs, exc_info=True)

    def log(self, level: Any, msg: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(level, str):
            level = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "SUCCESS": 20, "WARNING": 30, "WARN": 30, "ERROR": 40,
                     "CRITICAL": 50}.get(level.upper(), 20)
        self._log(int(level), msg, args, kwargs)

    def bind(self, **_: Any) -> NekoLogger:
        return self

    def opt(self, *_: Any, **__: Any) -> NekoLogger:
        return self

    def setLevel(self, level: Any) -> None:  # noqa: N802 - logging's name
        self._logger.setLevel(level)

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802
        return self._logger.isEnabledFor(level)


# -- the context ------------------------------------------------------------------------------------------------

def _host_error(e: BaseException, what: str) -> SdkError:
    """An error of a host call as N.E.K.O raises it (TransportError), keeping plugd's code."""
    code = getattr(e, "code", None)
    return TransportError("%s failed: %s" % (what, getattr(e, "message", None) or e),
                          code=code if isinstance(code, str) else None,
                          details=getattr(e, "data", None))


def _b64(data: Any) -> str:
    import binascii

    return binascii.b2a_base64(bytes(data), newline=False).decode("ascii")


class NekoContext:
    """The host context (N.E.K.O's ``PluginContext``) of one plugin process."""

    def __init__(self, runtime: Any) -> None:
        self._rt = runtime
        self.logger = NekoLogger(runtime.svc.logger)

    # -- facts --------------------------------------------------------------------------------------------------
    @property
    def plugin_id(self) -> str:
        return self._rt.svc.plugin_id

    @property
    def metadata(self) -> Dict[str, Any]:
        return self._rt.metadata

    @property
    def config_path(self) -> Any:
        from pathlib import Path

        return Path(self._rt.plugin_dir) / "plugin.toml"

    @property
    def plugin_dir(self) -> Any:
        from pathlib import Path

        return Path(self._rt.plugin_dir)

    @property
    def data_dir(self) -> Any:
        """This plugin's data folder: ``<plugd data dir>/plugin-data/<plugin id>`` (or ``<plugin folder>/data``
        when the host gave no data dir). Created on first use."""
        return self._rt.data_dir()

    @property
    def _effective_config(self) -> Dict[str, Any]:
        return self._rt.svc.config

    @property
    def bus(self) -> Any:
        return self._rt.bus

    @property
    def run_id(self) -> Optional[str]:
        run = self._rt.current_run()
        return run.run_id if run is not None else None

    def require_run_id(self) -> str:
        run_id = self.run_id
        if not run_id:
            raise RuntimeError("run_id is required (this entry may not be triggered via /runs)")
        return run_id

    @property
    def current_entry_id(self) -> Optional[str]:
        run = self._rt.current_run()
        return run.entry_id if run is not None else None

    # -- host calls ---------------------------------------------------------------------------------------------
    def _request(self, method: str, params: Any, timeout: Optional[float]) -> Any:
        return self._rt.svc.peer.request(method, params, timeout=timeout)

    def _call(self, method: str, params: Any, timeout: Optional[float] = 10.0,
              then: Optional[Callable[[Any], Any]] = None) -> Any:
        """A host request: blocking outside coroutines, a Task inside (it runs even if never awaited)."""
        loop = running_loop()
        if loop is None:
            result = self._request(method, params, timeout)
            return then(result) if then is not None else result
        peer = self._rt.svc.peer

        async def go() -> Any:
            result = await peer.arequest(method, params, timeout=timeout)
            return then(result) if then is not None else result

        return loop.create_task(go())

    # -- config -------------------------------------------------------------------------------------------------
    def get_own_config(self, timeout: float = 5.0) -> Any:
        return ready({"config": self._rt.config_copy()})

    get_own_effective_config = get_own_config
    get_own_base_config = get_own_config

    def update_own_config(self, updates: Dict[str, Any], timeout: float = 10.0, mode: Optional[str] = None) -> Any:
        params: Dict[str, Any] = {"patch": updates}
        if mode is not None:
            params["mode"] = mode
        return self._call("host/updateConfig", params, timeout, then=self._rt.config_updated)

    # -- messages, status ---------------------------------------------------------------------------------------
    def push_message(self, source: str = "", message_type: Optional[str] = None, description: str = "",
                     priority: int = 0, content: Any = None, binary_data: Any = None,
                     binary_url: Optional[str] = None, metadata: Optional[Dict[str, Any]] = None,
                     unsafe: bool = False, fast_mode: bool = False, target_lanlan: Optional[str] = None,
                     *, visibility: Optional[List[str]] = None, ai_behavior: Optional[str] = None,
                     parts: Optional[List[Dict[str, Any]]] = None, coalesce_key: Optional[str] = None,
                     timeout: float = 10.0, **more: Any) -> Receipt:
        """Pushes a message (``host/pushMessage``); both N.E.K.O signatures: v1 (source, message_type, content,
        binary_data/binary_url, …) and v2 (parts, visibility, ai_behavior, target_lanlan, coalesce_key).

        Returns the host's answer, ``{"submitted": True, "message_id": …}``, or ``{"ok": False, "submitted":
        False, "reason": …}``; it never raises for a rejected or undeliverable message (N.E.K.O PR #2691)."""
        meta = dict(metadata or {})
        mtype = message_type or ("binary" if binary_data is not None else "url" if binary_url else "text")
        if mtype not in MESSAGE_TYPES:
            # N.E.K.O accepts free-form types ("proactive_notification"); plugd's store knows four. The original
            # type is kept in the metadata.
            meta.setdefault("message_type", mtype)
            mtype = "url" if binary_url and content is None else "text"
        msg: Dict[str, Any] = {"source": source or self.plugin_id, "message_type": mtype, "type": mtype,
                               "description": description or "", "priority": int(priority or 0)}
        if parts is not None:
            norm_parts = []
            texts = []
            for part in parts:
                p = dict(part) if isinstance(part, dict) else {"type": "text", "text": str(part)}
                raw = p.pop("data", None) if isinstance(p.get("data"), (bytes, bytearray, memoryview)) else None
                if raw is not None:
                    p["binary_base64"] = _b64(raw)
                if p.get("type") == "text" and isinstance(p.get("text"), str):
                    texts.append(p["text"])
                norm_parts.append(p)
            msg["parts"] = norm_parts
            if content is None and texts:
                content = "\n".join(texts)
        if content is not None:
            msg["content"] = content if isinstance(content, (str, int, float, bool, list, dict)) else str(content)
        if binary_data is not None:
            msg["binary_data"] = binary_data if isinstance(binary_data, str) else _b64(binary_data)
        if binary_url:
            msg["binary_url"] = binary_url
        if visibility is not None:
            msg["visibility"] = list(visibility)
        if ai_behavior is not None:
            msg["ai_behavior"] = ai_behavior
        if target_lanlan is not None:
            meta.setdefault("target_lanlan", target_lanlan)
        if coalesce_key is not None:
            meta.setdefault("coalesce_key", coalesce_key)
        if unsafe:
            meta.setdefault("unsafe", True)
        if meta:
            msg["metadata"] = meta
        for k, v in more.items():
            if k not in msg and v is not None:
                msg[k] = v
        try:
            answer = self._request("host/pushMessage", msg, timeout)
        except Exception as e:  # N.E.K.O reports, never raises: the caller tells "submitted" from "dropped"
            self.logger.warning("push_message was not delivered: {}", e)
            return Receipt(ok=False, submitted=False, reason="transport_error", error=str(e),
                           code=code_name(getattr(e, "code", None)))
        out = Receipt(answer if isinstance(answer, dict) else {"submitted": bool(answer)})
        if out.get("submitted") is False:
            out.setdefault("ok", False)
        return out

    def update_status(self, status: Dict[str, Any], timeout: float = 5.0) -> Any:
        """Reports a status object (``host/updateStatus``; stored in the bus ``lifecycle`` store)."""
        try:
            return self._request("host/updateStatus", dict(status or {}), timeout)
        except Exception as e:
            self.logger.warning("update_status failed: {}", e)
            return None

    # -- runs ---------------------------------------------------------------------------------------------------
    def _run(self, run_id: Optional[str]) -> Any:
        run = self._rt.run_for(run_id)
        if run is None:
            if run_id:
                raise ValidationError("run %r is not running in this plugin" % (run_id,), code="RUN_NOT_FOUND")
            raise RuntimeError("run_id is required (this entry may not be triggered via /runs)")
        return run

    def _run_update(self, run_id: Optional[str] = None, progress: Optional[float] = None,
                    stage: Optional[str] = None, message: Optional[str] = None, step: Optional[int] = None,
                    step_total: Optional[int] = None, eta_seconds: Optional[float] = None,
                    metrics: Optional[Dict[str, Any]] = None, timeout: float = 5.0, status: Any = None,
                    **_: Any) -> Dict[str, Any]:
        run = self._run(run_id)
        if progress is not None:
            progress = float(progress)
            if not 0.0 <= progress <= 1.0:
                raise ValidationError("progress must be within 0..1 (got %r)" % (progress,))
        if step is not None and step < 0 or step_total is not None and step_total < 0:
            raise ValidationError("step and step_total must be >= 0")
        if step is not None and step_total is not None and step > step_total:
            raise ValidationError("step must be <= step_total")
        if eta_seconds is not None and eta_seconds < 0:
            raise ValidationError("eta_seconds must be >= 0")
        if status is not None and status != "running":
            raise ValidationError("a plugin may only set status 'running'")
        nums = {k: v for k, v in (metrics or {}).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}
        run.progress(progress, message=None if message is None else str(message)[:MESSAGE_MAX], step=step,
                     step_total=step_total, stage=None if stage is None else str(stage)[:STAGE_MAX],
                     eta=eta_seconds, metrics=nums or None)
        return {"ok": True, "run_id": run.run_id}

    def run_update(self, **kwargs: Any) -> Any:
        """Progress of the current run (or ``run_id``): ``progress`` 0..1, ``stage``, ``message``, ``step``,
        ``step_total``, ``eta_seconds``, ``metrics``."""
        return smart(lambda: self._run_update(**kwargs))

    def run_update_sync(self, **kwargs: Any) -> Any:
        return self._run_update(**kwargs)

    async def run_update_async(self, **kwargs: Any) -> Any:
        return self._run_update(**kwargs)

    run_progress = run_update
    run_progress_sync = run_update_sync
    run_progress_async = run_update_async

    def _export_push(self, export_type: Optional[str] = None, run_id: Optional[str] = None,
                     text: Optional[str] = None, json_data: Any = None, url: Optional[str] = None,
                     binary_data: Any = None, binary_url: Optional[str] = None, mime: Optional[str] = None,
                     description: Optional[str] = None, label: Optional[str] = None,
                     metadata: Optional[Dict[str, Any]] = None, timeout: float = 5.0, reply: Optional[bool] = None,
                     **kw: Any) -> Dict[str, Any]:
        export_type = export_type or kw.pop("type", None)
        if json_data is None and "json" in kw:
            json_data = kw.pop("json")
        run = self._run(run_id)
        meta = dict(metadata or {})
        if reply is not None:
            agent = dict(meta.get("agent") or {})
            agent["reply"] = bool(reply)
            meta["agent"] = agent
        opts = {"description": description, "mime": mime, "metadata": meta or None}
        if export_type == "text":
            if not isinstance(text, str):
                raise ValidationError("a text export needs text (a string)")
            run.export_text(text, label, **opts)
        elif export_type == "json":
            if json_data is None:
                raise ValidationError("a json export needs json_data")
            run.export_json(json_data, label, **opts)
        elif export_type == "url":
            if not url:
                raise ValidationError("a url export needs url")
            run.export_url(url, label, **opts)
        elif export_type == "binary_url":
            if not binary_url:
                raise ValidationError("a binary_url export needs binary_url")
            run.export_binary_url(binary_url, label, **opts)
        elif export_type == "binary":
            if binary_data is None:
                raise ValidationError("a binary export needs binary_data")
            data = bytes(binary_data)
            if len(data) > EXPORT_INLINE_BINARY_MAX_BYTES:
                raise ValidationError("inline binary exports are limited to %d bytes (got %d); export a "
                                      "binary_url instead" % (EXPORT_INLINE_BINARY_MAX_BYTES, len(data)))
            opts["mime"] = mime or "application/octet-stream"
            run.export_binary(data, label, **opts)
        else:
            raise ValidationError("export_type must be text, json, url, binary or binary_url (got %r)"
                                  % (export_type,))
        return {"ok": True, "run_id": run.run_id}

    def export_push(self, **kwargs: Any) -> Any:
        """An export item of the current run (or ``run_id``): ``export_type`` text|json|url|binary|binary_url with
        ``text`` / ``json_data`` / ``url`` / ``binary_data`` / ``binary_url``, ``label``, ``description``,
        ``mime``, ``metadata``. Visible in ``GET /runs/{id}/export``."""
        return smart(lambda: self._export_push(**kwargs))

    def export_push_sync(self, **kwargs: Any) -> Any:
        return self._export_push(**kwargs)

    async def export_push_async(self, **kwargs: Any) -> Any:
        return self._export_push(**kwargs)

    # shortcuts, each with _sync and _async variants
    def export_push_text(self, text: str, **kw: Any) -> Any:
        return self.export_push(export_type="text", text=text, **kw)

    def export_push_json(self, json_data: Any, **kw: Any) -> Any:
        return self.export_push(export_type="json", json_data=json_data, **kw)

    def export_push_url(self, url: str, **kw: Any) -> Any:
        return self.export_push(export_type="url", url=url, **kw)

    def export_push_binary(self, binary_data: Any, **kw: Any) -> Any:
        return self.export_push(export_type="binary", binary_data=binary_data, **kw)

    def export_push_binary_url(self, binary_url: str, **kw: Any) -> Any:
        return self.export_push(export_type="binary_url", binary_url=binary_url, **kw)

    def export_push_text_sync(self, text: str, **kw: Any) -> Any:
        return self._export_push(export_type="text", text=text, **kw)

    def export_push_json_sync(self, json_data: Any, **kw: Any) -> Any:
        return self._export_push(export_type="json", json_data=json_data, **kw)

    def export_push_url_sync(self, url: str, **kw: Any) -> Any:
        return self._export_push(export_type="url", url=url, **kw)

    def export_push_binary_sync(self, binary_data: Any, **kw: Any) -> Any:
        return self._export_push(export_type="binary", binary_data=binary_data, **kw)

    def export_push_binary_url_sync(self, binary_url: str, **kw: Any) -> Any:
        return self._export_push(export_type="binary_url", binary_url=binary_url, **kw)

    async def export_push_text_async(self, text: str, **kw: Any) -> Any:
        return self._export_push(export_type="text", text=text, **kw)

    async def export_push_json_async(self, json_data: Any, **kw: Any) -> Any:
        return self._export_push(export_type="json", json_data=json_data, **kw)

    async def export_push_url_async(self, url: str, **kw: Any) -> Any:
        return self._export_push(export_type="url", url=url, **kw)

    async def export_push_binary_async(self, binary_data: Any, **kw: Any) -> Any:
        return self._export_push(export_type="binary", binary_data=binary_data, **kw)

    async def export_push_binary_url_async(self, binary_url: str, **kw: Any) -> Any:
        return self._export_push(export_type="binary_url", binary_url=binary_url, **kw)

    def finish(self, *, data: Any = None, reply: bool = True, message: str = "", trace_id: Optional[str] = None,
               meta: Optional[Dict[str, Any]] = None, **more: Any) -> Any:
        """A success envelope for the entry to return (kept by the host as the run's result envelope)."""
        from ._core import ok

        m = dict(meta or {})
        m.setdefault("agent", {"reply": bool(reply)})
        if more.get("delivery") is not None:
            m["delivery"] = more["delivery"]
        return ready(ok(data, message=message, trace_id=trace_id, **m))

    # -- other plugins ------------------------------------------------------------------------------------------
    def trigger_plugin_event(self, target_plugin_id: str = "", event_type: str = "plugin_entry",
                             event_id: str = "", params: Optional[Dict[str, Any]] = None, timeout: float = 10.0,
                             **kw: Any) -> Any:
        """Runs another plugin's entry (``event_type`` "plugin_entry") or custom event through the host
        (``host/call``); returns its output."""
        target_plugin_id = target_plugin_id or kw.get("plugin_id", "")
        entry = event_id if event_type in ("plugin_entry", "", None) else "%s:%s" % (event_type, event_id)
        return self._call("host/call", self._rt.call_params(target_plugin_id, entry, params, timeout),
                          timeout + 1.0)

    trigger_plugin_event_async = trigger_plugin_event
    trigger_plugin_event_sync = trigger_plugin_event

    def query_plugins(self, filters: Optional[Dict[str, Any]] = None, timeout: float = 5.0) -> Any:
        return failed(NotSupportedError("query_plugins is not supported by plugd yet; use GET /plugins"))

    def query_memory(self, *args: Any, **kwargs: Any) -> Any:
        return failed(NotSupportedError("query_memory (the N.E.K.O memory server) is not available under plugd"))

    def get_system_config(self, timeout: float = 5.0) -> Any:
        return failed(NotSupportedError("get_system_config is not available under plugd"))

    def __repr__(self) -> str:
        return "NekoContext(plugin_id=%r)" % (self.plugin_id,)
