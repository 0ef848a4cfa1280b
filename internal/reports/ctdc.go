package reports

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/cases"
)

// CTDCMinGroup is k of the CTDC export: every combination of the
// quasi-identifiers in the output occurs at least this many times.
const CTDCMinGroup = 11

// ctdcMissing is how the CTDC codebook writes a missing value.
const ctdcMissing = "-99"

// ResearchCase is what the CTDC export reads of a consenting case: nothing
// identifying, and the registration year rather than a date.
type ResearchCase struct {
	Year                  int
	Sex                   string
	Age                   *int // at identification
	Citizenships          string
	ExploitationTypes     string
	LabourSector          string
	MeansOfControl        string
	RecruiterRelationship string
	CountryOfExploitation string
}

// CTDCColumns is the export's header row, in the CTDC global dataset's
// layout.
var CTDCColumns = append(append(append([]string{
	"yearOfRegistration", "Datasource", "gender", "ageBroad", "majorityStatus", "majorityStatusAtExploit", "majorityEntry", "citizenship",
}, ctdcMeansColumns()...), "meansOfControlConcatenated",
	"isForcedLabour", "isSexualExploit", "isOtherExploit", "isSexAndLabour", "isForcedMarriage", "isForcedMilitary", "isOrganRemoval",
	"isSlaveryAndPractices", "typeOfExploitConcatenated", "typeOfLabourConcatenated", "typeOfSexConcatenated",
	"RecruiterRelationship", "CountryOfExploitation"),
	"recruiterRelationIntimatePartner", "recruiterRelationFriend", "recruiterRelationFamily", "recruiterRelationOther", "recruiterRelationUnknown")

// ctdcMeans maps our means-of-control codes to the CTDC column suffixes.
var ctdcMeans = []struct{ code, column string }{
	{"debt_bondage", "DebtBondage"}, {"takes_earnings", "TakesEarnings"}, {"restricts_financial_access", "RestrictsFinancialAccess"},
	{"threats", "Threats"}, {"psychological_abuse", "PsychologicalAbuse"}, {"physical_abuse", "PhysicalAbuse"},
	{"sexual_abuse", "SexualAbuse"}, {"false_promises", "FalsePromises"}, {"psychoactive_substances", "PsychoactiveSubstances"},
	{"restricts_movement", "RestrictsMovement"}, {"restricts_medical_care", "RestrictsMedicalCare"},
	{"excessive_working_hours", "ExcessiveWorkingHours"}, {"uses_children", "UsesChildren"},
	{"threat_of_law_enforcement", "ThreatOfLawEnforcement"}, {"withholds_necessities", "WithholdsNecessities"},
	{"withholds_documents", "WithholdsDocuments"}, {"other", "Other"},
}

func ctdcMeansColumns() []string {
	out := make([]string, 0, len(ctdcMeans)+1)
	for _, m := range ctdcMeans {
		out = append(out, "meansOfControl"+m.column)
	}
	return append(out, "meansOfControlNotSpecified")
}

// ctdcExploits maps our exploitation types to CTDC's flags and labels.
var ctdcExploits = map[string]string{
	"forced_labour": "Forced labour", "sexual_exploitation": "Sexual exploitation", "forced_marriage": "Forced marriage",
	"forced_military": "Forced military", "organ_removal": "Organ removal", "slavery_practices": "Slavery and similar practices",
	"forced_criminality": "Forced criminality", "forced_begging": "Begging", "domestic_servitude": "Domestic servitude",
	"child_labour": "Child labour", "other": "Other",
}

// ctdcQuasi are the columns whose combination must occur CTDCMinGroup times.
var ctdcQuasi = []string{"yearOfRegistration", "gender", "ageBroad", "majorityStatus", "citizenship", "CountryOfExploitation", "typeOfExploitConcatenated"}

// CTDCExport is the anonymised export, ready to write.
type CTDCExport struct {
	Rows [][]string
	// Generalised and Dropped count the consenting cases whose
	// quasi-identifiers were coarsened, and those left out, to reach k.
	Generalised, Dropped int
}

