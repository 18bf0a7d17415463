"""``plugin.sdk.errors``: N.E.K.O's error codes and SDK errors."""

from ._core import (
    ConfigPathError, ConfigProfileError, ConfigValidationError, EntryConflictError, ErrorCode, InvalidArgumentError,
    NotSupportedError, PluginConfigError, SdkError, TransportError, ValidationError,
)

__all__ = [
    "ErrorCode", "SdkError", "TransportError", "ValidationError", "InvalidArgumentError", "PluginConfigError",
    "ConfigPathError", "ConfigProfileError", "ConfigValidationError", "EntryConflictError", "NotSupportedError",
]
