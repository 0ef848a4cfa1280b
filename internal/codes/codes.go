// Package codes validates the coded values the API accepts: countries
// (ISO 3166-1 alpha-2), languages (ISO 639-1) and currencies (ISO 4217).
//
// The lists live in the embedded files countries.txt, languages.txt and
// currencies.txt, which also say which codes are left out and why. Each file
// holds codes separated by white space; a '#' starts a comment that runs to
// the end of the line. Matching is exact and case-sensitive.
package codes

import (
	_ "embed"
	"fmt"
	"strings"
)

// The codes that stand for a value that is not known, accepted by Country,
// Language and Unknown, but not by Currency.
const (
	// CodeUnknown is the code for a value that is not known.
	CodeUnknown = "unknown"
	// CodeRefused is the code for a value the person declined to give.
	CodeRefused = "refused"
	// CodeNotCollected is the code for a value that was never asked for.
	CodeNotCollected = "not_collected"
)

var (
	//go:embed countries.txt
	countriesText string
	//go:embed languages.txt
	languagesText string
	//go:embed currencies.txt
	currenciesText string
)

// Lookup sets, built once at init from the embedded lists and never changed.
var (
	countries  = mustParse("countries.txt", countriesText, 2, 'A', 'Z')
	languages  = mustParse("languages.txt", languagesText, 2, 'a', 'z')
	currencies = mustParse("currencies.txt", currenciesText, 3, 'A', 'Z')
)

// Country reports whether s is an ISO 3166-1 alpha-2 country code (upper-case, XK included) or an unknown code.
func Country(s string) bool {
	_, ok := countries[s]
	return ok || Unknown(s)
}

// Language reports whether s is an ISO 639-1 two-letter language code (lower-case) or an unknown code.
func Language(s string) bool {
	_, ok := languages[s]
	return ok || Unknown(s)
}

// Currency reports whether s is the upper-case ISO 4217 code of a currency in circulation, never an unknown code.
func Currency(s string) bool {
	_, ok := currencies[s]
	return ok
}

// Unknown reports whether s is one of the codes "unknown", "refused" or "not_collected".
func Unknown(s string) bool {
	return s == CodeUnknown || s == CodeRefused || s == CodeNotCollected
}

// mustParse reads a list of codes of length n made of the letters lo..hi,
// and panics on a malformed or repeated code, so a bad list fails at start-up.
func mustParse(name, text string, n int, lo, hi byte) map[string]struct{} {
	set := make(map[string]struct{})
	for line := range strings.Lines(text) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, code := range strings.Fields(line) {
			if len(code) != n || strings.IndexFunc(code, func(r rune) bool { return r < rune(lo) || r > rune(hi) }) >= 0 {
				panic(fmt.Sprintf("codes: %s: malformed code %q", name, code))
			}
			if _, dup := set[code]; dup {
				panic(fmt.Sprintf("codes: %s: duplicate code %q", name, code))
			}
			set[code] = struct{}{}
		}
	}
	return set
}
