package storage

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		in          string
		bucket, key string
		err         string
	}{
		{in: "s3://bucket", bucket: "bucket"},
		{in: "s3://bucket/", bucket: "bucket"},
		{in: "s3://my.bucket-1/a/b.cast.zst", bucket: "my.bucket-1", key: "a/b.cast.zst"},
		{in: "s3://bucket/dir/", bucket: "bucket", key: "dir/"},
		{in: "s3://bucket/caf\u00e9 x", bucket: "bucket", key: "caf\u00e9 x"},
		{in: "gs://bucket/x", err: "unsupported scheme \"gs://\""},
		{in: "https://host/x", err: "unsupported scheme"},
		{in: "/tmp/rec.cast.zst", err: "not an s3:// location"},
		{in: "S3://bucket/x", err: "unsupported scheme"},
		{in: "s3://", err: "missing bucket"},
		{in: "s3:///key", err: "missing bucket"},
		{in: "s3://My_Bucket/x", err: "invalid bucket name \"My_Bucket\""},
		{in: "s3://ab/x", err: "invalid bucket name"},
		{in: "s3://-abc/x", err: "invalid bucket name"},
		{in: "s3://a b c/x", err: "invalid bucket name"},
		{in: "s3://" + strings.Repeat("a", 64), err: "invalid bucket name"},
	} {
		u, err := ParseURL(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseURL(%q) = %v, %v; want error containing %q", c.in, u, err, c.err)
			}
			continue
		}
		if err != nil || u.Bucket != c.bucket || u.Key != c.key {
			t.Errorf("ParseURL(%q) = %+v, %v; want %s %q", c.in, u, err, c.bucket, c.key)
		}
	}
	if !IsRemote("s3://b/k") || IsRemote("/tmp/x") || IsRemote("s3:/b") {
		t.Error("IsRemote")
	}
}

func TestURLStringJoin(t *testing.T) {
	b := URL{Bucket: "bkt"}
	for _, c := range []struct {
		u    URL
		want string
	}{
		{b, "s3://bkt"},
		{b.Join("a", "b"), "s3://bkt/a/b"},
		{b.Join("/a/", "//b//", "", "c.cast.zst"), "s3://bkt/a/b/c.cast.zst"},
		{URL{Bucket: "bkt", Key: "dir/"}.Join("x"), "s3://bkt/dir/x"},
		{URL{Bucket: "bkt", Key: "p"}.Join(), "s3://bkt/p"},
		{URL{Bucket: "bkt", Key: "p"}.Join("2026/11", "rec.cast.zst"), "s3://bkt/p/2026/11/rec.cast.zst"},
	} {
		if got := c.u.String(); got != c.want {
			t.Errorf("got %s, want %s", got, c.want)
		}
		if back, err := ParseURL(c.want); err != nil || back != c.u {
			t.Errorf("ParseURL(%s) = %+v, %v; want %+v", c.want, back, err, c.u)
		}
	}
	if p := (URL{Bucket: "b", Key: "rec"}).dirPrefix(); p != "rec/" {
		t.Error(p)
	}
}

func TestHeaderSafeMetadata(t *testing.T) {
	in := map[string]string{
		"Plain":    "kubectl rexec -it pod -- sh",
		"unicode":  "caf\u00e9 \u2615 \u65e5\u672c\u8a9e",
		"controls": "a\tb\nc\x00d",
		"blanks":   "  padded  ",
		"word":     "=?utf-8?q?not_an_encoded_word?=",
		"empty":    "",
	}
	enc, err := HeaderSafeMetadata(in)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range enc {
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] >= 0x7f {
				t.Fatalf("%s=%q is not header-safe", k, v)
			}
		}
	}
	if enc["plain"] != in["Plain"] {
		t.Errorf("plain ASCII was encoded: %q", enc["plain"])
	}
	dec := DecodeMetadata(enc)
	for k, v := range in {
		if dec[strings.ToLower(k)] != v {
			t.Errorf("%s: %q round-trips to %q (sent %q)", k, v, dec[strings.ToLower(k)], enc[strings.ToLower(k)])
		}
	}

	big := map[string]string{
		"short": "keep me",
		"long":  strings.Repeat("\u00e9x", 2000),
		"long2": strings.Repeat("y", 1500),
	}
	enc, err = HeaderSafeMetadata(big)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for k, v := range enc {
		total += len(metaPrefix) + len(k) + len(v)
	}
	if total > MetadataLimit {
		t.Fatalf("total %d > %d", total, MetadataLimit)
	}
	dec = DecodeMetadata(enc)
	if dec["short"] != "keep me" {
		t.Errorf("short value changed: %q", dec["short"])
	}
	if !strings.HasSuffix(dec["long"], truncMark) || !strings.HasPrefix(big["long"], strings.TrimSuffix(dec["long"], truncMark)) {
		t.Errorf("long value not truncated on a character boundary: %q", dec["long"])
	}
	if _, err := HeaderSafeMetadata(map[string]string{"bad key": "x"}); err == nil {
		t.Error("key with a space accepted")
	}
	if _, err := HeaderSafeMetadata(map[string]string{"A": "1", "a": "2"}); err == nil {
		t.Error("duplicate keys accepted")
	}
}
