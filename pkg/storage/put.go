package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// MultipartThreshold is the size from which Put uses a multipart upload (through the SDK's
// transfer manager, PartSize bytes per part, each part's SHA-256 verified by the server) instead
// of a single PutObject. A variable so that tests can lower it.
var MultipartThreshold int64 = 64 << 20

// PartSize is the multipart part size (S3's minimum is 5 MiB). Put raises it for objects that
// would otherwise need more than 10,000 parts.
var PartSize int64 = 8 << 20

const maxParts = 10000

// Retention is an Object Lock retention: until Until, no one can delete or overwrite the object
// version (COMPLIANCE), or only users allowed to bypass governance can (GOVERNANCE).
type Retention struct {
	Mode  string // "COMPLIANCE" or "GOVERNANCE"
	Until time.Time
}

func (r *Retention) check() (types.ObjectLockMode, error) {
	mode := types.ObjectLockMode(strings.ToUpper(r.Mode))
	if mode != types.ObjectLockModeCompliance && mode != types.ObjectLockModeGovernance {
		return "", fmt.Errorf("retention mode %q: must be COMPLIANCE or GOVERNANCE", r.Mode)
	}
	if !r.Until.After(time.Now()) {
		return "", fmt.Errorf("retention date %s is not in the future", r.Until.Format(time.RFC3339))
	}
	return mode, nil
}

// PutInput describes one upload.
type PutInput struct {
	URL  URL    // bucket and full key
	Path string // local file to upload
	// Metadata is the object's user metadata (x-amz-meta-*). Keys are lowercased and must be
	// letters, digits, '-', '_' or '.'. Values are made header-safe: a value holding non-ASCII or
	// control characters is sent as an RFC 2047 encoded word ("=?utf-8?q?caf=C3=A9?="), which is
	// what AWS itself does and what Stat decodes back. If keys and values exceed S3's 2 KB limit
	// (counted here conservatively, "x-amz-meta-" prefix included), the longest values are
	// truncated, on a character boundary, and end in "...".
	Metadata map[string]string
	// Retention, if not nil, puts the object under Object Lock retention (the bucket must have
	// been created with Object Lock).
	Retention *Retention
	// SHA256 is the file's SHA-256 (standard base64) when the caller has
	// already read the file for it: a single PUT then sends it instead of
	// reading the file once more. The server checks it all the same.
	SHA256 string
	// ContentType defaults to "application/zstd" for keys ending in ".zst".
	ContentType string
}

// PutResult is what the server stored.
type PutResult struct {
	VersionID string // "" if the bucket is not versioned
	// SHA256 is the checksum as S3 reports it, base64: the object's SHA-256 for a single PUT, or
	// for a multipart upload the composite checksum (the SHA-256 of the parts' SHA-256s) followed
	// by "-" and the number of parts.
	SHA256 string
	// FileSHA256 is the SHA-256 of the whole file, base64, whichever way it was uploaded.
	FileSHA256 string
	Size       int64
	Multipart  bool
}

// Put uploads a local file. It first computes the file's SHA-256 and sends it with the upload
// (x-amz-checksum-sha256), so that the server verifies what it received and rejects a mismatch
// (BadDigest): a file that changes between hashing and sending, or bytes damaged in transit,
// are never stored. Files of MultipartThreshold bytes or more go up in parts, each part with its
// own server-verified SHA-256, and the completion carries the composite checksum computed
// beforehand from the file, which the server verifies too.
//
// Put never replaces an object: the PUT (or the completion of a multipart upload) is conditional
// (If-None-Match: *), so that a store that honours it (AWS S3, versitygw, MinIO, Ceph RGW
// 18+) refuses it when the key is taken, and the error matches ErrExists. A store that ignores
// the condition would overwrite; callers check that the key is free first (Stat) to narrow that
// to a race, and a versioned bucket keeps the earlier version anyway.
func (s *Store) Put(ctx context.Context, in PutInput) (PutResult, error) {
	res, err := s.put(ctx, in)
	return res, s.wrap("upload", in.URL, err)
}

// ifNoneMatchAny is the value of the If-None-Match header that makes a write fail (412
// Precondition Failed) when an object already exists at its key.
const ifNoneMatchAny = "*"

