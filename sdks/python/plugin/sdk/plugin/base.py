"""``plugin.sdk.plugin.base``."""

from .._base import NekoPluginBase, PluginMeta
from .._core import NEKO_PLUGIN_META_ATTR, NEKO_PLUGIN_TAG

__all__ = ["NekoPluginBase", "PluginMeta", "NEKO_PLUGIN_META_ATTR", "NEKO_PLUGIN_TAG"]
