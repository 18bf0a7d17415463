"""A clock, written against N.E.K.O's SDK v1 import paths (``plugin.sdk``) and run unmodified by plugd.

The host fires ``tick`` every second (each firing is a run); startup and shutdown leave a message and a store entry.
"""

import time

from plugin.sdk import NekoPluginBase, lifecycle, neko_plugin, ok, plugin_entry, timer_interval, unwrap


@neko_plugin
class ClockPlugin(NekoPluginBase):
    @lifecycle(id="startup")
    def startup(self, **_):
        self.store.set("starts", self.store.get("starts", 0) + 1)
        self.push_message(source="neko-clock", message_type="proactive_notification", description="lifecycle",
                          priority=2, content="clock started")
        return ok(data={"status": "running"})

    @lifecycle(id="shutdown")
    def shutdown(self, **_):
        self.store.set("stops", self.store.get("stops", 0) + 1)
        self.push_message(source="neko-clock", message_type="text", description="lifecycle", priority=2,
                          content="clock stopped")

    @timer_interval(id="tick", seconds=1, description="Counts ticks")
    def tick(self, **_):
        ticks = self.store.get("ticks", 0) + 1
        self.store.set("ticks", ticks)
        self.store.set("last_tick", time.time())
        return ok(data={"ticks": ticks})

    @plugin_entry(id="status", description="Ticks, starts and stops so far (from the store).")
    def status(self, **_):
        return {k: self.store.get(k, 0) for k in ("ticks", "starts", "stops")}

    @plugin_entry(id="note_time", description="Adds the time as a note in neko-notes (a plugin-to-plugin call).")
    def note_time(self, **_):
        label = self.config.get("clock.label", "tick")
        result = self.plugins.call_entry("neko-notes:add", {"text": "%s at %d" % (label, time.time())})
        return unwrap(result)
