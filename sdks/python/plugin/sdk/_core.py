"""Decorators, event metadata, results and errors of the N.E.K.O plugin SDK, as plain data.

Nothing here talks to the host: the decorators only attach an :class:`EventMeta` to the function, and
``plugd.neko_runner`` reads it when it serves the plugin. Signatures follow N.E.K.O's SDK v2
(``plugin/sdk/shared/core/decorators.py``); unknown keyword arguments of older SDK versions are accepted and kept in
``EventMeta.extra`` instead of failing the import.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

__all__ = [
    "EVENT_META_ATTR", "HOOK_META_ATTR", "LLM_TOOL_META_ATTR", "NEKO_PLUGIN_TAG", "NEKO_PLUGIN_META_ATTR",
    "PERSIST_ATTR", "CHECKPOINT_ATTR", "WORKER_MODE_ATTR", "SDK_VERSION", "EntryKind", "EventMeta", "EventHandler",
    "HookMeta", "LlmToolMeta", "neko_plugin", "on_event", "plugin_entry", "lifecycle", "message", "timer_interval",
    "custom_event", "worker", "hook", "before_entry", "after_entry", "around_entry", "replace_entry", "quick_action",
    "llm_tool", "plugin", "Ok", "Err", "Result", "unwrap", "unwrap_or", "SdkError", "TransportError",
    "ValidationError", "InvalidArgumentError", "PluginConfigError", "ConfigPathError", "ConfigProfileError",
    "ConfigValidationError", "EntryConflictError", "NotSupportedError", "ErrorCode", "ok", "fail", "is_envelope",
]

#: The N.E.K.O SDK version plugd implements (host SDK_VERSION; plugin.toml [plugin.sdk] ranges are checked against it).
SDK_VERSION = "0.1.0"

EVENT_META_ATTR = "__neko_event_meta__"
HOOK_META_ATTR = "__neko_hook_meta__"
LLM_TOOL_META_ATTR = "__neko_llm_tool_meta__"
NEKO_PLUGIN_TAG = "__neko_plugin__"
NEKO_PLUGIN_META_ATTR = "__neko_plugin_meta__"
PERSIST_ATTR = "_neko_persist"
CHECKPOINT_ATTR = PERSIST_ATTR
WORKER_MODE_ATTR = "_neko_worker"
QUICK_ACTION_ATTR = "_neko_quick_action"

#: The entry kinds N.E.K.O knows (``Literal[...]`` there; a plain tuple here).
EntryKind = ("service", "action", "hook", "custom", "lifecycle", "consumer", "timer", "chat_command")

LIFECYCLE_IDS = ("startup", "shutdown", "reload", "freeze", "unfreeze", "config_change")


class EventMeta:
    """What a decorator says about a handler (N.E.K.O's ``EventMeta``)."""

    def __init__(self, event_type: str, id: str, name: Optional[str] = None, description: str = "",
                 input_schema: Optional[Dict[str, Any]] = None, kind: str = "action", auto_start: bool = False,
                 persist: Optional[bool] = None, params: Any = None, model_validate: bool = True,
                 timeout: Optional[float] = None, llm_result_fields: Optional[List[str]] = None,
                 llm_result_schema: Optional[Dict[str, Any]] = None, llm_result_model: Any = None,
                 quick_action: Any = None, extra: Optional[Dict[str, Any]] = None,
                 metadata: Optional[Dict[str, Any]] = None) -> None:
        self.event_type = event_type
        self.id = id
        self.name = name or id
        self.description = description or ""
        self.input_schema = input_schema
        self.kind = kind
        self.auto_start = auto_start
        self.persist = persist
        self.params = params
        self.model_validate = model_validate
        self.timeout = timeout
        self.llm_result_fields = llm_result_fields
        self.llm_result_schema = llm_result_schema
        self.llm_result_model = llm_result_model
        self.quick_action = quick_action
        self.extra: Dict[str, Any] = dict(extra or {})
        self.metadata: Dict[str, Any] = dict(metadata or {})

    def __repr__(self) -> str:
        return "EventMeta(event_type=%r, id=%r, kind=%r)" % (self.event_type, self.id, self.kind)


class EventHandler:
    """A handler with its metadata (what ``collect_entries()`` returns)."""

    __slots__ = ("meta", "handler")

    def __init__(self, meta: EventMeta, handler: Callable[..., Any]) -> None:
        self.meta = meta
        self.handler = handler

    def __repr__(self) -> str:
        return "EventHandler(%r)" % (self.meta,)


class HookMeta:
    def __init__(self, target: str = "*", timing: str = "before", priority: int = 0,
                 condition: Optional[str] = None) -> None:
        self.target = target
        self.timing = timing
        self.priority = priority
        self.condition = condition


class LlmToolMeta:
    def __init__(self, name: str, description: str = "", parameters: Optional[Dict[str, Any]] = None,
                 timeout: float = 30.0, role: Optional[str] = None) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters or {"type": "object", "properties": {}}
        self.timeout = timeout
        self.role = role

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"name": self.name, "description": self.description, "parameters": self.parameters,
                               "timeout": self.timeout}
        if self.role is not None:
            out["role"] = self.role
        return out


