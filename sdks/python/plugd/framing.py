"""``Content-Length`` framing (the Language Server Protocol's): ``Content-Length: N\\r\\n\\r\\n<N bytes of UTF-8 JSON>``.

Reading uses ``readline`` for the header lines and ``read(N)`` for the body on a buffered binary stream, so a
body split across many pipe reads, or many frames in one read, cost nothing special. Header names are
case-insensitive and extra headers (``Content-Type``) are ignored. Bytes that are not a frame are skipped up to
the next line that starts a header block (a ``Content-…`` header, also when it follows garbage on the same line)
and reported through ``on_garbage``; the stream never wedges.

Writing sends header and body in one write, flushed, under a lock, so messages from several threads never
interleave.
"""

from __future__ import annotations

import os
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable, Optional

__all__ = ["FrameReader", "FrameWriter", "encode_frame", "DEFAULT_MAX_MESSAGE_BYTES"]

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: A header line longer than this is noise.
_MAX_LINE = 8192
_TOKEN_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789-"


def encode_frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def _parse_header(line: bytes) -> Optional[tuple]:
    """``(lower-case name, value)`` of a header line (CR/LF already stripped), or None if it is not one."""
    colon = line.find(b":")
    if colon <= 0:
        return None
    name = line[:colon].strip().lower()
    if not name or name.translate(None, _TOKEN_CHARS):
        return None
    return name, line[colon + 1:].strip()


class FrameReader:
    """Reads frames from a buffered binary stream (``readline``/``read``). ``read()`` returns the next body as
    bytes, or None at end of stream (or when the stream ends inside a frame)."""

    def __init__(self, stream: BinaryIO, on_garbage: Optional[Callable[[bytes], None]] = None,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 on_oversize: Optional[Callable[[int, bytes], None]] = None) -> None:
        self._stream = stream
        self._on_garbage = on_garbage
        self._max = max_message_bytes
        self._on_oversize = on_oversize

    def _garbage(self, data: bytes) -> None:
        if data and self._on_garbage is not None:
            self._on_garbage(data)

    def read(self) -> Optional[bytes]:
        readline = self._stream.readline
        length = -1
        block: list = []  # raw header lines of the block being read (reported as garbage if it turns out bogus)
        while True:
            raw = readline(_MAX_LINE)
            if not raw:
                self._garbage(b"".join(block))
                return None
            line = raw.rstrip(b"\r\n")
            if not line and raw[-1:] == b"\n":
                if not block:  # a stray blank line between frames
                    self._garbage(raw)
                    continue
                if length < 0:  # a header block without Content-Length
                    self._garbage(b"".join(block) + raw)
                    block = []
                    continue
                if length > self._max:
                    self._skip(length)
                    block = []
                    length = -1
                    continue
                body = self._stream.read(length) if length else b""
                if len(body) < length:
                    return None
                return body
            header = _parse_header(line) if raw[-1:] == b"\n" else None
            if header is not None and (block or header[0].startswith(b"content-")):
                name, value = header
                if name == b"content-length":
                    if not value.isdigit() or len(value) > 15:
                        self._garbage(b"".join(block) + raw)
                        block = []
                        length = -1
                        continue
                    length = int(value)
                block.append(raw)
                continue
            # Not a header: everything so far is noise. A header may still start later on this line
            # ("noiseContent-Length: 12"), when something printed without a newline right before a frame.
            self._garbage(b"".join(block))
            block = []
            length = -1
            at = raw.lower().find(b"content-", 1)
            while at > 0:
                header = _parse_header(raw[at:].rstrip(b"\r\n")) if raw[-1:] == b"\n" else None
                if header is not None:
                    break
                at = raw.lower().find(b"content-", at + 1)
            if at > 0 and header is not None:
                self._garbage(raw[:at])
                name, value = header
                if name == b"content-length" and value.isdigit() and len(value) <= 15:
                    length = int(value)
                block.append(raw[at:])
            else:
                self._garbage(raw)

    def _skip(self, length: int) -> None:
        peek = b""
        left = length
        while left > 0:
            chunk = self._stream.read(min(left, 1 << 20))
            if not chunk:
                break
            if len(peek) < 256:
                peek += chunk[: 256 - len(peek)]
            left -= len(chunk)
        if self._on_oversize is not None:
            self._on_oversize(length, peek)


class FrameWriter:
    """Writes frames to a file descriptor (``os.write``) or a binary stream (``write`` + ``flush``), one write per
    message, under a lock. After a write error the writer is ``closed`` and drops further messages."""

    def __init__(self, out: Any) -> None:
        self._lock = threading.Lock()
        self._fd = out if isinstance(out, int) else -1
        self._stream = None if isinstance(out, int) else out
        self.closed = False
        self.on_close: Optional[Callable[[BaseException], None]] = None

    def write(self, body: bytes) -> bool:
        """Sends one message; False if the writer is closed (the other side went away)."""
        data = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        with self._lock:
            if self.closed:
                return False
            try:
                if self._stream is not None:
                    self._stream.write(data)
                    self._stream.flush()
                else:
                    view = memoryview(data)
                    while view:
                        n = os.write(self._fd, view)
                        view = view[n:]
                return True
            except (OSError, ValueError) as e:
                self.closed = True
                err = e
        if self.on_close is not None:
            self.on_close(err)
        return False
