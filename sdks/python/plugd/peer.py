"""A JSON-RPC 2.0 peer over a FrameReader/FrameWriter pair, thread-based.

One thread (the caller of :meth:`Peer.serve`) reads and dispatches every message; answers and notifications may be
sent from any thread. Request handlers get the params and an :class:`Incoming` (the request's id and cancellation)
and either return the result at once, raise, or return :data:`DEFER` and answer later with ``incoming.respond`` /
``incoming.fail`` from any thread. ``$/cancelRequest`` sets the incoming request's cancellation. Outgoing requests
(plugin -> host "reverse" calls) block a thread (:meth:`Peer.request`) or await on an asyncio loop
(:meth:`Peer.arequest`) until the answer with the same id arrives.
"""

from __future__ import annotations

import sys
import threading

from . import _json
from .errors import Cancelled, ErrorCodes, PluginError, RpcError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

    from .framing import FrameReader, FrameWriter

__all__ = ["Peer", "Incoming", "DEFER", "error_object"]

CANCEL_METHOD = "$/cancelRequest"


class _Defer:
    def __repr__(self) -> str:
        return "DEFER"


#: Returned by a request handler that will answer later through its Incoming.
DEFER = _Defer()


def _is_asyncio_cancel(e: BaseException) -> bool:
    t = type(e)
    return t.__name__ == "CancelledError" and t.__module__.startswith(("asyncio", "concurrent"))


def error_object(e: BaseException, cancelled: bool = False) -> Dict[str, Any]:
    """The JSON-RPC error object for an exception a handler raised."""
    if isinstance(e, PluginError):
        return e.to_error()
    if cancelled or _is_asyncio_cancel(e):
        return Cancelled().to_error()
    message = str(e) or type(e).__name__
    return {"code": ErrorCodes.ENTRY_FAILED, "message": message,
            "data": {"code": "ENTRY_FAILED", "type": type(e).__name__}}


class Incoming:
    """A request from the other side, until it is answered."""

    __slots__ = ("peer", "id", "method", "cancelled", "_batch", "_callbacks", "_answered")

    def __init__(self, peer: Peer, id: Any, method: str, batch: Optional[_Batch]) -> None:
        self.peer = peer
        self.id = id
        self.method = method
        self.cancelled = False
        self._batch = batch
        self._callbacks: Optional[List[Callable[[], None]]] = None
        self._answered = False

    # -- cancellation -------------------------------------------------------------------------------------------
    def cancel(self) -> None:
        with self.peer._lock:
            if self.cancelled:
                return
            self.cancelled = True
            callbacks = self._callbacks
            self._callbacks = None
        for cb in callbacks or ():
            try:
                cb()
            except Exception as e:  # pragma: no cover - callbacks are SDK code
                self.peer._warn("cancel callback failed: %r" % (e,))

    def on_cancel(self, cb: Callable[[], None]) -> Callable[[], None]:
        """Calls ``cb`` (on the reading thread) when the request is cancelled, at once if it already is.
        Returns a function that unregisters it."""
        with self.peer._lock:
            if not self.cancelled:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(cb)

                def remove() -> None:
                    with self.peer._lock:
                        if self._callbacks is not None and cb in self._callbacks:
                            self._callbacks.remove(cb)

                return remove
        cb()
        return lambda: None

    # -- answering ----------------------------------------------------------------------------------------------
    def _finish(self) -> bool:
        with self.peer._lock:
            if self._answered:
                return False
            self._answered = True
            if self.peer._incoming.get(self.id) is self:
                del self.peer._incoming[self.id]
            self._callbacks = None
        return True

    def respond(self, result: Any) -> None:
        if self._finish():
            self.peer._answer({"jsonrpc": "2.0", "id": self.id, "result": result}, self._batch)

    def fail(self, error: Any) -> None:
        """Answers with an error: an exception (converted by :func:`error_object`) or an error object."""
        if not isinstance(error, dict):
            error = error_object(error, self.cancelled)
        if self._finish():
            self.peer._answer({"jsonrpc": "2.0", "id": self.id, "error": error}, self._batch)

    @property
    def answered(self) -> bool:
        return self._answered


