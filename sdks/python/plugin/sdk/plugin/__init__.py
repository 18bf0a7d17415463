"""``plugin.sdk.plugin``: N.E.K.O's SDK v2 surface, the primary import target of N.E.K.O plugins.

.. code-block:: python

    from plugin.sdk.plugin import NekoPluginBase, neko_plugin, plugin_entry, lifecycle, Ok, Err, SdkError

Served by plugd (``python -m plugd.neko_runner module:Class``); see docs/neko-compat.md for what is supported.
"""

from .. import _core
from .._base import (
    MemoryClient, NekoPluginBase, PluginConfig, PluginI18n, PluginMeta, PluginRouter, PluginStore, Plugins,
    SystemInfo, get_plugin_logger, tr,
)
from .._core import (
    NEKO_PLUGIN_META_ATTR, NEKO_PLUGIN_TAG, EntryKind, Err, LlmToolMeta, Ok, Result, SdkError, TransportError,
    after_entry, around_entry, before_entry, custom_event, hook, lifecycle, llm_tool, message, neko_plugin, on_event,
    plugin, plugin_entry, quick_action, replace_entry, timer_interval, unwrap, unwrap_or,
)
from . import ui


class PluginSettings:
    """Placeholder of N.E.K.O's pydantic-based settings model: not implemented by plugd."""

    def __init__(self, *args, **kwargs):
        raise _core.NotSupportedError("PluginSettings is not supported by plugd yet; read self.config instead")


def SettingsField(default=None, **kwargs):  # noqa: N802 - N.E.K.O's name
    return default


__all__ = [
    "NEKO_PLUGIN_META_ATTR", "NEKO_PLUGIN_TAG", "PluginMeta", "NekoPluginBase", "EntryKind", "neko_plugin",
    "on_event", "plugin_entry", "lifecycle", "message", "timer_interval", "custom_event", "hook", "before_entry",
    "after_entry", "around_entry", "replace_entry", "plugin", "quick_action", "ui", "llm_tool", "LlmToolMeta",
    "PluginI18n", "tr", "Ok", "Err", "Result", "unwrap", "unwrap_or", "PluginConfig", "Plugins", "PluginRouter",
    "SystemInfo", "MemoryClient", "PluginStore", "SdkError", "TransportError", "get_plugin_logger",
    "PluginSettings", "SettingsField",
]
