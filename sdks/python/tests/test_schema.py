"""Input schemas inferred from type hints, and the calling convention of handlers."""

import dataclasses
import enum
import functools
import sys
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Set, Tuple, Union

import pytest

from plugd import Plugin, PluginError
from plugd.registry import entry_from_function
from plugd.schema import describe, infer_input_schema, type_schema


def schema_of(fn):
    return infer_input_schema(describe(fn))


def test_scalars_defaults_required():
    def f(ctx, s: str, i: int, x: float, b: bool, d: dict, l: list, any_, n: int = 3, name: str = "a"):
        pass

    assert schema_of(f) == {
        "type": "object",
        "properties": {"s": {"type": "string"}, "i": {"type": "integer"}, "x": {"type": "number"},
                       "b": {"type": "boolean"}, "d": {"type": "object"}, "l": {"type": "array"}, "any_": {},
                       "n": {"type": "integer", "default": 3}, "name": {"type": "string", "default": "a"}},
        "required": ["s", "i", "x", "b", "d", "l", "any_"],
    }


def test_no_params_is_an_empty_object():
    assert schema_of(lambda ctx: None) == {"type": "object", "properties": {}}


def test_optional_union_literal():
    def f(ctx, a: Optional[int] = None, b: Union[int, str] = 1, c: Literal["x", "y"] = "x",
          d: Literal[1, "a"] = 1, e: Optional[Literal["p", "q"]] = None, g: int = None):
        pass

    p = schema_of(f)["properties"]
    assert p["a"] == {"type": ["integer", "null"], "default": None}
    assert p["b"] == {"type": ["integer", "string"], "default": 1}
    assert p["c"] == {"type": "string", "enum": ["x", "y"], "default": "x"}
    assert p["d"] == {"enum": [1, "a"], "default": 1}
    assert p["e"] == {"type": ["string", "null"], "enum": ["p", "q", None], "default": None}
    assert p["g"] == {"type": ["integer", "null"], "default": None}  # `int = None` means None is allowed
    assert "required" not in schema_of(f)


