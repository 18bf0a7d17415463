"""JSON without ``import json``.

``json`` pulls in ``re`` (and ``enum``) for about 10 ms of a plugin's cold start. The C accelerator ``_json`` that
``json`` itself uses does all the work and needs neither, so the SDK drives it directly; interpreters without it
(PyPy) fall back to the ``json`` module. Output is compact (``,``/``:``) UTF-8 like ``JSON.stringify``; NaN and
infinities are refused (they are not JSON and the host could not parse them).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

__all__ = ["dumps", "loads", "JSONError"]


class JSONError(ValueError):
    """A body that is not JSON."""


def _default(o: Any) -> Any:
    """Values json can't encode natively: common Python types get a natural JSON form."""
    dump = getattr(o, "model_dump", None) or getattr(o, "to_dict", None) or getattr(o, "_asdict", None)
    if dump is not None and callable(dump):
        return dump()
    if hasattr(o, "__dataclass_fields__") and not isinstance(o, type):
        import dataclasses

        return dataclasses.asdict(o)
    if isinstance(o, (set, frozenset)):
        return list(o)
    if isinstance(o, (bytes, bytearray, memoryview)):
        import binascii

        return binascii.b2a_base64(bytes(o), newline=False).decode("ascii")
    iso = getattr(o, "isoformat", None)
    if iso is not None and callable(iso):
        return iso()
    if hasattr(o, "__fspath__"):
        return o.__fspath__()
    value = getattr(type(o), "__members__", None) and getattr(o, "value", None)  # Enum
    if value is not None:
        return value
    raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)


try:
    from _json import encode_basestring as _enc_str
    from _json import encode_basestring_ascii as _enc_ascii
    from _json import make_encoder as _make_encoder
    from _json import make_scanner as _make_scanner

    class _ScanContext:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = None  # NaN / Infinity are not JSON
        memo: dict = {}

        def __init__(self) -> None:
            def reject(name: str) -> Any:
                raise JSONError("%s is not valid JSON" % name)

            self.parse_constant = reject

    _scan = _make_scanner(_ScanContext())

    def _encode(obj: Any, enc: Callable[[str], str]) -> str:
        # A fresh encoder per call: its `markers` dict (cycle detection) must not be shared between threads.
        chunks = _make_encoder({}, _default, enc, None, ":", ",", False, False, False)(obj, 0)
        return "".join(chunks)

    def dumps(obj: Any) -> bytes:
        """Encodes to UTF-8 bytes."""
        try:
            return _encode(obj, _enc_str).encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: escape them instead
            return _encode(obj, _enc_ascii).encode("ascii")

    _WS = " \t\n\r"

    def loads(text: str) -> Any:
        """Decodes one JSON value (whitespace around it allowed); raises JSONError if it isn't one."""
        start = len(text) - len(text.lstrip(_WS))
        try:
            value, end = _scan(text, start)
        except StopIteration as e:
            raise JSONError("Expecting value at char %s" % (e.value,)) from None
        except ValueError as e:  # json.JSONDecodeError, raised by the C scanner
            raise JSONError(str(e)) from None
        except SystemError:
            # The C scanner reports syntax errors with json.decoder.JSONDecodeError, which it only finds if
            # json.decoder is already imported (else: SystemError). Import it now, on this error path only.
            import json.decoder  # noqa: F401

            return loads(text)
        except RecursionError:
            raise JSONError("nested too deeply") from None
        if end != len(text) and text[end:].strip(_WS):
            raise JSONError("Extra data at char %d" % end)
        return value

except ImportError:  # pragma: no cover - interpreters without the C accelerator
    import json as _stdjson

    def _reject(name: str) -> Any:
        raise JSONError("%s is not valid JSON" % name)

    def dumps(obj: Any) -> bytes:
        try:
            s = _stdjson.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default)
            return s.encode("utf-8")
        except UnicodeEncodeError:
            return _stdjson.dumps(obj, separators=(",", ":"), allow_nan=False, default=_default).encode("ascii")

    def loads(text: str) -> Any:
        try:
            return _stdjson.loads(text, parse_constant=_reject)
        except ValueError as e:
            raise JSONError(str(e)) from None
