//! `Content-Length` framing (the Language Server Protocol's):
//! `Content-Length: N\r\n\r\n<N bytes of UTF-8 JSON>`.
//!
//! [`FrameReader`] pulls frames out of any [`Read`]: it accepts any header-name case and extra headers
//! (`Content-Type`), bodies split across reads and several frames in one read, and skips bytes that are not a
//! frame up to the next valid header (reporting them as [`ReadItem::Garbage`]) so the stream never wedges.
//! A frame larger than the limit is skipped without being buffered ([`ReadItem::Oversize`]).
//!
//! [`FrameWriter`] writes whole frames from several threads without interleaving them; frames that arrive while a
//! write is under way go out together in the next write.

use std::io::{self, ErrorKind, Read, Write};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Largest body accepted by default (64 MiB), the same default as the TypeScript peer.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Longest header block accepted; a real one is ~40 bytes. Anything longer is noise.
const MAX_HEADER_BYTES: usize = 1024;
/// How much of skipped garbage is kept for the report.
const GARBAGE_TEXT_BYTES: usize = 512;
/// How much of an oversize body is kept (to find the request id in it).
const PEEK_BYTES: usize = 256;
const PREFIX: &[u8] = b"content-";
const READ_CHUNK: usize = 64 * 1024;

/// One thing read from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadItem {
    /// A complete frame body (not yet parsed, maybe not even UTF-8).
    Frame(Vec<u8>),
    /// Bytes that were not a frame, skipped up to the next header. `text` is the start of them (lossy UTF-8).
    Garbage { bytes: usize, text: String },
    /// A frame announced `length` bytes, more than the limit; its body was skipped. `peek` is its first bytes.
    Oversize { length: usize, peek: Vec<u8> },
}

/// Reads frames from a byte stream. See the module docs.
pub struct FrameReader<R> {
    inner: R,
    /// Bytes read; `buf[start..end]` are not consumed yet. `buf` only grows, so it is zeroed once.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max_message_bytes: usize,
    eof: bool,
}

enum Header {
    /// A valid header block of `header_len` bytes (including the blank line) announcing `length` bytes.
    Valid { length: usize, header_len: usize },
    /// Consistent so far, but the blank line has not arrived yet.
    Incomplete,
    /// Not a header.
    Invalid,
}

