package codes

// Sizes of the lookup sets, for the count checks in codes_test.go.
var (
	NumCountries  = len(countries)
	NumLanguages  = len(languages)
	NumCurrencies = len(currencies)
)
