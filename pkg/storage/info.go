package storage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	URL      URL
	Size     int64
	ModTime  time.Time
	Metadata map[string]string // user metadata, keys lowercased, values decoded
	// SHA256 is the checksum S3 reports, base64: the object's SHA-256, or "<composite>-<parts>"
	// for a multipart upload (see PutResult). "" if the object was stored without one.
	SHA256    string
	VersionID string
	ETag      string
	Retention *Retention // nil if none (or not visible to these credentials)
	// Live is set by List for a session still being recorded: the object does not exist yet and
	// the entry stands for its segments under Key+".live/" (Size is their total so far).
	Live bool
}

// Stat returns the object's size, time, metadata, checksum, version and retention (HeadObject
// with checksums enabled). A missing object (or bucket) gives an error wrapping ErrNotFound.
func (s *Store) Stat(ctx context.Context, u URL) (ObjectInfo, error) {
	info, err := s.stat(ctx, u, "")
	if err != nil {
		return ObjectInfo{}, s.notFound(ctx, "stat", u, err)
	}
	return info, nil
}

func (s *Store) stat(ctx context.Context, u URL, versionID string) (ObjectInfo, error) {
	in := &s3.HeadObjectInput{
		Bucket:       aws.String(u.Bucket),
		Key:          aws.String(u.Key),
		ChecksumMode: types.ChecksumModeEnabled,
	}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := s.client.HeadObject(ctx, in)
	if err != nil {
		return ObjectInfo{}, s.whyHeadFailed(ctx, in, err)
	}
	info := ObjectInfo{
		URL:       u,
		Size:      aws.ToInt64(out.ContentLength),
		ModTime:   aws.ToTime(out.LastModified),
		Metadata:  DecodeMetadata(out.Metadata),
		SHA256:    aws.ToString(out.ChecksumSHA256),
		VersionID: aws.ToString(out.VersionId),
		ETag:      aws.ToString(out.ETag),
	}
	if out.ObjectLockMode != "" && out.ObjectLockRetainUntilDate != nil {
		info.Retention = &Retention{Mode: string(out.ObjectLockMode), Until: *out.ObjectLockRetainUntilDate}
	}
	return info, nil
}

// whyHeadFailed returns the error of a one-byte GET of what HEAD could not read, if that tells
// more: the answer to a HEAD has no body, so that a refused signature, a missing permission or
// a wrong region all come back as a bare status ("Forbidden", "BadRequest").
func (s *Store) whyHeadFailed(ctx context.Context, in *s3.HeadObjectInput, err error) error {
	if st := httpStatus(err); st == 0 || st == 404 || st >= 500 {
		return err
	}
	_, gerr := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: in.Bucket, Key: in.Key, VersionId: in.VersionId, Range: aws.String("bytes=0-0"),
	})
	if c := errorCode(gerr); c != "" && c != errorCode(err) && c != "InvalidRange" {
		return gerr
	}
	return err
}

// notFound wraps err from op on u; a 404 becomes an error wrapping ErrNotFound, and says whether
// the bucket itself is missing (a HEAD's 404 does not tell).
func (s *Store) notFound(ctx context.Context, op string, u URL, err error) error {
	if !isNotFound(err) && errorCode(err) != "NoSuchBucket" {
		return s.wrap(op, u, err)
	}
	e := &opError{op: op, url: u, endpoint: s.endpoint, err: err, notFound: true}
	if errorCode(err) == "NoSuchBucket" {
		e.noBucket = true
	} else if _, herr := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(u.Bucket)}); herr != nil &&
		(isNotFound(herr) || errorCode(herr) == "NoSuchBucket") {
		e.noBucket = true
	}
	return e
}

// listConcurrency bounds the HeadObject calls List makes in parallel.
const listConcurrency = 16

// List returns the objects under prefix (recursively; a non-empty prefix key is taken as a
// directory: "s3://b/rec" lists rec/...) whose keys end in suffix, sorted by key, with their
// metadata (one HeadObject each, 16 at a time). A recording still being written, whose key
// ends in suffix and which has segments under key+".live/" but no object yet, is listed too,
// with Live set, the total size of its segments and the metadata of its first segment.
func (s *Store) List(ctx context.Context, prefix URL, suffix string) ([]ObjectInfo, error) {
	infos, err := s.list(ctx, prefix, suffix)
	return infos, s.wrap("list", prefix, err)
}

