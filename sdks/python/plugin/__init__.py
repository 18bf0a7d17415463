"""N.E.K.O compatibility namespace for plugd.

N.E.K.O plugins import their SDK from ``plugin.sdk`` (v1: ``plugin.sdk``, ``plugin.sdk.base``,
``plugin.sdk.decorators``) or ``plugin.sdk.plugin`` (v2). This package provides those import paths, backed by
plugd's Python SDK, so a plugin folder written for N.E.K.O runs unmodified under ``python -m plugd.neko_runner``.
See docs/neko-compat.md for what is supported.
"""
