package cases

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/codes"
)

// The code lists of domain.md (HTCDS-based). Every coded field also accepts
// the unknown codes (see codes.Unknown).
var (
	sexes        = []string{"female", "male"}
	genders      = []string{"feminine", "masculine", "transgender_feminine", "transgender_masculine", "non_conforming", "not_specified"}
	tStatuses    = []string{"possible", "actual", "not_a_victim"}
	exploitation = []string{"sexual_exploitation", "forced_labour", "forced_criminality", "forced_begging", "domestic_servitude",
		"forced_marriage", "organ_removal", "forced_military", "child_labour", "slavery_practices", "other"}
	meansOfControl = []string{"debt_bondage", "takes_earnings", "restricts_financial_access", "threats", "psychological_abuse",
		"physical_abuse", "sexual_abuse", "false_promises", "psychoactive_substances", "restricts_movement",
		"restricts_medical_care", "excessive_working_hours", "uses_children", "threat_of_law_enforcement",
		"withholds_necessities", "withholds_documents", "other"}
	recruiterRelations = []string{"intimate_partner", "friend", "family", "other"}
	identifiedBy       = []string{"police", "ngo", "iom", "hotline", "self_referral", "consulate", "family_or_community", "labour_inspection", "other"}
	documentTypes      = []string{"passport", "national_id", "birth_certificate", "residence_permit", "travel_document", "other"}
	// ClosureReasons are the reasons a case can be closed for.
	ClosureReasons = []string{"goals_achieved", "returned_to_origin", "referred_or_transferred", "relocated",
		"declined_or_withdrew_consent", "lost_contact", "deceased", "not_eligible", "aged_out", "other"}
)

// Validate checks c against the code lists and the rules dates must obey,
// as of today. Invalid, listing every offending field.
func Validate(c Case, today time.Time) error {
	today = Date(today)
	tomorrow := today.AddDate(0, 0, 1) // clients a time zone ahead of UTC
	var v apperr.Validator
	p, t := c.Person, c.Trafficking

	text(&v, "person.given_name", p.GivenName, 200)
	text(&v, "person.family_name", p.FamilyName, 200)
	text(&v, "person.other_names", p.OtherNames, 400)
	text(&v, "person.phone", p.Phone, 40)
	text(&v, "person.address", p.Address, 500)
	coded(&v, "person.sex", p.Sex, sexes)
	coded(&v, "person.gender", p.Gender, genders)
	if p.DateOfBirth != nil {
		v.Check(!p.DateOfBirth.After(today), "person.date_of_birth", "must not be in the future")
		v.Check(p.DateOfBirth.Year() >= 1900, "person.date_of_birth", "must be 1900 or later")
	}
	if p.BirthYear != nil {
		v.Check(*p.BirthYear >= 1900 && *p.BirthYear <= today.Year(), "person.birth_year", "must be between 1900 and this year")
	}
	codeList(&v, "person.citizenships", p.Citizenships, codes.Country)
	codeList(&v, "person.languages", p.Languages, codes.Language)
	v.Check(len(p.IdentityDocuments) <= 10, "person.identity_documents", "at most 10")
	for i, d := range p.IdentityDocuments {
		f := fmt.Sprintf("person.identity_documents[%d]", i)
		v.Check(slices.Contains(documentTypes, d.Type), f+".type", "is not a document type")
		v.Check(strings.TrimSpace(d.Number) != "" && utf8.RuneCountInString(d.Number) <= 64, f+".number", "must be 1 to 64 characters")
		v.Check(d.IssuingCountry == "" || codes.Country(d.IssuingCountry), f+".issuing_country", "is not an ISO 3166-1 alpha-2 code")
	}

	coded(&v, "trafficking.trafficking_status", t.Status, tStatuses)
	codedList(&v, "trafficking.exploitation_types", t.ExploitationTypes, exploitation)
	v.Check(t.LabourSector == "" || labourSector(t.LabourSector), "trafficking.labour_sector", "must be an ISIC section letter A to U, or an unknown code")
	codedList(&v, "trafficking.means_of_control", t.MeansOfControl, meansOfControl)
	coded(&v, "trafficking.recruiter_relationship", t.RecruiterRelationship, append(slices.Clone(recruiterRelations), "unknown"))
	v.Check(t.CountryOfExploitation == "" || codes.Country(t.CountryOfExploitation), "trafficking.country_of_exploitation", "is not an ISO 3166-1 alpha-2 code")
	coded(&v, "trafficking.identified_by", t.IdentifiedBy, identifiedBy)
	if t.IdentifiedOn != nil {
		v.Check(t.IdentifiedOn.Before(tomorrow.AddDate(0, 0, 1)), "trafficking.identified_on", "must not be in the future")
		if p.DateOfBirth != nil {
			v.Check(!t.IdentifiedOn.Before(*p.DateOfBirth), "trafficking.identified_on", "must not be before the date of birth")
		}
	}

	v.Check(!c.OpenedOn.IsZero(), "opened_on", "is required")
	v.Check(c.OpenedOn.Before(tomorrow.AddDate(0, 0, 1)), "opened_on", "must not be in the future")
	v.Check(c.OpenedOn.Year() >= 1990, "opened_on", "must be 1990 or later")
	if c.ClosedOn != nil {
		v.Check(!c.ClosedOn.Before(c.OpenedOn), "closed_on", "must not be before the opening date")
	}
	return v.Err()
}

func text(v *apperr.Validator, field, s string, max int) {
	v.Check(utf8.ValidString(s) && utf8.RuneCountInString(s) <= max, field, fmt.Sprintf("must be at most %d characters", max))
}

func coded(v *apperr.Validator, field, value string, allowed []string) {
	v.Check(slices.Contains(allowed, value) || codes.Unknown(value), field, "is not one of the allowed codes")
}

// codedList checks a list of codes: each allowed, no repeats, and an unknown
// code only on its own.
func codedList(v *apperr.Validator, field string, values, allowed []string) {
	codeList(v, field, values, func(s string) bool { return slices.Contains(allowed, s) || codes.Unknown(s) })
}

func codeList(v *apperr.Validator, field string, values []string, ok func(string) bool) {
	seen := map[string]bool{}
	for i, s := range values {
		v.Check(ok(s), fmt.Sprintf("%s[%d]", field, i), "is not one of the allowed codes")
		v.Check(!seen[s], fmt.Sprintf("%s[%d]", field, i), "is repeated")
		seen[s] = true
		if codes.Unknown(s) {
			v.Check(len(values) == 1, field, "an unknown code cannot be combined with other values")
		}
	}
}

func labourSector(s string) bool {
	return codes.Unknown(s) || (len(s) == 1 && s[0] >= 'A' && s[0] <= 'U')
}