enum Scan {
    /// A valid header starts at `at`.
    Frame { at: usize, length: usize, header_len: usize },
    /// A header may start at `at` but is not complete yet.
    Incomplete { at: usize },
    /// No header; the bytes before `garbage_end` are garbage, the rest may start a header.
    Nothing { garbage_end: usize },
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_max_message_bytes(inner, DEFAULT_MAX_MESSAGE_BYTES)
    }

    pub fn with_max_message_bytes(inner: R, max_message_bytes: usize) -> Self {
        FrameReader { inner, buf: Vec::new(), start: 0, end: 0, max_message_bytes, eof: false }
    }

    /// The next frame, garbage report or oversize report; `Ok(None)` at the end of the stream.
    pub fn next_item(&mut self) -> io::Result<Option<ReadItem>> {
        loop {
            let data = &self.buf[self.start..self.end];
            match scan(data) {
                Scan::Frame { at, .. } | Scan::Incomplete { at } if at > 0 => return Ok(Some(self.garbage(at))),
                Scan::Nothing { garbage_end } if garbage_end > 0 => return Ok(Some(self.garbage(garbage_end))),
                Scan::Frame { length, header_len, .. } => {
                    self.start += header_len;
                    if length > self.max_message_bytes {
                        return self.skip_body(length).map(Some);
                    }
                    while self.end - self.start < length {
                        if !self.fill(length - (self.end - self.start))? {
                            // The stream ended inside a body: what we have is not a message.
                            let n = self.end - self.start;
                            return Ok(if n > 0 { Some(self.garbage(n)) } else { None });
                        }
                    }
                    let body = self.buf[self.start..self.start + length].to_vec();
                    self.start += length;
                    return Ok(Some(ReadItem::Frame(body)));
                }
                Scan::Incomplete { .. } | Scan::Nothing { .. } => {
                    if !self.fill(READ_CHUNK)? {
                        let n = self.end - self.start;
                        return Ok(if n > 0 { Some(self.garbage(n)) } else { None });
                    }
                }
            }
        }
    }

    /// Consumes `n` bytes as garbage.
    fn garbage(&mut self, n: usize) -> ReadItem {
        let bytes = &self.buf[self.start..self.start + n];
        let text = String::from_utf8_lossy(&bytes[..n.min(GARBAGE_TEXT_BYTES)]).into_owned();
        self.start += n;
        ReadItem::Garbage { bytes: n, text }
    }

    fn skip_body(&mut self, length: usize) -> io::Result<ReadItem> {
        let mut left = length;
        let mut peek = Vec::new();
        loop {
            let have = (self.end - self.start).min(left);
            if peek.len() < PEEK_BYTES {
                let take = have.min(PEEK_BYTES - peek.len());
                peek.extend_from_slice(&self.buf[self.start..self.start + take]);
            }
            self.start += have;
            left -= have;
            if left == 0 || !self.fill(left.min(READ_CHUNK))? {
                break;
            }
        }
        Ok(ReadItem::Oversize { length, peek })
    }

    /// Reads at least one more byte (up to about `want`); false at the end of the stream.
    fn fill(&mut self, want: usize) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == 0 && self.buf.len() > 16 * READ_CHUNK {
            // A big message went through; do not keep its buffer forever.
            self.buf.truncate(READ_CHUNK);
            self.buf.shrink_to_fit();
        }
        let want = want.max(READ_CHUNK);
        if self.buf.len() < self.end + want {
            self.buf.resize(self.end + want, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl<R: Read> Iterator for FrameReader<R> {
    type Item = io::Result<ReadItem>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

/// Finds the first valid (or possibly valid, incomplete) header in `data`.
fn scan(data: &[u8]) -> Scan {
    let mut from = 0;
    loop {
        let Some(at) = find_prefix(data, from) else {
            return Scan::Nothing { garbage_end: data.len() - partial_prefix_tail(data, from) };
        };
        match parse_header(&data[at..]) {
            Header::Valid { length, header_len } => return Scan::Frame { at, length, header_len },
            Header::Incomplete => return Scan::Incomplete { at },
            Header::Invalid => from = at + PREFIX.len(),
        }
    }
}

/// Position of the next `content-` (any case) at or after `from`.
fn find_prefix(data: &[u8], from: usize) -> Option<usize> {
    if data.len() < PREFIX.len() {
        return None;
    }
    (from..=data.len() - PREFIX.len())
        .find(|&i| (data[i] | 0x20) == b'c' && data[i..i + PREFIX.len()].eq_ignore_ascii_case(PREFIX))
}

/// Length of the longest suffix of `data[from..]` that is a proper prefix of `content-` (any case).
fn partial_prefix_tail(data: &[u8], from: usize) -> usize {
    let max = (PREFIX.len() - 1).min(data.len() - from.min(data.len()));
    (1..=max).rev().find(|&k| data[data.len() - k..].eq_ignore_ascii_case(&PREFIX[..k])).unwrap_or(0)
}

/// Parses a header block at the start of `data`: lines `name: value\r\n` (names `[A-Za-z0-9-]+`), ended by an
/// empty line, with exactly one valid `Content-Length`. Detects a violation as soon as the bytes show it, so a
/// stray `Content-` in garbage does not hold up the stream.
fn parse_header(data: &[u8]) -> Header {
    let limit = data.len().min(MAX_HEADER_BYTES + 4);
    let mut i = 0;
    let mut length: Option<usize> = None;
    loop {
        // A line: name
        let name_start = i;
        while i < limit && (data[i].is_ascii_alphanumeric() || data[i] == b'-') {
            i += 1;
        }
        if i >= limit {
            return incomplete_or_invalid(data, limit);
        }
        if data[i] != b':' || i == name_start {
            return Header::Invalid;
        }
        let name = &data[name_start..i];
        i += 1;
        let value_start = i;
        while i < limit && data[i] != b'\r' && data[i] != b'\n' {
            i += 1;
        }
        if i >= limit {
            return incomplete_or_invalid(data, limit);
        }
        if data[i] == b'\n' {
            return Header::Invalid;
        }
        let value = &data[value_start..i];
        if name.eq_ignore_ascii_case(b"content-length") {
            match parse_length(value) {
                Some(n) if length.is_none() => length = Some(n),
                _ => return Header::Invalid,
            }
        }
        // "\r" seen; need "\n"
        i += 1;
        if i >= limit {
            return incomplete_or_invalid(data, limit);
        }
        if data[i] != b'\n' {
            return Header::Invalid;
        }
        i += 1;
        // End of block?
        if i >= limit {
            return incomplete_or_invalid(data, limit);
        }
        if data[i] == b'\r' {
            if i + 1 >= limit {
                return incomplete_or_invalid(data, limit);
            }
            if data[i + 1] != b'\n' {
                return Header::Invalid;
            }
            return match length {
                Some(length) => Header::Valid { length, header_len: i + 2 },
                None => Header::Invalid,
            };
        }
    }
}

fn incomplete_or_invalid(data: &[u8], limit: usize) -> Header {
    // Ran out of bytes: more may come, unless the block is already longer than any real header.
    if limit < data.len() || data.len() > MAX_HEADER_BYTES {
        Header::Invalid
    } else {
        Header::Incomplete
    }
}

fn parse_length(value: &[u8]) -> Option<usize> {
    let v = value.trim_ascii();
    if v.is_empty() || v.len() > 15 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// One frame as bytes: header and body.
pub fn encode_frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 32);
    append_frame(&mut out, body);
    out
}

/// Writes whole frames from any number of threads, coalescing the frames that arrive while a write is under way.
///
/// A caller with nothing ahead of it writes its frame at once. Frames that arrive meanwhile are queued, and when
/// the write ends one of their callers writes all of them with one write. Every call returns once its frame was
/// handed to the underlying writer (and flushed), with the error if that failed, so a frame never waits for a
/// later one and no frame is written after its caller returned.
pub struct FrameWriter {
    state: Mutex<WriteState>,
    /// Signalled when a write ends.
    written: Condvar,
    inner: Mutex<Box<dyn Write + Send>>,
}

#[derive(Default)]
struct WriteState {
    /// Frames waiting for the next write.
    queued: Vec<u8>,
    /// Number of frames queued so far (a frame's sequence number is this count when it was queued).
    queued_seq: u64,
    /// Frames up to this sequence number were written (or failed).
    done_seq: u64,
    /// The last failure: frames after `from` up to `to` failed with it.
    failed: Option<(u64, u64, ErrorKind, String)>,
    /// Some caller is writing.
    writing: bool,
    /// The buffer of the write under way, kept to reuse its allocation.
    spare: Vec<u8>,
}

/// Buffers above this capacity are not kept for reuse.
const KEEP_BUFFER_BYTES: usize = 1024 * 1024;

impl FrameWriter {
    pub fn new<W: Write + Send + 'static>(inner: W) -> Self {
        FrameWriter { state: Mutex::default(), written: Condvar::new(), inner: Mutex::new(Box::new(inner)) }
    }

    fn state(&self) -> MutexGuard<'_, WriteState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `Content-Length` + `body` (in one write, together with any frames queued beside it) and flushes.
    pub fn write_frame(&self, body: &[u8]) -> io::Result<()> {
        let mut st = self.state();
        append_frame(&mut st.queued, body);
        st.queued_seq += 1;
        let seq = st.queued_seq;
        while st.writing && st.done_seq < seq {
            st = self.written.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if st.done_seq < seq {
            // Nobody is writing and our frame is still queued: write it, with everything queued beside it.
            st.writing = true;
            let spare = std::mem::take(&mut st.spare);
            let mut batch = std::mem::replace(&mut st.queued, spare);
            let (from, to) = (st.done_seq, st.queued_seq);
            drop(st);
            let panic_guard = WriteDone(self); // lets the next caller write if `write` panics
            let result = {
                let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                w.write_all(&batch).and_then(|()| w.flush())
            };
            std::mem::forget(panic_guard);
            batch.clear();
            if batch.capacity() > KEEP_BUFFER_BYTES {
                batch = Vec::new();
            }
            st = self.state();
            st.writing = false;
            st.done_seq = to;
            st.spare = batch;
            if let Err(e) = &result {
                st.failed = Some((from, to, e.kind(), e.to_string()));
            }
            drop(st);
            self.written.notify_all();
            return result;
        }
        match &st.failed {
            Some((from, to, kind, msg)) if *from < seq && seq <= *to => Err(io::Error::new(*kind, msg.clone())),
            _ => Ok(()),
        }
    }
}

/// Dropped only when a write panics: lets the next caller write.
struct WriteDone<'a>(&'a FrameWriter);

impl Drop for WriteDone<'_> {
    fn drop(&mut self) {
        self.0.state().writing = false;
        self.0.written.notify_all();
    }
}

