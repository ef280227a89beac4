package storage

import (
	"fmt"
	"strings"
)

// Scheme is the prefix of every remote location.
const Scheme = "s3://"

// IsRemote reports whether s names an object store location (s3://...) rather than a local path.
func IsRemote(s string) bool { return strings.HasPrefix(s, Scheme) }

// URL is an s3://bucket/key location. Key may be empty (the whole bucket) or a prefix.
type URL struct {
	Bucket string
	Key    string
}

// ParseURL parses "s3://bucket", "s3://bucket/" or "s3://bucket/a/b". The key is taken as it is
// written (S3 keys are not percent-encoded in s3:// locations). Any other scheme, an empty or
// invalid bucket name is an error.
func ParseURL(s string) (URL, error) {
	if !IsRemote(s) {
		if i := strings.Index(s, "://"); i > 0 {
			return URL{}, fmt.Errorf("%q: unsupported scheme %q: only s3://bucket/key locations are supported", s, s[:i+3])
		}
		return URL{}, fmt.Errorf("%q is not an s3:// location (expected s3://bucket/key)", s)
	}
	rest := s[len(Scheme):]
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return URL{}, fmt.Errorf("%q: missing bucket name (expected s3://bucket/key)", s)
	}
	if err := checkBucket(bucket); err != nil {
		return URL{}, fmt.Errorf("%q: %w", s, err)
	}
	return URL{Bucket: bucket, Key: key}, nil
}

// checkBucket applies the S3 bucket naming rules: 3 to 63 characters, lowercase letters, digits,
// '.' and '-', beginning and ending with a letter or digit.
func checkBucket(b string) error {
	const rule = "bucket names are 3 to 63 lowercase letters, digits, '.' and '-', beginning and ending with a letter or digit"
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("invalid bucket name %q: %s", b, rule)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '-' {
			return fmt.Errorf("invalid bucket name %q (character %q): %s", b, c, rule)
		}
		if !alnum && (i == 0 || i == len(b)-1) {
			return fmt.Errorf("invalid bucket name %q: %s", b, rule)
		}
	}
	return nil
}

// String returns "s3://bucket/key", or "s3://bucket" when the key is empty.
func (u URL) String() string {
	if u.Key == "" {
		return Scheme + u.Bucket
	}
	return Scheme + u.Bucket + "/" + u.Key
}

// Join appends path elements to the key, separated by single slashes: empty elements and
// leading, trailing or repeated slashes are dropped, so the key never starts with "/" nor holds
// "//". "." and ".." are kept as they are: they are ordinary characters in S3 keys.
func (u URL) Join(elem ...string) URL {
	parts := make([]string, 0, len(elem)+1)
	for _, e := range append([]string{u.Key}, elem...) {
		for p := range strings.SplitSeq(e, "/") {
			if p != "" {
				parts = append(parts, p)
			}
		}
	}
	return URL{Bucket: u.Bucket, Key: strings.Join(parts, "/")}
}

// dirPrefix returns the key as a listing prefix: "" for the whole bucket, otherwise the key with
// exactly one trailing slash, so that "s3://b/rec" lists rec/... and not rec-old/...
func (u URL) dirPrefix() string {
	k := strings.TrimRight(u.Key, "/")
	if k == "" {
		return ""
	}
	return k + "/"
}