// CTDC builds the anonymised case-level export of the cases with a current
// research_anonymised consent (of the year when year is not 0). IOM
// coordinators and IOM admins only; audited.
func (s *Service) CTDC(ctx context.Context, year int) (CTDCExport, error) {
	if err := s.authz.Require(ctx, authz.ObjCTDCExport, authz.ActCreate); err != nil {
		return CTDCExport{}, err
	}
	var recs []ctdcRecord
	err := s.store.ResearchCases(ctx, year, func(c ResearchCase) error {
		r, err := newCTDCRecord(c)
		if err != nil {
			return err
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return CTDCExport{}, err
	}
	out := anonymise(recs, CTDCMinGroup)
	if err := s.audit.Record(ctx, "export.ctdc", "export", "", "success"); err != nil {
		return CTDCExport{}, err
	}
	return out, nil
}

// ctdcRecord is one output row by column name, and how far it has been
// generalised.
type ctdcRecord struct {
	values map[string]string
	level  int
}

func (r ctdcRecord) quasiKey() string {
	parts := make([]string, len(ctdcQuasi))
	for i, c := range ctdcQuasi {
		parts[i] = r.values[c]
	}
	return strings.Join(parts, "\x1f")
}

// generalisations coarsen a record one level at a time: first the age band
// (the majority status stays), then both countries.
var generalisations = []func(map[string]string){
	func(v map[string]string) { v["ageBroad"] = ctdcMissing },
	func(v map[string]string) { v["citizenship"], v["CountryOfExploitation"] = ctdcMissing, ctdcMissing },
}

// anonymise makes recs k-anonymous over the quasi-identifiers: records in a
// combination held by fewer than k are generalised a level at a time, and
// dropped when no level is left. Groups only grow as records join them, so
// the loop ends with every published combination held k times or more.
func anonymise(recs []ctdcRecord, k int) CTDCExport {
	kept := make([]ctdcRecord, len(recs))
	for i, r := range recs {
		kept[i] = ctdcRecord{values: maps.Clone(r.values), level: r.level}
	}
	for {
		counts := map[string]int{}
		for _, r := range kept {
			counts[r.quasiKey()]++
		}
		changed := false
		next := kept[:0:0]
		for _, r := range kept {
			if counts[r.quasiKey()] >= k {
				next = append(next, r)
				continue
			}
			changed = true
			if r.level == len(generalisations) {
				continue // dropped
			}
			generalisations[r.level](r.values)
			r.level++
			next = append(next, r)
		}
		kept = next
		if !changed {
			break
		}
	}
	out := CTDCExport{Dropped: len(recs) - len(kept)}
	slices.SortFunc(kept, func(a, b ctdcRecord) int { return strings.Compare(a.rowKey(), b.rowKey()) })
	for _, r := range kept {
		if r.level > 0 {
			out.Generalised++
		}
		row := make([]string, len(CTDCColumns))
		for i, c := range CTDCColumns {
			row[i] = r.values[c]
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}

// rowKey orders the output by content, so the order says nothing about
// when or by whom a case was registered.
func (r ctdcRecord) rowKey() string {
	parts := make([]string, len(CTDCColumns))
	for i, c := range CTDCColumns {
		parts[i] = r.values[c]
	}
	return strings.Join(parts, "\x1f")
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func newCTDCRecord(c ResearchCase) (ctdcRecord, error) {
	v := map[string]string{}
	for _, col := range CTDCColumns {
		v[col] = ctdcMissing
	}
	v["yearOfRegistration"] = fmt.Sprint(c.Year)
	v["Datasource"] = "Case Management"
	switch c.Sex {
	case "female":
		v["gender"] = "Female"
	case "male":
		v["gender"] = "Male"
	}
	if c.Age != nil {
		v["ageBroad"] = strings.Replace(cases.AgeBroad(*c.Age), "-", "--", 1)
		v["majorityStatus"] = "Adult"
		if *c.Age < 18 {
			v["majorityStatus"] = "Minor"
		}
		v["majorityStatusAtExploit"] = v["majorityStatus"]
	}
	citizenships, err := jsonList(c.Citizenships)
	if err != nil {
		return ctdcRecord{}, err
	}
	if len(citizenships) > 0 && isCountry(citizenships[0]) {
		v["citizenship"] = citizenships[0]
	}
	if isCountry(c.CountryOfExploitation) {
		v["CountryOfExploitation"] = c.CountryOfExploitation
	}
	means, err := jsonList(c.MeansOfControl)
	if err != nil {
		return ctdcRecord{}, err
	}
	if known := knownCodes(means); len(known) > 0 {
		var labels []string
		for _, m := range ctdcMeans {
			has := slices.Contains(known, m.code)
			v["meansOfControl"+m.column] = flag(has)
			if has {
				labels = append(labels, m.column)
			}
		}
		v["meansOfControlNotSpecified"] = "0"
		v["meansOfControlConcatenated"] = strings.Join(labels, ";")
	} else {
		for _, m := range ctdcMeans {
			v["meansOfControl"+m.column] = "0"
		}
		v["meansOfControlNotSpecified"] = "1"
	}
	types, err := jsonList(c.ExploitationTypes)
	if err != nil {
		return ctdcRecord{}, err
	}
	if known := knownCodes(types); len(known) > 0 {
		slices.Sort(known)
		has := func(t string) bool { return slices.Contains(known, t) }
		other := false
		var labels []string
		for _, t := range known {
			labels = append(labels, ctdcExploits[t])
			switch t {
			case "forced_labour", "sexual_exploitation", "forced_marriage", "forced_military", "organ_removal", "slavery_practices":
			default:
				other = true
			}
		}
		v["isForcedLabour"], v["isSexualExploit"], v["isOtherExploit"] = flag(has("forced_labour")), flag(has("sexual_exploitation")), flag(other)
		v["isSexAndLabour"] = flag(has("forced_labour") && has("sexual_exploitation"))
		v["isForcedMarriage"], v["isForcedMilitary"] = flag(has("forced_marriage")), flag(has("forced_military"))
		v["isOrganRemoval"], v["isSlaveryAndPractices"] = flag(has("organ_removal")), flag(has("slavery_practices"))
		v["typeOfExploitConcatenated"] = strings.Join(labels, ";")
		if has("forced_labour") && c.LabourSector != "" && !isUnknownCode(c.LabourSector) {
			v["typeOfLabourConcatenated"] = c.LabourSector
		}
	}
	// "unknown" is an answer CTDC has a flag for; refused and not collected
	// are missing.
	rel := c.RecruiterRelationship
	if rel != "" && rel != "refused" && rel != "not_collected" {
		labels := map[string]string{"intimate_partner": "Intimate Partner", "friend": "Friend", "family": "Family", "other": "Other", "unknown": "Unknown"}
		v["RecruiterRelationship"] = labels[rel]
		for code, col := range map[string]string{"intimate_partner": "IntimatePartner", "friend": "Friend", "family": "Family", "other": "Other", "unknown": "Unknown"} {
			v["recruiterRelation"+col] = flag(rel == code)
		}
	}
	return ctdcRecord{values: v}, nil
}

func isUnknownCode(s string) bool { return s == unknown || s == "refused" || s == "not_collected" }

func knownCodes(v []string) []string {
	var out []string
	for _, s := range v {
		if !isUnknownCode(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func isCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

func jsonList(s string) ([]string, error) {
	v, err := jsonSet(s)
	if err != nil {
		return nil, err
	}
	if len(v) == 1 && v[0] == unknown {
		return nil, nil
	}
	return v, nil
}

// WriteCSV writes the export with its header row.
func (e CTDCExport) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CTDCColumns); err != nil {
		return err
	}
	if err := cw.WriteAll(e.Rows); err != nil {
		return err
	}
	return cw.Error()
}
