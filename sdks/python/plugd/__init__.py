"""plugd's Python SDK: write a plugd plugin in plain Python (standard library only).

.. code-block:: python

    from plugd import Plugin, PluginError

    plugin = Plugin("hello-python", version="0.1.0")

    @plugin.entry()
    def greet(ctx, name: str) -> str:
        return f"{ctx.config.get('greeting', {}).get('prefix', 'Hello')}, {name}!"

    if __name__ == "__main__":
        plugin.run()
"""

from ._version import PROTOCOL_VERSION, SDK_NAME, __version__
from .context import Context, PluginContext
from .errors import Cancelled, ErrorCodes, PluginError, RpcError
from .plugin import Plugin
from .registry import EntrySpec, Registry

__all__ = [
    "Plugin", "PluginError", "Cancelled", "RpcError", "ErrorCodes", "Context", "PluginContext",
    "EntrySpec", "Registry", "PROTOCOL_VERSION", "SDK_NAME", "__version__",
]
