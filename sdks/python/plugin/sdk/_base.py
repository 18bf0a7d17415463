"""``NekoPluginBase`` and the helpers it carries (config, store, plugins, router, bus), backed by plugd.

The plugin class is instantiated by ``plugd.neko_runner`` with a :class:`~plugin.sdk._context.NekoContext`, as
N.E.K.O does (``MyPlugin(ctx)``); subclasses call ``super().__init__(ctx)``.
"""

from __future__ import annotations

import threading

from ._context import NekoLogger, failed, ready, running_loop, smart
from ._core import (
    EVENT_META_ATTR, EventHandler, EventMeta, EntryConflictError, Err, NotSupportedError, Ok, SdkError,
    TransportError, ValidationError, code_name,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

__all__ = [
    "NekoPluginBase", "PluginMeta", "PluginConfig", "PluginStore", "Plugins", "PluginRouter", "PluginRouterError",
    "SystemInfo", "MemoryClient", "PluginI18n", "tr", "BusClient", "get_plugin_logger",
]


# -- config -----------------------------------------------------------------------------------------------------

def _get_path(data: Any, path: str) -> Any:
    if path == "":
        return data
    current = data
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            raise ValidationError("path not found: %r" % (path,), code="CONFIG_PATH_NOT_FOUND")
        current = current[part]
    return current


def _set_path(path: str, value: Any) -> Dict[str, Any]:
    patch: Dict[str, Any] = {}
    cur = patch
    parts = path.split(".")
    for part in parts[:-1]:
        cur[part] = {}
        cur = cur[part]
    cur[parts[-1]] = value
    return patch


class PluginConfig:
    """The plugin's business config (the non-``[plugin*]`` tables of plugin.toml, plus the active profile).

    Reads come from the config the host sent in the handshake, kept current by ``plugin/configChanged``; writes go
    to the host (``host/updateConfig {patch}``, saved to the plugin's config). All methods are awaitable from a
    coroutine and direct otherwise.
    """

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def _data(self) -> Dict[str, Any]:
        return self.ctx._rt.config_copy()

    def dump(self, *, timeout: float = 5.0) -> Any:
        return smart(self._data)

    def get(self, path: str, default: Any = None, *, timeout: float = 5.0) -> Any:
        def get() -> Any:
            try:
                return _get_path(self._data(), path)
            except ValidationError:
                return default

        return smart(get)

    def require(self, path: str, *, timeout: float = 5.0) -> Any:
        return smart(lambda: _get_path(self._data(), path))

    def _typed(self, path: str, default: Any, types: Any, name: str) -> Any:
        def get() -> Any:
            try:
                value = _get_path(self._data(), path)
            except ValidationError:
                value = default
            if value is None:
                return None
            if not isinstance(value, types) or (name != "bool" and isinstance(value, bool)):
                raise ValidationError("value at %r is not %s" % (path, name))
            return value

        return smart(get)

    def get_bool(self, path: str, default: Optional[bool] = None, *, timeout: float = 5.0) -> Any:
        return self._typed(path, default, bool, "bool")

    def get_int(self, path: str, default: Optional[int] = None, *, timeout: float = 5.0) -> Any:
        return self._typed(path, default, int, "int")

    def get_float(self, path: str, default: Optional[float] = None, *, timeout: float = 5.0) -> Any:
        return self._typed(path, default, (int, float), "float")

    def get_str(self, path: str, default: Optional[str] = None, *, timeout: float = 5.0) -> Any:
        return self._typed(path, default, str, "str")

    def update(self, patch: Dict[str, Any], *, timeout: float = 5.0, mode: Optional[str] = None) -> Any:
        """Deep-merges ``patch`` into the config (``host/updateConfig``); returns the new config."""
        if not isinstance(patch, dict):
            return failed(ValidationError("patch must be a dict"))
        if "plugin" in patch:
            self.ctx.logger.warning("config writes under [plugin] are refused: plugin.toml metadata is authoritative")
        return self.ctx.update_own_config(dict(patch), timeout=timeout, mode=mode)

    def set(self, path: str, value: Any, *, timeout: float = 5.0) -> Any:
        if not path:
            if not isinstance(value, dict):
                return failed(ValidationError("root path requires an object value"))
            return self.update(value, timeout=timeout)
        return self.update(_set_path(path, value), timeout=timeout)

    # plugd serves one effective config; the base config and profiles are managed through the HTTP config API
    def base_dump(self, *, timeout: float = 5.0) -> Any:
        return self.dump(timeout=timeout)

    def base_get(self, path: str, default: Any = None, *, timeout: float = 5.0) -> Any:
        return self.get(path, default, timeout=timeout)

    def profile_effective(self, profile_name: Optional[str] = None, *, timeout: float = 5.0) -> Any:
        if profile_name is None:
            return self.dump(timeout=timeout)
        return self._no_profiles()

    def _no_profiles(self, *_: Any, **__: Any) -> Any:
        return failed(NotSupportedError("config profiles are managed through plugd's HTTP API "
                                        "(/plugin/{id}/config/profiles), not from inside the plugin"))

    profile_state = profile_list = profile_active = profile_get = profile_create = _no_profiles
    profile_update = profile_delete = profile_activate = profile_ensure_active = _no_profiles


# -- store ------------------------------------------------------------------------------------------------------

class PluginStore:
    """A persistent key-value store of JSON values, in ``<data dir>/store.db`` (SQLite).

    SDK v2 (``plugin.sdk.plugin``): awaited, every method returns a Result (``unwrap_or(await
    self.store.get("k"), None)``). SDK v1 (``plugin.sdk`` / ``plugin.sdk.base``) and calls outside coroutines:
    the plain value (``self.store.get("k", [])``).
    """

    def __init__(self, ctx: Any, *, results: bool = True, db_name: str = "store.db") -> None:
        self.ctx = ctx
        self.results = results
        self.db_name = db_name
        self.enabled = True
        self._lock = threading.Lock()
        self._conn: Any = None

    def _db(self) -> Any:
        if self._conn is None:
            import sqlite3

            path = self.ctx._rt.data_dir() / self.db_name
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
            conn.execute("CREATE TABLE IF NOT EXISTS kv_store (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                         "created_at REAL NOT NULL, updated_at REAL NOT NULL)")
            conn.commit()
            self._conn = conn
        return self._conn

    def _run(self, fn: Callable[[], Any]) -> Any:
        def guarded() -> Any:
            with self._lock:
                return fn()

        if running_loop() is None or not self.results:
            return guarded()
        try:
            return ready(Ok(guarded()))
        except SdkError as e:
            return ready(Err(e))
        except Exception as e:
            return ready(Err(TransportError("store: %s" % (e,))))

    @staticmethod
    def _key(key: Any) -> str:
        if not isinstance(key, str) or key == "":
            raise ValidationError("key must be a non-empty string", code="INVALID_ARGUMENT")
        return key

    def get(self, key: str, default: Any = None) -> Any:
        def get() -> Any:
            import json

            row = self._db().execute("SELECT value FROM kv_store WHERE key = ?", (self._key(key),)).fetchone()
            return default if row is None else json.loads(row[0])

        return self._run(get)

    def set(self, key: str, value: Any) -> Any:
        def put() -> None:
            import json
            import time

            try:
                text = json.dumps(value, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as e:
                raise ValidationError("value must be JSON-compatible: %s" % (e,), code="INVALID_ARGUMENT") from None
            now = time.time()
            db = self._db()
            db.execute("INSERT INTO kv_store (key, value, created_at, updated_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                       (self._key(key), text, now, now))
            db.commit()

        return self._run(put)

    def delete(self, key: str) -> Any:
        def delete() -> bool:
            db = self._db()
            cur = db.execute("DELETE FROM kv_store WHERE key = ?", (self._key(key),))
            db.commit()
            return cur.rowcount > 0

        return self._run(delete)

    def exists(self, key: str) -> Any:
        return self._run(lambda: self._db().execute("SELECT 1 FROM kv_store WHERE key = ?",
                                                    (self._key(key),)).fetchone() is not None)

    def keys(self, prefix: str = "") -> Any:
        def keys() -> List[str]:
            rows = self._db().execute("SELECT key FROM kv_store ORDER BY key").fetchall()
            return [r[0] for r in rows if r[0].startswith(prefix)]

        return self._run(keys)

    def clear(self) -> Any:
        def clear() -> int:
            db = self._db()
            cur = db.execute("DELETE FROM kv_store")
            db.commit()
            return max(cur.rowcount, 0)

        return self._run(clear)

    def count(self) -> Any:
        return self._run(lambda: int(self._db().execute("SELECT COUNT(*) FROM kv_store").fetchone()[0]))

    def dump(self) -> Any:
        def dump() -> Dict[str, Any]:
            import json

            return {k: json.loads(v) for k, v in self._db().execute("SELECT key, value FROM kv_store ORDER BY key")}

        return self._run(dump)

    def close(self) -> Any:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        return self._run(close)


# -- other plugins ----------------------------------------------------------------------------------------------

class Plugins:
    """Calls into other plugins through the host (``host/call``); every call returns a Result."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def _result(self, plugin_id: str, entry: str, params: Any, timeout: float) -> Any:
        rt = self.ctx._rt
        loop = running_loop()
        p = rt.call_params(plugin_id, entry, params, timeout)
        if loop is None:
            try:
                return Ok(rt.svc.peer.request("host/call", p, timeout=timeout + 1.0))
            except Exception as e:
                return Err(_call_error(e))

        async def go() -> Any:
            try:
                return Ok(await rt.svc.peer.arequest("host/call", p, timeout=timeout + 1.0))
            except Exception as e:
                return Err(_call_error(e))

        return loop.create_task(go())

    def call_entry(self, target: str, params: Optional[Dict[str, Any]] = None, *, timeout: float = 10.0) -> Any:
        """``call_entry("plugin_id:entry_id", {...})`` → Ok(output) | Err(SdkError with the callee's code)."""
        plugin_id, sep, entry = str(target).partition(":")
        if not sep or not plugin_id or not entry:
            return ready(Err(ValidationError("target must be 'plugin_id:entry_id' (got %r)" % (target,))))
        return self._result(plugin_id, entry, params, timeout)

    def call_event(self, target: str, params: Optional[Dict[str, Any]] = None, *, timeout: float = 10.0) -> Any:
        """``call_event("plugin_id:event_type:event_id", {...})`` (custom events are entries ``type:id``)."""
        parts = str(target).split(":")
        if len(parts) != 3 or not all(parts):
            return ready(Err(ValidationError("target must be 'plugin_id:event_type:event_id' (got %r)" % (target,))))
        return self._result(parts[0], "%s:%s" % (parts[1], parts[2]), params, timeout)

    def call(self, plugin_id: str, event_type: str = "plugin_entry", event_id: str = "",
             params: Optional[Dict[str, Any]] = None, timeout: float = 10.0) -> Any:
        entry = event_id if event_type in ("plugin_entry", "", None) else "%s:%s" % (event_type, event_id)
        return self._result(plugin_id, entry, params, timeout)

    def call_plugin(self, plugin_id: str, entry_id: str, params: Optional[Dict[str, Any]] = None,
                    timeout: float = 10.0, **_: Any) -> Any:
        return self._result(plugin_id, entry_id, params, timeout)

    def list(self, *_: Any, **__: Any) -> Any:
        return ready(Err(NotSupportedError("listing plugins from a plugin is not supported by plugd yet; "
                                           "use GET /plugins")))

    def require(self, plugin_id: str, *_: Any, **__: Any) -> Any:
        return self.list()


def _call_error(e: BaseException) -> SdkError:
    code = getattr(e, "code", None)
    return SdkError(getattr(e, "message", None) or str(e), code=code_name(code) if code is not None else None,
                    details=getattr(e, "data", None))


# -- router -----------------------------------------------------------------------------------------------------

class PluginRouterError(SdkError):
    default_code = "ROUTER_ERROR"


class PluginRouter:
    """A group of entries in its own class, added with ``self.include_router(router, prefix=...)``.

    Entries must be included before the handshake answer (in ``__init__`` or the startup lifecycle).
    """

    def __init__(self, *, prefix: str = "", name: Optional[str] = None) -> None:
        self._prefix = prefix
        self._name = name or type(self).__name__
        self._plugin: Any = None

    def name(self) -> str:
        return self._name

    def set_prefix(self, prefix: str) -> None:
        self._prefix = prefix

    @property
    def prefix(self) -> str:
        return self._prefix

    def _bind(self, plugin: Any) -> None:
        self._plugin = plugin

    def _unbind(self) -> None:
        self._plugin = None

    @property
    def plugin(self) -> Any:
        return self._plugin

    main_plugin = plugin

    def __getattr__(self, name: str) -> Any:
        # ctx, config, logger, store, plugins, push_message … of the plugin the router is included in
        plugin = self.__dict__.get("_plugin")
        if plugin is not None and name in ("ctx", "config", "logger", "store", "plugins", "plugin_id", "bus",
                                           "push_message", "run_update", "export_push", "report_status",
                                           "data_path", "finish"):
            return getattr(plugin, name)
        raise AttributeError(name)

    def collect_entries(self) -> Dict[str, EventHandler]:
        out: Dict[str, EventHandler] = {}
        for name, meta, bound in _decorated(self):
            if meta.event_type == "plugin_entry":
                out[self._prefix + meta.id] = EventHandler(meta, bound)
        return out


def _decorated(obj: Any) -> List[Any]:
    """(attribute name, EventMeta, bound callable) of the decorated public methods of ``obj``'s class."""
    seen = set()
    found = []
    for klass in type(obj).__mro__:
        for name, value in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if name.startswith("_"):
                continue
            target = getattr(value, "__func__", value)
            meta = getattr(target, EVENT_META_ATTR, None)
            if isinstance(meta, EventMeta) and meta.id:
                bound = getattr(obj, name, None)
                if callable(bound):
                    found.append((name, meta, bound))
    return found


# -- stubs for what plugd does not provide ---------------------------------------------------------------------

class _Unsupported:
    """An attribute N.E.K.O plugins have but plugd does not back: any use raises a clear NotSupportedError."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotSupportedError("%s.%s is not supported by plugd yet (see docs/neko-compat.md)" % (self._what, name))

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<unsupported %s>" % (self._what,)


class PluginI18n:
    """i18n is not implemented: ``t(key, default)`` returns the default (or the key), formatted with kwargs."""

    locale = "en"

    def t(self, key: str, default: Optional[str] = None, locale: Optional[str] = None, **kwargs: Any) -> str:
        text = default if default is not None else key
        if kwargs:
            try:
                text = text.format(**kwargs)
            except (KeyError, IndexError, ValueError):
                pass
        return text

    __call__ = t

    def set_locale(self, locale: str) -> None:
        self.locale = locale


def tr(key: str, default: Optional[str] = None, **kwargs: Any) -> str:
    return PluginI18n().t(key, default, **kwargs)


class BusClient:
    """One bus store (``messages``, ``events``, ``lifecycle``, ``runs``, ``export``), read with ``host/queryBus``.

    ``get(...)`` returns a plain list of records (newest first); N.E.K.O's fluent BusList (filter/sort/watch) is not
    implemented.
    """

    def __init__(self, ctx: Any, store: str) -> None:
        self.ctx = ctx
        self.store = store

    def get(self, plugin_id: Optional[str] = None, max_count: int = 50, priority_min: Optional[int] = None,
            source: Optional[str] = None, filter: Optional[Dict[str, Any]] = None, strict: bool = True,
            since_ts: Optional[float] = None, timeout: float = 5.0, **_: Any) -> Any:
        q: Dict[str, Any] = {"store": self.store, "limit": int(max_count), "order": "desc"}
        for k, v in (("plugin_id", plugin_id), ("priority_min", priority_min), ("source", source),
                     ("since_ts", since_ts)):
            if v is not None:
                q[k] = v
        for k, v in (filter or {}).items():
            if k in ("kind", "type", "plugin_id", "source", "priority_min", "since_ts", "until_ts"):
                q[k] = v
        return self.ctx._call("host/queryBus", q, timeout,
                              then=lambda r: list(r.get("items", [])) if isinstance(r, dict) else [])

    get_recent = get

    def watch(self, *_: Any, **__: Any) -> Any:
        raise NotSupportedError("bus watchers are not supported by plugd yet")


class _Bus:
    def __init__(self, ctx: Any) -> None:
        self.messages = BusClient(ctx, "messages")
        self.events = BusClient(ctx, "events")
        self.lifecycle = BusClient(ctx, "lifecycle")
        self.runs = BusClient(ctx, "runs")
        self.export = BusClient(ctx, "export")
        self.memory = _Unsupported("bus.memory")
        self.conversations = _Unsupported("bus.conversations")


class SystemInfo:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *a, **k: ready(Err(NotSupportedError("system_info.%s is not available under plugd" % name)))


class MemoryClient(SystemInfo):
    pass


class PluginMeta:
    def __init__(self, id: str, name: str, version: str = "0.0.0", sdk_version: str = "0.1.0",
                 description: str = "", short_description: str = "", keywords: Any = None, **more: Any) -> None:
        self.id = id
        self.name = name
        self.version = version
        self.sdk_version = sdk_version
        self.description = description
        self.short_description = short_description
        self.keywords = list(keywords or [])
        for k, v in more.items():
            setattr(self, k, v)


def get_plugin_logger(plugin_id: str = "plugin", suffix: Optional[str] = None) -> NekoLogger:
    from plugd.log import plugin_logger

    return NekoLogger(plugin_logger(plugin_id), suffix)


# -- the base class ---------------------------------------------------------------------------------------------

class NekoPluginBase:
    """Base class of N.E.K.O plugins (SDK v2 surface). Instantiated as ``MyPlugin(ctx)`` by plugd.neko_runner."""

    __freezable__: List[str] = []
    __persist_mode__: str = "off"
    #: SDK v1 classes (``plugin.sdk.NekoPluginBase``) get a store that returns plain values, as v1's did.
    _neko_store_results = True

    def __init__(self, ctx: Any) -> None:
        self._host_ctx = ctx
        self.ctx = ctx
        self.config = PluginConfig(ctx)
        self.plugins = Plugins(ctx)
        self.logger: Any = ctx.logger
        self.sdk_logger = self.logger
        self.store = PluginStore(ctx, results=self._neko_store_results)
        self.db = _Unsupported("self.db")
        self.state = _Unsupported("self.state")
        self.i18n = PluginI18n()
        self._routers: List[PluginRouter] = []
        self._dynamic_entries: Dict[str, Dict[str, Any]] = {}
        self._disabled_entries: set = set()
        self._static_ui_config: Optional[Dict[str, Any]] = None
        self._list_actions: List[Dict[str, Any]] = []
        self._system_info_client: Any = None

    # -- facts --------------------------------------------------------------------------------------------------
    @property
    def plugin_id(self) -> str:
        return self.ctx.plugin_id

    @property
    def plugin_dir(self) -> Any:
        return self.ctx.plugin_dir

    config_dir = plugin_dir

    @property
    def storage_dir(self) -> Any:
        return self.ctx.data_dir

    @property
    def runtime_config_path(self) -> Any:
        return self.ctx.config_path

    @property
    def metadata(self) -> Dict[str, Any]:
        return dict(self.ctx.metadata)

    @property
    def bus(self) -> Any:
        return self.ctx.bus

    @property
    def system_info(self) -> SystemInfo:
        if self._system_info_client is None:
            self._system_info_client = SystemInfo(self.ctx)
        return self._system_info_client

    def data_path(self, *parts: str) -> Any:
        """A path in the plugin's data folder (``<plugd data dir>/plugin-data/<id>``; the folder exists)."""
        base = self.ctx.data_dir
        return base.joinpath(*parts) if parts else base

    def cache_path(self, *parts: str) -> Any:
        base = self.ctx.data_dir / "cache"
        base.mkdir(parents=True, exist_ok=True)
        return base.joinpath(*parts) if parts else base

    # -- logging ------------------------------------------------------------------------------------------------
    def get_logger(self, suffix: Optional[str] = None) -> NekoLogger:
        return NekoLogger(self.ctx.logger.std, suffix) if suffix else self.ctx.logger

    def setup_logger(self, *, level: Any = None, force: bool = False, suffix: Optional[str] = None) -> NekoLogger:
        logger = self.get_logger(suffix)
        if level is not None:
            logger.setLevel(str(getattr(level, "value", level)).upper())
        if not suffix:
            self.logger = self.sdk_logger = logger
        return logger

    def enable_file_logging(self, *, log_dir: Any = None, log_level: str = "INFO", max_bytes: Optional[int] = None,
                            backup_count: Optional[int] = None) -> NekoLogger:
        """Sets the log level. plugd keeps every plugin's log itself (``GET /plugin/{id}/logs``, rotated files
        under the data dir), so no separate file is written."""
        level = str(log_level).strip().upper()
        if level not in ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("invalid log_level: %r" % (log_level,))
        self.ctx.logger.setLevel({"TRACE": 5, "SUCCESS": 20}.get(level, level))
        self.logger = self.sdk_logger = self.ctx.logger
        self.file_logger = self.logger
        return self.logger

    # -- host calls ---------------------------------------------------------------------------------------------
    def push_message(self, **kwargs: Any) -> Any:
        return self.ctx.push_message(**kwargs)

    def report_status(self, status: Dict[str, Any]) -> Any:
        return self.ctx.update_status(status)

    def run_update(self, **kwargs: Any) -> Any:
        return self.ctx.run_update(**kwargs)

    run_progress = run_update

    def export_push(self, **kwargs: Any) -> Any:
        return self.ctx.export_push(**kwargs)

    def export_push_text(self, text: str, **kw: Any) -> Any:
        return self.ctx.export_push_text(text, **kw)

    def export_push_json(self, json_data: Any, **kw: Any) -> Any:
        return self.ctx.export_push_json(json_data, **kw)

    def export_push_url(self, url: str, **kw: Any) -> Any:
        return self.ctx.export_push_url(url, **kw)

    def export_push_binary(self, binary_data: Any, **kw: Any) -> Any:
        return self.ctx.export_push_binary(binary_data, **kw)

    def export_push_binary_url(self, binary_url: str, **kw: Any) -> Any:
        return self.ctx.export_push_binary_url(binary_url, **kw)

    def finish(self, **kwargs: Any) -> Any:
        return self.ctx.finish(**kwargs)

    # -- entries ------------------------------------------------------------------------------------------------
    def collect_entries(self, wrap_with_hooks: bool = True) -> Dict[str, EventHandler]:
        """Every decorated handler of the class, of included routers and dynamic entries, by id."""
        entries: Dict[str, EventHandler] = {}
        for _name, meta, bound in _decorated(self):
            entries[meta.id] = EventHandler(meta, bound)
        for router in self._routers:
            entries.update(router.collect_entries())
        for entry_id, d in self._dynamic_entries.items():
            entries[entry_id] = EventHandler(d["meta"], d["handler"])
        return entries

    def include_router(self, router: PluginRouter, *, prefix: str = "") -> None:
        if prefix:
            router.set_prefix(prefix)
        router._bind(self)
        self._routers.append(router)

    def exclude_router(self, router: Any) -> bool:
        for item in list(self._routers):
            if item is router or (isinstance(router, str) and item.name() == router):
                self._routers.remove(item)
                item._unbind()
                return True
        return False

    def get_router(self, name: str) -> Optional[PluginRouter]:
        return next((r for r in self._routers if r.name() == name), None)

    def list_routers(self) -> List[str]:
        return [r.name() for r in self._routers]

    def register_dynamic_entry(self, entry_id: str, handler: Callable[..., Any], name: str = "",
                               description: str = "", input_schema: Optional[Dict[str, Any]] = None,
                               kind: str = "action", auto_start: bool = False, timeout: Optional[float] = None,
                               llm_result_fields: Optional[List[str]] = None) -> bool:
        """A runtime entry. The host learns entries from the handshake: register them in ``__init__`` or the
        startup lifecycle; one registered later is logged and not callable through the host."""
        if not callable(handler):
            raise TypeError("handler must be callable")
        if not isinstance(entry_id, str) or not entry_id.strip():
            raise ValueError("entry_id must be a non-empty string")
        entry_id = entry_id.strip()
        if entry_id in self._dynamic_entries or any(m.id == entry_id for _n, m, _b in _decorated(self)):
            raise EntryConflictError("duplicate entry id: %r" % (entry_id,))
        meta = EventMeta("plugin_entry", entry_id, name or entry_id, description, input_schema, kind, auto_start,
                         timeout=timeout, llm_result_fields=llm_result_fields,
                         metadata={"dynamic": True, "enabled": True})
        self._dynamic_entries[entry_id] = {"meta": meta, "handler": handler, "enabled": True}
        late = getattr(self.ctx._rt, "entry_registered_late", None)
        if late is not None:
            late(entry_id)
        return True

    def unregister_dynamic_entry(self, entry_id: str) -> bool:
        return self._dynamic_entries.pop(entry_id, None) is not None

    def enable_entry(self, entry_id: str) -> bool:
        self._disabled_entries.discard(entry_id)
        return True

    def disable_entry(self, entry_id: str) -> bool:
        self._disabled_entries.add(entry_id)
        return True

    def is_entry_enabled(self, entry_id: str) -> bool:
        return entry_id not in self._disabled_entries

    def list_entries(self) -> List[Dict[str, Any]]:
        return [{"id": k, "name": h.meta.name, "description": h.meta.description, "enabled":
                 self.is_entry_enabled(k)} for k, h in self.collect_entries().items()]

    # -- UI and list actions (metadata only) --------------------------------------------------------------------
    def register_static_ui(self, directory: str = "static", *, index_file: str = "index.html",
                           cache_control: str = "public, max-age=3600") -> bool:
        """Records the static UI folder (metadata only: plugd does not serve plugin UIs yet)."""
        static_dir = self.plugin_dir / directory
        if not static_dir.is_dir() or not (static_dir / index_file).is_file():
            return False
        self._static_ui_config = {"enabled": True, "directory": str(static_dir), "index_file": index_file,
                                  "cache_control": cache_control, "plugin_id": self.plugin_id}
        self.logger.info("static UI registered at {} (metadata only: plugd does not serve plugin UIs)", static_dir)
        return True

    def get_static_ui_config(self) -> Optional[Dict[str, Any]]:
        return self._static_ui_config

    def set_list_actions(self, actions: List[Dict[str, Any]]) -> bool:
        self._list_actions = [dict(a) for a in actions]
        return True

    def register_list_action(self, action: Dict[str, Any]) -> bool:
        self._list_actions = [a for a in self._list_actions if a.get("id") != action.get("id")] + [dict(action)]
        return True

    def clear_list_actions(self) -> None:
        self._list_actions = []

    def get_list_actions(self) -> List[Dict[str, Any]]:
        return [dict(a) for a in self._list_actions]

    # -- LLM tools (metadata only) ------------------------------------------------------------------------------
    def register_llm_tool(self, *args: Any, **kwargs: Any) -> bool:
        self.logger.warning("register_llm_tool: plugd registers no LLM tools; declare @llm_tool methods instead")
        return False

    def unregister_llm_tool(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def list_llm_tools(self) -> List[Dict[str, Any]]:
        return list(getattr(self.ctx._rt, "llm_tools", []))

    def refresh_runtime_config(self, *args: Any, **kwargs: Any) -> Any:
        return self.config.dump()
