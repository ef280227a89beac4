//go:build !linux

package record

import "os"

// startWriteback has no portable equivalent; Close's fsync does it all.
func startWriteback(*os.File, int64, int64) {}

// dropCached has no portable equivalent: the pages stay cached.
func dropCached(*os.File, int64, int64) {}

// writeVec writes the pieces to f whole, one write each.
func writeVec(f *os.File, pieces [][]byte) (int64, error) { return writeEach(f, pieces) }
