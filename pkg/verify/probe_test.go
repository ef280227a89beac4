package verify

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

func TestProbeHang(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	seeds := fuzzSeeds(t)
	for i := 0; i < 3000; i++ {
		d := append([]byte(nil), seeds[rng.IntN(len(seeds))].data...)
		if len(d) == 0 {
			continue
		}
		for k := 0; k < 1+rng.IntN(4); k++ {
			switch rng.IntN(3) {
			case 0:
				d[rng.IntN(len(d))] = byte(rng.IntN(256))
			case 1:
				p := rng.IntN(len(d))
				d = append(d[:p], append([]byte{byte(rng.IntN(256)), byte(rng.IntN(256))}, d[p:]...)...)
			case 2:
				p := rng.IntN(len(d))
				d = d[:p]
			}
			if len(d) == 0 {
				break
			}
		}
		done := make(chan struct{})
		go func() {
			verifyBytes(d)
			verifyBytes(d, testPub())
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			os.WriteFile("/tmp/hang.bin", d, 0o644)
			t.Fatalf("hang at %d, len %d", i, len(d))
		}
	}
}
