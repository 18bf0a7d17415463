"""N.E.K.O's plugin SDK import paths, served by plugd (``from plugin.sdk import NekoPluginBase, plugin_entry, ok``).

This is the SDK v1 surface (``plugin.sdk``, ``plugin.sdk.base``, ``plugin.sdk.decorators``,
``plugin.sdk.responses``); SDK v2 lives in :mod:`plugin.sdk.plugin`. Both are backed by plugd's Python SDK and run
under ``python -m plugd.neko_runner module:Class`` (see docs/neko-compat.md).
"""

from ._base import (
    MemoryClient, PluginConfig, PluginI18n, PluginMeta, PluginRouter, PluginRouterError, PluginStore, Plugins,
    SystemInfo, get_plugin_logger, tr,
)
from ._core import (
    CHECKPOINT_ATTR, EVENT_META_ATTR, HOOK_META_ATTR, NEKO_PLUGIN_META_ATTR, NEKO_PLUGIN_TAG, PERSIST_ATTR,
    SDK_VERSION, WORKER_MODE_ATTR, EntryKind, Err, ErrorCode, EventHandler, EventMeta, HookMeta, LlmToolMeta, Ok,
    Result, SdkError, TransportError, after_entry, around_entry, before_entry, custom_event, fail, hook, lifecycle,
    llm_tool, message, neko_plugin, ok, on_event, plugin, plugin_entry, quick_action, replace_entry, timer_interval,
    unwrap, unwrap_or, worker,
)
from .base import NekoPluginBase

PluginContextProtocol = object

__all__ = [
    "SDK_VERSION", "ErrorCode", "ok", "fail", "neko_plugin", "plugin_entry", "lifecycle", "on_event", "message",
    "timer_interval", "custom_event", "worker", "plugin", "hook", "before_entry", "after_entry", "around_entry",
    "replace_entry", "quick_action", "llm_tool", "HookMeta", "LlmToolMeta", "HOOK_META_ATTR", "NekoPluginBase",
    "PluginRouter", "PluginRouterError", "PluginMeta", "PluginConfig", "PluginStore", "Plugins", "EventMeta",
    "EventHandler", "SystemInfo", "MemoryClient", "PluginI18n", "tr", "PluginContextProtocol", "EntryKind",
    "PERSIST_ATTR", "CHECKPOINT_ATTR", "WORKER_MODE_ATTR", "EVENT_META_ATTR", "NEKO_PLUGIN_TAG",
    "NEKO_PLUGIN_META_ATTR", "Ok", "Err", "Result", "unwrap", "unwrap_or", "SdkError", "TransportError",
    "get_plugin_logger",
]
