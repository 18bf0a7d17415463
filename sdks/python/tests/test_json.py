"""The SDK's JSON (the C accelerator driven directly, without importing json/re)."""

import datetime
import enum

import pytest

from plugd import _json


def test_round_trip_and_compact_utf8():
    value = {"a": [1, 2.5, "é漢🎉", None, True, False], "b": {"c": {}}, "d": []}
    data = _json.dumps(value)
    assert data == '{"a":[1,2.5,"é漢🎉",null,true,false],"b":{"c":{}},"d":[]}'.encode("utf-8")
    assert _json.loads(data.decode("utf-8")) == value
    assert _json.loads('  {"x" : 1 }\r\n') == {"x": 1}


def test_lone_surrogates_are_escaped():
    assert _json.dumps({"s": "\ud800"}) == b'{"s":"\\ud800"}'


@pytest.mark.parametrize("bad", ["", "{", "[1,]", '"\\x"', '"abc', "1 2", "NaN", "Infinity", "{'a':1}"])
def test_invalid_json(bad):
    with pytest.raises(_json.JSONError):
        _json.loads(bad)


def test_non_json_values():
    with pytest.raises(ValueError):
        _json.dumps(float("nan"))
    with pytest.raises(TypeError):
        _json.dumps(object())
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError):
        _json.dumps(loop)


def test_common_python_values():
    class E(enum.Enum):
        A = "a"

    value = {"set": {1}, "bytes": b"hi", "date": datetime.date(2020, 1, 2), "enum": E.A, "tuple": (1, 2)}
    assert _json.loads(_json.dumps(value).decode()) == {"set": [1], "bytes": "aGk=", "date": "2020-01-02",
                                                         "enum": "a", "tuple": [1, 2]}
