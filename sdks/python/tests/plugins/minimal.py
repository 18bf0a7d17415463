"""A plugin with only sync entries: reports which heavy modules start-up imported."""

import sys

from plugd import Plugin

plugin = Plugin("minimal", version="0.0.1")
HEAVY = ["asyncio", "logging", "json", "re", "typing", "inspect", "concurrent.futures", "traceback", "enum"]


@plugin.entry()
def modules(ctx):
    return {"loaded": [m for m in HEAVY if m in sys.modules]}


@plugin.entry()
def hello(ctx, name: str = "world"):
    return "hello " + name


if __name__ == "__main__":
    plugin.run()
