package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kubectl-rexec/kubectl-rexec/internal/tests3"
)

// These tests run against a real S3 server (versitygw, see internal/tests3), one per test,
// configured through the environment exactly as a user's would be.

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func setup(t *testing.T, buckets ...string) (*tests3.Server, *Store) {
	t.Helper()
	srv := tests3.Start(t)
	srv.SetEnv(t)
	for _, b := range buckets {
		srv.CreateBucket(t, b, strings.HasPrefix(b, "locked"))
	}
	st, err := New(ctxT(t), Settings{PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Endpoint() != srv.Endpoint {
		t.Fatalf("endpoint %q, want %q from AWS_ENDPOINT_URL_S3", st.Endpoint(), srv.Endpoint)
	}
	return srv, st
}

func randomFile(t *testing.T, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("f%d.cast.zst", size))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return base64.StdEncoding.EncodeToString(s[:])
}

func readAll(t *testing.T, st *Store, u URL) []byte {
	t.Helper()
	o, err := st.Open(ctxT(t), u)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	got, err := io.ReadAll(io.NewSectionReader(o, 0, o.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestObjectLockRetention(t *testing.T) {
	_, st := setup(t, "locked-rec")
	ctx := ctxT(t)
	for _, mode := range []string{"COMPLIANCE", "GOVERNANCE"} {
		t.Run(mode, func(t *testing.T) {
			path, data := randomFile(t, 100_000)
			u := URL{Bucket: "locked-rec", Key: "2026/" + strings.ToLower(mode) + ".cast.zst"}
			until := time.Now().Add(time.Hour).Truncate(time.Second)
			res, err := st.Put(ctx, PutInput{URL: u, Path: path, Retention: &Retention{Mode: mode, Until: until}})
			if err != nil {
				t.Fatalf("%v\n%s", err, Explain(err))
			}
			if res.VersionID == "" || res.SHA256 != sha(data) || res.Size != int64(len(data)) {
				t.Fatalf("result %+v", res)
			}
			info, err := st.Stat(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			if info.Retention == nil || info.Retention.Mode != mode || !info.Retention.Until.Equal(until) {
				t.Errorf("retention %+v, want %s until %s", info.Retention, mode, until)
			}
			err = st.Delete(ctx, u, res.VersionID)
			if err == nil {
				t.Fatal("deleting a locked version succeeded")
			}
			if errorCode(err) != "AccessDenied" {
				t.Errorf("delete error code %q (%v), want AccessDenied", errorCode(err), err)
			}
			if ex := Explain(err); !strings.Contains(ex, "access denied") || !strings.Contains(ex, "Object Lock") {
				t.Errorf("Explain: %s", ex)
			}
			if got := readAll(t, st, u); !bytes.Equal(got, data) {
				t.Error("locked object no longer readable")
			}
			// Someone else overwrites it (Put never would): a new version;
			// the locked version stays.
			if _, err := st.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(u.Bucket), Key: aws.String(u.Key),
				Body: bytes.NewReader([]byte("new"))}); err != nil {
				t.Fatal(err)
			}
			if err := st.Delete(ctx, u, res.VersionID); errorCode(err) != "AccessDenied" {
				t.Errorf("delete after overwrite: %v", err)
			}
		})
	}
}

func TestRetentionNeedsObjectLock(t *testing.T) {
	_, st := setup(t, "plain")
	ctx := ctxT(t)
	path, _ := randomFile(t, 1000)
	_, err := st.Put(ctx, PutInput{URL: URL{Bucket: "plain", Key: "x.cast.zst"}, Path: path,
		Retention: &Retention{Mode: "COMPLIANCE", Until: time.Now().Add(time.Hour)}})
	if err == nil {
		t.Fatal("retention accepted on a bucket without Object Lock")
	}
	if ex := Explain(err); !strings.Contains(ex, "no Object Lock") {
		t.Errorf("Explain: %s (error: %v)", ex, err)
	}
	if _, err := st.Put(ctx, PutInput{URL: URL{Bucket: "plain", Key: "y"}, Path: path,
		Retention: &Retention{Mode: "FOREVER", Until: time.Now().Add(time.Hour)}}); err == nil {
		t.Error("bad retention mode accepted")
	}
}

func TestWrongChecksumRejected(t *testing.T) {
	_, st := setup(t, "rec")
	ctx := ctxT(t)
	st.badChecksum = func(string) string { return sha([]byte("not the data")) }
	defer func() { st.badChecksum = nil }()

	check := func(t *testing.T, err error, u URL) {
		t.Helper()
		if err == nil {
			t.Fatal("the server accepted a wrong checksum")
		}
		if c := errorCode(err); c != "BadDigest" && c != "XAmzContentChecksumMismatch" {
			t.Errorf("error code %q (%v)", c, err)
		}
		if ex := Explain(err); !strings.Contains(ex, "checksum mismatch") {
			t.Errorf("Explain: %s", ex)
		}
		if _, err := st.Stat(ctx, u); !errors.Is(err, ErrNotFound) {
			t.Errorf("rejected upload left an object: %v", err)
		}
	}
	t.Run("single", func(t *testing.T) {
		path, _ := randomFile(t, 300_000)
		u := URL{Bucket: "rec", Key: "bad.cast.zst"}
		_, err := st.Put(ctx, PutInput{URL: u, Path: path})
		check(t, err, u)
		u2 := URL{Bucket: "rec", Key: "bad.cast.zst.live/000001"}
		_, err = st.PutBytes(ctx, u2, []byte("segment"), nil, nil)
		check(t, err, u2)
	})
	t.Run("multipart", func(t *testing.T) {
		lowerMultipart(t)
		path, _ := randomFile(t, 11<<20)
		u := URL{Bucket: "rec", Key: "badmp.cast.zst"}
		_, err := st.Put(ctx, PutInput{URL: u, Path: path})
		check(t, err, u)
	})
}

func lowerMultipart(t *testing.T) {
	oldT, oldP := MultipartThreshold, PartSize
	MultipartThreshold, PartSize = 6<<20, 5<<20
	t.Cleanup(func() { MultipartThreshold, PartSize = oldT, oldP })
}

func TestMultipart(t *testing.T) {
	lowerMultipart(t)
	_, st := setup(t, "rec", "locked-rec")
	ctx := ctxT(t)
	path, data := randomFile(t, 13<<20+123)
	for _, c := range []struct {
		bucket string
		ret    *Retention
	}{
		{"rec", nil},
		{"locked-rec", &Retention{Mode: "COMPLIANCE", Until: time.Now().Add(time.Hour)}},
	} {
		u := URL{Bucket: c.bucket, Key: "big.cast.zst"}
		res, err := st.Put(ctx, PutInput{URL: u, Path: path, Metadata: map[string]string{"pod": "p\u00f6d"}, Retention: c.ret})
		if err != nil {
			t.Fatalf("%v\n%s", err, Explain(err))
		}
		if !res.Multipart || !strings.HasSuffix(res.SHA256, "-3") || res.FileSHA256 != sha(data) || res.Size != int64(len(data)) {
			t.Fatalf("result %+v", res)
		}
		info, err := st.Stat(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if info.SHA256 != res.SHA256 || info.Size != int64(len(data)) || info.Metadata["pod"] != "p\u00f6d" {
			t.Errorf("stat %+v, put %+v", info, res)
		}
		if c.ret != nil && (info.Retention == nil || info.Retention.Mode != "COMPLIANCE") {
			t.Errorf("retention %+v", info.Retention)
		}
		if got := readAll(t, st, u); !bytes.Equal(got, data) {
			t.Fatal("multipart object differs from the file")
		}
		out, err := st.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(u.Bucket), Key: aws.String(u.Key)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if sha(got) != sha(data) {
			t.Fatal("plain GET differs from the file")
		}
	}
}

func TestConcurrentPuts(t *testing.T) {
	_, st := setup(t, "rec")
	ctx := ctxT(t)
	const n = 50
	want := map[string]string{}
	var paths []string
	for i := range n {
		p, data := randomFile(t, 1000+i*4099)
		paths = append(paths, p)
		want[fmt.Sprintf("many/%02d.cast.zst", i)] = sha(data)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = st.Put(ctx, PutInput{URL: URL{Bucket: "rec", Key: fmt.Sprintf("many/%02d.cast.zst", i)}, Path: paths[i],
				Metadata: map[string]string{"index": fmt.Sprint(i)}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	infos, err := st.List(ctx, URL{Bucket: "rec", Key: "many"}, ".cast.zst")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != n {
		t.Fatalf("%d objects listed, want %d", len(infos), n)
	}
	for i, info := range infos {
		if info.SHA256 != want[info.URL.Key] {
			t.Errorf("%s: sha256 %s, want %s", info.URL, info.SHA256, want[info.URL.Key])
		}
		if info.Metadata["index"] != fmt.Sprint(i) {
			t.Errorf("%s: metadata %v", info.URL, info.Metadata)
		}
	}
}

func TestStatMetadata(t *testing.T) {
	_, st := setup(t, "rec")
	ctx := ctxT(t)
	meta := map[string]string{
		"user":      "J\u00fcrgen M\u00fcller <jm@example.com>",
		"namespace": "default",
		"command":   "bash -c 'echo \u65e5\u672c\u8a9e'\n",
		"note":      " leading and trailing ",
		"huge":      strings.Repeat("\u00e9", 5000),
	}
	u := URL{Bucket: "rec", Key: "meta.cast.zst"}
	res, err := st.PutBytes(ctx, u, []byte("data"), meta, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, Explain(err))
	}
	info, err := st.Stat(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range meta {
		if k == "huge" {
			continue
		}
		if info.Metadata[k] != v {
			t.Errorf("%s: %q, want %q", k, info.Metadata[k], v)
		}
	}
	if h := info.Metadata["huge"]; !strings.HasSuffix(h, truncMark) || !strings.HasPrefix(meta["huge"], strings.TrimSuffix(h, truncMark)) {
		t.Errorf("huge: %q", h)
	}
	if info.Size != 4 || info.SHA256 != res.SHA256 || info.SHA256 != sha([]byte("data")) || time.Since(info.ModTime) > time.Minute {
		t.Errorf("info %+v", info)
	}

	_, err = st.Stat(ctx, URL{Bucket: "rec", Key: "missing"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(Explain(err), "no such object") {
		t.Errorf("missing object: %v / %s", err, Explain(err))
	}
	_, err = st.Stat(ctx, URL{Bucket: "nobucket", Key: "x"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(Explain(err), `bucket "nobucket" does not exist`) {
		t.Errorf("missing bucket: %v / %s", err, Explain(err))
	}
	_, err = st.Open(ctx, URL{Bucket: "rec", Key: "missing"})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("open missing: %v", err)
	}
	_, err = st.PutBytes(ctx, URL{Bucket: "nobucket", Key: "x"}, []byte("x"), nil, nil)
	if ex := Explain(err); !strings.Contains(ex, `bucket "nobucket" does not exist`) {
		t.Errorf("upload to a missing bucket: %v / %s", err, ex)
	}
	_, err = st.List(ctx, URL{Bucket: "nobucket"}, "")
	if ex := Explain(err); !strings.Contains(ex, `bucket "nobucket" does not exist`) {
		t.Errorf("list of a missing bucket: %v / %s", err, ex)
	}
}

func TestList(t *testing.T) {
	_, st := setup(t, "rec")
	ctx := ctxT(t)
	for _, k := range []string{
		"team/a.cast.zst", "team/sub/b.cast.zst", "team/c.txt", "team/d.cast.zst.sig",
		"teamless/e.cast.zst", "other/f.cast.zst",
		"team/live.cast.zst.live/000001", "team/live.cast.zst.live/000002",
		"team/done.cast.zst", "team/done.cast.zst.live/000001",
	} {
		meta := map[string]string{"key": k}
		if _, err := st.PutBytes(ctx, URL{Bucket: "rec", Key: k}, []byte(k), meta, nil); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := st.List(ctx, URL{Bucket: "rec", Key: "team"}, ".cast.zst")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range infos {
		got = append(got, fmt.Sprintf("%s live=%v size=%d meta=%s", in.URL.Key, in.Live, in.Size, in.Metadata["key"]))
	}
	want := []string{
		"team/a.cast.zst live=false size=15 meta=team/a.cast.zst",
		"team/done.cast.zst live=false size=18 meta=team/done.cast.zst",
		"team/live.cast.zst live=true size=60 meta=team/live.cast.zst.live/000001",
		"team/sub/b.cast.zst live=false size=19 meta=team/sub/b.cast.zst",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	all, err := st.List(ctx, URL{Bucket: "rec"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 8 { // the 7 objects that are not segments, and the live recording
		t.Errorf("whole bucket: %d entries", len(all))
	}
}

func TestOpenReadAt(t *testing.T) {
	_, st := setup(t, "rec")
	ctx := ctxT(t)
	path, data := randomFile(t, 6<<20+777)
	u := URL{Bucket: "rec", Key: "big.cast.zst"}
	if _, err := st.Put(ctx, PutInput{URL: u, Path: path}); err != nil {
		t.Fatal(err)
	}

	// A small read in the middle of a fresh Object costs one GET of one block.
	o, err := st.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if o.Size() != int64(len(data)) || o.IsLive() || o.Info().ETag == "" {
		t.Fatalf("size %d live %v info %+v", o.Size(), o.IsLive(), o.Info())
	}
	buf := make([]byte, 100)
	if n, err := o.ReadAt(buf, 3<<20+5); n != 100 || err != nil || !bytes.Equal(buf, data[3<<20+5:3<<20+105]) {
		t.Fatalf("ReadAt: %d %v", n, err)
	}
	if o.Requests() != 1 || o.Fetched() > BlockSize || o.Fetched()*4 > int64(len(data)) {
		t.Errorf("small read: %d requests, %d bytes fetched of %d", o.Requests(), o.Fetched(), len(data))
	}
	// Nearby reads come from the cache.
	for i := range 50 {
		off := int64(3<<20 + i*1000)
		if n, err := o.ReadAt(buf, off); n != 100 || err != nil || !bytes.Equal(buf, data[off:off+100]) {
			t.Fatalf("ReadAt(%d): %d %v", off, n, err)
		}
	}
	if o.Requests() != 1 {
		t.Errorf("cached reads made %d requests", o.Requests())
	}
	// The end.
	if n, err := o.ReadAt(buf, int64(len(data))-10); n != 10 || err != io.EOF || !bytes.Equal(buf[:10], data[len(data)-10:]) {
		t.Errorf("ReadAt at the end: %d %v", n, err)
	}
	if n, err := o.ReadAt(buf, int64(len(data))); n != 0 || err != io.EOF {
		t.Errorf("ReadAt past the end: %d %v", n, err)
	}
	o.Close()
	if _, err := o.ReadAt(buf, 0); err == nil {
		t.Error("ReadAt after Close succeeded")
	}

	// Random ranges, from several goroutines at once.
	o, err = st.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(uint64(g), 1))
			for range 40 {
				off := r.Int64N(int64(len(data)))
				n := r.IntN(3 << 20)
				p := make([]byte, n)
				k, err := o.ReadAt(p, off)
				want := data[off:min(off+int64(n), int64(len(data)))]
				if k != len(want) || !bytes.Equal(p[:k], want) || (k < n) != (err == io.EOF) || (err != nil && err != io.EOF) {
					t.Errorf("ReadAt(%d, %d) = %d, %v", n, off, k, err)
					return
				}
			}
		}()
	}
	wg.Wait()

	// A sequential read in small pieces costs about one GET per block, fewer with read-ahead.
	o2, err := st.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	got, err := io.ReadAll(io.NewSectionReader(o2, 0, o2.Size()))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("sequential read: %v", err)
	}
	blocks := (int64(len(data)) + BlockSize - 1) / BlockSize
	if int64(o2.Requests()) > blocks || o2.Fetched() != int64(len(data)) {
		t.Errorf("sequential read: %d requests for %d blocks, %d bytes fetched", o2.Requests(), blocks, o2.Fetched())
	}
	t.Logf("sequential read of %d bytes: %d requests", len(data), o2.Requests())
}

func TestOpenPinsVersion(t *testing.T) {
	_, st := setup(t, "rec")
	ctx := ctxT(t)
	u := URL{Bucket: "rec", Key: "x.cast.zst"}
	first := bytes.Repeat([]byte("a"), 3<<20)
	if _, err := st.PutBytes(ctx, u, first, nil, nil); err != nil {
		t.Fatal(err)
	}
	o, err := st.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	buf := make([]byte, 10)
	if _, err := o.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	// Someone else replaces it (Put never would).
	if _, err := st.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(u.Bucket), Key: aws.String(u.Key),
		Body: bytes.NewReader(bytes.Repeat([]byte("b"), 3<<20))}); err != nil {
		t.Fatal(err)
	}
	_, err = o.ReadAt(buf, 2<<20) // not cached: must not read the new version
	if err == nil {
		t.Fatalf("read %q from an overwritten object", buf)
	}
	if ex := Explain(err); !strings.Contains(ex, "changed while it was being read") {
		t.Errorf("Explain: %s (%v)", ex, err)
	}
}

func TestLiveSegments(t *testing.T) {
	_, st := setup(t, "rec")
	ctx := ctxT(t)
	old := BlockSize
	BlockSize = 16 << 10 // so that blocks span segments
	t.Cleanup(func() { BlockSize = old })
	u := URL{Bucket: "rec", Key: "sessions/live.cast.zst"}
	var all []byte
	put := func(n, size int) []byte {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		k := URL{Bucket: u.Bucket, Key: u.Key + LiveSuffix + fmt.Sprintf("%06d", n)}
		if _, err := st.PutBytes(ctx, k, data, map[string]string{"seq": fmt.Sprint(n)}, nil); err != nil {
			t.Fatal(err)
		}
		return data
	}
	for i, size := range []int{100_000, 1, 70_000} {
		all = append(all, put(i+1, size)...)
	}
	o, err := st.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if !o.IsLive() || o.Size() != int64(len(all)) || o.Info().Metadata["seq"] != "1" || !o.Info().Live {
		t.Fatalf("live %v size %d info %+v", o.IsLive(), o.Size(), o.Info())
	}
	check := func() {
		t.Helper()
		got, err := io.ReadAll(io.NewSectionReader(o, 0, o.Size()))
		if err != nil || !bytes.Equal(got, all) {
			t.Fatalf("concatenation differs (%v, %d of %d bytes)", err, len(got), len(all))
		}
		p := make([]byte, 20)
		if n, err := o.ReadAt(p, 99_990); n != 20 || err != nil || !bytes.Equal(p, all[99_990:100_010]) {
			t.Fatalf("read across segments: %d %v", n, err)
		}
	}
	check()

	// A gap: segment 5 before 4. Nothing new until 4 arrives.
	five := put(5, 5000)
	if grew, err := o.Refresh(ctx); err != nil || grew {
		t.Fatalf("refresh over a gap: %v %v", grew, err)
	}
	all = append(all, put(4, 3000)...)
	all = append(all, five...)
	if grew, err := o.Refresh(ctx); err != nil || !grew || o.Size() != int64(len(all)) {
		t.Fatalf("refresh: %v %v size %d want %d", grew, err, o.Size(), len(all))
	}
	check()
}

func TestServerDown(t *testing.T) {
	srv, st := setup(t, "rec")
	path, _ := randomFile(t, 10_000)
	srv.Stop()
	start := time.Now()
	_, err := st.Put(ctxT(t), PutInput{URL: URL{Bucket: "rec", Key: "x.cast.zst"}, Path: path})
	took := time.Since(start)
	if err == nil {
		t.Fatal("put to a stopped server succeeded")
	}
	if took > 8*time.Second {
		t.Errorf("failing took %s", took)
	}
	ex := Explain(err)
	if !strings.Contains(ex, "cannot reach") || !strings.Contains(ex, srv.Endpoint) {
		t.Errorf("Explain: %s", ex)
	}
	t.Logf("failed in %s: %s", took.Round(time.Millisecond), ex)

	srv.Restart(t)
	if _, err := st.Put(ctxT(t), PutInput{URL: URL{Bucket: "rec", Key: "x.cast.zst"}, Path: path}); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestBadCredentials(t *testing.T) {
	srv, _ := setup(t, "rec")
	ctx := ctxT(t)
	path, _ := randomFile(t, 1000)
	const wrong = "wrongSecretKeyThatMustNeverBeShown0123456"
	t.Setenv("AWS_SECRET_ACCESS_KEY", wrong)
	st, err := New(ctx, Settings{PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	u := URL{Bucket: "rec", Key: "x.cast.zst"}
	_, perr := st.Put(ctx, PutInput{URL: u, Path: path})
	_, serr := st.Stat(ctx, u)
	_, lerr := st.List(ctx, URL{Bucket: "rec"}, "")
	for _, err := range []error{perr, serr, lerr} {
		if err == nil {
			t.Fatal("bad secret accepted")
		}
		ex := Explain(err)
		if !strings.Contains(ex, "refused the credentials") {
			t.Errorf("Explain: %s (%v)", ex, err)
		}
		for _, secret := range []string{wrong, srv.SecretKey} {
			if strings.Contains(err.Error(), secret) || strings.Contains(ex, secret) || strings.Contains(fmt.Sprintf("%+v", err), secret) {
				t.Errorf("secret in error text: %v / %s", err, ex)
			}
		}
	}
	t.Logf("%s", Explain(perr))

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	st, err = New(ctx, Settings{PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Put(ctx, PutInput{URL: u, Path: path})
	if ex := Explain(err); err == nil || !strings.Contains(ex, "no S3 credentials") {
		t.Errorf("no credentials: %v / %s", err, ex)
	}
}

func TestSettings(t *testing.T) {
	srv, _ := setup(t)
	ctx := ctxT(t)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	st, err := New(ctx, Settings{Endpoint: srv.Endpoint, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Region() != DefaultRegion || st.Endpoint() != srv.Endpoint {
		t.Errorf("region %q endpoint %q", st.Region(), st.Endpoint())
	}
	if _, err := New(ctx, Settings{Endpoint: "minio:9000"}); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Errorf("endpoint without a scheme: %v", err)
	}
	_, err = New(ctx, Settings{Profile: "no-such-profile"})
	if err == nil || !strings.Contains(Explain(err), "profile") {
		t.Errorf("missing profile: %v / %s", err, Explain(err))
	}
}

func TestDialTimeoutNotRetried(t *testing.T) {
	// A dial that times out: the classification the retryer and Explain rely on.
	d := net.Dialer{Timeout: time.Nanosecond}
	_, err := d.Dial("tcp", "127.0.0.1:9")
	if err == nil {
		t.Skip("dial did not time out") // never in practice: 1ns
	}
	if !isDialTimeout(err) || noDialTimeoutRetry(err) != aws.FalseTernary {
		t.Errorf("%v not seen as a dial timeout", err)
	}
	if ex := Explain(&opError{op: "upload", url: URL{Bucket: "b", Key: "k"}, endpoint: "https://s3.example", err: err}); !strings.Contains(ex, "cannot reach the S3 endpoint https://s3.example: connection timed out") {
		t.Errorf("Explain: %s", ex)
	}
	if noDialTimeoutRetry(errors.New("x")) != aws.UnknownTernary {
		t.Error("other errors must be left to the standard retryer")
	}
}

func TestEmptyObject(t *testing.T) {
	_, st := setup(t, "rec")
	ctx := ctxT(t)
	p := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	u := URL{Bucket: "rec", Key: "empty.cast.zst"}
	res, err := st.Put(ctx, PutInput{URL: u, Path: p})
	if err != nil || res.SHA256 != sha(nil) {
		t.Fatalf("%+v %v", res, err)
	}
	o, err := st.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if n, err := o.ReadAt(make([]byte, 4), 0); n != 0 || err != io.EOF || o.Requests() != 0 {
		t.Errorf("ReadAt: %d %v, %d requests", n, err, o.Requests())
	}
	if _, err := st.Put(ctx, PutInput{URL: URL{Bucket: "rec", Key: "dir/"}, Path: p}); err == nil {
		t.Error("upload to a key ending in / accepted")
	}
}
