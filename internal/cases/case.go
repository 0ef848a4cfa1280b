// Package cases holds the case of one assisted person: the person, the
// trafficking profile, the derived fields, the status machine, validation
// against the code lists, the history of changes, and the Service that
// decides who sees a case in full or pseudonymised form.
package cases

import (
	"slices"
	"time"
)

// Statuses of a case.
const (
	StatusOpen     = "open"
	StatusActive   = "active"
	StatusFollowUp = "follow_up"
	StatusClosed   = "closed"
)

// NotCollected is the default of every coded field.
const NotCollected = "not_collected"

// IdentityDocument is one identity document of the person (identifying).
type IdentityDocument struct {
	Type           string
	Number         string
	IssuingCountry string
}

// Person is the assisted person. The fields marked identifying are encrypted
// at rest and left out of pseudonymised views and history values.
type Person struct {
	GivenName         string // identifying
	FamilyName        string // identifying
	OtherNames        string // identifying
	Sex               string
	Gender            string
	DateOfBirth       *time.Time // identifying
	BirthYear         *int
	Citizenships      []string
	Languages         []string
	Phone             string             // identifying
	Address           string             // identifying
	IdentityDocuments []IdentityDocument // identifying
}

// Trafficking is the trafficking profile.
type Trafficking struct {
	Status                string
	ExploitationTypes     []string
	LabourSector          string
	MeansOfControl        []string
	RecruiterRelationship string
	CountryOfExploitation string
	IdentifiedOn          *time.Time
	IdentifiedBy          string
}

// Case is one assisted person and the assistance they receive.
type Case struct {
	ID             string
	OrganizationID string
	CaseNumber     string
	AssignedTo     *string
	Status         string
	OpenedOn       time.Time
	ClosedOn       *time.Time
	ClosureReason  *string
	Person         Person
	Trafficking    Trafficking
	CreatedBy      string
	Version        int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// New returns a case with every coded field at its default.
func New() Case {
	return Case{
		Status: StatusOpen,
		Person: Person{Sex: NotCollected, Gender: NotCollected, Citizenships: []string{}, Languages: []string{}},
		Trafficking: Trafficking{
			Status: NotCollected, ExploitationTypes: []string{}, MeansOfControl: []string{},
			RecruiterRelationship: NotCollected, IdentifiedBy: NotCollected,
		},
	}
}

// Pseudonymised returns a copy of c without any identifying field.
func (c Case) Pseudonymised() Case {
	p := c.Person
	c.Person = Person{
		Sex: p.Sex, Gender: p.Gender, BirthYear: p.BirthYear,
		Citizenships: slices.Clone(p.Citizenships), Languages: slices.Clone(p.Languages),
	}
	return c
}

// IdentifyingFields names the person's identifying fields as they appear on
// the wire; history never repeats their values.
var IdentifyingFields = []string{
	"person.given_name", "person.family_name", "person.other_names", "person.date_of_birth",
	"person.phone", "person.address", "person.identity_documents",
}

// Date truncates t to a calendar date at midnight UTC, the form every date
// is kept in.
func Date(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
