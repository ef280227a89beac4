package record

import (
	"fmt"
	"io"
	"os"
	"time"
)

// This file is the recording's file as the writer goroutine sees it: one
// write per chunk, the offset, the time writes take (for the store rule),
// and, for a file of ours, writeback as the recording grows.

// fileSink writes the recording's bytes.
type fileSink struct {
	w    io.Writer
	file *os.File // set when the file is ours (Create): writeback, drop-behind
	n    int64    // bytes written
	err  error
	// writeTime is the time spent writing: how fast the file takes bytes,
	// which decides whether storing a frame beats compressing it.
	writeTime time.Duration
	synced    int64 // bytes handed to writeback
	dropped   int64 // bytes dropped from the page cache
}

// write writes the pieces, in order and whole, or fails for good: with
// one writev(2) for a file of ours.
func (s *fileSink) write(pieces [][]byte) error {
	if s.err != nil {
		return s.err
	}
	t0 := time.Now()
	var n int64
	var err error
	if s.file != nil {
		n, err = writeVec(s.file, pieces)
	} else {
		n, err = writeEach(s.w, pieces)
	}
	s.n += n
	if err != nil {
		s.err = fmt.Errorf("write recording: %w", err)
		return s.err
	}
	s.writeback()
	s.writeTime += time.Since(t0)
	return nil
}

// writeEach writes the pieces one Write each.
func writeEach(w io.Writer, pieces [][]byte) (int64, error) {
	var total int64
	for _, p := range pieces {
		if len(p) == 0 {
			continue
		}
		n, err := w.Write(p)
		total += int64(n)
		if err == nil && n < len(p) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// writebackEvery is how often, in bytes, the file's new pages are handed
// to writeback; dropBehind is how far behind that the written pages are
// then dropped from the page cache.
const (
	writebackEvery = 4 << 20
	dropBehind     = 12 << 20
)

// writeback starts writing the file's new pages to disk without waiting
// for it, a few MiB at a time, so that the fsync at Close (which the user
// waits for as the session ends) finds little left to do: it took 0.5 s
// for 300 MB written during a bulk session. It then drops the pages that
// were written back well before: a recording is written once and read
// later, so there is no point keeping it in memory, and a bulk session
// would otherwise push everything else out of the page cache. Pages that
// are reused cost the kernel less than fresh ones: on the benchmark
// machine writing 1 GiB into fresh page-cache pages took 2.0 s of system
// time, 0.3 s with the pages dropped behind (docs/BENCHMARKS.md).
func (s *fileSink) writeback() {
	if s.file == nil || s.n-s.synced < writebackEvery {
		return
	}
	startWriteback(s.file, s.synced, s.n-s.synced)
	s.synced = s.n
	if end := s.synced - dropBehind; end > s.dropped {
		dropCached(s.file, s.dropped, end-s.dropped)
		s.dropped = end
	}
}
