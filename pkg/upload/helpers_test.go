package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kubectl-rexec/kubectl-rexec/internal/testrec"
	"github.com/kubectl-rexec/kubectl-rexec/internal/tests3"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/record"
	"github.com/kubectl-rexec/kubectl-rexec/pkg/storage"
)

const (
	bucket       = "recordings"
	lockedBucket = "locked-recordings"
)

// startS3 starts a versitygw server with a plain and an Object Lock bucket,
// puts its credentials in the environment and returns a Store for it.
func startS3(t testing.TB) (*tests3.Server, *storage.Store) {
	t.Helper()
	srv := tests3.Start(t)
	srv.SetEnv(t)
	srv.CreateBucket(t, bucket, false)
	srv.CreateBucket(t, lockedBucket, true)
	store, err := storage.New(context.Background(), storage.Settings{Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return srv, store
}

var sessionSeq struct {
	sync.Mutex
	n int
}

// recording writes a finished recording of about size bytes of output into
// dir and returns its path and header.
func recording(t *testing.T, dir string, outputBytes int) (string, record.Header) {
	t.Helper()
	sessionSeq.Lock()
	sessionSeq.n++
	n := sessionSeq.n
	sessionSeq.Unlock()
	at := time.Date(2026, 11, 27, 6, 15, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)
	h := testrec.Header("alice", "prod", "default", fmt.Sprintf("web-%d", n), "app", at, "bash")
	h.Rexec.SessionID = fmt.Sprintf("%08d-0000-4000-8000-000000000000", n)
	h.Rexec.Cluster = "prod-cluster"
	h.Rexec.Reason = "INC-1"
	var steps []testrec.Step
	// Random text: the recording is about as large as its output.
	for i, n := 0, 0; n < outputBytes; i++ {
		line := fmt.Sprintf("%06d %s%s%s\n", i, rand.Text(), rand.Text(), rand.Text())
		n += len(line)
		steps = append(steps, testrec.O(time.Duration(i)*time.Millisecond, line))
	}
	steps = append(steps, testrec.I(time.Duration(len(steps)+1)*time.Millisecond, "exit\r"))
	path := filepath.Join(dir, fmt.Sprintf("session-%d.cast.zst", n))
	if err := testrec.File(path, testrec.Session{Header: h, Steps: steps, Exit: testrec.Code(0)}); err != nil {
		t.Fatal(err)
	}
	return path, h
}

// entryFor is the spool entry for uploading the recording at path.
func entryFor(path string, h record.Header, bkt string) Entry {
	return Entry{Recording: path, Target: storage.URL{Bucket: bkt, Key: Key("rexec", h)}.String()}
}

// get returns an object's bytes.
func get(t *testing.T, store *storage.Store, u storage.URL) []byte {
	t.Helper()
	out, err := store.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(u.Bucket), Key: aws.String(u.Key)})
	if err != nil {
		t.Fatalf("get %s: %v", u, err)
	}
	defer out.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(out.Body); err != nil {
		t.Fatalf("get %s: %v", u, err)
	}
	return b.Bytes()
}

// listKeys lists the (current) keys under a prefix, in order.
func listKeys(t *testing.T, store *storage.Store, u storage.URL) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(store.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(u.Bucket), Prefix: aws.String(u.Key)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", u, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// versions counts the versions of every key under prefix.
func versions(t *testing.T, store *storage.Store, u storage.URL) map[string]int {
	t.Helper()
	out := map[string]int{}
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(u.Bucket), Prefix: aws.String(u.Key)}
	for {
		res, err := store.Client().ListObjectVersions(context.Background(), in)
		if err != nil {
			t.Fatalf("list versions: %v", err)
		}
		for _, v := range res.Versions {
			out[aws.ToString(v.Key)]++
		}
		if !aws.ToBool(res.IsTruncated) {
			return out
		}
		in.KeyMarker, in.VersionIdMarker = res.NextKeyMarker, res.NextVersionIdMarker
	}
}

// countingStore counts the uploads that reach the store, per key, and can
// slow them down so that concurrent drains overlap.
type countingStore struct {
	*storage.Store
	delay time.Duration
	onPut func() // called during every Put
	mu    sync.Mutex
	puts  map[string]int
}

func (c *countingStore) Put(ctx context.Context, in storage.PutInput) (storage.PutResult, error) {
	c.mu.Lock()
	if c.puts == nil {
		c.puts = map[string]int{}
	}
	c.puts[in.URL.Key]++
	c.mu.Unlock()
	time.Sleep(c.delay)
	if c.onPut != nil {
		c.onPut()
	}
	return c.Store.Put(ctx, in)
}

func (c *countingStore) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.puts[key]
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func mustPending(t *testing.T, sp *Spool) []Entry {
	t.Helper()
	es, err := sp.Pending()
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
