"""Runs a N.E.K.O plugin class unmodified as a plugd plugin: ``python -u -m plugd.neko_runner module:Class``.

plugd starts a plugin folder in the N.E.K.O layout (``plugin.toml`` with ``[plugin] entry = "module:Class"``)
this way, with the plugin folder and this SDK on PYTHONPATH (packages/server/src/manifest/parse.ts). The runner

1. imports ``module`` (from the plugin folder; a N.E.K.O built-in path such as ``plugin.plugins.<id>`` that does not
   exist here falls back to the plugin folder itself, as N.E.K.O's plugin.toml-based import fallback does) and
   finds ``Class``; failures are reported on stderr with a non-zero exit code;
2. on the host's ``plugin/handshake`` (when the plugin's id, config and data dir are known) instantiates
   ``Class(ctx)`` with a :class:`plugin.sdk._context.NekoContext`, collects its decorated handlers, declares them to
   the host and runs its ``@lifecycle(id="startup")`` handlers;
3. serves them with plugd's runtime (:mod:`plugd.service`): each ``@plugin_entry`` is an entry (arguments as keyword
   arguments plus ``_ctx``; sync handlers on worker threads, async ones on the asyncio loop), each auto-started
   ``@timer_interval`` a timer entry the HOST fires every ``seconds``; ``shutdown`` and ``config_change``
   lifecycle handlers run on ``plugin/shutdown`` and ``plugin/configChanged``.

Results: ``Ok(v)`` or a plain value → the run's output; ``Err(SdkError(msg, code=X))`` (returned or raised) → the
run fails with error code X (the plugin's own code, which N.E.K.O itself loses); N.E.K.O ``ok()``/``fail()``
envelopes are kept by the host as the run's result envelope.
"""

from __future__ import annotations

from . import runtime as _runtime  # first: takes stdin/stdout for the protocol before plugin code can print

import os
import sys

from . import context as _pcontext
from .errors import PluginError
from .registry import EntrySpec, Hook, Registry
from .schema import Param, describe, infer_input_schema

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["main", "load_class", "build_registry", "NekoLoadError", "NekoRuntime"]

#: Arguments N.E.K.O never passes by name (and never puts in an inferred schema).
_SKIP_PARAMS = frozenset({"self", "cls", "kwargs", "_ctx", "args"})
_EXIT_USAGE = 2
_EXIT_LOAD = 1


class NekoLoadError(Exception):
    """The plugin's module or class cannot be loaded; the message says why and what to do."""


# -- loading ----------------------------------------------------------------------------------------------------

def find_plugin_dir() -> str:
    """The plugin folder: ``PLUGD_PLUGIN_DIR``, else the first PYTHONPATH entry holding a plugin.toml (plugd puts the
    folder first), else the working directory."""
    env = os.environ.get("PLUGD_PLUGIN_DIR")
    if env:
        return os.path.abspath(env)
    for p in (os.environ.get("PYTHONPATH") or "").split(os.pathsep):
        if p and os.path.isfile(os.path.join(p, "plugin.toml")):
            return os.path.abspath(p)
    return os.getcwd()


def _missing_is_ours(e: ModuleNotFoundError, module: str) -> bool:
    """Whether the module not found is ``module`` or one of its parents (not a dependency it imports)."""
    name = getattr(e, "name", None) or ""
    return bool(name) and (module == name or module.startswith(name + "."))


