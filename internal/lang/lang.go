// Package lang makes kubectl's message catalog load only when it is
// needed. kubectl's i18n loads the catalog of the user's language on the
// first i18n.T call, and packages that rexec links through kubectl's exec
// command call it while they initialise: 18 ms and 4.4 MB of allocations at
// every start, to translate English into English. This package replaces the
// loader before any of them runs (Go initialises ready packages in import
// path order, and this path sorts before every k8s.io package): for English,
// C or no locale nothing is loaded and kubectl's English strings are used
// as they are (its default and en_US catalogs map every string to itself);
// for any other language the catalog is loaded exactly as kubectl does.
package lang

import (
	"os"
	"strings"

	"k8s.io/kubectl/pkg/util/i18n"
)

func init() {
	if english(locale()) {
		_ = i18n.SetLoadTranslationsFunc(func() error { return nil })
	}
}

// locale is the locale kubectl's loader reads: LC_ALL, LC_MESSAGES, LANG.
func locale() string {
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// english reports whether kubectl would show its English strings for l:
// no locale, C or POSIX, one it does not parse (it falls back to English
// then), or en_*.
func english(l string) bool {
	lang, _, ok := strings.Cut(l, ".")
	return !ok || lang == "C" || lang == "POSIX" || strings.HasPrefix(lang, "en_") || lang == "en"
}
