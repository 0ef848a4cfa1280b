package cases

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Change is one history entry: a field that changed, with its old and new
// values unless the field is identifying.
type Change struct {
	Action      string
	Field       string
	Identifying bool
	Old, New    *string
}

// History actions.
const (
	ActionCreated           = "created"
	ActionUpdated           = "updated"
	ActionClosed            = "closed"
	ActionReopened          = "reopened"
	ActionReopenedByService = "reopened_by_service"
	ActionStatusChanged     = "status_changed"
)

// Diff lists the fields that differ between before and after, for action.
func Diff(action string, before, after Case) []Change {
	var out []Change
	add := func(field string, identifying bool, old, new string, changed bool) {
		if !changed {
			return
		}
		c := Change{Action: action, Field: field, Identifying: identifying}
		if !identifying {
			c.Old, c.New = nullable(old), nullable(new)
		}
		out = append(out, c)
	}
	str := func(field string, identifying bool, old, new string) { add(field, identifying, old, new, old != new) }
	list := func(field string, old, new []string) {
		add(field, false, strings.Join(old, ","), strings.Join(new, ","), !slices.Equal(old, new))
	}
	b, a := before, after
	str("assigned_to", false, deref(b.AssignedTo), deref(a.AssignedTo))
	str("status", false, b.Status, a.Status)
	str("opened_on", false, day(&b.OpenedOn), day(&a.OpenedOn))
	str("closed_on", false, day(b.ClosedOn), day(a.ClosedOn))
	str("closure_reason", false, deref(b.ClosureReason), deref(a.ClosureReason))

	bp, ap := b.Person, a.Person
	str("person.given_name", true, bp.GivenName, ap.GivenName)
	str("person.family_name", true, bp.FamilyName, ap.FamilyName)
	str("person.other_names", true, bp.OtherNames, ap.OtherNames)
	str("person.sex", false, bp.Sex, ap.Sex)
	str("person.gender", false, bp.Gender, ap.Gender)
	str("person.date_of_birth", true, day(bp.DateOfBirth), day(ap.DateOfBirth))
	str("person.birth_year", false, year(bp.BirthYear), year(ap.BirthYear))
	list("person.citizenships", bp.Citizenships, ap.Citizenships)
	list("person.languages", bp.Languages, ap.Languages)
	str("person.phone", true, bp.Phone, ap.Phone)
	str("person.address", true, bp.Address, ap.Address)
	add("person.identity_documents", true, "", "", !slices.Equal(bp.IdentityDocuments, ap.IdentityDocuments))

	bt, at := b.Trafficking, a.Trafficking
	str("trafficking.trafficking_status", false, bt.Status, at.Status)
	list("trafficking.exploitation_types", bt.ExploitationTypes, at.ExploitationTypes)
	str("trafficking.labour_sector", false, bt.LabourSector, at.LabourSector)
	list("trafficking.means_of_control", bt.MeansOfControl, at.MeansOfControl)
	str("trafficking.recruiter_relationship", false, bt.RecruiterRelationship, at.RecruiterRelationship)
	str("trafficking.country_of_exploitation", false, bt.CountryOfExploitation, at.CountryOfExploitation)
	str("trafficking.identified_on", false, day(bt.IdentifiedOn), day(at.IdentifiedOn))
	str("trafficking.identified_by", false, bt.IdentifiedBy, at.IdentifiedBy)
	return out
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func day(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

func year(y *int) string {
	if y == nil {
		return ""
	}
	return strconv.Itoa(*y)
}