def _map_folder_as_package(module: str, plugin_dir: str) -> bool:
    """N.E.K.O's built-in entries look like ``plugin.plugins.<id>:Class`` (the folder is a package inside
    N.E.K.O's tree). Registers the plugin folder under that package name; True if it did."""
    import importlib.util
    import types

    parts = module.split(".")
    base = os.path.basename(os.path.normpath(plugin_dir))
    candidates = {base, base.replace("-", "_")}
    cut = next((i for i, p in enumerate(parts) if p in candidates), None)
    init = os.path.join(plugin_dir, "__init__.py")
    if cut is None:
        if not os.path.isfile(init):
            return False
        cut = len(parts) - 1
    pkg = ".".join(parts[: cut + 1])
    if pkg in sys.modules:
        return False
    for i in range(1, cut + 1):  # parents that do not exist here: empty namespace packages
        parent = ".".join(parts[:i])
        if parent in sys.modules:
            continue
        try:
            __import__(parent)
        except ImportError:
            stub = types.ModuleType(parent)
            stub.__path__ = []  # type: ignore[attr-defined]
            sys.modules[parent] = stub
            if i > 1:
                setattr(sys.modules[".".join(parts[: i - 1])], parts[i - 1], stub)
    if os.path.isfile(init):
        spec = importlib.util.spec_from_file_location(pkg, init, submodule_search_locations=[plugin_dir])
    else:
        spec = importlib.util.spec_from_loader(pkg, loader=None, is_package=True)
        if spec is not None:
            spec.submodule_search_locations = [plugin_dir]
    if spec is None:
        return False
    mod = importlib.util.module_from_spec(spec)
    sys.modules[pkg] = mod
    if cut > 0:
        setattr(sys.modules[".".join(parts[:cut])], parts[cut], mod)
    try:
        if spec.loader is not None:
            spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(pkg, None)
        raise
    return True


def load_class(entry: str, plugin_dir: Optional[str] = None) -> Any:
    """Imports ``module`` of ``"module:Class"`` and returns the class; raises NekoLoadError with a readable reason."""
    import importlib

    module, sep, clsname = entry.partition(":")
    if not sep or not module or not clsname:
        raise NekoLoadError('the entry must be "module:Class" (got "%s")' % entry)
    plugin_dir = plugin_dir or find_plugin_dir()
    if plugin_dir not in sys.path:
        sys.path.insert(0, plugin_dir)
    where = " (plugin folder %s)" % plugin_dir
    try:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if not _missing_is_ours(e, module) or not _map_folder_as_package(module, plugin_dir):
                raise
            mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if _missing_is_ours(e, module):
            raise NekoLoadError("cannot import module '%s' for entry '%s'%s: %s. The module must be a file or "
                                "package in the plugin folder." % (module, entry, where, e)) from e
        raise NekoLoadError("cannot import module '%s' for entry '%s'%s: it needs '%s', which is not installed. "
                            "Install the plugin's dependencies (pyproject.toml / requirements.txt) into the "
                            "Python plugd runs (%s)." % (module, entry, where, e.name, sys.executable)) from e
    except SyntaxError as e:
        raise NekoLoadError("cannot import module '%s' for entry '%s'%s: syntax error in %s line %s: %s"
                            % (module, entry, where, e.filename, e.lineno, e.msg)) from e
    except Exception as e:
        import traceback

        traceback.print_exc(file=sys.stderr)
        raise NekoLoadError("cannot import module '%s' for entry '%s'%s: importing it raised %s: %s"
                            % (module, entry, where, type(e).__name__, e)) from e
    cls = getattr(mod, clsname, None)
    if cls is None:
        found = sorted(k for k, v in vars(mod).items() if isinstance(v, type) and getattr(v, "__module__", "")
                       == mod.__name__)
        raise NekoLoadError("module '%s' has no class '%s' (entry '%s'%s; classes defined there: %s)"
                            % (module, clsname, entry, where, ", ".join(found) or "none"))
    if not isinstance(cls, type):
        raise NekoLoadError("'%s' in module '%s' is a %s, not a class (entry '%s')"
                            % (clsname, module, type(cls).__name__, entry))
    return cls


def read_manifest(plugin_dir: str) -> Dict[str, Any]:
    """plugin.toml as a dict: tomllib (3.11+) or tomli if installed, else the scalar keys of its tables (enough for
    what the runner reads: ``[plugin] id/version``, ``[plugin_runtime] startup_failure``). {} if unreadable."""
    path = os.path.join(plugin_dir, "plugin.toml")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    try:
        try:
            import tomllib as toml  # type: ignore[import-not-found]
        except ImportError:
            import tomli as toml  # type: ignore[import-not-found,no-redef]
    except ImportError:
        return _scalar_toml(data.decode("utf-8", "replace"))
    try:
        return toml.loads(data.decode("utf-8"))
    except Exception:
        return {}


