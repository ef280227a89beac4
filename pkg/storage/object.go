package storage

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BlockSize is the unit in which Object fetches and caches data; CacheBlocks is how many blocks
// an Object keeps (least recently used out). Variables so that tests can change them.
//
// Blocks are small because most opens read little: `ls` and `info` need the header (a few KiB
// at the start) and the index (at the end), which with 1 MiB blocks cost 2 MB of transfer per
// recording, and 130 KB with these. Sequential reads still fetch in large GETs: read-ahead
// doubles up to half the cache, 4 MiB.
var (
	BlockSize   int64 = 64 << 10
	CacheBlocks       = 128
)

// Object reads a stored object (or the live segments of a recording still being written) with
// ranged GETs through a small block cache. It implements io.ReaderAt and is safe for concurrent
// use. A regular object is pinned to the version (VersionId, and ETag with If-Match) that Open
// saw, so that a concurrent overwrite fails the read (PreconditionFailed) rather than mixing
// versions.
type Object struct {
	s      *Store
	u      URL
	live   bool
	ctx    context.Context
	cancel context.CancelFunc

	requests atomic.Int64
	fetched  atomic.Int64

	mu      sync.Mutex
	info    ObjectInfo // Size kept equal to size
	parts   []part
	size    int64
	nextSeq uint64 // live: the segment number that would come next
	cache   map[int64]*list.Element
	lru     *list.List // of *block, most recent first
	last    int64      // block index where the previous read ended, for read-ahead
	ahead   int64      // current read-ahead, in blocks
	closed  bool
}

// part is one stored object making up a range of the Object: the object itself, or a segment.
type part struct {
	key       string
	versionID string
	etag      string
	off, size int64
}

type block struct {
	idx  int64
	done chan struct{}
	data []byte
	err  error
}

// Open prepares u for reading; only a HeadObject is made now. If u does not exist but live
// segments of it do (objects under u.Key+".live/" named by their sequence number, "000001",
// each holding the next bytes of a recording still being written), the Object reads their
// concatenation, from the lowest segment through the last one without a gap; IsLive reports
// this, Refresh picks up segments written since. ctx governs the reads until Close.
func (s *Store) Open(ctx context.Context, u URL) (*Object, error) {
	info, err := s.stat(ctx, u, "")
	if err == nil {
		o := s.newObject(ctx, u, info)
		vid := info.VersionID
		if vid == "null" {
			vid = ""
		}
		o.parts = []part{{key: u.Key, versionID: vid, etag: info.ETag, size: info.Size}}
		o.size = info.Size
		return o, nil
	}
	if !isNotFound(err) {
		return nil, s.wrap("open", u, err)
	}
	o := s.newObject(ctx, u, ObjectInfo{URL: u, Metadata: map[string]string{}})
	o.live = true
	if _, lerr := o.refresh(ctx); lerr != nil {
		o.Close()
		return nil, s.wrap("open", u, lerr)
	}
	if len(o.parts) == 0 {
		o.Close()
		return nil, s.notFound(ctx, "open", u, err)
	}
	if first, herr := s.stat(ctx, URL{Bucket: u.Bucket, Key: o.parts[0].key}, ""); herr == nil {
		o.info.Metadata = first.Metadata
	}
	return o, nil
}

func (s *Store) newObject(ctx context.Context, u URL, info ObjectInfo) *Object {
	rctx, cancel := context.WithCancel(ctx)
	return &Object{
		s: s, u: u, ctx: rctx, cancel: cancel, info: info,
		cache: map[int64]*list.Element{}, lru: list.New(), last: -2,
	}
}

// Refresh, for a live Object, appends the segments written since Open (or the last Refresh)
// and reports whether the Object grew. When the recording is finished, its segments stop
// growing and u itself exists: Open it again. Refresh does nothing for other objects.
func (o *Object) Refresh(ctx context.Context) (bool, error) {
	if !o.live {
		return false, nil
	}
	grew, err := o.refresh(ctx)
	return grew, o.s.wrap("refresh", o.u, err)
}

