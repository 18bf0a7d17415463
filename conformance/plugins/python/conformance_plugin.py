"""The Python SDK's conformance plugin: exactly the entries conformance/README.md describes."""

import os
import sys

# Runnable straight from a checkout (the host also puts sdks/python on PYTHONPATH).
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "sdks", "python"))

from plugd import Plugin, PluginError  # noqa: E402

plugin = Plugin("conformance", version="0.1.0")


@plugin.entry(description="Returns its input unchanged", input_schema={"type": "object"})
def echo(ctx, **input):
    return input


@plugin.entry(
    description="Sends n progress notifications and one output chunk",
    input_schema={"type": "object", "properties": {"steps": {"type": "integer"}}, "required": ["steps"]},
)
def progress(ctx, steps: int):
    for i in range(1, steps + 1):
        ctx.progress(progress=i / steps, step=i, step_total=steps, message="step %d" % i)
    ctx.output("done\n")
    return {"steps": steps}


@plugin.entry(description="Fails with the given code and message")
def fail(ctx, code: str, message: str):
    raise PluginError(code, message)


@plugin.entry(description="Waits ms milliseconds, checking cancellation at least every 10 ms")
def slow(ctx, ms: int):
    import time

    deadline = time.monotonic() + ms / 1000
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return {"slept": ms}
        ctx.sleep(min(left, 0.01))  # raises Cancelled (1004) as soon as the run is cancelled


@plugin.entry(description="Sends a text and a JSON export")
def export(ctx):
    ctx.export_text("hello", label="t")
    ctx.export_json({"a": 1}, label="j")
    return {"exports": 2}


@plugin.entry(description="Calls another plugin's entry through the host")
def call(ctx, plugin: str, entry: str, input=None):
    return {"result": ctx.call(plugin, entry, input if input is not None else {})}


@plugin.entry(description="Prints to stdout with plain print (the SDK sends it to stderr)")
def noise(ctx):
    print("noise to stdout")
    return {"ok": True}


@plugin.entry(description="Logs 'hello log' at info through the SDK logger")
def log(ctx):
    ctx.logger.info("hello log")
    return {"ok": True}


if __name__ == "__main__":
    plugin.run()
