"""The plugin side of the protocol: serves a :class:`~plugd.registry.Registry` over a pair of byte streams.

Threads: the thread that calls :meth:`Service.serve_forever` reads and dispatches every message (it never runs
plugin code). Sync entry handlers run on a pool of worker threads; async ones (and any awaitable a handler
returns) on one asyncio loop in a background thread, started when first needed (and right after the handshake
if the plugin has async handlers). A ``$/cancelRequest`` sets the run's cancellation (``ctx.cancelled``,
``ctx.cancel_event``) and cancels the asyncio task of an async handler.
"""

from __future__ import annotations

import os
import sys
import threading
from _queue import SimpleQueue

from . import context as _context
from ._version import PROTOCOL_VERSION, SDK_NAME, __version__
from .context import Context, PluginContext, current_run
from .errors import Cancelled, PluginError
from .framing import FrameReader, FrameWriter
from .peer import DEFER, Peer, _is_asyncio_cancel

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any, Callable, Dict, List, Optional

    from .peer import Incoming
    from .registry import EntrySpec, Hook, Registry

__all__ = ["Service", "WorkerPool", "LoopThread", "negotiate_version"]

#: How long shutdown hooks may run when stdin ends (the host is gone), before the process exits anyway.
EOF_HOOK_TIMEOUT = 0.5


def _isawaitable(x: Any) -> bool:
    return hasattr(x, "__await__") and not isinstance(x, type)


def _major(version: Any) -> int:
    parts = version.strip().split(".") if isinstance(version, str) else [""]
    if not all(p.isdigit() for p in parts):
        raise PluginError.of("VERSION_MISMATCH", '"%s" is not a protocol version (expected e.g. "1.0")' % (version,))
    return int(parts[0])


def negotiate_version(ours: str, theirs: Any) -> str:
    """The version both sides use (same major required, lower minor), or VERSION_MISMATCH (1011)."""
    a, b = _major(ours), _major(theirs)
    if a != b:
        raise PluginError.of("VERSION_MISMATCH", "protocol major version mismatch: this side speaks %s, the other "
                             "side %s" % (ours, theirs), ours=ours, theirs=theirs)
    minor = lambda v: int((v.strip().split(".") + ["0"])[1])  # noqa: E731
    return "%d.%d" % (a, min(minor(ours), minor(theirs)))


def _hard_exit(code: int) -> None:
    for stream in (sys.stderr, sys.stdout):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def _print_exception(title: str, e: BaseException) -> None:
    import traceback

    try:
        sys.stderr.write("[plugd] %s\n" % title)
        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
        sys.stderr.flush()
    except Exception:  # pragma: no cover
        pass


class WorkerPool:
    """Threads for sync handlers, created on demand up to ``max_workers`` and reused."""

    def __init__(self, max_workers: int = 64) -> None:
        self.max_workers = max_workers
        self._queue: SimpleQueue = SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._count = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._queue.put((fn, args))
        if self._idle.acquire(blocking=False):
            return
        with self._lock:
            if self._count >= self.max_workers:
                return
            self._count += 1
            n = self._count
        threading.Thread(target=self._work, name="plugd-worker-%d" % n, daemon=True).start()

    def _work(self) -> None:
        get = self._queue.get
        while True:
            fn, args = get()
            try:
                fn(*args)
            except BaseException as e:  # pragma: no cover - jobs handle their own errors
                _print_exception("worker job failed", e)
            del fn, args
            self._idle.release()


