package wsexec

import (
	"errors"
	"testing"

	"k8s.io/client-go/util/exec"
)

func TestDecodeStatus(t *testing.T) {
	for _, tc := range []struct {
		msg, want string
		code      int
	}{
		{``, "", 0},
		{`{"status":"Success"}`, "", 0},
		{`{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"42"}]}}`, "command terminated with exit code 42", 42},
		{`{"status":"Failure","reason":"NonZeroExitCode"}`, "error stream protocol error: details must be set", -1},
		{`{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"300"}]}}`, `error stream protocol error: invalid exit code value "300"`, -1},
		{`{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[]}}`, "error stream protocol error: no ExitCode cause given", -1},
		{`{"status":"Failure","message":"container not found (\"x\")"}`, `container not found ("x")`, -1},
		{`{"status":"Odd"}`, "error stream protocol error: unknown error", -1},
		{`not json`, `error stream protocol error: invalid character 'o' in literal null (expecting 'u') in "not json"`, -1},
	} {
		err := decodeStatus([]byte(tc.msg))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v, want nil", tc.msg, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.msg, err, tc.want)
		}
		var ce exec.CodeExitError
		if got := errors.As(err, &ce); got != (tc.code >= 0) || (got && ce.Code != tc.code) {
			t.Errorf("%s: exit error %v code %d, want code %d", tc.msg, got, ce.Code, tc.code)
		}
	}
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add([]byte(`{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"1"}]}}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		_ = decodeStatus(msg) // never panics
	})
}