class _Batch:
    """Collects the answers to the requests of one batch and sends them as one array."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.answers: List[Dict[str, Any]] = []
        self.waiting = 0
        self.sealed = False

    def expect(self) -> None:
        with self.peer._lock:
            self.waiting += 1

    def add(self, msg: Dict[str, Any]) -> None:
        with self.peer._lock:
            self.answers.append(msg)
            self.waiting -= 1
            ready = self.sealed and self.waiting == 0
        if ready:
            self._flush()

    def seal(self) -> None:
        with self.peer._lock:
            self.sealed = True
            ready = self.waiting == 0
        if ready:
            self._flush()

    def _flush(self) -> None:
        if self.answers:
            self.peer._write(b"[" + b",".join(self.peer._encode(a) for a in self.answers) + b"]")


class _Slot:
    """An outgoing request waiting on a thread."""

    __slots__ = ("event", "result", "error", "cancelled")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.result: Any = None
        self.error: Any = None
        self.cancelled = False

    def resolve(self, result: Any, error: Any) -> None:
        self.result = result
        self.error = error
        self.event.set()

    def cancel(self) -> None:
        self.cancelled = True
        self.event.set()


class _AsyncSlot:
    """An outgoing request awaited on an asyncio loop."""

    __slots__ = ("loop", "future")

    def __init__(self, loop: Any, future: Any) -> None:
        self.loop = loop
        self.future = future

    def resolve(self, result: Any, error: Any) -> None:
        def settle() -> None:
            if not self.future.done():
                if error is not None:
                    self.future.set_exception(RpcError.from_object(error))
                else:
                    self.future.set_result(result)

        try:
            self.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed
            pass


class Peer:
    def __init__(self, reader: FrameReader, writer: FrameWriter,
                 on_warning: Optional[Callable[[str], None]] = None) -> None:
        self.reader = reader
        self.writer = writer
        self.on_warning = on_warning
        #: method -> handler(params, incoming) -> result | DEFER (may raise)
        self.request_handlers: Dict[str, Callable[[Any, Incoming], Any]] = {}
        #: method -> handler(params)
        self.notification_handlers: Dict[str, Callable[[Any], None]] = {}
        self.close_listeners: List[Callable[[str], None]] = []
        self.closed_reason: Optional[str] = None
        self._incoming: Dict[Any, Incoming] = {}
        self._pending: Dict[Any, Any] = {}
        self._lock = threading.Lock()
        self._next_id = 0
        self._reader_ident: Optional[int] = None
        writer.on_close = lambda e: self.close("write error: %s" % (e,))

    # -- reading ------------------------------------------------------------------------------------------------
    def serve(self) -> str:
        """Reads and dispatches messages until the stream ends; returns why it stopped."""
        self._reader_ident = threading.get_ident()
        read = self.reader.read
        receive = self.receive
        while self.closed_reason is None:
            body = read()
            if body is None:
                break
            receive(body)
        self.close("the other side closed the connection")
        return self.closed_reason or "closed"

    def receive(self, body: bytes) -> None:
        try:
            msg = _json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            self._warn("parse error: %s: %r" % (e, body[:200]))
            self._answer({"jsonrpc": "2.0", "id": None,
                          "error": {"code": ErrorCodes.PARSE_ERROR, "message": "parse error: %s" % (e,)}}, None)
            return
        if type(msg) is list:
            if not msg:
                self._answer({"jsonrpc": "2.0", "id": None,
                              "error": {"code": ErrorCodes.INVALID_REQUEST, "message": "empty batch"}}, None)
                return
            batch = _Batch(self)
            for item in msg:
                self._dispatch(item, batch)
            batch.seal()
            return
        self._dispatch(msg, None)

    def _dispatch(self, m: Any, batch: Optional[_Batch]) -> None:
        if type(m) is not dict or m.get("jsonrpc") != "2.0":
            return self._invalid(m, 'not a JSON-RPC 2.0 message (missing jsonrpc: "2.0")', batch)
        method = m.get("method")
        if type(method) is str:
            id = m.get("id")
            if id is None:
                return self._notification(method, m.get("params"))
            if type(id) not in (int, str):
                return self._invalid(m, "id must be a number or string", batch)
            return self._request(id, method, m.get("params"), batch)
        if method is not None:
            return self._invalid(m, "method must be a string", batch)
        if "result" in m or "error" in m:
            return self._response(m)
        return self._invalid(m, "neither a request, a notification nor a response", batch)

    def _invalid(self, m: Any, why: str, batch: Optional[_Batch]) -> None:
        self._warn("invalid message: %s" % why)
        if type(m) is dict and ("result" in m or "error" in m):
            return  # never answer a response: that could start a ping-pong
        id = m.get("id") if type(m) is dict else None
        if batch is not None:
            batch.expect()
        self._answer({"jsonrpc": "2.0", "id": id if type(id) in (int, str) else None,
                      "error": {"code": ErrorCodes.INVALID_REQUEST, "message": "invalid request: %s" % why}}, batch)

    def _request(self, id: Any, method: str, params: Any, batch: Optional[_Batch]) -> None:
        if batch is not None:
            batch.expect()
        handler = self.request_handlers.get(method)
        if handler is None:
            self._answer({"jsonrpc": "2.0", "id": id, "error": {
                "code": ErrorCodes.METHOD_NOT_FOUND, "message": "method not found: %s" % method}}, batch)
            return
        inc = Incoming(self, id, method, batch)
        with self._lock:
            self._incoming[id] = inc
        try:
            result = handler(params, inc)
        except BaseException as e:
            inc.fail(e)
            return
        if result is not DEFER:
            inc.respond(result)

    def _notification(self, method: str, params: Any) -> None:
        if method == CANCEL_METHOD:
            id = params.get("id") if type(params) is dict else None
            inc = self._incoming.get(id) if id is not None else None
            if inc is not None:
                inc.cancel()
            return
        handler = self.notification_handlers.get(method)
        if handler is None:
            return
        try:
            handler(params)
        except Exception as e:
            self._warn("handler for notification '%s' failed: %r" % (method, e))

    def _response(self, m: Dict[str, Any]) -> None:
        id = m.get("id")
        with self._lock:
            slot = self._pending.pop(id, None) if type(id) in (int, str) else None
        if slot is None:
            return  # a late answer to a request that timed out or was cancelled
        error = m.get("error")
        if error is not None:
            slot.resolve(None, error)
        else:
            slot.resolve(m.get("result"), None)

    # -- writing ------------------------------------------------------------------------------------------------
    def _encode(self, msg: Dict[str, Any]) -> bytes:
        try:
            return _json.dumps(msg)
        except (TypeError, ValueError) as e:
            if "result" not in msg:
                raise
            # A handler returned something that is not JSON: answer with an error instead of nothing.
            return _json.dumps({"jsonrpc": "2.0", "id": msg.get("id"), "error": {
                "code": ErrorCodes.ENTRY_FAILED, "message": "the result is not JSON-serializable: %s" % (e,),
                "data": {"code": "ENTRY_FAILED", "type": type(e).__name__}}})

    def _answer(self, msg: Dict[str, Any], batch: Optional[_Batch]) -> None:
        if batch is not None:
            batch.add(msg)
        else:
            self._write(self._encode(msg))

    def _write(self, body: bytes) -> bool:
        return self.writer.write(body)

    def notify(self, method: str, params: Any = None) -> bool:
        """Sends a notification; False if the connection is closed. Raises TypeError/ValueError if params are
        not JSON."""
        if self.closed_reason is not None:
            return False
        msg: Dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        return self._write(_json.dumps(msg))

    def _new_request(self, method: str, params: Any, slot: Any) -> Any:
        if self.closed_reason is not None:
            raise PluginError.of("CONNECTION_CLOSED", "cannot send '%s': connection closed (%s)"
                                 % (method, self.closed_reason))
        msg: Dict[str, Any] = {"jsonrpc": "2.0", "id": 0, "method": method}
        if params is not None:
            msg["params"] = params
        with self._lock:
            self._next_id += 1
            id = msg["id"] = self._next_id
            self._pending[id] = slot
        try:
            body = _json.dumps(msg)
        except BaseException:
            with self._lock:
                self._pending.pop(id, None)
            raise
        if not self._write(body) and self._pending.pop(id, None) is not None:
            raise PluginError.of("CONNECTION_CLOSED", "cannot send '%s': connection closed" % method)
        return id

    def _abandon(self, id: Any) -> None:
        with self._lock:
            gone = self._pending.pop(id, None)
        if gone is not None:
            self.notify(CANCEL_METHOD, {"id": id})

    def request(self, method: str, params: Any = None, *, timeout: Optional[float] = None,
                cancel: Optional[Incoming] = None) -> Any:
        """Sends a request and blocks this thread until the answer; raises RpcError for an error answer,
        ``TIMEOUT`` after ``timeout`` seconds, :class:`Cancelled` if ``cancel`` (the run this call serves) is
        cancelled meanwhile. In both last cases the other side is told with ``$/cancelRequest``."""
        if threading.get_ident() == self._reader_ident:
            raise RuntimeError("a blocking request from the thread that reads the connection would never be "
                               "answered; make it from a handler")
        slot = _Slot()
        id = self._new_request(method, params, slot)
        remove = cancel.on_cancel(slot.cancel) if cancel is not None else None
        try:
            if not slot.event.wait(timeout):
                self._abandon(id)
                raise PluginError.of("TIMEOUT", "'%s' timed out after %g s" % (method, timeout),
                                     timeoutMs=int((timeout or 0) * 1000))
        finally:
            if remove is not None:
                remove()
        if slot.cancelled:
            self._abandon(id)
            raise Cancelled()
        if slot.error is not None:
            raise RpcError.from_object(slot.error)
        return slot.result

    async def arequest(self, method: str, params: Any = None, *, timeout: Optional[float] = None) -> Any:
        """Like :meth:`request`, awaited on the running asyncio loop. Cancelling the awaiting task (the run was
        cancelled) tells the other side with ``$/cancelRequest``."""
        import asyncio

        loop = asyncio.get_running_loop()
        future = loop.create_future()
        id = self._new_request(method, params, _AsyncSlot(loop, future))
        try:
            if timeout is None:
                return await future
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            self._abandon(id)
            raise PluginError.of("TIMEOUT", "'%s' timed out after %g s" % (method, timeout),
                                 timeoutMs=int(timeout * 1000)) from None
        except asyncio.CancelledError:
            self._abandon(id)
            raise

    # -- closing ------------------------------------------------------------------------------------------------
    def close(self, reason: str = "closed") -> None:
        """Fails every request still waiting (CONNECTION_CLOSED) and cancels every incoming one. Idempotent."""
        with self._lock:
            if self.closed_reason is not None:
                return
            self.closed_reason = reason
            pending = list(self._pending.items())
            self._pending.clear()
            incoming = list(self._incoming.values())
        for id, slot in pending:
            slot.resolve(None, PluginError.of(
                "CONNECTION_CLOSED", "connection closed before request %s was answered: %s" % (id, reason)
            ).to_error())
        for inc in incoming:
            inc.cancel()
        for listener in self.close_listeners:
            try:
                listener(reason)
            except Exception as e:  # pragma: no cover
                self._warn("close listener failed: %r" % (e,))

    def _warn(self, message: str) -> None:
        if self.on_warning is not None:
            self.on_warning(message)
        else:
            sys.stderr.write("[plugd] %s\n" % message)

    @property
    def in_flight(self) -> List[Incoming]:
        """The requests being handled now."""
        with self._lock:
            return list(self._incoming.values())
