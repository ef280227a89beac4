package tests3

import (
	"os"
	"regexp"
	"testing"
)

// TestMakefileBuildsThisVersion: `make s3-build` and Binary build the same
// release into the same place, so neither builds it twice.
func TestMakefileBuildsThisVersion(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VERSITYGW_VER\s*=\s*(\S+)`).FindSubmatch(mk)
	if m == nil || string(m[1]) != Version {
		t.Fatalf("Makefile VERSITYGW_VER %q, tests3.Version %q", m, Version)
	}
}
