"""``plugin.sdk.plugin.decorators``."""

from .._core import (
    EntryKind, after_entry, around_entry, before_entry, custom_event, hook, lifecycle, message, neko_plugin, on_event,
    plugin, plugin_entry, quick_action, replace_entry, timer_interval,
)

__all__ = [
    "EntryKind", "neko_plugin", "on_event", "plugin_entry", "lifecycle", "message", "timer_interval", "custom_event",
    "hook", "before_entry", "after_entry", "around_entry", "replace_entry", "plugin", "quick_action",
]
