// Package record owns the recording format of kubectl-rexec: its writer,
// its reader and the frame index used to verify and seek. The format itself
// is a public contract, specified in docs/FORMAT.md; in short, a recording
// is a sequence of zstd frames whose decompressed bytes are an asciicast v3
// file, with a checkpoint (a zstd skippable frame carrying a SHA-256 hash
// chain) after every frame and a trailer at the end.
//
// Writing: Create (or NewWriter) starts a Writer; Begin writes the header;
// Stdout, Stderr, Stdin, Resize and Marker are the hot path, called from the
// stream goroutines: they timestamp the data and write it as event lines
// into a chunk of about 128 KiB, which a single writer goroutine compresses
// (or stores), hashes and writes to the file as one complete zstd block,
// full or a second old, so that a killed process loses about a second at
// most, and a failing disk at most 256 KiB of what the user saw. Close
// writes the end. writer.go lists the files that hold each job.
//
// Reading: Open (or NewReader) reads the header; Next returns events with
// absolute session times and the exact bytes of each stream, checking every
// frame against its checkpoint. A recording that was cut off returns all it
// holds, then an error matching ErrAbrupt; a damaged one, an error matching
// ErrCorrupt naming the frame. Scan builds the frame index without
// decompressing, for verification (Index.VerifyChain) and for
// Reader.SeekFrame.
package record