def _scalar_toml(text: str) -> Dict[str, Any]:
    """``[a.b]`` tables and their ``key = "string" | 'string' | true | false | number`` lines; the rest is skipped."""
    out: Dict[str, Any] = {}
    table = out
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and not line.startswith("[["):
            table = out
            for part in line.strip("[]").split("."):
                part = part.strip().strip('"')
                nxt = table.get(part)
                table = table.setdefault(part, {}) if nxt is None or isinstance(nxt, dict) else {}
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip().strip('"'), value.strip()
        if not sep or not key:
            continue
        if value[:1] in ('"', "'") and value.count(value[0]) >= 2:
            table[key] = value[1:value.index(value[0], 1)]
        elif value.split("#")[0].strip() in ("true", "false"):
            table[key] = value.split("#")[0].strip() == "true"
        else:
            try:
                num = value.split("#")[0].strip().replace("_", "")
                table[key] = float(num) if any(c in num for c in ".eE") else int(num)
            except ValueError:
                pass
    return out


# -- the runtime the NekoContext is backed by -------------------------------------------------------------------

def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


class NekoRuntime:
    """Per-process state shared by the NekoContext, the plugin instance and the entry wrappers."""

    def __init__(self, entry: str, plugin_dir: str, manifest: Optional[Dict[str, Any]] = None) -> None:
        self.entry = entry
        self.plugin_dir = plugin_dir
        self.manifest = manifest or {}
        self.svc: Any = None
        self.ctx: Any = None
        self.instance: Any = None
        self.bus: Any = None
        self.runs: Dict[str, Any] = {}
        self.llm_tools: List[Dict[str, Any]] = []
        self.handshaken = False
        self.degraded: Optional[str] = None
        self._data_dir: Any = None

    @property
    def metadata(self) -> Dict[str, Any]:
        meta = dict(self.manifest.get("plugin") or {})
        meta.setdefault("id", self.svc.plugin_id if self.svc is not None else None)
        meta.setdefault("entry", self.entry)
        meta["config_path"] = os.path.join(self.plugin_dir, "plugin.toml")
        return meta

    def config_copy(self) -> Dict[str, Any]:
        return _copy(self.svc.config) if self.svc is not None else {}

    def config_updated(self, answer: Any) -> Any:
        """host/updateConfig's answer: the new config is kept at once (plugin/configChanged follows)."""
        if isinstance(answer, dict) and isinstance(answer.get("config"), dict):
            self.svc.config = answer["config"]
            return _copy(answer["config"])
        return answer

    def data_dir(self) -> Any:
        if self._data_dir is None:
            from pathlib import Path

            base = self.svc.data_dir if self.svc is not None else None
            d = (Path(base) / "plugin-data" / self.svc.plugin_id) if base else Path(self.plugin_dir) / "data"
            d.mkdir(parents=True, exist_ok=True)
            self._data_dir = d
        return self._data_dir

    def current_run(self) -> Any:
        return _pcontext.current_run.get()

    def run_for(self, run_id: Optional[str]) -> Any:
        current = self.current_run()
        if not run_id:
            return current
        if current is not None and current.run_id == run_id:
            return current
        return self.runs.get(run_id)

    def call_params(self, plugin: str, entry: str, params: Any, timeout: Optional[float]) -> Dict[str, Any]:
        p: Dict[str, Any] = {"plugin": plugin, "entry": entry, "input": {} if params is None else params}
        if timeout:
            p["timeoutMs"] = max(1, int(timeout * 1000))
        run = self.current_run()
        if run is not None:
            p["parentRunId"] = run.run_id
        return p

    def entry_registered_late(self, entry_id: str) -> None:
        if self.handshaken:
            self.ctx.logger.warning("dynamic entry '{}' was registered after the handshake: the host does not "
                                    "know it, so it cannot be called (register entries in __init__ or startup)",
                                    entry_id)

    def neko_ctx_arg(self, run: Any) -> Dict[str, Any]:
        """The ``_ctx`` keyword argument: the caller's ``args._ctx`` (forwarded by the host as ``meta.ctx``) with
        ``run_id`` and ``entry_timeout`` (seconds) of this run."""
        out: Dict[str, Any] = {}
        meta = getattr(run, "meta", None)
        forwarded = meta.get("ctx") if isinstance(meta, dict) else None
        if isinstance(forwarded, dict):
            out.update(forwarded)
        out["run_id"] = run.run_id
        if getattr(run, "timeout_ms", None):
            out.setdefault("entry_timeout", run.timeout_ms / 1000.0)
        return out

    def health(self) -> Dict[str, Any]:
        if self.degraded:
            return {"status": "degraded", "details": {"startup_error": self.degraded}}
        return {"status": "ok"}