# -- decorators -------------------------------------------------------------------------------------------------

def _attach(fn: Any, meta: EventMeta) -> Any:
    target = getattr(fn, "__func__", fn)  # staticmethod/classmethod objects
    setattr(target, EVENT_META_ATTR, meta)
    if meta.persist is not None:
        setattr(target, PERSIST_ATTR, bool(meta.persist))
    return fn


def _merge(metadata: Optional[Dict[str, Any]], **fields: Any) -> Dict[str, Any]:
    out = dict(metadata or {})
    for k, v in fields.items():
        if v is not None:
            out[k] = v
    return out


def neko_plugin(cls: Any) -> Any:
    """Marks the plugin class (discovery); the class is returned unchanged."""
    setattr(cls, NEKO_PLUGIN_TAG, True)
    return cls


def on_event(*, event_type: str, id: Optional[str] = None, name: Optional[str] = None, description: str = "",
             input_schema: Optional[Dict[str, Any]] = None, kind: str = "action", auto_start: bool = False,
             persist: Optional[bool] = None, mode: Optional[str] = None, seconds: Optional[float] = None,
             extra: Optional[Dict[str, Any]] = None, metadata: Optional[Dict[str, Any]] = None,
             **more: Any) -> Callable[[Any], Any]:
    """The generic decorator: ``event_type`` plugin_entry | lifecycle | timer | message | <custom>."""
    event_type = (event_type or "").strip()
    if not event_type:
        raise ValueError("event_type must be non-empty")

    def decorator(fn: Any) -> Any:
        event_id = (id or getattr(fn, "__name__", "")).strip()
        if not event_id:
            raise ValueError("event id must be non-empty")
        x = _merge(extra, mode=mode, seconds=seconds)
        x.update(more)
        return _attach(fn, EventMeta(event_type, event_id, (name or event_id).strip() or event_id, description,
                                     input_schema, kind, auto_start, persist, extra=x, metadata=metadata))

    return decorator


def plugin_entry(fn: Any = None, *, id: Optional[str] = None, name: Optional[str] = None, description: str = "",
                 input_schema: Optional[Dict[str, Any]] = None, params: Any = None, kind: str = "action",
                 auto_start: bool = False, persist: Optional[bool] = None, model_validate: bool = True,
                 timeout: Optional[float] = None, llm_result_fields: Optional[List[str]] = None,
                 llm_result_model: Any = None, fields: Any = None, metadata: Optional[Dict[str, Any]] = None,
                 quick_action: Any = None, **more: Any) -> Any:
    """An entry callable through the host (``POST /runs``, other plugins). Without ``input_schema`` (or a
    ``params`` model) the schema is inferred from the handler's type hints when the plugin is served."""
    if input_schema is not None and params is not None:
        raise ValueError("input_schema and params are mutually exclusive")
    if sum(1 for x in (llm_result_fields, llm_result_model, fields) if x is not None) > 1:
        raise ValueError("llm_result_fields, llm_result_model and fields are mutually exclusive")
    if llm_result_fields is not None and (isinstance(llm_result_fields, str)
                                          or not all(isinstance(f, str) for f in llm_result_fields)):
        raise ValueError("llm_result_fields must be a list of strings")

    def decorator(f: Any) -> Any:
        event_id = (id or getattr(f, "__name__", "")).strip()
        if not event_id:
            raise ValueError("entry id must be non-empty")
        model = llm_result_model if llm_result_model is not None else fields
        schema = input_schema
        if schema is None and params is not None:
            schema = _model_schema(params)
        meta = EventMeta("plugin_entry", event_id, (name or event_id).strip() or event_id, description, schema,
                         kind, auto_start, persist, params, model_validate, timeout,
                         list(llm_result_fields) if llm_result_fields else None,
                         _model_schema(model) if model is not None else None, model, quick_action,
                         extra=dict(more), metadata=metadata)
        if meta.llm_result_fields is None and isinstance(meta.llm_result_schema, dict):
            props = meta.llm_result_schema.get("properties")
            if isinstance(props, dict) and props:
                meta.llm_result_fields = list(props)
        return _attach(f, meta)

    return decorator(fn) if fn is not None and callable(fn) else decorator


