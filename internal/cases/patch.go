package cases

import (
	"slices"
	"time"

	"github.com/casework/casework/internal/apperr"
)

// Field is an optional, nullable input: Set says it was sent; a nil Value
// then clears the stored value.
type Field[T any] struct {
	Set   bool
	Value *T
}

// Value returns a Field that sets v.
func Value[T any](v T) Field[T] { return Field[T]{Set: true, Value: &v} }

// PersonPatch changes the person; nil pointers and unset Fields leave fields alone.
type PersonPatch struct {
	GivenName, FamilyName, OtherNames, Phone, Address Field[string]
	DateOfBirth                                       Field[time.Time]
	BirthYear                                         Field[int]
	Sex, Gender                                       *string
	Citizenships, Languages                           *[]string
	IdentityDocuments                                 *[]IdentityDocument
}

// TraffickingPatch changes the trafficking profile.
type TraffickingPatch struct {
	Status                *string
	ExploitationTypes     *[]string
	LabourSector          *string
	MeansOfControl        *[]string
	RecruiterRelationship *string
	CountryOfExploitation *string
	IdentifiedOn          Field[time.Time]
	IdentifiedBy          *string
}

// Patch is a change to a case's person, profile, assignment or opening date:
// the body of a create (applied to New()) or of an update.
type Patch struct {
	AssignedTo  Field[string]
	OpenedOn    *time.Time
	Person      PersonPatch
	Trafficking TraffickingPatch
}

// Check refuses a patch that contradicts itself: a birth year that does not
// agree with the date of birth sent with it. Invalid.
func (p Patch) Check() error {
	dob, by := p.Person.DateOfBirth, p.Person.BirthYear
	if dob.Set && dob.Value != nil && by.Set && by.Value != nil && dob.Value.Year() != *by.Value {
		return apperr.Field("person.birth_year", "must agree with the date of birth")
	}
	return nil
}

// Apply sets the fields p carries on c.
func (p Patch) Apply(c *Case) {
	setField(&c.AssignedTo, p.AssignedTo)
	if p.OpenedOn != nil {
		c.OpenedOn = Date(*p.OpenedOn)
	}
	pp, per := p.Person, &c.Person
	setString(&per.GivenName, pp.GivenName)
	setString(&per.FamilyName, pp.FamilyName)
	setString(&per.OtherNames, pp.OtherNames)
	setString(&per.Phone, pp.Phone)
	setString(&per.Address, pp.Address)
	if pp.DateOfBirth.Set {
		per.DateOfBirth = datePtr(pp.DateOfBirth.Value)
	}
	setField(&per.BirthYear, pp.BirthYear)
	setPtr(&per.Sex, pp.Sex)
	setPtr(&per.Gender, pp.Gender)
	setSlice(&per.Citizenships, pp.Citizenships)
	setSlice(&per.Languages, pp.Languages)
	if pp.IdentityDocuments != nil {
		per.IdentityDocuments = slices.Clone(*pp.IdentityDocuments)
	}
	// A date of birth fixes the birth year.
	if per.DateOfBirth != nil {
		y := per.DateOfBirth.Year()
		per.BirthYear = &y
	}
	tp, tr := p.Trafficking, &c.Trafficking
	setPtr(&tr.Status, tp.Status)
	setSlice(&tr.ExploitationTypes, tp.ExploitationTypes)
	setPtr(&tr.LabourSector, tp.LabourSector)
	setSlice(&tr.MeansOfControl, tp.MeansOfControl)
	setPtr(&tr.RecruiterRelationship, tp.RecruiterRelationship)
	setPtr(&tr.CountryOfExploitation, tp.CountryOfExploitation)
	if tp.IdentifiedOn.Set {
		tr.IdentifiedOn = datePtr(tp.IdentifiedOn.Value)
	}
	setPtr(&tr.IdentifiedBy, tp.IdentifiedBy)
}

func setField[T any](dst **T, f Field[T]) {
	if !f.Set {
		return
	}
	if f.Value == nil {
		*dst = nil
		return
	}
	v := *f.Value
	*dst = &v
}

func setString(dst *string, f Field[string]) {
	if !f.Set {
		return
	}
	*dst = ""
	if f.Value != nil {
		*dst = *f.Value
	}
}

func setPtr[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func setSlice(dst *[]string, v *[]string) {
	if v != nil {
		*dst = slices.Clone(*v)
		if *dst == nil {
			*dst = []string{}
		}
	}
}

func datePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	d := Date(*t)
	return &d
}
