"""Example plugd plugin in Python (standard library + the plugd SDK, which the host puts on PYTHONPATH)."""

from typing import Literal

from plugd import Plugin, PluginError

plugin = Plugin("hello-python", version="0.1.0")


@plugin.entry(description="Returns its input unchanged", input_schema={"type": "object"})
def echo(ctx, **input):
    return input


@plugin.entry()
def greet(ctx, name: str, punctuation: Literal["!", ".", "?"] = "!") -> str:
    """Greets someone with the prefix configured in plugin.toml ([greeting] prefix)."""
    if not name.strip():
        raise PluginError("EMPTY_NAME", "name must not be blank")
    prefix = ctx.config.get("greeting", {}).get("prefix", "Hello")
    return f"{prefix}, {name}{punctuation}"


@plugin.entry(timeout_ms=600_000)
async def count(ctx, to: int, delay_ms: int = 100):
    """Counts to `to`, one step every `delay_ms`, with progress and output; honours cancel."""
    if to < 1:
        raise PluginError("BAD_COUNT", "to must be at least 1", details={"to": to})
    for i in range(1, to + 1):
        ctx.check_cancelled()  # raises Cancelled once the caller cancelled the run
        # ctx.asleep raises Cancelled as soon as the run is cancelled, and imports asyncio only when first used
        # (it is a third of a bare interpreter's start-up: a plugin that imports it at the top starts slower).
        await ctx.asleep(delay_ms / 1000)
        ctx.progress(progress=i / to, step=i, step_total=to, message=f"{i} of {to}")
        ctx.output(f"{i}\n")
    ctx.export_json({"counted": to}, label="summary")
    return {"counted": to}


@plugin.on_startup
def started(ctx):
    ctx.logger.info("hello-python started with config %s", ctx.config)


if __name__ == "__main__":
    plugin.run()