# -- results and errors -----------------------------------------------------------------------------------------

def to_plugin_error(e: BaseException) -> BaseException:
    """A N.E.K.O error as a plugd PluginError that keeps the plugin's code (JSON-RPC 1013, data.code = code)."""
    from plugin.sdk._core import SdkError, code_name

    if isinstance(e, PluginError) or not isinstance(e, Exception):
        return e
    if isinstance(e, SdkError):
        details = e.details if e.details is not None else (e.context or None)
        return PluginError(code_name(e.code) or "ENTRY_FAILED", str(e), _jsonable(details))
    return e


def _err_error(err: Any) -> BaseException:
    error = err.error
    if isinstance(error, BaseException):
        converted = to_plugin_error(error)
        if converted is error and not isinstance(error, PluginError):
            return PluginError("ENTRY_FAILED", str(error) or type(error).__name__, {"type": type(error).__name__})
        return converted
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return PluginError(error["code"], str(error.get("message") or error["code"]), _jsonable(error.get("details")))
    return PluginError("ENTRY_FAILED", str(error) if error is not None else "the entry returned Err")


def to_output(value: Any) -> Any:
    """An entry's return value as the run's output (Ok unwrapped); an Err raises."""
    from plugin.sdk._core import Err, Ok

    if isinstance(value, Ok):
        return value.value
    if isinstance(value, Err):
        raise _err_error(value)
    return value


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_jsonable(x) for x in v]
    return str(v)


def _isawaitable(x: Any) -> bool:
    return hasattr(x, "__await__") and not isinstance(x, type)


# -- entries ----------------------------------------------------------------------------------------------------

def _apply_params_model(model: Any, args: Dict[str, Any], info: Any) -> Dict[str, Any]:
    payload = {k: v for k, v in args.items() if k != "_ctx"}
    try:
        for attr in ("model_validate", "parse_obj"):
            fn = getattr(model, attr, None)
            if callable(fn):
                instance = fn(payload)
                break
        else:
            instance = model(**payload)
    except Exception as e:
        raise PluginError.of("INVALID_INPUT", "parameter validation failed: %s" % (e,)) from None
    names = [p.name for p in info.params if p.name not in _SKIP_PARAMS]
    target = "params" if "params" in names else next(
        (p.name for p in info.params if p.annotation is model), None)
    if target is None and len(names) == 1 and names[0] not in payload:
        target = names[0]
    out = dict(args)
    if target is not None:
        out[target] = instance
        return out
    dump = getattr(instance, "model_dump", None) or getattr(instance, "dict", None)
    if callable(dump):
        out.update(dump())
    return out


