"""Notes, written against N.E.K.O's SDK v2 (``plugin.sdk.plugin``) and run unmodified by plugd."""

import asyncio

from plugin.sdk.plugin import (
    Err,
    NekoPluginBase,
    Ok,
    SdkError,
    lifecycle,
    neko_plugin,
    plugin_entry,
    unwrap_or,
)


@neko_plugin
class NotesPlugin(NekoPluginBase):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.max_notes = 10
        self.prefix = "Note"

    @lifecycle(id="startup")
    async def startup(self, **_):
        await self._load_config()
        self.logger.info("notes ready: max {} notes, prefix {!r}", self.max_notes, self.prefix)
        return Ok({"status": "ready"})

    @lifecycle(id="config_change")
    async def on_config_change(self, **_):
        await self._load_config()

    async def _load_config(self):
        cfg = await self.config.dump(timeout=5.0)
        notes = cfg.get("notes") if isinstance(cfg.get("notes"), dict) else {}
        self.max_notes = int(notes.get("max_notes", 10))
        self.prefix = str(notes.get("prefix", "Note"))

    # A sync entry: runs on a worker thread; the store answers with plain values here.
    @plugin_entry(id="add", description="Adds a note.", llm_result_fields=["count"])
    def add(self, text: str, tags: list = None, **_):
        if not text.strip():
            return Err(SdkError("a note needs some text", code="EMPTY_NOTE"))
        notes = self.store.get("notes", [])
        if len(notes) >= self.max_notes:
            return Err(SdkError("at most %d notes" % self.max_notes, code="NOTES_FULL",
                                details={"max_notes": self.max_notes}))
        notes.append({"text": text.strip(), "tags": tags or []})
        self.store.set("notes", notes)
        return Ok({"count": len(notes), "note": "%s %d: %s" % (self.prefix, len(notes), text.strip())})

    @plugin_entry(id="list", description="Lists the notes.")
    async def list_notes(self, tag: str = "", **_):
        notes = unwrap_or(await self.store.get("notes"), []) or []
        return [n for n in notes if not tag or tag in n["tags"]]

    @plugin_entry(id="clear", description="Removes every note.")
    async def clear(self, **_):
        await self.store.delete("notes")
        return Ok({"cleared": True})

    # An async entry with progress and exports of the run it serves.
    @plugin_entry(id="summarize", description="Summarizes the notes, step by step.", timeout=30)
    async def summarize(self, delay_ms: int = 10, _ctx=None, **_):
        notes = unwrap_or(await self.store.get("notes"), []) or []
        lines = []
        for i, note in enumerate(notes, 1):
            await self.run_update(progress=i / max(len(notes), 1), stage="reading", message="note %d" % i,
                                  step=i, step_total=len(notes))
            lines.append("- " + note["text"])
            await asyncio.sleep(delay_ms / 1000)
        summary = "%d note(s)\n%s" % (len(notes), "\n".join(lines))
        await self.export_push(export_type="text", text=summary, label="summary")
        await self.export_push(export_type="json", json_data={"count": len(notes)}, label="stats")
        return Ok({"count": len(notes), "run_id": (_ctx or {}).get("run_id")})

    @plugin_entry(id="announce", description="Pushes a message to the host (v1 or v2 form).")
    def announce(self, text: str, v2: bool = False, priority: int = 1, **_):
        if v2:
            return self.push_message(source="neko-notes", visibility=["chat"], ai_behavior="read",
                                     parts=[{"type": "text", "text": text}], priority=priority)
        return self.push_message(source="neko-notes", message_type="text", description="announcement",
                                 priority=priority, content=text, metadata={"kind": "announcement"})

    @plugin_entry(id="context", description="Returns the _ctx the host passed.")
    def context(self, _ctx: dict):
        return _ctx

    @plugin_entry(id="settings", description="Reads and optionally updates the [notes] config.")
    async def settings(self, max_notes: int = 0, **_):
        if max_notes > 0:
            await self.config.update({"notes": {"max_notes": max_notes}})
        return {
            "config": await self.config.dump(),
            "max_notes": await self.config.get_int("notes.max_notes"),
            "missing": await self.config.get("notes.nope", "default"),
        }