def _model_schema(model: Any) -> Optional[Dict[str, Any]]:
    """JSON Schema of a pydantic model (v2 ``model_json_schema``, v1 ``schema``), or None."""
    for attr in ("model_json_schema", "schema"):
        fn = getattr(model, attr, None)
        if callable(fn):
            try:
                s = fn()
            except Exception:
                continue
            if isinstance(s, dict):
                return s
    return None


def lifecycle(*, id: str, name: Optional[str] = None, description: str = "",
              metadata: Optional[Dict[str, Any]] = None, **more: Any) -> Callable[[Any], Any]:
    """``startup`` / ``shutdown`` / ``config_change`` run in the plugin process; ``reload`` / ``freeze`` /
    ``unfreeze`` are declared as entries ``lifecycle:<id>`` (plugd has no such host command)."""
    if id not in LIFECYCLE_IDS:
        raise ValueError("lifecycle id must be one of %s (got %r)" % (", ".join(LIFECYCLE_IDS), id))
    return on_event(event_type="lifecycle", id=id, name=name, description=description, kind="lifecycle",
                    metadata=metadata, **more)


def message(*, id: str, name: Optional[str] = None, description: str = "",
            input_schema: Optional[Dict[str, Any]] = None, source: Optional[str] = None,
            metadata: Optional[Dict[str, Any]] = None, **more: Any) -> Callable[[Any], Any]:
    """A message consumer; served as the entry ``message:<id>``."""
    return on_event(event_type="message", id=id, name=name, description=description, input_schema=input_schema,
                    kind="consumer", metadata=_merge(metadata, source=source), **more)


def timer_interval(*, id: str, seconds: float, name: Optional[str] = None, description: str = "",
                   auto_start: bool = True, metadata: Optional[Dict[str, Any]] = None,
                   **more: Any) -> Callable[[Any], Any]:
    """Runs every ``seconds``. Declared to the host as a timer entry: the HOST fires it, each firing is a run."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds <= 0:
        raise ValueError("seconds must be > 0")
    return on_event(event_type="timer", id=id, name=name, description=description, kind="timer",
                    auto_start=auto_start, mode="interval", seconds=seconds,
                    metadata=_merge(metadata, seconds=seconds), **more)


def custom_event(*, event_type: str, id: str, name: Optional[str] = None, description: str = "",
                 input_schema: Optional[Dict[str, Any]] = None, kind: str = "custom", auto_start: bool = False,
                 trigger_method: str = "message", metadata: Optional[Dict[str, Any]] = None,
                 **more: Any) -> Callable[[Any], Any]:
    """A custom event other plugins call with ``plugins.call_event("pid:type:id")``; served as the entry
    ``<event_type>:<id>``."""
    return on_event(event_type=event_type, id=id, name=name, description=description, input_schema=input_schema,
                    kind=kind, auto_start=auto_start, extra={"trigger_method": trigger_method},
                    metadata=_merge(metadata, trigger_method=trigger_method), **more)


def worker(fn: Any = None, *, timeout: float = 30.0, priority: int = 0) -> Any:
    """[J]'s ``@worker``: plugd already runs sync entries on worker threads; kept as a marker."""

    def decorator(f: Any) -> Any:
        setattr(getattr(f, "__func__", f), WORKER_MODE_ATTR, {"timeout": timeout, "priority": priority})
        return f

    return decorator(fn) if fn is not None and callable(fn) else decorator


def hook(*, target: str = "*", timing: str = "before", priority: int = 0,
         condition: Optional[str] = None) -> Callable[[Any], Any]:
    """Entry hooks are recorded but NOT run by plugd yet (the runner logs a warning for each)."""
    if timing not in ("before", "after", "around", "replace"):
        raise ValueError("timing must be one of: before, after, around, replace")

    def decorator(fn: Any) -> Any:
        setattr(getattr(fn, "__func__", fn), HOOK_META_ATTR, HookMeta(target, timing, priority, condition))
        return fn

    return decorator


