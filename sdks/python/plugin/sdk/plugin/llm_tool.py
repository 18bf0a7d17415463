"""``plugin.sdk.plugin.llm_tool``."""

from .._core import LlmToolMeta, llm_tool

__all__ = ["llm_tool", "LlmToolMeta"]
