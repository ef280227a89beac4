package cmd

import (
	"reflect"
	"strings"
	"testing"
)

// TestRedactEveryCredential: no credential of the command line survives
// RedactArgs, in any form a flag can take; what is no secret stays.
func TestRedactEveryCredential(t *testing.T) {
	secrets := []string{"s3cr3t-token", "hunter2", "pr0xy-pw", "srv-pw", "tok-in-url", "upl-pw"}
	in := []string{"kubectl-rexec",
		"--token", "s3cr3t-token", "--token=s3cr3t-token",
		"--password", "hunter2", "--password=hunter2",
		"--proxy-url", "http://alice:pr0xy-pw@proxy.example:3128",
		"--proxy-url=socks5://alice:pr0xy-pw@proxy.example:1080",
		"-s", "https://admin:srv-pw@api.example:6443", "-shttps://admin:srv-pw@api.example:6443",
		"-s=https://admin:srv-pw@api.example:6443", "--server=https://tok-in-url@api.example:6443/",
		"--upload", "s3://key:upl-pw@bucket/prefix",
		"-n", "default", "--username", "alice", "--client-key", "/home/alice/.kube/key.pem",
		"--as", "bob", "mypod", "--", "curl", "https://user:remote-pw@example.com"}
	got := RedactArgs(in)
	joined := strings.Join(got[:len(got)-3], " ")
	for _, s := range secrets {
		if strings.Contains(joined, s) {
			t.Errorf("%q survives: %q", s, got)
		}
	}
	for _, keep := range []string{"proxy.example:3128", "api.example:6443", "bucket/prefix", "--username alice", "/home/alice/.kube/key.pem", "--as bob", "mypod"} {
		if !strings.Contains(joined, keep) {
			t.Errorf("%q was lost: %q", keep, got)
		}
	}
	if want := []string{"--", "curl", "https://user:remote-pw@example.com"}; !reflect.DeepEqual(got[len(got)-3:], want) {
		t.Errorf("the remote command changed: %q", got[len(got)-3:])
	}
	if got[10] != "-s" || got[11] != "https://REDACTED@api.example:6443" {
		t.Errorf("-s URL: %q %q", got[10], got[11])
	}
	if in[2] != "s3cr3t-token" {
		t.Error("the input was modified")
	}
}