def make_invoke(rt: NekoRuntime, entry_id: str, meta: Any, fn: Callable[..., Any], info: Any,
                timer: bool = False) -> Callable[[Any, Dict[str, Any]], Any]:
    """``invoke(ctx, input)`` for a N.E.K.O handler: input as keyword arguments plus ``_ctx``; arguments the handler
    does not take are dropped (unless it has ``**kwargs``)."""
    by_name = [p for p in info.params if p.kind != Param.POSITIONAL_ONLY]
    names = frozenset(p.name for p in by_name)
    required = [p.name for p in by_name if p.required]
    model = getattr(meta, "params", None) if getattr(meta, "model_validate", True) else None
    var_kw = info.var_keyword

    def call(ctx: Any, input: Dict[str, Any]) -> Any:
        instance = rt.instance
        if instance is not None and not getattr(instance, "is_entry_enabled", lambda _e: True)(entry_id):
            raise PluginError("ENTRY_DISABLED", "entry '%s' is disabled" % entry_id)
        args = {} if timer else dict(input)
        args["_ctx"] = rt.neko_ctx_arg(ctx)
        if model is not None:
            args = _apply_params_model(model, args, info)
        if not var_kw:
            args = {k: v for k, v in args.items() if k in names}
        missing = [n for n in required if n not in args]
        if missing:
            raise PluginError.of("INVALID_INPUT", "missing required input: %s" % ", ".join(missing),
                                 problems=[{"path": "/" + n, "message": "is required"} for n in missing])
        return fn(**args)

    def invoke(ctx: Any, input: Dict[str, Any]) -> Any:
        run_id = ctx.run_id
        rt.runs[run_id] = ctx
        try:
            result = call(ctx, input)
        except BaseException as e:
            rt.runs.pop(run_id, None)
            converted = to_plugin_error(e)
            if converted is e:
                raise
            raise converted from None
        if _isawaitable(result):
            async def finish() -> Any:
                try:
                    return to_output(await result)
                except Exception as e:
                    converted = to_plugin_error(e)
                    if converted is e:
                        raise
                    raise converted from None
                finally:
                    rt.runs.pop(run_id, None)

            return finish()
        rt.runs.pop(run_id, None)
        return to_output(result)

    return invoke


def _schema_for(meta: Any, info: Any) -> Dict[str, Any]:
    if isinstance(meta.input_schema, dict):
        return meta.input_schema
    schema = infer_input_schema(info, skip_first=False)
    props = schema.get("properties", {})
    for name in _SKIP_PARAMS:
        props.pop(name, None)
    if "required" in schema:
        schema["required"] = [r for r in schema["required"] if r not in _SKIP_PARAMS]
        if not schema["required"]:
            del schema["required"]
    return schema


