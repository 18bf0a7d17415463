"""FrameReader / FrameWriter, in process, over real pipes."""

import io
import json
import os
import threading
import time

from plugd.framing import FrameReader, FrameWriter, encode_frame


def pipe_reader(chunks, delay=0.0):
    """A buffered reader over a pipe fed with `chunks` by a thread (so reads really see them split)."""
    r, w = os.pipe()

    def feed():
        for c in chunks:
            os.write(w, c)
            if delay:
                time.sleep(delay)
        os.close(w)

    threading.Thread(target=feed, daemon=True).start()
    return io.open(r, "rb", buffering=1 << 16)


def read_all(stream, garbage=None):
    reader = FrameReader(stream, on_garbage=(garbage.append if garbage is not None else None))
    out = []
    while True:
        body = reader.read()
        if body is None:
            return out
        out.append(body)


def test_one_frame():
    assert read_all(io.BytesIO(b'Content-Length: 2\r\n\r\n{}')) == [b"{}"]


def test_split_byte_by_byte():
    data = encode_frame(b'{"a":1}') + encode_frame(b'{"b":2}')
    stream = pipe_reader([data[i:i + 1] for i in range(len(data))], delay=0.0005)
    assert read_all(stream) == [b'{"a":1}', b'{"b":2}']


def test_coalesced_frames_in_one_write():
    bodies = [json.dumps({"i": i}).encode() for i in range(50)]
    stream = pipe_reader([b"".join(encode_frame(b) for b in bodies)])
    assert read_all(stream) == bodies


def test_multibyte_utf8_length_counts_bytes():
    body = json.dumps({"s": "é漢🎉"}, ensure_ascii=False).encode("utf-8")
    assert len(body) > len(body.decode("utf-8"))
    data = encode_frame(body) + encode_frame(b"[]")
    # split inside a multi-byte character
    cut = data.index("漢".encode()) + 1
    assert read_all(pipe_reader([data[:cut], data[cut:]], delay=0.01)) == [body, b"[]"]


def test_header_case_and_extra_headers():
    data = (b"content-length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}"
            b"Content-Type: x\r\nCONTENT-LENGTH:3\r\n\r\n[1]"
            b"Content-Length: 4\n\nnull")
    assert read_all(io.BytesIO(data)) == [b"{}", b"[1]", b"null"]


def test_garbage_lines_are_skipped_and_reported():
    garbage = []
    data = (b"hello from print\n" + encode_frame(b"1")
            + b"\r\n" + b"noise without newline" + encode_frame(b"2")
            + b"Content-Foo: bar\r\n\r\n" + encode_frame(b"3")
            + b"Content-Length: abc\r\n\r\n" + encode_frame(b"4")
            + b"a: b\r\n" + encode_frame(b"5"))
    assert read_all(io.BytesIO(data), garbage) == [b"1", b"2", b"3", b"4", b"5"]
    joined = b"".join(garbage)
    for text in (b"hello from print", b"noise without newline", b"Content-Foo: bar", b"Content-Length: abc",
                 b"a: b"):
        assert text in joined


def test_eof_inside_a_body_or_header():
    assert read_all(io.BytesIO(b"Content-Length: 10\r\n\r\n{}")) == []
    assert read_all(io.BytesIO(b"Content-Length: 10\r\n")) == []
    assert read_all(io.BytesIO(b"")) == []


def test_empty_body():
    assert read_all(io.BytesIO(b"Content-Length: 0\r\n\r\n" + encode_frame(b"{}"))) == [b"", b"{}"]


def test_oversize_body_is_skipped():
    seen = []
    reader = FrameReader(io.BytesIO(encode_frame(b"x" * 100) + encode_frame(b"ok")), max_message_bytes=10,
                         on_oversize=lambda n, peek: seen.append((n, peek[:3])))
    assert reader.read() == b"ok"
    assert seen == [(100, b"xxx")]


class CountingStream(io.RawIOBase):
    def __init__(self):
        self.writes = []
        self.flushes = 0

    def write(self, b):
        self.writes.append(bytes(b))
        return len(b)

    def flush(self):
        self.flushes += 1


def test_writer_one_write_and_flush_per_message():
    s = CountingStream()
    w = FrameWriter(s)
    assert w.write(b'{"a":"\xc3\xa9"}')
    assert s.writes == [b'Content-Length: 10\r\n\r\n{"a":"\xc3\xa9"}']
    assert s.flushes == 1


def test_writer_threads_never_interleave():
    r, wfd = os.pipe()
    writer = FrameWriter(wfd)
    bodies = {json.dumps({"t": t, "i": i, "pad": "x" * (i * 37 % 3000)}).encode() for t in range(8) for i in range(200)}
    per_thread = [[b for b in bodies if json.loads(b)["t"] == t] for t in range(8)]

    def run(items):
        for b in items:
            writer.write(b)

    threads = [threading.Thread(target=run, args=(items,)) for items in per_thread]
    got = []
    reader_thread = threading.Thread(target=lambda: got.extend(read_all(io.open(r, "rb"))))
    reader_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.close(wfd)
    reader_thread.join(10)
    assert len(got) == len(bodies) and set(got) == bodies


def test_writer_closed_after_error():
    r, wfd = os.pipe()
    os.close(r)
    closed = []
    w = FrameWriter(wfd)
    w.on_close = closed.append
    assert w.write(b"{}") is False  # EPIPE (Python ignores SIGPIPE)
    assert w.closed and len(closed) == 1
    assert w.write(b"{}") is False
    os.close(wfd)
