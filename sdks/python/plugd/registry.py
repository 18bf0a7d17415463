"""What a plugin offers, independent of how it was declared.

A :class:`Registry` holds entries, timers, lifecycle hooks and event handlers. The decorator API
(:class:`plugd.Plugin`) fills one; another front end (a compatibility layer for a different plugin API) can fill
one the same way and hand it to :func:`plugd.runtime.serve`. The runtime only ever talks to the registry.

An :class:`EntrySpec`'s ``invoke(ctx, input)`` is what the runtime calls, on a worker thread for a sync entry or
on the asyncio loop for an async one (``is_async``: ``invoke`` returns an awaitable). :func:`handler_invoker`
builds the usual one for a ``handler(ctx, **input)`` function.
"""

from __future__ import annotations

from .errors import PluginError
from .schema import CallableInfo, Param, describe, infer_input_schema

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

__all__ = ["EntrySpec", "Hook", "Registry", "handler_invoker", "hook_caller"]


class EntrySpec:
    """One entry (or timer) of a plugin, as the handshake describes it plus how to call it."""

    def __init__(self, id: str, invoke: Callable[[Any, Dict[str, Any]], Any], *, is_async: bool = False,
                 description: Optional[str] = None, name: Optional[str] = None,
                 input_schema: Optional[Dict[str, Any]] = None, output_schema: Optional[Dict[str, Any]] = None,
                 timeout_ms: Optional[int] = None, streaming: Optional[bool] = None, kind: str = "entry",
                 interval_ms: Optional[int] = None, metadata: Optional[Dict[str, Any]] = None,
                 handler: Any = None) -> None:
        if not id or not all(c.isalnum() or c in "_.:-" for c in id):
            raise ValueError("entry id %r must match [A-Za-z0-9_.:-]+" % (id,))
        if kind == "timer" and not (interval_ms and interval_ms > 0):
            raise ValueError("timer %r needs interval_ms > 0" % (id,))
        self.id = id
        self.invoke = invoke
        self.is_async = is_async
        self.description = description
        self.name = name
        self.input_schema = input_schema
        self.output_schema = output_schema
        self.timeout_ms = timeout_ms
        self.streaming = streaming
        self.kind = kind
        self.interval_ms = interval_ms
        self.metadata = metadata
        #: The user's function, for front ends and introspection.
        self.handler = handler

    def info(self) -> Dict[str, Any]:
        """The handshake's EntryInfo."""
        out: Dict[str, Any] = {"id": self.id}
        if self.name:
            out["name"] = self.name
        if self.description:
            out["description"] = self.description
        if self.input_schema is not None:
            out["inputSchema"] = self.input_schema
        if self.output_schema is not None:
            out["outputSchema"] = self.output_schema
        if self.timeout_ms:
            out["timeoutMs"] = self.timeout_ms
        if self.streaming:
            out["streaming"] = True
        if self.kind != "entry":
            out["kind"] = self.kind
        if self.interval_ms:
            out["intervalMs"] = self.interval_ms
        if self.metadata:
            out["metadata"] = self.metadata
        return out

    def __repr__(self) -> str:
        return "EntrySpec(%r, kind=%r, async=%r)" % (self.id, self.kind, self.is_async)


