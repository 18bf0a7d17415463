"""``plugin.sdk.base`` (SDK v1): ``NekoPluginBase`` whose store returns plain values, as v1's did."""

from ._base import NekoPluginBase as _NekoPluginBase
from ._base import PluginMeta
from ._core import NEKO_PLUGIN_META_ATTR, NEKO_PLUGIN_TAG

__all__ = ["NekoPluginBase", "PluginMeta", "NEKO_PLUGIN_META_ATTR", "NEKO_PLUGIN_TAG"]


class NekoPluginBase(_NekoPluginBase):
    _neko_store_results = False
