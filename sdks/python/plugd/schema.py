"""Input JSON Schemas inferred from a handler's signature, and the signature facts the SDK needs to call it.

Reads the function's code object (``co_varnames``, ``__defaults__``, ``__annotations__``) instead of
``inspect.signature``: ``inspect`` costs ~15 ms of start-up and a plugin pays it before its handshake. Callables
without a code object (``functools.partial``, objects with ``__call__``, builtins) fall back to ``inspect``.

Type hints map to JSON Schema as: ``str`` string, ``int`` integer, ``float`` number, ``bool`` boolean, ``dict``
/``Mapping[str, X]`` object, ``list``/``tuple``/``set``/``Sequence[X]`` array (with ``items``), ``Optional[X]`` /
``X | None`` X or null, ``Literal["a", "b"]`` enum, ``Enum`` subclasses enum of their values,
``Annotated[X, "description"]`` or ``Annotated[X, {"minimum": 0}]`` X plus that; a parameter without a default is
required; a JSON-able default becomes ``default``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = ["Param", "CallableInfo", "describe", "infer_input_schema", "type_schema"]

_EMPTY = object()
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08
_CO_COROUTINE = 0x80
_CO_ITERABLE_COROUTINE = 0x100


class Param:
    __slots__ = ("name", "kind", "default", "annotation")
    POSITIONAL_ONLY, POSITIONAL, KEYWORD_ONLY = "positional_only", "positional", "keyword_only"

    def __init__(self, name: str, kind: str, default: Any = _EMPTY, annotation: Any = _EMPTY) -> None:
        self.name = name
        self.kind = kind
        self.default = default
        self.annotation = annotation

    @property
    def required(self) -> bool:
        return self.default is _EMPTY

    @property
    def has_annotation(self) -> bool:
        return self.annotation is not _EMPTY

    def __repr__(self) -> str:
        return "Param(%r, %s%s)" % (self.name, self.kind, "" if self.required else ", default=%r" % (self.default,))


class CallableInfo:
    """What the SDK needs to know to call a handler: its parameters (bound ``self`` removed), whether it takes
    ``*args``/``**kwargs``, whether it is a coroutine function, where to resolve string annotations."""

    __slots__ = ("params", "var_positional", "var_keyword", "is_async", "globalns", "doc", "name")

    def __init__(self) -> None:
        self.params: List[Param] = []
        self.var_positional = False
        self.var_keyword = False
        self.is_async = False
        self.globalns: Dict[str, Any] = {}
        self.doc: Optional[str] = None
        self.name = ""

    @property
    def positional_count(self) -> int:
        """How many arguments can be passed by position (``*args`` counts as unlimited)."""
        if self.var_positional:
            return 1 << 30
        return sum(1 for p in self.params if p.kind != Param.KEYWORD_ONLY)

    def after_first(self) -> List[Param]:
        """The parameters after the first positional one (the ``ctx`` of an entry handler)."""
        for i, p in enumerate(self.params):
            if p.kind != Param.KEYWORD_ONLY:
                return self.params[:i] + self.params[i + 1:]
        return list(self.params)


def describe(fn: Callable[..., Any]) -> CallableInfo:
    info = CallableInfo()
    info.doc = getattr(fn, "__doc__", None)
    info.name = getattr(fn, "__name__", type(fn).__name__)
    target = fn
    bound = 0
    if hasattr(target, "__func__") and hasattr(target, "__self__"):  # bound method
        target = target.__func__
        bound = 1
    code = getattr(target, "__code__", None)
    if code is None or not hasattr(target, "__defaults__"):
        return _describe_with_inspect(fn, info)
    nargs = code.co_argcount
    nkw = code.co_kwonlyargcount
    nposonly = getattr(code, "co_posonlyargcount", 0)
    names = code.co_varnames[: nargs + nkw]
    defaults = target.__defaults__ or ()
    kwdefaults = target.__kwdefaults__ or {}
    annotations = getattr(target, "__annotations__", None) or {}
    first_default = nargs - len(defaults)
    for i, name in enumerate(names):
        if i < nargs:
            kind = Param.POSITIONAL_ONLY if i < nposonly else Param.POSITIONAL
            default = defaults[i - first_default] if i >= first_default else _EMPTY
        else:
            kind = Param.KEYWORD_ONLY
            default = kwdefaults.get(name, _EMPTY)
        info.params.append(Param(name, kind, default, annotations.get(name, _EMPTY)))
    if bound and info.params and info.params[0].kind != Param.KEYWORD_ONLY:
        info.params.pop(0)
    info.var_positional = bool(code.co_flags & _CO_VARARGS)
    info.var_keyword = bool(code.co_flags & _CO_VARKEYWORDS)
    info.is_async = bool(code.co_flags & (_CO_COROUTINE | _CO_ITERABLE_COROUTINE))
    info.globalns = getattr(target, "__globals__", {}) or {}
    return info


def _describe_with_inspect(fn: Callable[..., Any], info: CallableInfo) -> CallableInfo:
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: accept anything
        info.var_positional = info.var_keyword = True
        return info
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: Param.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD: Param.POSITIONAL,
        inspect.Parameter.KEYWORD_ONLY: Param.KEYWORD_ONLY,
    }
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            info.var_positional = True
        elif p.kind == p.VAR_KEYWORD:
            info.var_keyword = True
        else:
            info.params.append(Param(p.name, kinds[p.kind],
                                     _EMPTY if p.default is p.empty else p.default,
                                     _EMPTY if p.annotation is p.empty else p.annotation))
    call = getattr(fn, "__call__", None)
    info.is_async = inspect.iscoroutinefunction(fn) or (
        call is not None and inspect.iscoroutinefunction(call))
    if not info.is_async:
        inner = getattr(fn, "func", None)  # functools.partial
        info.is_async = inner is not None and inspect.iscoroutinefunction(inner)
    target = getattr(fn, "func", None) or getattr(call, "__func__", None) or fn
    info.globalns = getattr(target, "__globals__", {}) or {}
    return info


# -- schema inference -------------------------------------------------------------------------------------------

_JSON_SCALARS = (str, int, float, bool, type(None))


def _json_able(v: Any, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if isinstance(v, _JSON_SCALARS):
        return not (isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))))
    if isinstance(v, (list, tuple)):
        return all(_json_able(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _json_able(x, depth + 1) for k, x in v.items())
    return False


def _resolve(annotation: Any, globalns: Dict[str, Any]) -> Any:
    """String annotations (``from __future__ import annotations``) are evaluated in the function's module."""
    if isinstance(annotation, str):
        try:
            return eval(annotation, dict(globalns))  # noqa: S307 - the plugin's own annotation
        except Exception:
            return _EMPTY
    forward = getattr(annotation, "__forward_arg__", None)
    if isinstance(forward, str):
        return _resolve(forward, globalns)
    return annotation


