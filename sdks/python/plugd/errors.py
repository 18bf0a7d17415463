"""Errors that cross the wire.

JSON-RPC reserves the negative codes; plugd's business errors are positive (``packages/protocol/src/errors.ts``).
Every error the SDK sends carries its symbolic name in ``error.data.code``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~10 ms of start-up; only type checkers read it
    from typing import Any, Dict, Optional

__all__ = ["ErrorCodes", "PluginError", "Cancelled", "RpcError", "error_name"]


class ErrorCodes:
    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603

    ENTRY_NOT_FOUND = 1001
    INVALID_INPUT = 1002
    TIMEOUT = 1003
    CANCELLED = 1004
    PLUGIN_UNAVAILABLE = 1005
    CIRCULAR_CALL = 1006
    BUSY = 1007
    MESSAGE_TOO_LARGE = 1008
    CONNECTION_CLOSED = 1009
    PERMISSION_DENIED = 1010
    VERSION_MISMATCH = 1011
    PLUGIN_CRASHED = 1012
    ENTRY_FAILED = 1013
    PLUGIN_NOT_FOUND = 1014


_NAMES = {v: k for k, v in vars(ErrorCodes).items() if not k.startswith("_")}

HINTS = {
    "ENTRY_NOT_FOUND": "List the plugin's entries (GET /plugins) and call one of those.",
    "INVALID_INPUT": "Fix the input so it matches the entry's input schema (details lists each problem).",
    "TIMEOUT": "Raise the timeout (per call, per entry or in the manifest's [limits]) or make the entry faster.",
    "CANCELLED": "The call was cancelled by its caller; retry it if that was not intended.",
    "CONNECTION_CLOSED": "The plugin process went away; check its logs. plugd restarts it per its restart policy.",
    "VERSION_MISMATCH": "Upgrade the plugin's SDK or plugd so both speak the same protocol major version.",
}


def error_name(code: int) -> Optional[str]:
    """The symbolic name of a numeric code (``1003`` -> ``"TIMEOUT"``), or None."""
    return _NAMES.get(code)


class PluginError(Exception):
    """A failure an entry reports on purpose, with its own code.

    ``raise PluginError("CITY_UNKNOWN", "no such city")`` reaches the caller as JSON-RPC error 1013
    (``ENTRY_FAILED``) with ``data.code == "CITY_UNKNOWN"``; ``details`` (any JSON value) goes to ``data.details``.
    """

    #: The JSON-RPC error code on the wire.
    rpc_code = ErrorCodes.ENTRY_FAILED

    def __init__(self, code: str = "ENTRY_FAILED", message: str = "", details: Any = None,
                 *, rpc_code: Optional[int] = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.details = details
        if rpc_code is not None:
            self.rpc_code = rpc_code

    @classmethod
    def of(cls, name: str, message: str, **details: Any) -> "PluginError":
        """A plugd business error by name (``PluginError.of("INVALID_INPUT", "...")``), with its hint."""
        data: Dict[str, Any] = {"code": name}
        if name in HINTS:
            data["hint"] = HINTS[name]
        data.update(details)
        return RpcError(getattr(ErrorCodes, name, ErrorCodes.ENTRY_FAILED), message, data)

    def to_error(self) -> Dict[str, Any]:
        """The JSON-RPC error object."""
        data: Dict[str, Any] = {"code": self.code}
        if self.details is not None:
            data["details"] = self.details
        return {"code": self.rpc_code, "message": self.message, "data": data}

    def __repr__(self) -> str:
        return "%s(%r, %r)" % (type(self).__name__, self.code, self.message)


class Cancelled(PluginError):
    """The run was cancelled (``$/cancelRequest``). Raised by ``ctx.check_cancelled()``; answered as 1004."""

    rpc_code = ErrorCodes.CANCELLED

    def __init__(self, message: str = "the request was cancelled") -> None:
        super().__init__("CANCELLED", message)

    def to_error(self) -> Dict[str, Any]:
        return {"code": self.rpc_code, "message": self.message,
                "data": {"code": "CANCELLED", "hint": HINTS["CANCELLED"]}}


class RpcError(PluginError):
    """An error object received from (or to be sent to) the other side, kept as it was.

    Reverse calls (``ctx.call`` …) raise this when the host answers with an error; if the handler lets it
    propagate, the run fails with that same error. ``code`` is the symbolic code (``data.code`` or plugd's
    name for the number), ``rpc_code`` the number, ``data`` the raw data.
    """

    def __init__(self, rpc_code: int, message: str, data: Any = None) -> None:
        symbol = data.get("code") if isinstance(data, dict) and isinstance(data.get("code"), str) else None
        super().__init__(symbol or error_name(rpc_code) or str(rpc_code), message, rpc_code=rpc_code)
        self.data = data

    def to_error(self) -> Dict[str, Any]:
        err: Dict[str, Any] = {"code": self.rpc_code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err

    @classmethod
    def from_object(cls, obj: Any) -> "RpcError":
        if not isinstance(obj, dict):
            return cls(ErrorCodes.INTERNAL_ERROR, "malformed error: %r" % (obj,))
        code = obj.get("code")
        return cls(code if isinstance(code, int) else ErrorCodes.INTERNAL_ERROR,
                   str(obj.get("message", "")), obj.get("data"))
