package plugd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
)

// DefaultMaxMessageBytes is the largest message body a plugin accepts or sends unless told otherwise (64 MiB, as in
// the TypeScript peer). Larger incoming frames are skipped without buffering them; larger outgoing messages are
// refused with MESSAGE_TOO_LARGE.
const DefaultMaxMessageBytes = 64 << 20

const (
	// maxHeaderLine is the longest header line accepted; a real one is ~25 bytes. Anything longer is noise.
	maxHeaderLine = 1024
	// peekBytes is how much of a skipped oversize body is kept, to find the request id in it.
	peekBytes  = 256
	bufferSize = 64 << 10
)

// OversizeError is returned by [FrameReader.ReadFrame] for a frame whose announced length is over the limit. Its
// body has been consumed, so the stream stays usable; Peek holds the body's first bytes (to find the request id).
type OversizeError struct {
	Length int
	Limit  int
	Peek   []byte
}

func (e *OversizeError) Error() string {
	return fmt.Sprintf("received a %d-byte message, over the %d-byte limit; it was skipped", e.Length, e.Limit)
}

// FrameReader reads `Content-Length` frames. It accepts any header-name case and extra headers (Content-Type),
// bodies split across reads and several frames in one read. Bytes that are not a frame (a stray print) are skipped
// up to the next `Content-` header and reported to OnGarbage, so the stream never wedges.
type FrameReader struct {
	r *bufio.Reader
	// MaxMessageBytes is the largest body returned; larger ones give an *OversizeError. 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int
	// OnGarbage, if set, receives (a copy of) every run of skipped bytes.
	OnGarbage func(skipped []byte)

	line    []byte // scratch for the current line
	pending []byte // bytes given back to be scanned again, read before the stream
	header  []byte // the header block read so far (scanned again if it turns out not to be one)
	skipped []byte // garbage not yet reported
}

// NewFrameReader reads frames from r (buffered; pass a *bufio.Reader to choose the buffer).
func NewFrameReader(r io.Reader) *FrameReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, bufferSize)
	}
	return &FrameReader{r: br}
}

// ReadFrame returns the next message body. It returns io.EOF when the stream ends between frames,
// io.ErrUnexpectedEOF when it ends inside one, and *OversizeError (recoverable) for a body over the limit.
// The returned slice is the caller's.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	length := -1
	inHeader := false
	valid := true
	var line []byte
	reprocess := false
	// notAHeader gives up on the header block read so far: its first byte is noise, the rest (and line, the line
	// that broke it) is scanned again, since a real header may start inside ("Content-Content-Length: 5").
	notAHeader := func(line []byte) {
		fr.garbage(fr.header[:1])
		rest := append(append([]byte(nil), fr.header[1:]...), line...)
		fr.pending = append(rest, fr.pending...)
		fr.header = fr.header[:0]
		inHeader, length, valid = false, -1, true
	}
	for {
		if !reprocess {
			var complete bool
			var err error
			line, complete, err = fr.readLine()
			if err != nil {
				// The stream ended (or broke) before a complete line.
				if inHeader {
					fr.garbage(append(fr.header, line...))
					fr.header = fr.header[:0]
					fr.flushGarbage()
					if err == io.EOF {
						err = io.ErrUnexpectedEOF
					}
					return nil, err
				}
				fr.garbage(line)
				fr.flushGarbage()
				return nil, err
			}
			if !complete {
				// An over-long line: noise. Keep only a tail that may still begin a header.
				if inHeader {
					notAHeader(nil)
				}
				keep := headerTail(line)
				fr.garbage(line[:len(line)-keep])
				fr.pending = append(append([]byte(nil), line[len(line)-keep:]...), fr.pending...)
				continue
			}
		}
		reprocess = false

		if !inHeader {
			k := headerStart(line)
			if k < 0 {
				fr.garbage(line)
				continue
			}
			fr.garbage(line[:k])
			line = line[k:]
			inHeader, length, valid = true, -1, true
			fr.header = fr.header[:0]
		} else if len(line) == 2 && line[0] == '\r' {
			// "\r\n": the end of the header block.
			if !valid || length < 0 {
				notAHeader(line)
				continue
			}
			inHeader = false
			fr.header = fr.header[:0]
			fr.flushGarbage()
			return fr.readBody(length)
		} else if !isHeaderLine(line) {
			notAHeader(line)
			continue
		}
		fr.header = append(fr.header, line...)
		name, value := splitHeader(line)
		if asciiEqualFold(name, "content-length") {
			n, ok := parseLength(value)
			if !ok {
				valid = false
			}
			length = n
		}
	}
}

func (fr *FrameReader) readBody(length int) ([]byte, error) {
	limit := fr.MaxMessageBytes
	if limit <= 0 {
		limit = DefaultMaxMessageBytes
	}
	if length > limit {
		peek := make([]byte, min(length, peekBytes))
		if err := fr.readFull(peek); err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		if err := fr.discard(length - len(peek)); err != nil {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, &OversizeError{Length: length, Limit: limit, Peek: peek}
	}
	body := make([]byte, length)
	if err := fr.readFull(body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}

// readFull fills buf from the pushed-back bytes, then the stream.
func (fr *FrameReader) readFull(buf []byte) error {
	n := copy(buf, fr.pending)
	fr.pending = fr.pending[n:]
	_, err := io.ReadFull(fr.r, buf[n:])
	return err
}

func (fr *FrameReader) discard(n int) error {
	k := min(n, len(fr.pending))
	fr.pending = fr.pending[k:]
	_, err := fr.r.Discard(n - k)
	return err
}

// readLine returns the next line including its '\n' (complete), or at least maxHeaderLine bytes without one
// (not complete), or what was left when the stream ended (with the error). The slice is reused by the next call.
func (fr *FrameReader) readLine() (line []byte, complete bool, err error) {
	fr.line = fr.line[:0]
	if len(fr.pending) > 0 {
		if i := bytes.IndexByte(fr.pending, '\n'); i >= 0 {
			fr.line = append(fr.line, fr.pending[:i+1]...)
			fr.pending = fr.pending[i+1:]
			return fr.line, true, nil
		}
		fr.line = append(fr.line, fr.pending...)
		fr.pending = nil
	}
	for {
		if len(fr.line) >= maxHeaderLine {
			return fr.line, false, nil
		}
		s, e := fr.r.ReadSlice('\n')
		fr.line = append(fr.line, s...)
		switch e {
		case nil:
			return fr.line, true, nil
		case bufio.ErrBufferFull:
			continue
		default:
			return fr.line, false, e
		}
	}
}

// garbage collects skipped bytes; they are reported in one piece (flushGarbage) when the next frame starts, the
// stream ends, or a lot has piled up.
func (fr *FrameReader) garbage(b []byte) {
	if len(b) == 0 || fr.OnGarbage == nil {
		return
	}
	fr.skipped = append(fr.skipped, b...)
	if len(fr.skipped) >= 4096 {
		fr.flushGarbage()
	}
}

func (fr *FrameReader) flushGarbage() {
	if len(fr.skipped) == 0 {
		return
	}
	b := fr.skipped
	fr.skipped = nil
	fr.OnGarbage(b)
}

const headerPrefix = "content-"

// headerStart finds where a header block may begin in a complete line: the first case-insensitive "Content-"
// from which the rest of the line is a well-formed header line. -1 if none.
func headerStart(line []byte) int {
	for from := 0; from < len(line); {
		k := indexFold(line[from:], headerPrefix)
		if k < 0 {
			return -1
		}
		k += from
		if isHeaderLine(line[k:]) {
			return k
		}
		from = k + 1
	}
	return -1
}

// headerTail is how many bytes at the end of an over-long line to keep because they may begin a header: from the
// first "Content-" in the last maxHeaderLine-1 bytes, or a partial "Content" at the very end.
func headerTail(line []byte) int {
	window := min(len(line), maxHeaderLine-1)
	tail := line[len(line)-window:]
	if k := indexFold(tail, headerPrefix); k >= 0 {
		return window - k
	}
	for n := min(len(headerPrefix)-1, len(line)); n > 0; n-- {
		if asciiEqualFold(line[len(line)-n:], headerPrefix[:n]) {
			return n
		}
	}
	return 0
}

// isHeaderLine: `token ":" value "\r\n"`, short, with a token of letters, digits and '-'.
func isHeaderLine(line []byte) bool {
	n := len(line)
	if n < 4 || n > maxHeaderLine || line[n-1] != '\n' || line[n-2] != '\r' {
		return false
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	for _, c := range bytes.TrimRight(line[:colon], " \t") {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return !bytes.ContainsAny(line[:n-2], "\r\n")
}

func splitHeader(line []byte) (name, value []byte) {
	colon := bytes.IndexByte(line, ':')
	return bytes.TrimSpace(line[:colon]), bytes.TrimSpace(line[colon+1:])
}

func parseLength(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 15 {
		return -1, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1, false
		}
	}
	n, err := strconv.Atoi(string(v))
	return n, err == nil
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// asciiEqualFold compares b with the lower-case ASCII string s, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// indexFold finds the lower-case ASCII string s in b, ignoring case.
func indexFold(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if lower(b[i]) == s[0] && asciiEqualFold(b[i:i+len(s)], s) {
			return i
		}
	}
	return -1
}

// FrameWriter writes `Content-Length` frames. It is safe for concurrent use: each message goes out whole (header
// and body in one write), and messages written concurrently are coalesced: the writer flushes only when no other
// goroutine is waiting to write, so a burst of progress notifications costs one system call while a lone answer
// goes out at once.
type FrameWriter struct {
	mu      sync.Mutex
	bw      *bufio.Writer
	w       io.Writer
	waiting atomic.Int32
	err     error
	hdr     []byte
}

// NewFrameWriter writes frames to w.
func NewFrameWriter(w io.Writer) *FrameWriter {
	return &FrameWriter{bw: bufio.NewWriterSize(w, bufferSize), w: w}
}

// WriteFrame writes one message body as a frame.
func (fw *FrameWriter) WriteFrame(body []byte) error {
	return fw.WriteFrames(body)
}

// WriteFrames writes several message bodies, one frame each, flushed together.
func (fw *FrameWriter) WriteFrames(bodies ...[]byte) error {
	fw.waiting.Add(1)
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.waiting.Add(-1)
	if fw.err != nil {
		return fw.err
	}
	for _, body := range bodies {
		if err := fw.writeOne(body); err != nil {
			fw.err = err
			return err
		}
	}
	// Someone else is about to write: leave the flush to them (the last writer of a burst always flushes).
	if fw.waiting.Load() > 0 {
		return nil
	}
	if err := fw.bw.Flush(); err != nil {
		fw.err = err
		return err
	}
	return nil
}

func (fw *FrameWriter) writeOne(body []byte) error {
	fw.hdr = append(fw.hdr[:0], "Content-Length: "...)
	fw.hdr = strconv.AppendInt(fw.hdr, int64(len(body)), 10)
	fw.hdr = append(fw.hdr, "\r\n\r\n"...)
	size := len(fw.hdr) + len(body)
	if size > fw.bw.Available() && fw.bw.Buffered() > 0 {
		if err := fw.bw.Flush(); err != nil {
			return err
		}
	}
	if size <= fw.bw.Available() {
		fw.bw.Write(fw.hdr) //nolint:errcheck // cannot fail: it fits in the buffer
		fw.bw.Write(body)   //nolint:errcheck
		return nil
	}
	// Bigger than the buffer: one direct write of header and body together.
	frame := make([]byte, 0, size)
	frame = append(append(frame, fw.hdr...), body...)
	_, err := fw.w.Write(frame)
	return err
}

// Flush writes anything still buffered.
func (fw *FrameWriter) Flush() error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err != nil {
		return fw.err
	}
	fw.err = fw.bw.Flush()
	return fw.err
}