fn append_frame(out: &mut Vec<u8>, body: &[u8]) {
    out.reserve(body.len() + 32);
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its chunks one `read` at a time.
    struct Chunks(Vec<Vec<u8>>);
    impl Read for Chunks {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let c = &mut self.0[0];
            let n = c.len().min(out.len());
            out[..n].copy_from_slice(&c[..n]);
            c.drain(..n);
            if c.is_empty() {
                self.0.remove(0);
            }
            Ok(n)
        }
    }

    fn read_all(chunks: Vec<Vec<u8>>) -> Vec<ReadItem> {
        FrameReader::new(Chunks(chunks)).map(|r| r.unwrap()).collect()
    }

    fn frames(items: &[ReadItem]) -> Vec<String> {
        items
            .iter()
            .filter_map(|i| match i {
                ReadItem::Frame(b) => Some(String::from_utf8(b.clone()).unwrap()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_frame() {
        let items = read_all(vec![encode_frame(br#"{"a":1}"#)]);
        assert_eq!(items, vec![ReadItem::Frame(br#"{"a":1}"#.to_vec())]);
    }

    #[test]
    fn split_at_every_byte() {
        let mut all = encode_frame(br#"{"jsonrpc":"2.0","id":1,"method":"x"}"#);
        all.extend(encode_frame(b"[]"));
        let chunks = all.iter().map(|b| vec![*b]).collect();
        let items = read_all(chunks);
        assert_eq!(frames(&items), vec![r#"{"jsonrpc":"2.0","id":1,"method":"x"}"#, "[]"]);
        assert_eq!(items.len(), 2, "no garbage: {items:?}");
    }

    #[test]
    fn coalesced_frames_in_one_read() {
        let mut all = Vec::new();
        for i in 0..50 {
            all.extend(encode_frame(format!("{{\"i\":{i}}}").as_bytes()));
        }
        let items = read_all(vec![all]);
        assert_eq!(items.len(), 50);
        assert_eq!(frames(&items)[49], r#"{"i":49}"#);
    }

    #[test]
    fn multibyte_utf8_length_counts_bytes() {
        let body = r#"{"text":"héllo wörld — 日本語 🎉"}"#;
        assert!(body.len() > body.chars().count());
        let f = encode_frame(body.as_bytes());
        // Split inside a multi-byte character too.
        let cut = f.len() - 3;
        let items = read_all(vec![f[..cut].to_vec(), f[cut..].to_vec()]);
        assert_eq!(frames(&items), vec![body]);
    }

    #[test]
    fn any_header_case_and_extra_headers() {
        let input = b"content-length: 2\r\n\r\n{}CONTENT-LENGTH:2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n[]Content-Type: x\r\nContent-Length:   3  \r\n\r\n123".to_vec();
        let items = read_all(vec![input]);
        assert_eq!(frames(&items), vec!["{}", "[]", "123"]);
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn resync_past_garbage() {
        let mut input = b"hello from println!\nContent-ious stuff\r\n\r\nmore noise Content-Length: x\r\n\r\n".to_vec();
        input.extend(encode_frame(b"{\"ok\":1}"));
        input.extend(b"trailing junk ");
        input.extend(encode_frame(b"{\"ok\":2}"));
        let items = read_all(vec![input]);
        assert_eq!(frames(&items), vec![r#"{"ok":1}"#, r#"{"ok":2}"#]);
        let garbage: Vec<_> = items.iter().filter(|i| matches!(i, ReadItem::Garbage { .. })).collect();
        assert_eq!(garbage.len(), 2, "{items:?}");
        match garbage[0] {
            ReadItem::Garbage { text, .. } => assert!(text.starts_with("hello from println!")),
            _ => unreachable!(),
        }
    }

    #[test]
    fn garbage_split_across_reads_before_header() {
        // "Cont" at the end of one read, "ent-Length" in the next.
        let f = encode_frame(b"{}");
        let mut first = b"noise ".to_vec();
        first.extend(&f[..4]);
        let items = read_all(vec![first, f[4..].to_vec()]);
        assert_eq!(frames(&items), vec!["{}"]);
        assert_eq!(items[0], ReadItem::Garbage { bytes: 6, text: "noise ".into() });
    }

    #[test]
    fn header_inside_a_bogus_block() {
        let mut input = b"Content-Foo\n".to_vec();
        input.extend(encode_frame(b"{}"));
        let items = read_all(vec![input]);
        assert_eq!(frames(&items), vec!["{}"]);
    }

    #[test]
    fn stray_prefix_does_not_wait_for_more_input() {
        // The reader must report the garbage and frame without needing EOF or 1 KiB more.
        let mut input = b"Content-ious\n".to_vec();
        input.extend(encode_frame(b"{}"));
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        tx.send(input).unwrap();
        struct Rx(std::sync::mpsc::Receiver<Vec<u8>>, Vec<u8>);
        impl Read for Rx {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.1.is_empty() {
                    match self.0.recv_timeout(std::time::Duration::from_secs(2)) {
                        Ok(v) => self.1 = v,
                        Err(_) => panic!("reader blocked waiting for more input"),
                    }
                }
                let n = self.1.len().min(out.len());
                out[..n].copy_from_slice(&self.1[..n]);
                self.1.drain(..n);
                Ok(n)
            }
        }
        let mut r = FrameReader::new(Rx(rx, Vec::new()));
        assert!(matches!(r.next_item().unwrap(), Some(ReadItem::Garbage { .. })));
        assert_eq!(r.next_item().unwrap(), Some(ReadItem::Frame(b"{}".to_vec())));
        drop(tx);
    }

    #[test]
    fn oversize_body_is_skipped() {
        let big = format!("{{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"x\",\"params\":\"{}\"}}", "a".repeat(5000));
        let mut input = encode_frame(big.as_bytes());
        input.extend(encode_frame(b"{}"));
        let mut r = FrameReader::with_max_message_bytes(Chunks(vec![input]), 1000);
        match r.next_item().unwrap().unwrap() {
            ReadItem::Oversize { length, peek } => {
                assert_eq!(length, big.len());
                assert_eq!(peek.len(), PEEK_BYTES);
                assert!(peek.starts_with(br#"{"jsonrpc":"2.0","id":7"#));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.next_item().unwrap(), Some(ReadItem::Frame(b"{}".to_vec())));
        assert_eq!(r.next_item().unwrap(), None);
    }

    #[test]
    fn large_body_across_many_reads() {
        let body = format!("\"{}\"", "x".repeat(300_000));
        let f = encode_frame(body.as_bytes());
        let chunks = f.chunks(7000).map(<[u8]>::to_vec).collect();
        assert_eq!(frames(&read_all(chunks)), vec![body]);
    }

    #[test]
    fn eof_inside_body_is_garbage_not_a_frame() {
        let f = encode_frame(b"{\"a\":1}");
        let items = read_all(vec![f[..f.len() - 2].to_vec()]);
        assert!(items.iter().all(|i| matches!(i, ReadItem::Garbage { .. })), "{items:?}");
    }

    #[test]
    fn zero_length_and_bad_lengths() {
        let input =
            b"Content-Length: -1\r\n\r\nContent-Length: 1234567890123456\r\n\r\nContent-Length: 0\r\n\r\n".to_vec();
        let items = read_all(vec![input]);
        assert_eq!(frames(&items), vec![""]);
    }

    #[test]
    fn writer_coalesces_frames_queued_during_a_write() {
        use std::sync::mpsc::{channel, Receiver, Sender};
        use std::sync::{Arc, Mutex as M};
        /// Records writes; the first one blocks until released.
        struct Gate(Arc<M<Vec<Vec<u8>>>>, Sender<()>, M<Receiver<()>>);
        impl Write for Gate {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                let first = self.0.lock().unwrap().is_empty();
                self.0.lock().unwrap().push(b.to_vec());
                if first {
                    self.1.send(()).unwrap();
                    self.2.lock().unwrap().recv().unwrap();
                }
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let writes = Arc::new(M::new(Vec::new()));
        let (started_tx, started_rx) = channel();
        let (release_tx, release_rx) = channel();
        let w = Arc::new(FrameWriter::new(Gate(writes.clone(), started_tx, M::new(release_rx))));
        let first = {
            let w = w.clone();
            std::thread::spawn(move || w.write_frame(b"0").unwrap())
        };
        started_rx.recv().unwrap();
        let others: Vec<_> = (1..=3)
            .map(|i| {
                let mine = w.clone();
                let t = std::thread::spawn(move || mine.write_frame(i.to_string().as_bytes()).unwrap());
                // Queued in this order.
                while w.state().queued_seq < 1 + i {
                    std::thread::yield_now();
                }
                t
            })
            .collect();
        release_tx.send(()).unwrap();
        first.join().unwrap();
        for t in others {
            t.join().unwrap();
        }
        let writes = writes.lock().unwrap();
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert_eq!(writes[0], b"Content-Length: 1\r\n\r\n0");
        assert_eq!(writes[1], b"Content-Length: 1\r\n\r\n1Content-Length: 1\r\n\r\n2Content-Length: 1\r\n\r\n3");
    }

    #[test]
    fn writer_reports_errors_to_the_frames_that_failed() {
        struct Fails(usize);
        impl Write for Fails {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0 += 1;
                if self.0 == 2 {
                    return Err(io::Error::new(ErrorKind::BrokenPipe, "gone"));
                }
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let w = FrameWriter::new(Fails(0));
        assert!(w.write_frame(b"{}").is_ok());
        assert_eq!(w.write_frame(b"{}").unwrap_err().kind(), ErrorKind::BrokenPipe);
        assert!(w.write_frame(b"{}").is_ok());
    }

    #[test]
    fn writer_emits_one_frame_per_call() {
        use std::sync::{Arc, Mutex as M};
        #[derive(Clone)]
        struct Rec(Arc<M<Vec<Vec<u8>>>>);
        impl Write for Rec {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().push(b.to_vec());
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let rec = Rec(Arc::new(M::new(Vec::new())));
        let w = FrameWriter::new(rec.clone());
        w.write_frame(b"{}").unwrap();
        w.write_frame("é".repeat(100_000).as_bytes()).unwrap();
        let writes = rec.0.lock().unwrap();
        assert_eq!(writes.len(), 2);
        assert_eq!(writes[0], b"Content-Length: 2\r\n\r\n{}");
        assert!(writes[1].starts_with(b"Content-Length: 200000\r\n\r\n"));
    }
}
