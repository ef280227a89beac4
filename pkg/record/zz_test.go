package record

import (
	"bytes"
	"errors"
	"io"
	mrand "math/rand/v2"
	"testing"
	"time"
)

func TestZZMutate(t *testing.T) {
	good := record(t, Options{FrameBytes: 256}, exited(1), func(w *Writer) {
		for _, s := range []string{"hello\n", "\x1b[31mred\x1b[0m", "a\xffb", "€"} {
			_ = w.Stdout([]byte(s))
			_ = w.Stdin([]byte(s))
		}
		_ = w.Resize(100, 30)
		_ = w.Marker("m")
	})
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		d := bytes.Clone(good)
		for k := rng.IntN(4); k >= 0; k-- {
			switch rng.IntN(3) {
			case 0:
				d[rng.IntN(len(d))] = byte(rng.Uint32())
			case 1:
				i := rng.IntN(len(d))
				d = append(d[:i:i], append([]byte{byte(rng.Uint32())}, d[i:]...)...)
			case 2:
				d = d[:rng.IntN(len(d))+1]
			}
		}
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			r, err := NewReader(bytes.NewReader(d), int64(len(d)))
			if err != nil {
				return
			}
			for {
				_, err := r.Next()
				if err != nil {
					if !errors.Is(err, io.EOF) {
					}
					return
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("hang on %x", d)
		}
		if el := time.Since(start); el > 100*time.Millisecond {
			t.Logf("slow %v", el)
		}
	}
}