func (o *Object) refresh(ctx context.Context) (bool, error) {
	objs, err := o.s.listAll(ctx, o.u.Bucket, o.u.Key+LiveSuffix)
	if err != nil {
		return false, err
	}
	type seg struct {
		seq  uint64
		key  string
		etag string
		size int64
	}
	var segs []seg
	for _, ob := range objs {
		key := aws.ToString(ob.Key)
		rec, seq, ok := segmentOf(key)
		if !ok || rec != o.u.Key {
			continue
		}
		segs = append(segs, seg{seq, key, aws.ToString(ob.ETag), aws.ToInt64(ob.Size)})
	}
	slices.SortFunc(segs, func(a, b seg) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})

	o.mu.Lock()
	defer o.mu.Unlock()
	oldSize := o.size
	for _, sg := range segs {
		if len(o.parts) == 0 {
			o.nextSeq = sg.seq
		}
		if sg.seq < o.nextSeq {
			continue
		}
		if sg.seq > o.nextSeq {
			break // a gap: a segment still on its way; read up to it
		}
		o.parts = append(o.parts, part{key: sg.key, etag: sg.etag, off: o.size, size: sg.size})
		o.size += sg.size
		o.nextSeq++
	}
	o.info.Size = o.size
	if o.size != oldSize {
		// The block that held the old end is short now: forget it.
		if el, ok := o.cache[oldSize/BlockSize]; ok && oldSize%BlockSize != 0 {
			o.lru.Remove(el)
			delete(o.cache, oldSize/BlockSize)
		}
	}
	return o.size != oldSize, nil
}

// Size is the object's size in bytes (for a live Object, what its segments held at the last
// Open or Refresh).
func (o *Object) Size() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.size
}

// Info describes the object as Open found it. For a live Object, Metadata is the first
// segment's (often empty) and Size follows Refresh.
func (o *Object) Info() ObjectInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	info := o.info
	info.Live = o.live
	return info
}

// IsLive reports whether the Object reads the live segments of a recording still being written.
func (o *Object) IsLive() bool { return o.live }

// Requests is the number of GET requests made so far.
func (o *Object) Requests() int { return int(o.requests.Load()) }

// Fetched is the number of bytes fetched so far.
func (o *Object) Fetched() int64 { return o.fetched.Load() }

// Close ends pending reads and frees the cache. ReadAt fails afterwards.
func (o *Object) Close() error {
	o.cancel()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = true
	o.cache = map[int64]*list.Element{}
	o.lru.Init()
	return nil
}

