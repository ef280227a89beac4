package storage

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPutNeverOverwrites: against versitygw, a second upload to a key that
// is taken fails, whatever the way up (single PUT, multipart, PutBytes)
// and the bucket (plain, versioned with Object Lock), and the first object
// is left as it was. The error matches ErrExists and says so plainly.
func TestPutNeverOverwrites(t *testing.T) {
	lowerMultipart(t)
	_, st := setup(t, "rec", "locked-rec")
	ctx := ctxT(t)
	small, smallData := randomFile(t, 1000)
	other, _ := randomFile(t, 2000)
	big, bigData := randomFile(t, 13<<20+7)
	bigOther, _ := randomFile(t, 12<<20+9)
	for _, bucket := range []string{"rec", "locked-rec"} {
		var ret *Retention
		if bucket == "locked-rec" {
			ret = &Retention{Mode: "GOVERNANCE", Until: time.Now().Add(time.Hour)}
		}
		for _, c := range []struct {
			name        string
			first, then string
			firstData   []byte
		}{
			{"single", small, other, smallData},
			{"multipart", big, bigOther, bigData},
			{"single over multipart", big, other, bigData},
			{"multipart over single", small, bigOther, smallData},
		} {
			u := URL{Bucket: bucket, Key: strings.ReplaceAll(c.name, " ", "-") + ".cast.zst"}
			if _, err := st.Put(ctx, PutInput{URL: u, Path: c.first, Retention: ret}); err != nil {
				t.Fatalf("%s %s: first upload: %v", bucket, c.name, err)
			}
			_, err := st.Put(ctx, PutInput{URL: u, Path: c.then, Retention: ret})
			if !errors.Is(err, ErrExists) || !strings.Contains(Explain(err), "already exists") {
				t.Errorf("%s %s: second upload: %v (%s)", bucket, c.name, err, Explain(err))
			}
			if got := readAll(t, st, u); !bytes.Equal(got, c.firstData) {
				t.Errorf("%s %s: the object was replaced", bucket, c.name)
			}
		}
		u := URL{Bucket: bucket, Key: "segment"}
		if _, err := st.PutBytes(ctx, u, []byte("first"), nil, ret); err != nil {
			t.Fatal(err)
		}
		if _, err := st.PutBytes(ctx, u, []byte("second"), nil, ret); !errors.Is(err, ErrExists) {
			t.Errorf("%s: PutBytes over an object: %v", bucket, err)
		}
		if got := readAll(t, st, u); string(got) != "first" {
			t.Errorf("%s: PutBytes replaced the object: %q", bucket, got)
		}
	}
}