class Hook:
    """A lifecycle hook or event handler: ``call(*args)`` passes as many of the args as the function takes."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.call, self.is_async = hook_caller(fn)


class Registry:
    def __init__(self, name: str, version: str = "0.0.0", *, description: Optional[str] = None) -> None:
        self.name = name
        self.version = version
        self.description = description
        self.entries: Dict[str, EntrySpec] = {}
        self.startup: List[Hook] = []
        self.shutdown: List[Hook] = []
        self.config_changed: List[Hook] = []
        #: event type ("*" = any) -> handlers
        self.events: Dict[str, List[Hook]] = {}
        self.capabilities: List[str] = ["cancel", "progress", "output", "export", "log", "reverse-rpc"]
        #: Extra fields for the handshake result (routes, …).
        self.handshake_extra: Dict[str, Any] = {}
        #: ``health() -> {status: "ok" | "degraded", details?}`` answers ``plugin/health``; None = always ok.
        self.health: Optional[Callable[[], Dict[str, Any]]] = None

    def add_entry(self, spec: EntrySpec) -> EntrySpec:
        if spec.id in self.entries:
            raise ValueError("entry %r is declared twice" % (spec.id,))
        self.entries[spec.id] = spec
        return spec

    def remove_entry(self, id: str) -> None:
        self.entries.pop(id, None)

    def add_event_handler(self, event_type: str, fn: Callable[..., Any]) -> None:
        self.events.setdefault(event_type, []).append(Hook(fn))

    @property
    def has_async(self) -> bool:
        hooks = self.startup + self.shutdown + self.config_changed + [h for hs in self.events.values() for h in hs]
        return any(e.is_async for e in self.entries.values()) or any(h.is_async for h in hooks)

    def entry_infos(self) -> List[Dict[str, Any]]:
        return [e.info() for e in self.entries.values()]


def _call_with_ctx(fn: Callable[..., Any], info: CallableInfo) -> bool:
    """Whether the handler's first positional parameter receives ctx (it has one)."""
    return info.positional_count > 0


def handler_invoker(fn: Callable[..., Any], info: Optional[CallableInfo] = None,
                    timer: bool = False) -> Callable[[Any, Dict[str, Any]], Any]:
    """``invoke(ctx, input)`` for a handler ``fn(ctx, **input)``.

    Input keys the handler does not accept are dropped (unless it takes ``**kwargs``); a missing required one is
    ``INVALID_INPUT``. A handler without positional parameters (``def f(**input)``) is called without ctx. A
    timer handler is called as ``fn(ctx)`` (or ``fn()``).
    """
    info = info or describe(fn)
    with_ctx = _call_with_ctx(fn, info)
    if timer:
        if with_ctx:
            return lambda ctx, input: fn(ctx)
        return lambda ctx, input: fn()
    params = info.after_first() if with_ctx else list(info.params)
    by_name = [p for p in params if p.kind != Param.POSITIONAL_ONLY]
    if info.var_keyword:
        if with_ctx:
            return lambda ctx, input: fn(ctx, **input)
        return lambda ctx, input: fn(**input)
    names = frozenset(p.name for p in by_name)
    required = [p.name for p in by_name if p.required]

    def invoke(ctx: Any, input: Dict[str, Any]) -> Any:
        kwargs = {k: v for k, v in input.items() if k in names} if input.keys() - names else input
        if required:
            missing = [n for n in required if n not in kwargs]
            if missing:
                raise PluginError.of("INVALID_INPUT", "missing required input: %s" % ", ".join(missing),
                                     problems=[{"path": "/" + n, "message": "is required"} for n in missing])
        return fn(ctx, **kwargs) if with_ctx else fn(**kwargs)

    return invoke


def hook_caller(fn: Callable[..., Any]) -> tuple:
    """``(call(*args), is_async)`` for a hook: ``call`` passes the first N args, N = what the function takes."""
    info = describe(fn)
    n = info.positional_count

    def call(*args: Any) -> Any:
        return fn(*args[:n])

    return call, info.is_async


def entry_from_function(fn: Callable[..., Any], *, id: Optional[str] = None, description: Optional[str] = None,
                        input_schema: Optional[Dict[str, Any]] = None, kind: str = "entry",
                        **options: Any) -> EntrySpec:
    """An EntrySpec for ``fn(ctx, **input)`` (or a timer ``fn(ctx)``), the schema inferred unless given."""
    info = describe(fn)
    timer = kind == "timer"
    if input_schema is None and not timer:
        input_schema = infer_input_schema(info, skip_first=_call_with_ctx(fn, info))
    if description is None and info.doc:
        description = " ".join(info.doc.strip().split("\n\n")[0].split()) or None
    return EntrySpec(id or info.name, handler_invoker(fn, info, timer=timer), is_async=info.is_async,
                     description=description, input_schema=input_schema, kind=kind, handler=fn, **options)