class LoopThread:
    """One asyncio event loop running in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self.loop: Any = None
        self._lock = threading.Lock()
        self._tasks: set = set()

    def get(self) -> Any:
        loop = self.loop
        if loop is not None:
            return loop
        with self._lock:
            if self.loop is None:
                import asyncio

                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=run, name="plugd-asyncio", daemon=True).start()
                ready.wait()
                self.loop = loop
        return self.loop

    def start_in_background(self) -> None:
        if self.loop is None:
            threading.Thread(target=self.get, name="plugd-asyncio-start", daemon=True).start()

    def spawn(self, coro: Any) -> None:
        """Runs a coroutine as a task on the loop (from any thread)."""
        loop = self.get()
        loop.call_soon_threadsafe(self._start, coro)

    def _start(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def run(self, awaitable: Any, cancel: Optional[Incoming] = None) -> Any:
        """Runs an awaitable on the loop and blocks this (non-loop) thread for its result."""
        import asyncio

        async def wrap() -> Any:
            return await awaitable

        future = asyncio.run_coroutine_threadsafe(wrap(), self.get())
        remove = cancel.on_cancel(future.cancel) if cancel is not None else None
        try:
            return future.result()
        finally:
            if remove is not None:
                remove()


class Service:
    """Serves one registry over ``input`` (a buffered binary stream) and ``output`` (an fd or binary stream)."""

    def __init__(self, registry: Registry, input: Any, output: Any, *,
                 exit: Optional[Callable[[int], None]] = None, max_workers: Optional[int] = None) -> None:
        self.registry = registry
        self.plugin_id: str = registry.name
        self.config: Dict[str, Any] = {}
        self.data_dir: Optional[str] = None
        self.host: Dict[str, Any] = {}
        self.protocol_version = PROTOCOL_VERSION
        self.handshaken = False
        self.stopping = False
        self._exit = exit or _hard_exit
        self.peer = Peer(FrameReader(input, on_garbage=self._garbage), FrameWriter(output), on_warning=self._warn)
        if max_workers is None:
            max_workers = int(os.environ.get("PLUGD_MAX_WORKERS", "64") or 64)
        self.pool = WorkerPool(max_workers)
        self.loop_thread = LoopThread()
        self.plugin_ctx = PluginContext(self)
        p = self.peer
        p.request_handlers["plugin/handshake"] = self._on_handshake
        p.request_handlers["plugin/invoke"] = self._on_invoke
        p.request_handlers["plugin/health"] = self._on_health
        p.request_handlers["plugin/shutdown"] = self._on_shutdown
        p.notification_handlers["plugin/onEvent"] = self._on_event
        p.notification_handlers["plugin/configChanged"] = self._on_config_changed

    # -- serving ------------------------------------------------------------------------------------------------
    def serve_forever(self) -> None:
        """Serves until stdin ends or ``plugin/shutdown``; then calls ``exit`` (by default: ``os._exit``)."""
        _context.active_service = self
        self.peer.serve()
        if not self.stopping:
            self._on_eof()

    def _on_eof(self) -> None:
        self.stopping = True
        if self.registry.shutdown:
            t = threading.Thread(target=self._run_hooks, args=(self.registry.shutdown, "shutdown", self.plugin_ctx),
                                 name="plugd-shutdown", daemon=True)
            t.start()
            t.join(EOF_HOOK_TIMEOUT)
        self._exit(0)

    @property
    def logger(self) -> logging.Logger:
        from .log import plugin_logger

        return plugin_logger(self.registry.name)

    def stderr_log(self, params: Dict[str, Any]) -> None:
        try:
            sys.stderr.write("%s: %s\n" % (str(params.get("level", "info")).upper(), params.get("msg", "")))
            sys.stderr.flush()
        except Exception:  # pragma: no cover
            pass

    def _warn(self, message: str) -> None:
        self.stderr_log({"level": "warn", "msg": "[plugd] " + message})

    def _garbage(self, data: bytes) -> None:
        text = data[:200].decode("utf-8", "replace").strip()
        self._warn("skipped %d bytes that are not a frame: %r" % (len(data), text))

    # -- hooks --------------------------------------------------------------------------------------------------
    def call_hook(self, hook: Hook, *args: Any) -> Any:
        """Runs a hook to completion from a worker thread (async hooks on the loop)."""
        result = hook.call(*args)
        if _isawaitable(result):
            result = self.loop_thread.run(result)
        return result

    def _run_hooks(self, hooks: List[Hook], what: str, *args: Any) -> None:
        for hook in hooks:
            try:
                self.call_hook(hook, *args)
            except BaseException as e:
                _print_exception("%s hook %s failed" % (what, getattr(hook.fn, "__name__", hook.fn)), e)

    def _dispatch_hook(self, hook: Hook, what: str, *args: Any) -> None:
        """Runs a hook without waiting for it (event and config handlers)."""
        if hook.is_async:
            async def run() -> None:
                try:
                    await hook.call(*args)
                except BaseException as e:
                    _print_exception("%s handler failed" % what, e)

            self.loop_thread.spawn(run())
        else:
            def job() -> None:
                try:
                    self.call_hook(hook, *args)
                except BaseException as e:
                    _print_exception("%s handler failed" % what, e)

            self.pool.submit(job)

    # -- requests -----------------------------------------------------------------------------------------------
    def _on_handshake(self, params: Any, inc: Incoming) -> Any:
        if self.registry.startup:  # hooks may make reverse calls: never run them on the reading thread
            threading.Thread(target=self._handshake, args=(params, inc), name="plugd-handshake", daemon=True).start()
            return DEFER
        self._handshake(params, inc)
        return DEFER

    def _handshake(self, params: Any, inc: Incoming) -> None:
        try:
            if type(params) is not dict:
                raise PluginError.of("INVALID_PARAMS", "plugin/handshake needs params")
            self.protocol_version = negotiate_version(PROTOCOL_VERSION, params.get("protocolVersion"))
            plugin = params.get("plugin") if type(params.get("plugin")) is dict else {}
            if isinstance(plugin.get("config"), dict):
                self.config = plugin["config"]
            if isinstance(plugin.get("id"), str):
                self.plugin_id = plugin["id"]
            self.data_dir = plugin.get("dataDir")
            self.host = params.get("host") if type(params.get("host")) is dict else {}
            for hook in self.registry.startup:
                self.call_hook(hook, self.plugin_ctx)
            reg = self.registry
            result: Dict[str, Any] = {
                "protocolVersion": PROTOCOL_VERSION,
                "name": reg.name,
                "version": reg.version,
                "sdk": {"name": SDK_NAME, "version": __version__},
                "entries": reg.entry_infos(),
                "events": list(reg.events),
                "capabilities": list(reg.capabilities),
            }
            result.update(reg.handshake_extra)
        except BaseException as e:
            self._fail(inc, e, "the handshake")
            return
        inc.respond(result)
        self.handshaken = True
        if self.registry.has_async:
            self.loop_thread.start_in_background()

    def _on_health(self, params: Any, inc: Incoming) -> Any:
        check = self.registry.health
        if check is not None:
            try:
                return check()
            except Exception as e:
                return {"status": "degraded", "details": {"error": "health check failed: %s" % (e,)}}
        return {"status": "ok"}

    def _on_shutdown(self, params: Any, inc: Incoming) -> Any:
        threading.Thread(target=self._shutdown, args=(inc,), name="plugd-shutdown", daemon=True).start()
        return DEFER

    def _shutdown(self, inc: Incoming) -> None:
        self.stopping = True
        self._run_hooks(self.registry.shutdown, "shutdown", self.plugin_ctx)
        for other in self.peer.in_flight:  # runs still going: ask them to stop
            if other is not inc:
                other.cancel()
        inc.respond({})
        self._exit(0)

    def _on_invoke(self, params: Any, inc: Incoming) -> Any:
        if type(params) is not dict or type(params.get("entry")) is not str:
            raise PluginError.of("INVALID_PARAMS", "plugin/invoke needs params {runId, entry, input}")
        spec = self.registry.entries.get(params["entry"])
        if spec is None:
            raise PluginError.of("ENTRY_NOT_FOUND", "plugin '%s' has no entry '%s'" % (self.plugin_id, params["entry"]),
                                 available=list(self.registry.entries))
        input = params.get("input")
        if input is None:
            input = {}
        elif type(input) is not dict:
            if spec.kind == "timer":
                input = {}
            else:
                raise PluginError.of("INVALID_INPUT", "the input of '%s' must be a JSON object" % spec.id)
        ctx = Context(self, params, inc)
        if spec.is_async:
            self.loop_thread.spawn(self._run_async(spec, ctx, input, inc))
        else:
            self.pool.submit(self._run_sync, spec, ctx, input, inc)
        return DEFER

    def _run_sync(self, spec: EntrySpec, ctx: Context, input: Dict[str, Any], inc: Incoming) -> None:
        if inc.cancelled:
            inc.fail(Cancelled())
            return
        token = current_run.set(ctx)
        try:
            result = spec.invoke(ctx, input)
            if _isawaitable(result):
                result = self.loop_thread.run(result, inc)
        except BaseException as e:
            self._fail(inc, e, "entry '%s'" % spec.id)
        else:
            inc.respond({"output": result})
        finally:
            current_run.reset(token)

    async def _run_async(self, spec: EntrySpec, ctx: Context, input: Dict[str, Any], inc: Incoming) -> None:
        import asyncio

        if inc.cancelled:
            inc.fail(Cancelled())
            return
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        remove = inc.on_cancel(lambda: loop.call_soon_threadsafe(task.cancel))  # type: ignore[union-attr]
        current_run.set(ctx)
        try:
            result = spec.invoke(ctx, input)
            if _isawaitable(result):
                result = await result
        except BaseException as e:
            self._fail(inc, e, "entry '%s'" % spec.id)
        else:
            inc.respond({"output": result})
        finally:
            remove()

    def _fail(self, inc: Incoming, e: BaseException, what: str) -> None:
        if not isinstance(e, PluginError) and not (inc.cancelled or _is_asyncio_cancel(e)):
            _print_exception("%s failed:" % what, e)
        inc.fail(e)

    # -- notifications -----------------------------------------------------------------------------------------
    def _on_event(self, params: Any) -> None:
        if type(params) is not dict:
            return
        events = self.registry.events
        hooks = events.get(params.get("eventType"), []) + (events.get("*", []) if params.get("eventType") != "*"
                                                           else [])
        for hook in hooks:
            self._dispatch_hook(hook, "event", self.plugin_ctx, params)

    def _on_config_changed(self, params: Any) -> None:
        config = params.get("config") if type(params) is dict else None
        if not isinstance(config, dict):
            return
        self.config = config
        for hook in self.registry.config_changed:
            self._dispatch_hook(hook, "config_changed", self.plugin_ctx, config)
