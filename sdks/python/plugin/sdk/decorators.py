"""``plugin.sdk.decorators`` (SDK v1 path of the decorators)."""

from ._core import (
    CHECKPOINT_ATTR, EVENT_META_ATTR, PERSIST_ATTR, WORKER_MODE_ATTR, EntryKind, after_entry, around_entry,
    before_entry, custom_event, hook, lifecycle, message, neko_plugin, on_event, plugin, plugin_entry, quick_action,
    replace_entry, timer_interval, worker,
)

__all__ = [
    "neko_plugin", "on_event", "plugin_entry", "lifecycle", "message", "timer_interval", "custom_event", "worker",
    "plugin", "hook", "before_entry", "after_entry", "around_entry", "replace_entry", "quick_action", "EntryKind",
    "PERSIST_ATTR", "CHECKPOINT_ATTR", "WORKER_MODE_ATTR", "EVENT_META_ATTR",
]