// noOverwrite is the S3 client the transfer manager uses for Put's multipart uploads: it makes
// the completion (and a single PUT, should the transfer manager choose one) conditional.
type noOverwrite struct {
	transfermanager.S3APIClient
}

func (c noOverwrite) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	in.IfNoneMatch = aws.String(ifNoneMatchAny)
	return c.S3APIClient.PutObject(ctx, in, opts...)
}

func (c noOverwrite) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	in.IfNoneMatch = aws.String(ifNoneMatchAny)
	return c.S3APIClient.CompleteMultipartUpload(ctx, in, opts...)
}

func (s *Store) put(ctx context.Context, in PutInput) (PutResult, error) {
	if in.URL.Key == "" || strings.HasSuffix(in.URL.Key, "/") {
		return PutResult{}, fmt.Errorf("%q is not an object key", in.URL.Key)
	}
	meta, err := HeaderSafeMetadata(in.Metadata)
	if err != nil {
		return PutResult{}, err
	}
	var lockMode types.ObjectLockMode
	if in.Retention != nil {
		if lockMode, err = in.Retention.check(); err != nil {
			return PutResult{}, err
		}
	}
	f, err := os.Open(in.Path)
	if err != nil {
		return PutResult{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return PutResult{}, err
	}
	if !fi.Mode().IsRegular() {
		return PutResult{}, fmt.Errorf("%s is not a regular file", in.Path)
	}
	size := fi.Size()
	ctype := contentType(in.ContentType, in.URL.Key)

	if size < MultipartThreshold || size < PartSize {
		full := in.SHA256
		if full == "" {
			if full, _, err = hashFile(f, size, 0); err != nil {
				return PutResult{}, err
			}
		}
		return s.putSingle(ctx, in.URL, io.NewSectionReader(f, 0, size), size, full, meta, ctype, lockMode, in.Retention)
	}

	ps := partSizeFor(size)
	full, composite, err := hashFile(f, size, ps)
	if err != nil {
		return PutResult{}, err
	}
	nparts := (size + ps - 1) / ps
	send := composite
	if s.badChecksum != nil {
		send = s.badChecksum(send)
	}
	up := &transfermanager.UploadObjectInput{
		Bucket:            aws.String(in.URL.Bucket),
		Key:               aws.String(in.URL.Key),
		Body:              io.NewSectionReader(f, 0, size),
		ChecksumAlgorithm: tmtypes.ChecksumAlgorithmSha256,
		ChecksumType:      tmtypes.ChecksumTypeComposite,
		ChecksumSHA256:    aws.String(send),
		Metadata:          meta,
		ContentType:       aws.String(ctype),
	}
	if in.Retention != nil {
		up.ObjectLockMode = tmtypes.ObjectLockMode(lockMode)
		up.ObjectLockRetainUntilDate = aws.Time(in.Retention.Until.UTC())
	}
	out, err := s.tm.UploadObject(ctx, up, func(o *transfermanager.Options) {
		o.PartSizeBytes = ps
		o.MultipartUploadThreshold = ps // we already decided: this is a multipart upload
		o.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmSha256
		o.S3 = noOverwrite{o.S3}
	})
	if err != nil {
		return PutResult{}, err
	}
	if out.UploadID == nil || *out.UploadID == "" {
		// The transfer manager fell back to a single PutObject with our composite checksum:
		// cannot happen with the options above, and the server would have refused it.
		return PutResult{}, fmt.Errorf("transfer manager did not use a multipart upload")
	}
	want := fmt.Sprintf("%s-%d", composite, nparts)
	got := aws.ToString(out.ChecksumSHA256)
	if got != "" && got != want && got != composite {
		return PutResult{}, fmt.Errorf("server reports checksum %s, expected %s", got, want)
	}
	if got == "" || got == composite {
		got = want
	}
	return PutResult{VersionID: aws.ToString(out.VersionID), SHA256: got, FileSHA256: full, Size: size, Multipart: true}, nil
}

// PutBytes uploads a small object (a live segment, for instance) from memory, with the same
// server-verified SHA-256, metadata rules and refusal to replace an object as Put.
func (s *Store) PutBytes(ctx context.Context, u URL, data []byte, meta map[string]string, r *Retention) (PutResult, error) {
	res, err := s.putBytes(ctx, u, data, meta, r)
	return res, s.wrap("upload", u, err)
}

func (s *Store) putBytes(ctx context.Context, u URL, data []byte, meta map[string]string, r *Retention) (PutResult, error) {
	if u.Key == "" || strings.HasSuffix(u.Key, "/") {
		return PutResult{}, fmt.Errorf("%q is not an object key", u.Key)
	}
	m, err := HeaderSafeMetadata(meta)
	if err != nil {
		return PutResult{}, err
	}
	var lockMode types.ObjectLockMode
	if r != nil {
		if lockMode, err = r.check(); err != nil {
			return PutResult{}, err
		}
	}
	sum := sha256.Sum256(data)
	full := base64.StdEncoding.EncodeToString(sum[:])
	return s.putSingle(ctx, u, bytes.NewReader(data), int64(len(data)), full, m, contentType("", u.Key), lockMode, r)
}

func (s *Store) putSingle(ctx context.Context, u URL, body io.ReadSeeker, size int64, sum string,
	meta map[string]string, ctype string, lockMode types.ObjectLockMode, r *Retention) (PutResult, error) {
	send := sum
	if s.badChecksum != nil {
		send = s.badChecksum(send)
	}
	in := &s3.PutObjectInput{
		Bucket:         aws.String(u.Bucket),
		Key:            aws.String(u.Key),
		Body:           body,
		ContentLength:  aws.Int64(size),
		ChecksumSHA256: aws.String(send),
		Metadata:       meta,
		ContentType:    aws.String(ctype),
		IfNoneMatch:    aws.String(ifNoneMatchAny),
	}
	if r != nil {
		in.ObjectLockMode = lockMode
		in.ObjectLockRetainUntilDate = aws.Time(r.Until.UTC())
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return PutResult{}, err
	}
	got := aws.ToString(out.ChecksumSHA256)
	if got != "" && got != sum {
		return PutResult{}, fmt.Errorf("server reports checksum %s, expected %s", got, sum)
	}
	return PutResult{VersionID: aws.ToString(out.VersionId), SHA256: sum, FileSHA256: sum, Size: size}, nil
}

func contentType(ct, key string) string {
	switch {
	case ct != "":
		return ct
	case strings.HasSuffix(key, ".zst"):
		return "application/zstd"
	}
	return "application/octet-stream"
}

// partSizeFor returns the part size for an object of size bytes: PartSize, raised if needed so
// that the object fits in 10,000 parts (the transfer manager applies the same rule, so it
// splits the file exactly where hashFile does).
func partSizeFor(size int64) int64 {
	ps := PartSize
	if size/ps >= maxParts {
		ps = size/maxParts + 1
	}
	return ps
}

// hashFile reads the first size bytes of f and returns their SHA-256, base64, and, if partSize
// > 0, the S3 composite SHA-256 of the parts of partSize bytes: the SHA-256 of the concatenated
// binary part digests, base64, without the "-N" suffix.
func hashFile(f *os.File, size, partSize int64) (full, composite string, err error) {
	whole := sha256.New()
	r := io.NewSectionReader(f, 0, size)
	buf := make([]byte, 1<<20)
	if partSize <= 0 {
		n, err := io.CopyBuffer(whole, r, buf)
		if err != nil {
			return "", "", err
		}
		if n != size {
			return "", "", fmt.Errorf("%s shrank while being read", f.Name())
		}
		return b64(whole), "", nil
	}
	parts := sha256.New()
	part := sha256.New()
	for off := int64(0); off < size; off += partSize {
		part.Reset()
		n, err := io.CopyBuffer(io.MultiWriter(whole, part), io.NewSectionReader(r, off, min(partSize, size-off)), buf)
		if err != nil {
			return "", "", err
		}
		if n != min(partSize, size-off) {
			return "", "", fmt.Errorf("%s shrank while being read", f.Name())
		}
		parts.Write(part.Sum(nil))
	}
	return b64(whole), b64(parts), nil
}

func b64(h hash.Hash) string { return base64.StdEncoding.EncodeToString(h.Sum(nil)) }