def test_containers():
    def f(ctx, a: List[int], b: Dict[str, float], c: Set[str], d: Tuple[int, ...], e: Tuple[int, str],
          g: Sequence[str], h: Mapping[str, Any], i: List[List[bool]]):
        pass

    p = schema_of(f)["properties"]
    assert p["a"] == {"type": "array", "items": {"type": "integer"}}
    assert p["b"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert p["c"] == {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    assert p["d"] == {"type": "array", "items": {"type": "integer"}}
    assert p["e"] == {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
                      "minItems": 2, "maxItems": 2}
    assert p["g"] == {"type": "array", "items": {"type": "string"}}
    assert p["h"] == {"type": "object"}
    assert p["i"] == {"type": "array", "items": {"type": "array", "items": {"type": "boolean"}}}


def test_builtin_generics():
    def f(ctx, a: "list[int]", b: "dict[str, str]"):
        pass

    p = schema_of(f)["properties"]
    assert p["a"] == {"type": "array", "items": {"type": "integer"}}
    assert p["b"] == {"type": "object", "additionalProperties": {"type": "string"}}


@pytest.mark.skipif(sys.version_info < (3, 10), reason="X | Y needs Python 3.10")
def test_pep604_union():
    ns = {}
    exec("def f(ctx, a: int | None = None, b: str | int = 'x'): pass", ns)
    p = schema_of(ns["f"])["properties"]
    assert p["a"] == {"type": ["integer", "null"], "default": None}
    assert p["b"] == {"type": ["string", "integer"], "default": "x"}


def test_string_annotations_from_future_import():
    ns = {}
    exec("from __future__ import annotations\nfrom typing import Optional, List\n"
         "def f(ctx, a: Optional[int], b: List[str] = []): pass", ns)
    assert schema_of(ns["f"]) == {
        "type": "object",
        "properties": {"a": {"type": ["integer", "null"]}, "b": {"type": "array", "items": {"type": "string"},
                                                                 "default": []}},
        "required": ["a"],
    }


def test_annotated_enum_dataclass():
    from typing import Annotated  # 3.9+

    class Color(enum.Enum):
        RED = "red"
        BLUE = "blue"

    @dataclasses.dataclass
    class Point:
        x: int
        y: int = 0

    def f(ctx, n: Annotated[int, "how many", {"minimum": 1}], c: Color = Color.RED, p: Optional[Point] = None):
        pass

    p = schema_of(f)["properties"]
    assert p["n"] == {"type": "integer", "description": "how many", "minimum": 1}
    assert p["c"] == {"type": "string", "enum": ["red", "blue"]}  # an Enum default is not JSON: no default
    assert p["p"] == {"type": ["object", "null"], "properties": {"x": {"type": "integer"},
                                                                "y": {"type": "integer", "default": 0}},
                      "required": ["x"], "default": None}


def test_var_kwargs_and_keyword_only():
    def f(ctx, a: int, *, b: str = "x", **rest):
        pass

    assert schema_of(f) == {"type": "object", "properties": {"a": {"type": "integer"},
                                                             "b": {"type": "string", "default": "x"}},
                            "required": ["a"]}


def test_methods_partials_and_callable_objects():
    class H:
        def m(self, ctx, a: int):
            return a

        def __call__(self, ctx, b: str):
            return b

    assert schema_of(H().m)["required"] == ["a"]
    assert schema_of(H())["required"] == ["b"]

    def g(ctx, a: int, b: int):
        return a + b

    assert schema_of(functools.partial(g, b=1))["properties"]["a"] == {"type": "integer"}


def test_async_detection():
    async def a(ctx):
        pass

    def s(ctx):
        pass

    assert describe(a).is_async and not describe(s).is_async


def test_invoker_drops_extra_keys_and_reports_missing():
    spec = entry_from_function(lambda ctx, a, b=2: (a, b), id="f")
    assert spec.invoke(None, {"a": 1, "zzz": 3}) == (1, 2)
    with pytest.raises(PluginError) as e:
        spec.invoke(None, {"b": 1})
    assert e.value.rpc_code == 1002 and e.value.code == "INVALID_INPUT"


def test_invoker_with_var_kwargs_passes_everything():
    spec = entry_from_function(lambda ctx, **kw: kw, id="f")
    assert spec.invoke("ctx", {"a": 1, "b": 2}) == {"a": 1, "b": 2}


def test_handler_without_ctx():
    spec = entry_from_function(lambda **kw: kw, id="f")
    assert spec.invoke("ctx", {"a": 1}) == {"a": 1}
    assert spec.input_schema == {"type": "object", "properties": {}}


def test_plugin_decorators_and_descriptions():
    plugin = Plugin("p", version="1.0")

    @plugin.entry
    def bare(ctx, x: int):
        """First line
        continues here.

        Not this paragraph."""

    @plugin.entry(id="named", description="given", input_schema={"type": "object"}, timeout_ms=5)
    def other(ctx, **input):
        pass

    @plugin.timer(interval_ms=1000)
    def tick(ctx):
        pass

    infos = {e["id"]: e for e in plugin.registry.entry_infos()}
    assert infos["bare"]["description"] == "First line continues here."
    assert infos["named"] == {"id": "named", "description": "given", "inputSchema": {"type": "object"},
                              "timeoutMs": 5}
    assert infos["tick"] == {"id": "tick", "kind": "timer", "intervalMs": 1000}
    with pytest.raises(ValueError):
        plugin.entry(id="bare")(lambda ctx: None)
    with pytest.raises(ValueError):
        plugin.entry(id="bad id!")(lambda ctx: None)


def test_type_schema_direct():
    assert type_schema(int) == {"type": "integer"}
    assert type_schema(bool) == {"type": "boolean"}
    assert type_schema(Any) == {}
    assert type_schema(Optional[str]) == {"type": ["string", "null"]}
    assert type_schema(bytes) == {"type": "string", "contentEncoding": "base64"}