def before_entry(*, target: str = "*", priority: int = 0, condition: Optional[str] = None) -> Callable[[Any], Any]:
    return hook(target=target, timing="before", priority=priority, condition=condition)


def after_entry(*, target: str = "*", priority: int = 0, condition: Optional[str] = None) -> Callable[[Any], Any]:
    return hook(target=target, timing="after", priority=priority, condition=condition)


def around_entry(*, target: str = "*", priority: int = 0, condition: Optional[str] = None) -> Callable[[Any], Any]:
    return hook(target=target, timing="around", priority=priority, condition=condition)


def replace_entry(*, target: str = "*", priority: int = 0, condition: Optional[str] = None) -> Callable[[Any], Any]:
    return hook(target=target, timing="replace", priority=priority, condition=condition)


def quick_action(fn: Any = None, *, icon: Optional[str] = None, priority: int = 0) -> Any:
    """Marks an entry as a quick action (kept as entry metadata)."""

    def decorator(f: Any) -> Any:
        setattr(getattr(f, "__func__", f), QUICK_ACTION_ATTR, {"icon": icon, "priority": priority})
        return f

    return decorator(fn) if fn is not None and callable(fn) else decorator


def llm_tool(fn: Any = None, *, name: Optional[str] = None, description: str = "",
             parameters: Optional[Dict[str, Any]] = None, timeout: float = 30.0, role: Optional[str] = None) -> Any:
    """An LLM tool. plugd registers no tool with an LLM: the tool is served as the entry ``llm_tool:<name>``
    (its input schema = ``parameters``) and its description is kept as that entry's metadata."""

    def decorator(f: Any) -> Any:
        tool = LlmToolMeta((name or getattr(f, "__name__", "")).strip(), description, parameters, timeout, role)
        if not tool.name:
            raise ValueError("llm_tool name must be non-empty")
        setattr(getattr(f, "__func__", f), LLM_TOOL_META_ATTR, tool)
        return f

    return decorator(fn) if fn is not None and callable(fn) else decorator


class _PluginDecorators:
    @staticmethod
    def entry(**kwargs: Any) -> Callable[[Any], Any]:
        return plugin_entry(**kwargs)


#: ``@plugin.entry(...)``, N.E.K.O's alias of ``@plugin_entry(...)``.
plugin = _PluginDecorators()


# -- results ----------------------------------------------------------------------------------------------------

class _Generic(type):
    """Lets ``Result[int, SdkError]`` / ``Ok[int]`` appear in annotations evaluated at definition time."""

    def __getitem__(cls, item: Any) -> Any:
        return cls


class Ok(metaclass=_Generic):
    """A successful result: the entry's output is ``value``."""

    __slots__ = ("value",)

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def is_ok(self) -> bool:
        return True

    def is_err(self) -> bool:
        return False

    def unwrap(self) -> Any:
        return self.value

    def unwrap_or(self, default: Any = None) -> Any:
        return self.value

    def map(self, fn: Callable[[Any], Any]) -> Ok:
        return Ok(fn(self.value))

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Ok) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Ok(%r)" % (self.value,)


class Err(metaclass=_Generic):
    """A failed result: ``error`` is usually an :class:`SdkError` (its ``code`` becomes the run's error code)."""

    __slots__ = ("error",)

    def __init__(self, error: Any = None) -> None:
        self.error = error

    def is_ok(self) -> bool:
        return False

    def is_err(self) -> bool:
        return True

    def unwrap(self) -> Any:
        if isinstance(self.error, BaseException):
            raise self.error
        raise SdkError(str(self.error))

    def unwrap_or(self, default: Any = None) -> Any:
        return default

    def map(self, fn: Callable[[Any], Any]) -> Err:
        return self

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Err) and other.error is self.error

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Err(%r)" % (self.error,)


class _ResultMeta(_Generic):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, (Ok, Err))


class Result(metaclass=_ResultMeta):
    """``isinstance(x, Result)`` is true for Ok and Err."""


def unwrap(result: Any) -> Any:
    """The value of an Ok, raises the error of an Err; any other value is returned as it is."""
    if isinstance(result, (Ok, Err)):
        return result.unwrap()
    return result


def unwrap_or(result: Any, default: Any = None) -> Any:
    if isinstance(result, Err):
        return default
    if isinstance(result, Ok):
        return result.value
    return default if result is None else result


# -- errors -----------------------------------------------------------------------------------------------------

