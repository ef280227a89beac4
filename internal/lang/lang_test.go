package lang

import "testing"

func TestEnglish(t *testing.T) {
	for l, want := range map[string]bool{
		"": true, "C": true, "C.UTF-8": true, "POSIX": true, "en_US.UTF-8": true, "en_GB.utf8": true,
		"ja_JP.UTF-8": false, "de_DE.UTF-8": false, "fr_FR.ISO-8859-1": false, "ja_JP": true, // no dot: kubectl falls back to English
	} {
		if got := english(l); got != want {
			t.Errorf("english(%q) = %v, want %v", l, got, want)
		}
	}
}