def _entry_metadata(meta: Any, fn: Any, event_type: str, extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    from plugin.sdk._core import QUICK_ACTION_ATTR

    neko: Dict[str, Any] = {"event_type": event_type, "event_id": meta.id, "kind": meta.kind}
    if meta.auto_start:
        neko["auto_start"] = True
    if meta.persist is not None:
        neko["persist"] = bool(meta.persist)
    if meta.llm_result_fields:
        neko["llm_result_fields"] = list(meta.llm_result_fields)
    if isinstance(meta.llm_result_schema, dict):
        neko["llm_result_schema"] = meta.llm_result_schema
    quick = meta.quick_action or getattr(getattr(fn, "__func__", fn), QUICK_ACTION_ATTR, None)
    if quick:
        neko["quick_action"] = quick
    if meta.extra:
        neko["extra"] = meta.extra
    if meta.metadata:
        neko["metadata"] = meta.metadata
    if extra:
        neko.update(extra)
    return {"neko": _jsonable(neko)}


_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")


def build_registry(cls: Any, entry: str, plugin_dir: str, manifest: Optional[Dict[str, Any]] = None
                   ) -> Tuple[Registry, NekoRuntime]:
    """A plugd Registry serving the N.E.K.O plugin class ``cls``: the instance is created during the handshake."""
    manifest = manifest if manifest is not None else read_manifest(plugin_dir)
    table = manifest.get("plugin") if isinstance(manifest.get("plugin"), dict) else {}
    runtime_table = manifest.get("plugin_runtime") if isinstance(manifest.get("plugin_runtime"), dict) else {}
    rt = NekoRuntime(entry, plugin_dir, manifest)
    reg = Registry(str(table.get("id") or os.path.basename(plugin_dir)), str(table.get("version") or "0.0.0"),
                   description=table.get("description") or None)
    reg.health = rt.health
    startup_failure = str(runtime_table.get("startup_failure") or "warn")
    lifecycle: Dict[str, List[Callable[..., Any]]] = {}

    def log() -> Any:
        return rt.ctx.logger if rt.ctx is not None else None

    def call_handler(fn: Callable[..., Any], kwargs: Dict[str, Any]) -> Any:
        """Runs a lifecycle/background handler to completion (async ones on plugd's loop) and unwraps Ok/Err."""
        info = describe(fn)
        if not info.var_keyword:
            names = {p.name for p in info.params}
            kwargs = {k: v for k, v in kwargs.items() if k in names}
        result = fn(**kwargs)
        if _isawaitable(result):
            result = rt.svc.loop_thread.run(result)
        return to_output(result)

    def add(spec: EntrySpec) -> None:
        if spec.id in reg.entries:
            raise NekoLoadError("entry id '%s' is declared twice (ids of entries, timers and events share one "
                                "namespace under plugd)" % spec.id)
        reg.add_entry(spec)

    def register(key: str, meta: Any, fn: Callable[..., Any]) -> None:
        et = meta.event_type
        if et == "lifecycle" and meta.id in ("startup", "shutdown", "config_change"):
            lifecycle.setdefault(meta.id, []).append(fn)
            return
        info = describe(fn)
        timeout_ms = int(meta.timeout * 1000) if isinstance(meta.timeout, (int, float)) and meta.timeout > 0 \
            else None
        if et == "timer" and meta.auto_start:
            seconds = meta.extra.get("seconds") or meta.metadata.get("seconds")
            add(EntrySpec(key, make_invoke(rt, key, meta, fn, info, timer=True), is_async=info.is_async,
                          description=meta.description or None, name=meta.name if meta.name != key else None,
                          kind="timer", interval_ms=max(1, int(float(seconds) * 1000)), timeout_ms=timeout_ms,
                          metadata=_entry_metadata(meta, fn, et), handler=fn))
            return
        entry_id = key if et in ("plugin_entry", "timer") else "%s:%s" % (et, meta.id)
        if not entry_id or not all(c in _ID_CHARS for c in entry_id):
            log().warning("skipped {} '{}': plugd entry ids may only use letters, digits and _ . : -", et, entry_id)
            return
        add(EntrySpec(entry_id, make_invoke(rt, entry_id, meta, fn, info), is_async=info.is_async,
                      description=meta.description or None, name=meta.name if meta.name != meta.id else None,
                      input_schema=_schema_for(meta, info), timeout_ms=timeout_ms,
                      metadata=_entry_metadata(meta, fn, et), handler=fn))

    def boot(pctx: Any) -> None:
        from plugin.sdk._base import _Bus, _decorated
        from plugin.sdk._context import NekoContext
        from plugin.sdk._core import EVENT_META_ATTR, HOOK_META_ATTR, LLM_TOOL_META_ATTR, EventMeta

        rt.svc = pctx._svc
        rt.ctx = ctx = NekoContext(rt)
        rt.bus = _Bus(ctx)
        init = cls.__init__
        takes_ctx = init is not object.__init__ and describe(init).positional_count > 1
        try:
            rt.instance = instance = cls(ctx) if takes_ctx else cls()
        except Exception as e:
            raise PluginError("PLUGIN_INIT_FAILED", "%s(ctx) raised %s: %s" % (cls.__name__, type(e).__name__, e),
                              {"type": type(e).__name__}) from e
        collect = getattr(instance, "collect_entries", None)
        handlers = collect() if callable(collect) else {m.id: _Handler(m, b) for _n, m, b in _decorated(instance)}
        for key, h in handlers.items():
            register(str(key), h.meta, h.handler)
        seen_tools = set()
        for klass in type(instance).__mro__:  # @llm_tool methods: entries llm_tool:<name>, the tool as metadata
            for name, value in vars(klass).items():
                target = getattr(value, "__func__", value)
                tool = getattr(target, LLM_TOOL_META_ATTR, None)
                if tool is not None and name not in seen_tools:
                    seen_tools.add(name)
                    rt.llm_tools.append(tool.to_dict())
                    if getattr(target, EVENT_META_ATTR, None) is None:
                        meta = EventMeta("llm_tool", tool.name, tool.name, tool.description, tool.parameters,
                                         "action", timeout=tool.timeout, extra={"llm_tool": tool.to_dict()})
                        register("llm_tool:" + tool.name, meta, getattr(instance, name))
                if getattr(target, HOOK_META_ATTR, None) is not None and name not in seen_tools:
                    seen_tools.add(name)
                    ctx.logger.warning("entry hook '{}' is not run: plugd does not support N.E.K.O hooks yet", name)
        for fn in lifecycle.get("startup", []):
            try:
                call_handler(fn, {})
            except BaseException as e:
                err = to_plugin_error(e)
                if startup_failure == "fail":
                    raise err from None
                ctx.logger.error("startup lifecycle '{}' failed: {}", getattr(fn, "__name__", fn), err)
                if startup_failure != "ignore":
                    rt.degraded = str(err)
        for _key, h in handlers.items():  # custom events marked auto_start + trigger_method "auto": run once
            m = h.meta
            if m.auto_start and m.event_type not in ("plugin_entry", "timer", "lifecycle", "message") and \
                    (m.extra.get("trigger_method") or m.metadata.get("trigger_method")) == "auto":
                _background(rt, call_handler, h.handler, "%s:%s" % (m.event_type, m.id))
        rt.handshaken = True

    def shutdown(pctx: Any) -> None:
        for fn in lifecycle.get("shutdown", []):
            try:
                call_handler(fn, {})
            except BaseException as e:
                if rt.ctx is not None:
                    rt.ctx.logger.error("shutdown lifecycle '{}' failed: {}", getattr(fn, "__name__", fn), e)
        store = getattr(rt.instance, "store", None)
        if store is not None and hasattr(store, "_conn") and store._conn is not None:
            try:
                store._conn.close()
            except Exception:
                pass

    def config_changed(pctx: Any, config: Dict[str, Any]) -> None:
        for fn in lifecycle.get("config_change", []):
            try:
                call_handler(fn, {"config": _copy(config), "mode": "hot"})
            except BaseException as e:
                rt.ctx.logger.error("config_change lifecycle '{}' failed: {}", getattr(fn, "__name__", fn), e)

    reg.startup.append(Hook(boot))
    reg.shutdown.append(Hook(shutdown))
    reg.config_changed.append(Hook(config_changed))
    return reg, rt


class _Handler:
    __slots__ = ("meta", "handler")

    def __init__(self, meta: Any, handler: Any) -> None:
        self.meta = meta
        self.handler = handler


def _background(rt: NekoRuntime, call: Callable[..., Any], fn: Callable[..., Any], what: str) -> None:
    import threading

    def run() -> None:
        try:
            call(fn, {})
        except BaseException as e:
            rt.ctx.logger.error("auto-started '{}' failed: {}", what, e)

    threading.Thread(target=run, name="neko-auto-" + what, daemon=True).start()


# -- main -------------------------------------------------------------------------------------------------------

def _die(message: str, code: int) -> None:
    # "ERROR:" lets the host log the line at error level (it shows in GET /plugins stderr_tail and the plugin's log).
    sys.stderr.write("ERROR: plugd.neko_runner: %s\n" % message)
    sys.stderr.flush()
    os._exit(code)


def main(argv: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or ":" not in args[0]:
        _die('usage: python -m plugd.neko_runner module:Class [args…]  (the entry of a N.E.K.O plugin.toml; run '
             'it from the plugin folder or set PLUGD_PLUGIN_DIR)', _EXIT_USAGE)
    entry = args[0]
    plugin_dir = find_plugin_dir()
    try:
        cls = load_class(entry, plugin_dir)
        registry, _rt = build_registry(cls, entry, plugin_dir)
    except NekoLoadError as e:
        _die(str(e), _EXIT_LOAD)
    except Exception as e:  # pragma: no cover - anything else while preparing
        _die("cannot load '%s': %s: %s" % (entry, type(e).__name__, e), _EXIT_LOAD)
    _runtime.serve(registry)


if __name__ == "__main__":
    main()
