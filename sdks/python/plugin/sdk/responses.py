"""``plugin.sdk.responses``: N.E.K.O's result envelopes."""

from ._core import fail, is_envelope, ok

__all__ = ["ok", "fail", "is_envelope"]