def _nullable(s: Dict[str, Any]) -> Dict[str, Any]:
    t = s.get("type")
    if isinstance(t, str):
        if t != "null":
            s = dict(s)
            s["type"] = [t, "null"]
            if "enum" in s and None not in s["enum"]:
                s["enum"] = list(s["enum"]) + [None]
        return s
    if isinstance(t, list):
        if "null" not in t:
            s = dict(s)
            s["type"] = t + ["null"]
        return s
    if not s:
        return s  # any value already includes null
    return {"anyOf": [s, {"type": "null"}]}


def type_schema(t: Any, globalns: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The JSON Schema of one type hint (``{}`` = any value)."""
    t = _resolve(t, globalns or {})
    if t is _EMPTY:
        return {}
    if t is None or t is type(None):
        return {"type": "null"}
    if t is bool:
        return {"type": "boolean"}
    if t is int:
        return {"type": "integer"}
    if t is float:
        return {"type": "number"}
    if t is str:
        return {"type": "string"}
    if t in (bytes, bytearray):
        return {"type": "string", "contentEncoding": "base64"}
    if t is dict:
        return {"type": "object"}
    if t in (list, tuple, set, frozenset):
        return {"type": "array"}
    if t is object:
        return {}

    typing = sys.modules.get("typing")  # typing constructs exist only if the plugin imported typing
    origin = getattr(t, "__origin__", None)
    args = getattr(t, "__args__", None) or ()
    metadata = getattr(t, "__metadata__", None)
    if metadata is not None and origin is not None:  # Annotated[X, ...]
        s = dict(type_schema(origin, globalns))
        for m in metadata:
            if isinstance(m, str):
                s["description"] = m
            elif isinstance(m, dict):
                s.update(m)
        return s
    if typing is not None:
        if t is getattr(typing, "Any", None):
            return {}
        if origin is getattr(typing, "Literal", None) and origin is not None:
            return _literal_schema(args)
        if origin is getattr(typing, "Union", None) and origin is not None:
            return _union_schema(args, globalns)
        if hasattr(t, "__supertype__"):  # NewType
            return type_schema(t.__supertype__, globalns)
        if getattr(t, "__total__", None) is not None and isinstance(getattr(t, "__annotations__", None), dict):
            return _typed_dict_schema(t, globalns)  # TypedDict
    if type(t).__name__ == "UnionType":  # X | Y (3.10+)
        return _union_schema(args, globalns)
    if origin is not None:
        base = origin if isinstance(origin, type) else None
        if (base is not None and issubclass(base, (list, set, frozenset))) or _is_abc(
                origin, ("Sequence", "MutableSequence", "Set", "MutableSet", "Iterable", "Collection")):
            s: Dict[str, Any] = {"type": "array"}
            if args:
                item = type_schema(args[0], globalns)
                if item:
                    s["items"] = item
            if base is not None and issubclass(base, (set, frozenset)):
                s["uniqueItems"] = True
            return s
        if base is not None and issubclass(base, tuple):
            s = {"type": "array"}
            if len(args) == 2 and args[1] is Ellipsis:
                item = type_schema(args[0], globalns)
                if item:
                    s["items"] = item
            elif args and args != ((),):
                s["prefixItems"] = [type_schema(a, globalns) for a in args]
                s["minItems"] = s["maxItems"] = len(args)
            return s
        if (base is not None and issubclass(base, dict)) or _is_abc(origin, ("Mapping", "MutableMapping")):
            s = {"type": "object"}
            if len(args) == 2:
                value = type_schema(args[1], globalns)
                if value:
                    s["additionalProperties"] = value
            return s
        return type_schema(origin, globalns)
    if isinstance(t, type):
        members = getattr(t, "__members__", None)
        if members is not None and "enum" in sys.modules and issubclass(t, sys.modules["enum"].Enum):
            return _literal_schema(tuple(m.value for m in members.values()))
        if hasattr(t, "__dataclass_fields__"):
            return _dataclass_schema(t, globalns)
        if issubclass(t, bool):
            return {"type": "boolean"}
        if issubclass(t, int):
            return {"type": "integer"}
        if issubclass(t, float):
            return {"type": "number"}
        if issubclass(t, str):
            return {"type": "string"}
        if issubclass(t, dict):
            return {"type": "object"}
        if issubclass(t, (list, tuple, set, frozenset)):
            return {"type": "array"}
        if _is_abc(t, ("Mapping", "MutableMapping")):
            return {"type": "object"}
        if _is_abc(t, ("Sequence", "MutableSequence", "Set", "MutableSet")):
            return {"type": "array"}
    return {}


def _is_abc(t: Any, names: Tuple[str, ...]) -> bool:
    return getattr(t, "__module__", None) in ("collections.abc", "typing") and getattr(t, "__name__", None) in names


def _literal_schema(values: Tuple[Any, ...]) -> Dict[str, Any]:
    s: Dict[str, Any] = {"enum": list(values)}
    kinds = set()
    for v in values:
        if isinstance(v, bool):
            kinds.add("boolean")
        elif isinstance(v, int):
            kinds.add("integer")
        elif isinstance(v, float):
            kinds.add("number")
        elif isinstance(v, str):
            kinds.add("string")
        elif v is None:
            kinds.add("null")
        else:
            kinds.add("?")
    if len(kinds) == 1 and "?" not in kinds:
        s = {"type": kinds.pop(), "enum": list(values)}
    return s


def _union_schema(args: Tuple[Any, ...], globalns: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    non_null = [a for a in args if a is not type(None) and a is not None]
    nullable = len(non_null) != len(args)
    if len(non_null) == 1:
        s = type_schema(non_null[0], globalns)
    else:
        parts = [type_schema(a, globalns) for a in non_null]
        if any(not p for p in parts):
            return {}
        simple = [p["type"] for p in parts if set(p) == {"type"} and isinstance(p["type"], str)]
        s = {"type": simple} if len(simple) == len(parts) else {"anyOf": parts}
    return _nullable(s) if nullable else s


def _typed_dict_schema(t: Any, globalns: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    mod = sys.modules.get(getattr(t, "__module__", ""), None)
    ns = dict(getattr(mod, "__dict__", {}) or globalns or {})
    props = {k: type_schema(v, ns) for k, v in t.__annotations__.items()}
    required = sorted(getattr(t, "__required_keys__", t.__annotations__.keys() if t.__total__ else ()))
    s: Dict[str, Any] = {"type": "object", "properties": props}
    if required:
        s["required"] = list(required)
    return s


def _dataclass_schema(t: Any, globalns: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    mod = sys.modules.get(getattr(t, "__module__", ""), None)
    ns = dict(getattr(mod, "__dict__", {}) or globalns or {})
    props: Dict[str, Any] = {}
    required: List[str] = []
    for name, f in t.__dataclass_fields__.items():
        if getattr(f, "_field_type", None) is not None and str(f._field_type) != "_FIELD":
            continue  # ClassVar / InitVar
        props[name] = dict(type_schema(f.type, ns))
        has_default = not _is_missing(f.default) or not _is_missing(getattr(f, "default_factory", None))
        if not has_default:
            required.append(name)
        elif not _is_missing(f.default) and _json_able(f.default):
            props[name]["default"] = f.default
    s: Dict[str, Any] = {"type": "object", "properties": props}
    if required:
        s["required"] = required
    return s


def _is_missing(v: Any) -> bool:
    return type(v).__name__ == "_MISSING_TYPE"


def infer_input_schema(info: CallableInfo, skip_first: bool = True) -> Dict[str, Any]:
    """The input schema of a handler ``(ctx, a: int, b: str = "x", **rest)``: an object with one property per
    parameter after ``ctx``. ``**kwargs`` leaves other properties allowed; without it, other properties are still
    allowed by the schema (the SDK drops the ones the handler does not take)."""
    params = info.after_first() if skip_first else list(info.params)
    props: Dict[str, Any] = {}
    required: List[str] = []
    for p in params:
        if p.kind == Param.POSITIONAL_ONLY:
            continue  # cannot be passed by name
        s = dict(type_schema(p.annotation, info.globalns)) if p.has_annotation else {}
        if p.required:
            required.append(p.name)
        elif _json_able(p.default):
            if p.default is None and s and "null" not in str(s.get("type", "")) and "anyOf" not in s:
                s = _nullable(s)  # `x: int = None` means the value may be None
            s["default"] = list(p.default) if isinstance(p.default, tuple) else p.default
        props[p.name] = s
    schema: Dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema
