package record

// This file is the hand-off between the hot path (Stdout, Stderr, Stdin,
// ... called by the stream goroutines) and the writer goroutine: the queue
// items, the wait when the queue is full, and the recycled buffers that
// carry stream bytes across.

// headroom is free space in front of every queued buffer, so that bytes
// of a UTF-8 sequence carried over from the previous write can be put in
// front of the new ones without copying the new ones.
const headroom = 3

type kind uint8

// The stream kinds double as indexes into per-stream state.
const (
	kStdout kind = iota
	kStderr
	kStdin
	kResize
	kMarker
	kBegin
	kFlush
	kClose
	kRedacted // typed input kept as its length only (at.go)
)

// item is one entry of the queue between the hot path and the writer
// goroutine. Kept small: it is copied through a channel per event.
type item struct {
	t    int64   // nanoseconds of session time when the hot path was called
	buf  *[]byte // stream bytes after headroom, from the free lists
	kind kind
	a, b int    // resize columns and rows
	s    string // marker label
	ctl  *control
}

// control carries the rare requests that want an answer.
type control struct {
	header *Header
	end    End
	reply  chan error
}

func (w *Writer) stream(k kind, p []byte) error {
	if err := w.ready(); err != nil {
		return err
	}
	if len(p) == 0 {
		return nil
	}
	t := w.since()
	bp := w.free.get(len(p))
	copy((*bp)[headroom:], p)
	return w.enqueue(item{t: t, buf: bp, kind: k})
}

func (w *Writer) enqueue(it item) error {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		w.free.put(it.buf)
		return ErrClosed
	}
	select {
	case w.q <- it:
		w.mu.RUnlock()
		return nil
	default:
	}
	// The queue is full: wait for room (backpressure, nothing is dropped),
	// unless the writer has failed, in which case it will never make room.
	w.stalled.Store(it.t)
	select {
	case w.q <- it:
		w.mu.RUnlock()
		return nil
	case <-w.failed:
		w.mu.RUnlock()
		w.free.put(it.buf)
		return w.Err()
	}
}

// Queued stream bytes live in recycled buffers by size class, so that
// steady traffic allocates nothing and a burst of large writes does not pin
// large buffers for small ones. The free lists belong to the Writer rather
// than to a sync.Pool: a pool is emptied by every garbage collection, and a
// burst that fills the queue with 32 KiB writes makes the collector run
// often enough to defeat it. At most QueueEvents buffers plus one per
// concurrent caller are ever out, so the lists' capacity never drops one in
// steady state; they are freed with the Writer.
var bufClasses = [...]int{64, 512, 4 << 10, 32 << 10, maxChunk}

type freeLists [len(bufClasses)]chan *[]byte

func newFreeLists(n int) (f freeLists) {
	for i := range f {
		f[i] = make(chan *[]byte, n)
	}
	return f
}

// get returns a buffer of headroom+n bytes.
func (f *freeLists) get(n int) *[]byte {
	for i, c := range bufClasses {
		if n <= c {
			select {
			case bp := <-f[i]:
				*bp = (*bp)[:headroom+n]
				return bp
			default:
			}
			b := make([]byte, headroom+n, headroom+c)
			return &b
		}
	}
	b := make([]byte, headroom+n) // larger than any class: used once
	return &b
}

func (f *freeLists) put(bp *[]byte) {
	if bp == nil {
		return
	}
	c := cap(*bp) - headroom
	for i, cc := range bufClasses {
		if c == cc {
			select {
			case f[i] <- bp:
			default:
			}
			return
		}
	}
}
