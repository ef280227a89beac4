package storage

import (
	"fmt"
	"mime"
	"slices"
	"strings"
	"unicode/utf8"
)

// MetadataLimit is S3's limit on user metadata. It is counted here conservatively: the bytes of
// "x-amz-meta-" plus key plus (encoded) value, summed over all entries.
const MetadataLimit = 2048

const metaPrefix = "x-amz-meta-"

// truncMark ends a value that HeaderSafeMetadata shortened.
const truncMark = "..."

// HeaderSafeMetadata returns the metadata as Put sends it: keys lowercased and checked, values
// that HTTP headers cannot carry faithfully (non-ASCII or control characters, leading or
// trailing blanks, or "=?" which would read as an encoded word) encoded as RFC 2047 "Q" encoded
// words in UTF-8, and the longest values truncated (ending in "...") until the total fits in
// MetadataLimit. Invalid UTF-8 becomes U+FFFD. DecodeMetadata reverses the encoding.
func HeaderSafeMetadata(m map[string]string) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	raw := make(map[string]string, len(m))
	for k, v := range m {
		lk := strings.ToLower(k)
		if err := checkMetaKey(lk); err != nil {
			return nil, err
		}
		if _, dup := raw[lk]; dup {
			return nil, fmt.Errorf("metadata key %q given twice (keys are case-insensitive)", lk)
		}
		raw[lk] = strings.ToValidUTF8(v, "\uFFFD")
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	enc := make(map[string]string, len(raw))
	total := 0
	for _, k := range keys {
		enc[k] = encodeMetaValue(raw[k])
		total += len(metaPrefix) + len(k) + len(enc[k])
	}
	for total > MetadataLimit {
		// Shorten the longest value (the first key in order among equals) by what is over.
		long := keys[0]
		for _, k := range keys[1:] {
			if len(enc[k]) > len(enc[long]) {
				long = k
			}
		}
		if enc[long] == "" {
			return nil, fmt.Errorf("metadata keys alone exceed S3's %d-byte limit", MetadataLimit)
		}
		target := len(enc[long]) - (total - MetadataLimit)
		v := truncateEncoded(raw[long], target)
		total += len(v) - len(enc[long])
		enc[long] = v
	}
	return enc, nil
}

// DecodeMetadata decodes values that HeaderSafeMetadata (or AWS itself) encoded as RFC 2047
// encoded words, and lowercases keys.
func DecodeMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return map[string]string{}
	}
	out := make(map[string]string, len(m))
	var dec mime.WordDecoder
	for k, v := range m {
		if strings.Contains(v, "=?") {
			if d, err := dec.DecodeHeader(v); err == nil {
				v = d
			}
		}
		out[strings.ToLower(k)] = v
	}
	return out
}

func checkMetaKey(k string) error {
	if k == "" {
		return fmt.Errorf("empty metadata key")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("metadata key %q: only letters, digits, '-', '_' and '.' are allowed", k)
		}
	}
	return nil
}

func needsEncoding(v string) bool {
	if v == "" {
		return false
	}
	if v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' || strings.Contains(v, "=?") {
		return true
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] >= 0x7f {
			return true
		}
	}
	return false
}

func encodeMetaValue(v string) string {
	if !needsEncoding(v) {
		return v
	}
	return qEncode(v)
}

// qEncode writes v as RFC 2047 "Q" encoded words in UTF-8, each at most 75 characters and never
// splitting a character, separated by single spaces.
func qEncode(v string) string {
	const head, tail, maxWord = "=?utf-8?q?", "?=", 75
	var b, word strings.Builder
	flush := func() {
		if word.Len() == 0 {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(head + word.String() + tail)
		word.Reset()
	}
	for _, r := range v {
		var piece string
		switch {
		case r == ' ':
			piece = "_"
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-.!*+/", r)):
			piece = string(r)
		default:
			var buf [utf8.UTFMax]byte
			n := utf8.EncodeRune(buf[:], r)
			var p strings.Builder
			for _, c := range buf[:n] {
				fmt.Fprintf(&p, "=%02X", c)
			}
			piece = p.String()
		}
		if len(head)+word.Len()+len(piece)+len(tail) > maxWord {
			flush()
		}
		word.WriteString(piece)
	}
	flush()
	return b.String()
}

// truncateEncoded returns the longest prefix of v (whole characters), followed by truncMark,
// whose encoding is at most target bytes; "" if not even the mark fits.
func truncateEncoded(v string, target int) string {
	if len(encodeMetaValue(truncMark)) > target {
		return ""
	}
	// Character boundaries of v (cuts[0] == 0, the empty prefix, which fits); binary search
	// the longest prefix that fits.
	cuts := []int{0}
	for i := range v {
		if i > 0 {
			cuts = append(cuts, i)
		}
	}
	lo, hi := 0, len(cuts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if len(encodeMetaValue(v[:cuts[mid]]+truncMark)) <= target {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return encodeMetaValue(v[:cuts[lo]] + truncMark)
}
