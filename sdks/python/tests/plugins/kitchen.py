"""A test plugin exercising every feature of the SDK."""

import asyncio
import os
import subprocess
import sys
import threading
import time
from typing import Dict, List, Literal, Optional

from plugd import Plugin, PluginError

plugin = Plugin("kitchen", version="1.2.3")
EVENTS = []


@plugin.entry(description="Echo", input_schema={"type": "object"})
def echo(ctx, **input):
    return input


@plugin.entry()
def add(ctx, a: int, b: int = 2):
    """Adds two numbers.

    More text that is not part of the description."""
    return a + b


@plugin.entry()
def typed(ctx, name: str, tags: List[str], opts: Optional[Dict[str, int]] = None,
          mode: Literal["a", "b"] = "a", ratio: float = 0.5, flag: bool = False):
    return {"name": name, "tags": tags, "opts": opts, "mode": mode, "ratio": ratio, "flag": flag}


@plugin.entry()
async def aecho(ctx, x: int):
    await asyncio.sleep(0)
    return {"x": x, "async": True, "thread": threading.current_thread().name}


@plugin.entry()
def where(ctx):
    return {"thread": threading.current_thread().name, "main": threading.current_thread() is threading.main_thread()}


@plugin.entry()
def fail(ctx, code: str, message: str, details=None):
    raise PluginError(code, message, details=details)


@plugin.entry()
def crash(ctx):
    raise ValueError("bad value here")


@plugin.entry()
def not_json(ctx):
    return {"x": object()}


@plugin.entry()
def context_info(ctx):
    return {"run_id": ctx.run_id, "entry_id": ctx.entry_id, "config": ctx.config, "plugin_id": ctx.plugin_id,
            "input": ctx.input, "timeout_ms": ctx.timeout_ms}


@plugin.entry()
def progress(ctx, steps: int):
    for i in range(1, steps + 1):
        ctx.progress(progress=i / steps, step=i, step_total=steps, message="step %d" % i)
        ctx.output("%d\n" % i)
    ctx.progress(stage="finishing", eta=0.5, metrics={"items": 3})
    return {"steps": steps}


@plugin.entry()
def exports(ctx):
    ctx.export_text("hello", label="t", mime="text/plain")
    ctx.export_json({"a": 1}, label="j")
    ctx.export_url("https://example.com/x", label="u", description="a link")
    ctx.export_binary(b"\x00\x01\xff", label="b")
    return {"exports": 4}


@plugin.entry()
def slow_sync(ctx, ms: int = 5000):
    deadline = time.monotonic() + ms / 1000
    while time.monotonic() < deadline:
        ctx.check_cancelled()
        time.sleep(0.005)
    return {"slept": ms}


@plugin.entry()
def wait_event(ctx, ms: int = 5000):
    if ctx.cancel_event.wait(ms / 1000):
        return {"saw_cancel": True}  # finishing normally after a cancel is allowed
    return {"saw_cancel": False}


@plugin.entry()
async def slow_async(ctx, ms: int = 5000):
    await asyncio.sleep(ms / 1000)
    return {"slept": ms}


@plugin.entry()
async def async_cleanup(ctx, ms: int = 5000):
    try:
        await asyncio.sleep(ms / 1000)
    except asyncio.CancelledError:
        sys.stderr.write("async_cleanup: cleaned up\n")
        raise
    return {"slept": ms}


@plugin.entry()
async def async_wait_cancelled(ctx):
    watcher = asyncio.ensure_future(ctx.wait_cancelled())
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:  # the task is cancelled; the watcher must have seen it too
        await asyncio.wait_for(watcher, 1)
        return {"watcher_done": watcher.done(), "cancelled": ctx.cancelled}
    return {"watcher_done": False}


@plugin.entry()
def reverse(ctx, plugin: str, entry: str, input: dict = None, timeout: float = None):
    return {"result": ctx.call(plugin, entry, input, timeout=timeout)}


@plugin.entry()
async def areverse(ctx, plugin: str, entry: str, input: dict = None):
    return {"result": await ctx.acall(plugin, entry, input)}


@plugin.entry()
def host_api(ctx):
    return {
        "push": ctx.push_message("hi", priority=3, source="kitchen"),
        "emit": ctx.emit_event("Ping", {"n": 1}),
        "config": ctx.get_config(),
        "update": ctx.update_config({"k": 2}),
    }


@plugin.entry()
def logs(ctx):
    ctx.logger.info("info %s", "message", extra={"fields": {"n": 1}})
    ctx.logger.debug("hidden debug")
    ctx.logger.warning("a warning")
    try:
        raise KeyError("k")
    except KeyError:
        ctx.logger.exception("with traceback")
    ctx.log("direct", level="error", k="v")
    return {"ok": True}


@plugin.entry()
def noise(ctx):
    print("print goes to stderr")
    sys.stdout.write("sys.stdout too\n")
    sys.stdout.flush()
    os.write(1, b"fd 1 too\n")
    subprocess.run(["sh", "-c", "echo child stdout too"], check=True)
    return {"ok": True}


@plugin.entry()
def events_seen(ctx):
    return {"events": EVENTS, "config": ctx.config}


@plugin.entry()
def sleepy(ctx, ms: int = 200):
    time.sleep(ms / 1000)
    return {"ms": ms}


@plugin.timer(interval_ms=1500)
def tick(ctx):
    """Ticks."""
    return {"ticked": ctx.run_id}


@plugin.on_startup
def startup(ctx):
    sys.stderr.write("startup hook: config=%r\n" % (ctx.config,))


@plugin.on_shutdown
def shutdown(ctx):
    sys.stderr.write("shutdown hook ran\n")
    sys.stderr.flush()


@plugin.on_config_changed
def config_changed(ctx, config):
    EVENTS.append({"config_changed": config})


@plugin.on_event("Ping")
def on_ping(ctx, event):
    EVENTS.append({"ping": event["payload"]})


@plugin.on_event("*")
async def on_any(ctx, event):
    EVENTS.append({"any": event["eventType"]})


if __name__ == "__main__":
    plugin.run()
