//go:build !unix

package config

import "os"

// dirOwnedSafely has no owner or mode bits to check here.
func dirOwnedSafely(string, os.FileInfo) error { return nil }

func chmodPrivate(dir string) error { return os.Chmod(dir, 0o700) }
