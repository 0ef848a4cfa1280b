package cases

import "time"

// Age groups and CTDC age bands.
const (
	AgeGroupChild   = "child"
	AgeGroupAdult   = "adult"
	AgeGroupUnknown = "unknown"
)

// Derived are the fields the server computes; clients never send them.
type Derived struct {
	Age                   *int
	AgeGroup              string
	AgeBroad              string
	MinorAtIdentification *bool
	// AgeAtIdentification is kept for reports.
	AgeAtIdentification *int
}

// Derive computes the derived fields of c as of today. Age at identification
// is measured at the identification date, else the opening date.
func Derive(c Case, today time.Time) Derived {
	d := Derived{AgeGroup: AgeGroupUnknown, AgeBroad: "unknown"}
	d.Age = ageOn(c.Person, Date(today))
	ref := c.OpenedOn
	if c.Trafficking.IdentifiedOn != nil {
		ref = *c.Trafficking.IdentifiedOn
	}
	if ref.IsZero() {
		return d
	}
	at := ageOn(c.Person, ref)
	if at == nil {
		return d
	}
	d.AgeAtIdentification = at
	minor := *at < 18
	d.MinorAtIdentification = &minor
	d.AgeGroup = AgeGroupAdult
	if minor {
		d.AgeGroup = AgeGroupChild
	}
	d.AgeBroad = AgeBroad(*at)
	return d
}

// ageOn is the person's age in whole years on day: exact from the date of
// birth, else day's year minus the birth year; nil when neither is known or
// the result is negative.
func ageOn(p Person, day time.Time) *int {
	var age int
	switch {
	case p.DateOfBirth != nil:
		b := *p.DateOfBirth
		age = day.Year() - b.Year()
		if day.Month() < b.Month() || (day.Month() == b.Month() && day.Day() < b.Day()) {
			age--
		}
	case p.BirthYear != nil:
		age = day.Year() - *p.BirthYear
	default:
		return nil
	}
	if age < 0 {
		return nil
	}
	return &age
}

// AgeBroad is the CTDC age band of an age in years.
func AgeBroad(age int) string {
	switch {
	case age <= 8:
		return "0-8"
	case age <= 17:
		return "9-17"
	case age <= 20:
		return "18-20"
	case age <= 23:
		return "21-23"
	case age <= 26:
		return "24-26"
	case age <= 29:
		return "27-29"
	case age <= 38:
		return "30-38"
	case age <= 47:
		return "39-47"
	default:
		return "48+"
	}
}