class SdkError(Exception):
    """N.E.K.O's SDK error. ``code`` (a string such as ``"CITY_UNKNOWN"`` or an :class:`ErrorCode`) is kept: a run
    that returns ``Err(SdkError(..., code=X))`` or raises it fails with error code X."""

    default_code: Optional[str] = None

    def __init__(self, message: str = "", code: Any = None, details: Any = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.details = details
        self.context = context

    def __str__(self) -> str:
        return self.message or (str(self.code) if self.code is not None else type(self).__name__)

    def __repr__(self) -> str:
        return "%s(%r, code=%r)" % (type(self).__name__, self.message, self.code)


class TransportError(SdkError):
    default_code = "TRANSPORT_ERROR"


class ValidationError(SdkError):
    default_code = "VALIDATION_ERROR"


class InvalidArgumentError(ValidationError):
    pass


class PluginConfigError(SdkError):
    default_code = "CONFIG_ERROR"


class ConfigPathError(PluginConfigError):
    pass


class ConfigProfileError(PluginConfigError):
    pass


class ConfigValidationError(PluginConfigError):
    pass


class EntryConflictError(SdkError):
    default_code = "CONFLICT"


class NotSupportedError(SdkError):
    """A N.E.K.O feature plugd does not provide (yet); see docs/neko-compat.md."""

    default_code = "NOT_IMPLEMENTED"


def _error_code_enum() -> Any:
    import enum

    class ErrorCode(int, enum.Enum):
        """N.E.K.O's ErrorCode (``plugin/_types/errors.py``); ``str()`` gives the name, as N.E.K.O's does."""

        SUCCESS = 0
        VALIDATION_ERROR = 400
        UNAUTHORIZED = 401
        FORBIDDEN = 403
        NOT_FOUND = 404
        CONFLICT = 409
        INVALID_RESPONSE = 422
        RATE_LIMITED = 429
        INTERNAL = 500
        NOT_IMPLEMENTED = 501
        DEPENDENCY_MISSING = 502
        NOT_READY = 503
        TIMEOUT = 504
        PLUGIN_NOT_RUNNING = 1001
        PLUGIN_CRASHED = 1002
        CIRCULAR_CALL = 1003
        PLUGIN_RATE_LIMITED = 1004

        def __str__(self) -> str:
            return self.name

        def __format__(self, spec: str) -> str:
            return format(self.name, spec)

    return ErrorCode


ErrorCode = _error_code_enum()


def code_name(code: Any) -> Optional[str]:
    """The run error code for an SdkError code: strings as they are, ErrorCode members and their numbers by name."""
    if code is None:
        return None
    if isinstance(code, str):
        return code.strip() or None
    name = getattr(code, "name", None)
    if isinstance(name, str):
        return name
    if isinstance(code, int) and not isinstance(code, bool):
        try:
            return ErrorCode(code).name
        except ValueError:
            return str(code)
    return str(code)


# -- v1 envelopes -----------------------------------------------------------------------------------------------

def _now_iso() -> str:
    import time

    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def ok(data: Any = None, *, message: str = "", trace_id: Optional[str] = None, time: Optional[str] = None,
       **meta: Any) -> Dict[str, Any]:
    """N.E.K.O's success envelope; returned from an entry, the host keeps it as the run's result envelope."""
    payload: Dict[str, Any] = {"success": True, "code": 0, "data": data, "message": message, "error": None,
                               "time": time or _now_iso(), "trace_id": trace_id}
    if meta:
        payload["meta"] = meta
    return payload


def fail(code: Any, message: str, *, details: Any = None, retriable: bool = False, trace_id: Optional[str] = None,
         time: Optional[str] = None, **meta: Any) -> Dict[str, Any]:
    """N.E.K.O's failure envelope; returned from an entry, the run fails with ``error.code`` = ``code``."""
    numeric = int(code) if isinstance(code, int) and not isinstance(code, bool) else 500
    payload: Dict[str, Any] = {
        "success": False, "code": numeric, "data": None, "message": message,
        "error": {"code": code_name(code) or "PLUGIN_ERROR", "message": message, "details": details,
                  "retriable": retriable},
        "time": time or _now_iso(), "trace_id": trace_id,
    }
    if meta:
        payload["meta"] = meta
    return payload


def is_envelope(value: Any) -> bool:
    return (isinstance(value, dict) and value.get("success") in (True, False) and "error" in value
            and "time" in value)
