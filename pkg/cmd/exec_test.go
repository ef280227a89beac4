package cmd

import (
	"reflect"
	"testing"
)

func TestRedactArgs(t *testing.T) {
	in := []string{"kubectl-rexec", "--token", "abc", "--token=def", "--password=x", "pod", "--", "sh", "--token", "remote-arg"}
	want := []string{"kubectl-rexec", "--token", "REDACTED", "--token=REDACTED", "--password=REDACTED", "pod", "--", "sh", "--token", "remote-arg"}
	if got := RedactArgs(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if in[2] != "abc" {
		t.Errorf("input was modified")
	}
}