func (s *Store) list(ctx context.Context, prefix URL, suffix string) ([]ObjectInfo, error) {
	objs, err := s.listAll(ctx, prefix.Bucket, prefix.dirPrefix())
	if err != nil {
		return nil, err
	}
	var infos []ObjectInfo
	have := map[string]bool{}
	live := map[string]*ObjectInfo{} // recording key -> its segments so far
	var liveKeys []string
	var liveFirst = map[string]string{} // recording key -> key of its lowest segment
	var liveFirstSeq = map[string]uint64{}
	for _, o := range objs {
		key := aws.ToString(o.Key)
		if rec, seq, ok := segmentOf(key); ok {
			if !strings.HasSuffix(rec, suffix) {
				continue
			}
			li := live[rec]
			if li == nil {
				li = &ObjectInfo{URL: URL{Bucket: prefix.Bucket, Key: rec}, Live: true}
				live[rec] = li
				liveKeys = append(liveKeys, rec)
				liveFirstSeq[rec] = seq
				liveFirst[rec] = key
			}
			li.Size += aws.ToInt64(o.Size)
			if t := aws.ToTime(o.LastModified); t.After(li.ModTime) {
				li.ModTime = t
			}
			if seq < liveFirstSeq[rec] {
				liveFirstSeq[rec], liveFirst[rec] = seq, key
			}
			continue
		}
		if !strings.HasSuffix(key, suffix) || strings.HasSuffix(key, "/") {
			continue
		}
		have[key] = true
		infos = append(infos, ObjectInfo{
			URL:     URL{Bucket: prefix.Bucket, Key: key},
			Size:    aws.ToInt64(o.Size),
			ModTime: aws.ToTime(o.LastModified),
			ETag:    aws.ToString(o.ETag),
		})
	}
	// Heads for the objects, and for the first segment of each live recording.
	type job struct {
		i    int    // index in infos, or -1 for a live recording
		rec  string // live recording key
		head string
	}
	var jobs []job
	for i := range infos {
		jobs = append(jobs, job{i: i, head: infos[i].URL.Key})
	}
	for _, rec := range liveKeys {
		if !have[rec] {
			jobs = append(jobs, job{i: -1, rec: rec, head: liveFirst[rec]})
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		gone     = map[int]bool{}
		liveMeta = map[string]ObjectInfo{}
		sem      = make(chan struct{}, listConcurrency)
	)
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			hi, err := s.stat(ctx, URL{Bucket: prefix.Bucket, Key: j.head}, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && isNotFound(err):
				if j.i >= 0 {
					gone[j.i] = true // deleted since the listing
				}
			case err != nil:
				if firstErr == nil {
					firstErr = fmt.Errorf("head %s: %w", j.head, err)
				}
			case j.i >= 0:
				infos[j.i] = hi
			default:
				liveMeta[j.rec] = hi
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	out := make([]ObjectInfo, 0, len(infos)+len(liveKeys))
	for i, in := range infos {
		if !gone[i] {
			out = append(out, in)
		}
	}
	for _, rec := range liveKeys {
		if have[rec] {
			continue // finished: the object exists, its segments are left-overs
		}
		li := *live[rec]
		li.Metadata = map[string]string{}
		if m, ok := liveMeta[rec]; ok {
			li.Metadata = m.Metadata
		}
		out = append(out, li)
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.URL.Key, b.URL.Key) })
	return out, nil
}

func (s *Store) listAll(ctx context.Context, bucket, prefix string) ([]types.Object, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	var objs []types.Object
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		objs = append(objs, page.Contents...)
	}
	return objs, nil
}

// LiveSuffix is appended to a recording's key to form the prefix of its live segments.
const LiveSuffix = ".live/"

// segmentOf reports whether key is a live segment, "<rec>.live/<digits>", and returns the
// recording key and the segment's sequence number.
func segmentOf(key string) (rec string, seq uint64, ok bool) {
	dir, name := path.Split(key)
	if !strings.HasSuffix(dir, LiveSuffix) || name == "" {
		return "", 0, false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return "", 0, false
		}
	}
	n, err := strconv.ParseUint(name, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return strings.TrimSuffix(dir, LiveSuffix), n, true
}

// Delete deletes the object, or with a non-empty versionID that version. Deleting a version
// under Object Lock retention is refused by the server (AccessDenied); governance retention is
// never bypassed.
func (s *Store) Delete(ctx context.Context, u URL, versionID string) error {
	in := &s3.DeleteObjectInput{Bucket: aws.String(u.Bucket), Key: aws.String(u.Key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	_, err := s.client.DeleteObject(ctx, in)
	if err != nil {
		if errors.Is(err, ErrNotFound) || isNotFound(err) || errorCode(err) == "NoSuchBucket" {
			return s.notFound(ctx, "delete", u, err)
		}
		return s.wrap("delete", u, err)
	}
	return nil
}
