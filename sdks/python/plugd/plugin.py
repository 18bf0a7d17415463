"""The decorator API.

.. code-block:: python

    from plugd import Plugin, PluginError

    plugin = Plugin("hello-python", version="0.1.0")

    @plugin.entry(description="Echo")
    def echo(ctx, **input):
        return input

    if __name__ == "__main__":
        plugin.run()
"""

from __future__ import annotations

from .registry import EntrySpec, Registry, entry_from_function

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any, Callable, Dict, Optional, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["Plugin"]


class Plugin:
    """A plugin: entries, timers, lifecycle hooks and event handlers, registered with decorators.

    ``name`` is reported in the handshake (the host knows the plugin by the id in its plugin.toml).
    """

    def __init__(self, name: str, version: str = "0.0.0", *, description: Optional[str] = None,
                 registry: Optional[Registry] = None) -> None:
        self.registry = registry or Registry(name, version, description=description)

    @property
    def name(self) -> str:
        return self.registry.name

    @property
    def version(self) -> str:
        return self.registry.version

    # -- entries ------------------------------------------------------------------------------------------------
    def entry(self, fn: Optional[F] = None, *, id: Optional[str] = None, name: Optional[str] = None,
              description: Optional[str] = None, input_schema: Optional[Dict[str, Any]] = None,
              output_schema: Optional[Dict[str, Any]] = None, timeout_ms: Optional[int] = None,
              streaming: Optional[bool] = None, metadata: Optional[Dict[str, Any]] = None) -> Any:
        """Registers ``fn(ctx, **input)`` as an entry (``@plugin.entry`` or ``@plugin.entry(...)``).

        ``id`` defaults to the function's name, ``description`` to the first paragraph of its docstring,
        ``input_schema`` to one inferred from its type hints. Async functions run on the asyncio loop, others on
        a worker thread. Input keys the function does not take are dropped unless it has ``**kwargs``.
        """

        def register(f: F) -> F:
            self.registry.add_entry(entry_from_function(
                f, id=id, name=name, description=description, input_schema=input_schema,
                output_schema=output_schema, timeout_ms=timeout_ms, streaming=streaming, metadata=metadata))
            return f

        return register(fn) if fn is not None else register

    def timer(self, fn: Optional[F] = None, *, interval_ms: int, id: Optional[str] = None,
              description: Optional[str] = None, timeout_ms: Optional[int] = None) -> Any:
        """Registers ``fn(ctx)`` as a timer: the host invokes it every ``interval_ms`` (EntryInfo kind
        ``timer``), as a run like any other."""

        def register(f: F) -> F:
            self.registry.add_entry(entry_from_function(f, id=id, description=description, kind="timer",
                                                        interval_ms=interval_ms, timeout_ms=timeout_ms))
            return f

        return register(fn) if fn is not None else register

    def add_entry(self, spec: EntrySpec) -> EntrySpec:
        """Registers a prepared EntrySpec (for front ends and dynamic entries)."""
        return self.registry.add_entry(spec)

    # -- lifecycle and events -----------------------------------------------------------------------------------
    def on_startup(self, fn: F) -> F:
        """``fn(ctx)``, run during the handshake, after the config arrived and before the answer."""
        from .registry import Hook

        self.registry.startup.append(Hook(fn))
        return fn

    def on_shutdown(self, fn: F) -> F:
        """``fn(ctx)``, run on ``plugin/shutdown`` before the answer (and, for at most 0.5 s, when stdin ends)."""
        from .registry import Hook

        self.registry.shutdown.append(Hook(fn))
        return fn

    def on_config_changed(self, fn: F) -> F:
        """``fn(ctx, config)``, run when the host sends a new config (``ctx.config`` is already the new one)."""
        from .registry import Hook

        self.registry.config_changed.append(Hook(fn))
        return fn

    def on_event(self, event_type: Any = "*") -> Any:
        """``@plugin.on_event("Type")``: ``fn(ctx, event)`` for each ``plugin/onEvent`` of that type
        (``event`` = ``{eventType, payload, metadata, timestamp}``); ``"*"`` or a bare ``@plugin.on_event``
        receives every event. The types are declared in the handshake so the host sends them."""
        if callable(event_type):
            self.registry.add_event_handler("*", event_type)
            return event_type

        def register(f: F) -> F:
            self.registry.add_event_handler(event_type, f)
            return f

        return register

    # -- running ------------------------------------------------------------------------------------------------
    @property
    def logger(self) -> logging.Logger:
        """The plugin's ``logging.Logger`` (records go to the host as ``plugin/log``)."""
        from .log import plugin_logger

        return plugin_logger(self.registry.name)

    def run(self, **options: Any) -> None:
        """Serves the plugin on stdin/stdout until the host stops it; then exits the process."""
        from .runtime import serve

        serve(self.registry, **options)