// ReadAt reads len(p) bytes at off, as io.ReaderAt: fewer only at the end of the object (with
// io.EOF) or on an error.
func (o *Object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset", o.u)
	}
	blocks, end, err := o.blocks(off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, b := range blocks {
		select {
		case <-b.done:
		case <-o.ctx.Done():
			return n, o.s.wrap("read", o.u, o.ctx.Err())
		}
		if b.err != nil {
			return n, o.s.wrap("read", o.u, b.err)
		}
		bstart := b.idx * BlockSize
		from := max(off, bstart) - bstart
		to := min(end, bstart+BlockSize) - bstart
		if to > int64(len(b.data)) {
			return n, o.s.wrap("read", o.u, io.ErrUnexpectedEOF)
		}
		n += copy(p[n:], b.data[from:to])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// blocks returns the blocks covering [off, off+n) (clipped to the size, whose end it returns),
// starting the fetch of those not cached, coalesced into one ranged GET per run of missing
// blocks, plus some read-ahead when reads are sequential.
func (o *Object) blocks(off, n int64) ([]*block, int64, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil, 0, fmt.Errorf("read %s: %w", o.u, os.ErrClosed)
	}
	size := o.size
	if off >= size || n == 0 {
		o.mu.Unlock()
		return nil, off, nil
	}
	end := min(off+n, size)
	b0, b1 := off/BlockSize, (end-1)/BlockSize
	lastIdx := (size - 1) / BlockSize

	// Sequential reads (starting in or right after the block where the last read ended) grow
	// the read-ahead up to half the cache; any other read resets it.
	if b0 == o.last || b0 == o.last+1 {
		o.ahead = min(max(2*o.ahead, 1), int64(CacheBlocks/2))
	} else {
		o.ahead = 0
	}
	o.last = b1

	var blocks []*block
	var runs [][]*block
	var run []*block
	for i := b0; i <= min(b1+o.ahead, lastIdx); i++ {
		var b *block
		if el, ok := o.cache[i]; ok {
			o.lru.MoveToFront(el)
			b = el.Value.(*block)
			if len(run) > 0 {
				runs, run = append(runs, run), nil
			}
		} else {
			if i > b1 && len(run) == 0 {
				// Read ahead only to extend a fetch the read needs anyway.
				break
			}
			b = &block{idx: i, done: make(chan struct{})}
			o.cache[i] = o.lru.PushFront(b)
			run = append(run, b)
		}
		if i <= b1 {
			blocks = append(blocks, b)
		}
	}
	if len(run) > 0 {
		runs = append(runs, run)
	}
	for o.lru.Len() > max(CacheBlocks, 1) {
		el := o.lru.Back()
		o.lru.Remove(el)
		delete(o.cache, el.Value.(*block).idx)
	}
	parts := o.parts
	o.mu.Unlock()

	for _, r := range runs {
		go o.fetch(parts, size, r)
	}
	return blocks, end, nil
}

// fetch fills a run of consecutive blocks with one ranged GET per part it spans.
func (o *Object) fetch(parts []part, size int64, run []*block) {
	start := run[0].idx * BlockSize
	stop := min((run[len(run)-1].idx+1)*BlockSize, size)
	for _, b := range run {
		b.data = make([]byte, min(BlockSize, size-b.idx*BlockSize))
	}
	err := o.fill(parts, run, start, stop)
	for _, b := range run {
		if err != nil {
			b.err, b.data = err, nil
		}
		close(b.done)
	}
	if err != nil {
		// Forget the failed blocks so that a later read tries again.
		o.mu.Lock()
		for _, b := range run {
			if el, ok := o.cache[b.idx]; ok && el.Value.(*block) == b {
				o.lru.Remove(el)
				delete(o.cache, b.idx)
			}
		}
		o.mu.Unlock()
	}
}

func (o *Object) fill(parts []part, run []*block, start, stop int64) error {
	for _, pt := range parts {
		a, b := max(start, pt.off), min(stop, pt.off+pt.size)
		if a >= b {
			continue
		}
		if err := o.get(pt, a-pt.off, b-pt.off, func(body io.Reader) error {
			for pos := a; pos < b; {
				bi := (pos - start) / BlockSize
				within := (pos - start) % BlockSize
				buf := run[bi].data[within:min(int64(len(run[bi].data)), within+(b-pos))]
				k, err := io.ReadFull(body, buf)
				o.fetched.Add(int64(k))
				if err != nil {
					return err
				}
				pos += int64(k)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// get GETs bytes [a, b) of one part and hands the body to read.
func (o *Object) get(pt part, a, b int64, read func(io.Reader) error) error {
	in := &s3.GetObjectInput{
		Bucket: aws.String(o.u.Bucket),
		Key:    aws.String(pt.key),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", a, b-1)),
	}
	if pt.versionID != "" {
		in.VersionId = aws.String(pt.versionID)
	}
	if pt.etag != "" {
		in.IfMatch = aws.String(pt.etag)
	}
	o.requests.Add(1)
	out, err := o.s.client.GetObject(o.ctx, in)
	if err != nil {
		if pt.key != o.u.Key {
			return fmt.Errorf("segment %s: %w", pt.key, err)
		}
		return err
	}
	defer out.Body.Close()
	want := fmt.Sprintf("bytes %d-%d/", a, b-1)
	if cr := aws.ToString(out.ContentRange); !strings.HasPrefix(cr, want) && !(a == 0 && b == pt.size && cr == "") {
		return fmt.Errorf("server answered range %q for %q", cr, aws.ToString(in.Range))
	}
	if err := read(out.Body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("reading %s: %w", pt.key, err)
	}
	return nil
}
