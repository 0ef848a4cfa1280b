package codes_test

import (
	"testing"

	"github.com/casework/casework/internal/codes"
)

var unknownCodes = []string{"unknown", "refused", "not_collected"}

func check(t *testing.T, name string, f func(string) bool, want bool, values ...string) {
	t.Helper()
	for _, v := range values {
		if got := f(v); got != want {
			t.Errorf("%s(%q) = %v, want %v", name, v, got, want)
		}
	}
}

func TestCounts(t *testing.T) {
	// 249 officially assigned ISO 3166-1 codes plus XK.
	if got, want := codes.NumCountries, 250; got != want {
		t.Errorf("countries: %d codes, want %d", got, want)
	}
	// 183 current ISO 639-1 codes plus the deprecated bh.
	if got, want := codes.NumLanguages, 184; got != want {
		t.Errorf("languages: %d codes, want %d", got, want)
	}
	if got, want := codes.NumCurrencies, 155; got != want {
		t.Errorf("currencies: %d codes, want %d", got, want)
	}
}

func TestCountry(t *testing.T) {
	check(t, "Country", codes.Country, true,
		"KZ", "RU", "UZ", "KG", "TJ", "TM", "AF", "UA", "DE", "US",
		"GB", "CN", "TR", "AD", "ZW", "SS", "BQ", "CW", "SX", "AX", "XK")
	check(t, "Country", codes.Country, true, unknownCodes...)
	check(t, "Country", codes.Country, false,
		"", "kz", "Kz", "ZZ", "XX", "XA", "AA", "QM", "UK", "EU", "SU", "YU", "CS", "AN",
		"KAZ", "K", " KZ", "KZ ", "Unknown", "UNKNOWN", "not collected")
}

func TestLanguage(t *testing.T) {
	check(t, "Language", codes.Language, true,
		"kk", "ru", "en", "uz", "ky", "tg", "tk", "uk", "de", "fa",
		"ps", "tt", "ba", "ug", "zh", "aa", "zu", "bh", "nb", "nn", "no")
	check(t, "Language", codes.Language, true, unknownCodes...)
	check(t, "Language", codes.Language, false,
		"", "KK", "Kk", "kaz", "rus", "sh", "mo", "iw", "in", "ji", "zz", "qa",
		"en-US", "k", " kk")
}

func TestCurrency(t *testing.T) {
	check(t, "Currency", codes.Currency, true,
		"KZT", "USD", "EUR", "RUB", "UZS", "KGS", "TJS", "TMT", "AFN", "UAH",
		"GBP", "CHF", "JPY", "CNY", "TRY", "XAF", "XOF", "XCD", "XPF", "XCG",
		"ZWG", "SLE", "VES", "VED", "MRU", "STN", "BYN")
	check(t, "Currency", codes.Currency, false, unknownCodes...)
	check(t, "Currency", codes.Currency, false,
		"", "kzt", "Kzt", "KZ", "KZTT", "XAU", "XAG", "XPT", "XPD", "XTS", "XXX",
		"XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "BOV", "CHE", "CHW",
		"CLF", "COU", "MXV", "USN", "UYI", "UYW", "HRK", "ZWL", "ANG", "BGN",
		"SLL", "CUC", "RUR", "BYR", "VEF", "MRO", "STD", "DEM")
}

func TestUnknown(t *testing.T) {
	check(t, "Unknown", codes.Unknown, true, unknownCodes...)
	check(t, "Unknown", codes.Unknown, true, codes.CodeUnknown, codes.CodeRefused, codes.CodeNotCollected)
	check(t, "Unknown", codes.Unknown, false, "", "KZ", "kk", "USD", "Unknown", "REFUSED", "not-collected", "none", "n/a")
}
