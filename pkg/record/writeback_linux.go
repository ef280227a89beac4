package record

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to
// disk and returns without waiting (sync_file_range, SYNC_FILE_RANGE_WRITE).
// It is a hint: errors show up, if at all, at the fsync in Close.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
