package record

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to
// disk and returns without waiting (sync_file_range, SYNC_FILE_RANGE_WRITE).
// It is a hint: errors show up, if at all, at the fsync in Close.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// dropCached waits for [off, off+n) of f to be on disk, then drops it from
// the page cache. The range was handed to writeback long before, so the
// wait is normally over at once; on a disk slower than the stream it is
// what paces the writer (and the file rate the store rule measures says
// so). Errors are ignored: it is a hint, and Close's fsync reports any.
func dropCached(f *os.File, off, n int64) {
	fd := int(f.Fd())
	_ = unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
	_ = unix.Fadvise(fd, off, n, unix.FADV_DONTNEED)
}

// writeVec writes the pieces to f whole, with as few writev(2) calls as
// the kernel allows.
func writeVec(f *os.File, pieces [][]byte) (int64, error) {
	fd := int(f.Fd())
	var total int64
	for len(pieces) > 0 {
		n, err := unix.Writev(fd, pieces)
		if err == unix.EINTR {
			continue
		}
		if n > 0 {
			total += int64(n)
		}
		if err != nil {
			return total, &os.PathError{Op: "write", Path: f.Name(), Err: err}
		}
		if n == 0 {
			return total, &os.PathError{Op: "write", Path: f.Name(), Err: io.ErrShortWrite}
		}
		// Skip what was written, which may end inside a piece.
		for n > 0 && len(pieces) > 0 {
			if n >= len(pieces[0]) {
				n -= len(pieces[0])
				pieces = pieces[1:]
				continue
			}
			pieces[0] = pieces[0][n:]
			n = 0
		}
		for len(pieces) > 0 && len(pieces[0]) == 0 {
			pieces = pieces[1:]
		}
	}
	return total, nil
}
