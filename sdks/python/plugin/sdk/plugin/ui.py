"""``plugin.sdk.plugin.ui``: hosted-UI decorators, kept as metadata (plugd does not host plugin UIs yet)."""

UI_META_ATTR = "__neko_ui_meta__"


def _mark(kind, fields):
    def decorator(fn):
        target = getattr(fn, "__func__", fn)
        marks = dict(getattr(target, UI_META_ATTR, {}) or {})
        marks[kind] = {k: v for k, v in fields.items() if v is not None}
        setattr(target, UI_META_ATTR, marks)
        return fn

    return decorator


def context(id=None, title=None, **more):
    return _mark("context", dict(id=id, title=title, **more))


def action(label=None, icon=None, tone=None, group=None, order=None, confirm=None, refresh_context=None, **more):
    return _mark("action", dict(label=label, icon=icon, tone=tone, group=group, order=order, confirm=confirm,
                                refresh_context=refresh_context, **more))


__all__ = ["context", "action", "UI_META_ATTR"]
