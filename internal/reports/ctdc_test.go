package reports

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func intp(i int) *int { return &i }

// col is the index of a CTDC column by name.
func col(t interface{ Fatalf(string, ...any) }, name string) int {
	i := slices.Index(CTDCColumns, name)
	if i < 0 {
		t.Fatalf("no CTDC column %q", name)
	}
	return i
}

func mustRecord(t *testing.T, c ResearchCase) map[string]string {
	t.Helper()
	r, err := newCTDCRecord(c)
	if err != nil {
		t.Fatalf("newCTDCRecord(%+v): %v", c, err)
	}
	if r.level != 0 {
		t.Errorf("new record at level %d", r.level)
	}
	return r.values
}

// baseCase is a complete case; tests change one thing at a time.
func baseCase() ResearchCase {
	return ResearchCase{
		Year: 2021, Sex: "female", Age: intp(30), Citizenships: `["KZ"]`, ExploitationTypes: `["forced_labour"]`,
		LabourSector: "construction", MeansOfControl: `["debt_bondage"]`, RecruiterRelationship: "friend", CountryOfExploitation: "RU",
	}
}

func TestCTDCColumns(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range CTDCColumns {
		if seen[c] {
			t.Errorf("column %q appears twice", c)
		}
		seen[c] = true
	}
	for _, q := range ctdcQuasi {
		if !seen[q] {
			t.Errorf("quasi-identifier %q is not a column", q)
		}
	}
	want := []string{"yearOfRegistration", "gender", "ageBroad", "majorityStatus", "citizenship", "CountryOfExploitation", "typeOfExploitConcatenated"}
	if !slices.Equal(ctdcQuasi, want) {
		t.Errorf("quasi-identifiers = %v, want %v", ctdcQuasi, want)
	}
	// Every column is set by newCTDCRecord, to a value or to -99.
	v := mustRecord(t, baseCase())
	if len(v) != len(CTDCColumns) {
		t.Errorf("record has %d values, want one per column (%d)", len(v), len(CTDCColumns))
	}
}

func TestCTDCAgeBands(t *testing.T) {
	for _, tc := range []struct {
		age             *int
		band, majority  string
		majorityExploit string
	}{
		{nil, "-99", "-99", "-99"},
		{intp(0), "0--8", "Minor", "Minor"},
		{intp(8), "0--8", "Minor", "Minor"},
		{intp(9), "9--17", "Minor", "Minor"},
		{intp(17), "9--17", "Minor", "Minor"},
		{intp(18), "18--20", "Adult", "Adult"},
		{intp(20), "18--20", "Adult", "Adult"},
		{intp(21), "21--23", "Adult", "Adult"},
		{intp(24), "24--26", "Adult", "Adult"},
		{intp(27), "27--29", "Adult", "Adult"},
		{intp(29), "27--29", "Adult", "Adult"},
		{intp(30), "30--38", "Adult", "Adult"},
		{intp(39), "39--47", "Adult", "Adult"},
		{intp(47), "39--47", "Adult", "Adult"},
		{intp(48), "48+", "Adult", "Adult"},
		{intp(70), "48+", "Adult", "Adult"},
	} {
		c := baseCase()
		c.Age = tc.age
		v := mustRecord(t, c)
		name := "nil"
		if tc.age != nil {
			name = fmt.Sprint(*tc.age)
		}
		if v["ageBroad"] != tc.band || v["majorityStatus"] != tc.majority || v["majorityStatusAtExploit"] != tc.majorityExploit {
			t.Errorf("age %s: ageBroad=%q majorityStatus=%q atExploit=%q, want %q %q %q", name,
				v["ageBroad"], v["majorityStatus"], v["majorityStatusAtExploit"], tc.band, tc.majority, tc.majorityExploit)
		}
		if v["majorityEntry"] != "-99" {
			t.Errorf("age %s: majorityEntry = %q, want -99", name, v["majorityEntry"])
		}
	}
}

func TestCTDCRecordFields(t *testing.T) {
	type want map[string]string
	for _, tc := range []struct {
		name string
		edit func(*ResearchCase)
		want want
	}{
		{"complete case", func(*ResearchCase) {}, want{
			"yearOfRegistration": "2021", "Datasource": "Case Management", "gender": "Female", "citizenship": "KZ",
			"CountryOfExploitation": "RU", "isForcedLabour": "1", "isSexualExploit": "0", "isOtherExploit": "0",
			"isSexAndLabour": "0", "isForcedMarriage": "0", "isForcedMilitary": "0", "isOrganRemoval": "0",
			"isSlaveryAndPractices": "0", "typeOfExploitConcatenated": "Forced labour", "typeOfLabourConcatenated": "construction",
			"typeOfSexConcatenated": "-99", "RecruiterRelationship": "Friend", "recruiterRelationFriend": "1",
			"recruiterRelationFamily": "0", "recruiterRelationIntimatePartner": "0", "recruiterRelationOther": "0",
			"recruiterRelationUnknown": "0",
		}},
		{"male", func(c *ResearchCase) { c.Sex = "male" }, want{"gender": "Male"}},
		{"sex unknown", func(c *ResearchCase) { c.Sex = "unknown" }, want{"gender": "-99"}},
		{"sex refused", func(c *ResearchCase) { c.Sex = "refused" }, want{"gender": "-99"}},
		{"first citizenship", func(c *ResearchCase) { c.Citizenships = `["UZ","KZ"]` }, want{"citizenship": "UZ"}},
		{"no citizenship", func(c *ResearchCase) { c.Citizenships = `[]` }, want{"citizenship": "-99"}},
		{"citizenship unknown", func(c *ResearchCase) { c.Citizenships = `["unknown"]` }, want{"citizenship": "-99"}},
		{"citizenship not_collected", func(c *ResearchCase) { c.Citizenships = `["not_collected"]` }, want{"citizenship": "-99"}},
		{"country missing", func(c *ResearchCase) { c.CountryOfExploitation = "" }, want{"CountryOfExploitation": "-99"}},
		{"country unknown", func(c *ResearchCase) { c.CountryOfExploitation = "unknown" }, want{"CountryOfExploitation": "-99"}},
		{"sexual exploitation", func(c *ResearchCase) { c.ExploitationTypes = `["sexual_exploitation"]` }, want{
			"isForcedLabour": "0", "isSexualExploit": "1", "isSexAndLabour": "0", "isOtherExploit": "0",
			"typeOfExploitConcatenated": "Sexual exploitation", "typeOfLabourConcatenated": "-99",
		}},
		{"sex and labour", func(c *ResearchCase) { c.ExploitationTypes = `["sexual_exploitation","forced_labour"]` }, want{
			"isForcedLabour": "1", "isSexualExploit": "1", "isSexAndLabour": "1", "isOtherExploit": "0",
			"typeOfExploitConcatenated": "Forced labour;Sexual exploitation",
		}},
		{"other exploitation", func(c *ResearchCase) { c.ExploitationTypes = `["domestic_servitude","forced_marriage"]` }, want{
			"isForcedLabour": "0", "isSexualExploit": "0", "isSexAndLabour": "0", "isOtherExploit": "1", "isForcedMarriage": "1",
			"typeOfExploitConcatenated": "Domestic servitude;Forced marriage", "typeOfLabourConcatenated": "-99",
		}},
		{"military, organs, slavery", func(c *ResearchCase) {
			c.ExploitationTypes = `["slavery_practices","organ_removal","forced_military"]`
		}, want{
			"isForcedMilitary": "1", "isOrganRemoval": "1", "isSlaveryAndPractices": "1", "isOtherExploit": "0", "isForcedLabour": "0",
			"typeOfExploitConcatenated": "Forced military;Organ removal;Slavery and similar practices",
		}},
		{"exploitation unknown", func(c *ResearchCase) { c.ExploitationTypes = `["unknown"]` }, want{
			"isForcedLabour": "-99", "isSexualExploit": "-99", "isOtherExploit": "-99", "isSexAndLabour": "-99",
			"typeOfExploitConcatenated": "-99", "typeOfLabourConcatenated": "-99",
		}},
		{"exploitation empty", func(c *ResearchCase) { c.ExploitationTypes = `[]` }, want{
			"isForcedLabour": "-99", "typeOfExploitConcatenated": "-99",
		}},
		{"exploitation refused", func(c *ResearchCase) { c.ExploitationTypes = `["refused"]` }, want{
			"isForcedLabour": "-99", "typeOfExploitConcatenated": "-99",
		}},
		{"known and unknown exploitation", func(c *ResearchCase) { c.ExploitationTypes = `["not_collected","forced_labour"]` }, want{
			"isForcedLabour": "1", "typeOfExploitConcatenated": "Forced labour",
		}},
		{"duplicate exploitation", func(c *ResearchCase) { c.ExploitationTypes = `["forced_labour","forced_labour"]` }, want{
			"typeOfExploitConcatenated": "Forced labour",
		}},
		{"labour sector unknown", func(c *ResearchCase) { c.LabourSector = "unknown" }, want{"typeOfLabourConcatenated": "-99"}},
		{"labour sector empty", func(c *ResearchCase) { c.LabourSector = "" }, want{"typeOfLabourConcatenated": "-99"}},
		{"means of control", func(c *ResearchCase) { c.MeansOfControl = `["threats","debt_bondage","withholds_documents"]` }, want{
			"meansOfControlDebtBondage": "1", "meansOfControlThreats": "1", "meansOfControlWithholdsDocuments": "1",
			"meansOfControlTakesEarnings": "0", "meansOfControlOther": "0", "meansOfControlNotSpecified": "0",
			"meansOfControlConcatenated": "DebtBondage;Threats;WithholdsDocuments",
		}},
		{"means of control other", func(c *ResearchCase) { c.MeansOfControl = `["other"]` }, want{
			"meansOfControlOther": "1", "meansOfControlDebtBondage": "0", "meansOfControlNotSpecified": "0", "meansOfControlConcatenated": "Other",
		}},
		{"means of control empty", func(c *ResearchCase) { c.MeansOfControl = `[]` }, want{
			"meansOfControlDebtBondage": "0", "meansOfControlOther": "0", "meansOfControlNotSpecified": "1", "meansOfControlConcatenated": "-99",
		}},
		{"means of control unknown", func(c *ResearchCase) { c.MeansOfControl = `["unknown"]` }, want{
			"meansOfControlDebtBondage": "0", "meansOfControlNotSpecified": "1", "meansOfControlConcatenated": "-99",
		}},
		{"means of control refused", func(c *ResearchCase) { c.MeansOfControl = `["refused"]` }, want{
			"meansOfControlDebtBondage": "0", "meansOfControlNotSpecified": "1", "meansOfControlConcatenated": "-99",
		}},
		{"recruiter family", func(c *ResearchCase) { c.RecruiterRelationship = "family" }, want{
			"RecruiterRelationship": "Family", "recruiterRelationFamily": "1", "recruiterRelationFriend": "0",
		}},
		{"recruiter intimate partner", func(c *ResearchCase) { c.RecruiterRelationship = "intimate_partner" }, want{
			"RecruiterRelationship": "Intimate Partner", "recruiterRelationIntimatePartner": "1", "recruiterRelationFriend": "0",
		}},
		{"recruiter other", func(c *ResearchCase) { c.RecruiterRelationship = "other" }, want{
			"RecruiterRelationship": "Other", "recruiterRelationOther": "1",
		}},
		// "unknown" is an answer CTDC has a flag for.
		{"recruiter unknown", func(c *ResearchCase) { c.RecruiterRelationship = "unknown" }, want{
			"RecruiterRelationship": "Unknown", "recruiterRelationFriend": "0", "recruiterRelationUnknown": "1",
		}},
		{"recruiter refused", func(c *ResearchCase) { c.RecruiterRelationship = "refused" }, want{
			"RecruiterRelationship": "-99", "recruiterRelationFriend": "-99",
		}},
		{"recruiter not collected", func(c *ResearchCase) { c.RecruiterRelationship = "not_collected" }, want{
			"RecruiterRelationship": "-99", "recruiterRelationFamily": "-99",
		}},
		{"recruiter empty", func(c *ResearchCase) { c.RecruiterRelationship = "" }, want{
			"RecruiterRelationship": "-99", "recruiterRelationFamily": "-99",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := baseCase()
			tc.edit(&c)
			v := mustRecord(t, c)
			for _, k := range slices.Sorted(maps.Keys(tc.want)) {
				if !slices.Contains(CTDCColumns, k) {
					t.Fatalf("test names unknown column %q", k)
				}
				if v[k] != tc.want[k] {
					t.Errorf("%s = %q, want %q", k, v[k], tc.want[k])
				}
			}
			for _, k := range CTDCColumns {
				if v[k] == "" {
					t.Errorf("%s is empty, want a value or -99", k)
				}
			}
		})
	}
}

func TestCTDCRecordBadJSON(t *testing.T) {
	for _, edit := range []func(*ResearchCase){
		func(c *ResearchCase) { c.Citizenships = "KZ" },
		func(c *ResearchCase) { c.MeansOfControl = "{" },
		func(c *ResearchCase) { c.ExploitationTypes = `"forced_labour"` },
	} {
		c := baseCase()
		edit(&c)
		if _, err := newCTDCRecord(c); err == nil {
			t.Errorf("newCTDCRecord(%+v) = nil error, want one", c)
		}
	}
}

func TestCTDCWriteCSV(t *testing.T) {
	recs := make([]ctdcRecord, 0, 12)
	for range 12 {
		r, err := newCTDCRecord(baseCase())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	for _, e := range []CTDCExport{{}, anonymise(recs, CTDCMinGroup)} {
		var b bytes.Buffer
		if err := e.WriteCSV(&b); err != nil {
			t.Fatal(err)
		}
		got, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || !slices.Equal(got[0], CTDCColumns) {
			t.Fatalf("header = %v, want %v", got[:min(1, len(got))], CTDCColumns)
		}
		if len(got)-1 != len(e.Rows) {
			t.Fatalf("%d data rows, want %d", len(got)-1, len(e.Rows))
		}
		for i, r := range e.Rows {
			if !slices.Equal(got[i+1], r) {
				t.Errorf("row %d = %v, want %v", i, got[i+1], r)
			}
		}
	}
}

func TestCTDCAnonymiseExamples(t *testing.T) {
	mk := func(n int, edit func(*ResearchCase)) []ResearchCase {
		out := make([]ResearchCase, n)
		for i := range out {
			out[i] = baseCase()
			edit(&out[i])
		}
		return out
	}
	same := func(*ResearchCase) {}
	for _, tc := range []struct {
		name                       string
		cases                      []ResearchCase
		rows, generalised, dropped int
	}{
		{"empty", nil, 0, 0, 0},
		{"one group of k", mk(11, same), 11, 0, 0},
		{"one group of k-1 is dropped", mk(10, same), 0, 0, 10},
		{"ages differ: generalised into one group", append(mk(6, same), mk(5, func(c *ResearchCase) { c.Age = intp(40) })...), 11, 11, 0},
		{"a small group joins a generalised one after two steps", slices.Concat(
			mk(6, func(c *ResearchCase) { c.Age, c.Citizenships, c.CountryOfExploitation = intp(30), `[]`, "" }),
			mk(5, func(c *ResearchCase) { c.Age, c.Citizenships, c.CountryOfExploitation = intp(40), `[]`, "" }),
			mk(3, func(c *ResearchCase) { c.Age = intp(50) })), 14, 14, 0},
		{"the majority status is kept, so an adult never joins unknown ages", slices.Concat(
			mk(11, func(c *ResearchCase) { c.Age, c.Citizenships, c.CountryOfExploitation = nil, `[]`, "" }),
			mk(3, func(c *ResearchCase) { c.Age = intp(50) })), 11, 0, 3},
		{"a large group is never coarsened", append(mk(12, same), mk(3, func(c *ResearchCase) { c.Year = 2020 })...), 12, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var recs []ctdcRecord
			for _, c := range tc.cases {
				r, err := newCTDCRecord(c)
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			out := anonymise(recs, CTDCMinGroup)
			if len(out.Rows) != tc.rows || out.Generalised != tc.generalised || out.Dropped != tc.dropped {
				t.Errorf("rows=%d generalised=%d dropped=%d, want %d %d %d", len(out.Rows), out.Generalised, out.Dropped, tc.rows, tc.generalised, tc.dropped)
			}
			checkExport(t, tc.cases, out, CTDCMinGroup)
		})
	}
}

// genCase draws a ResearchCase from small domains; each draw of the
// property narrows the domains (dom) so that groups of k form often.
func genCase(dom func(name string, all []string) []string) *rapid.Generator[ResearchCase] {
	years := dom("years", []string{"2021", "2020", "2022"})
	sexes := dom("sexes", []string{"female", "male", "unknown"})
	ages := dom("ages", []string{"nil", "25", "16", "40", "5", "19", "70", "0", "30", "48", "17", "18"})
	cits := dom("citizenships", []string{`["KZ"]`, `["UZ","KZ"]`, `[]`, `["unknown"]`, `["KG"]`, `["refused"]`})
	countries := dom("countries", []string{"RU", "KZ", "", "unknown", "TR"})
	types := dom("types", []string{`["forced_labour"]`, `["sexual_exploitation"]`, `["forced_labour","sexual_exploitation"]`, `[]`,
		`["domestic_servitude","other"]`, `["unknown"]`, `["forced_begging"]`})
	sectors := dom("sectors", []string{"construction", "", "agriculture", "unknown"})
	means := dom("means", []string{`["debt_bondage"]`, `[]`, `["threats","withholds_documents"]`, `["refused"]`, `["other"]`})
	rels := dom("recruiters", []string{"friend", "", "family", "intimate_partner", "other", "unknown", "not_collected"})
	return rapid.Custom(func(t *rapid.T) ResearchCase {
		c := ResearchCase{
			Sex:                   rapid.SampledFrom(sexes).Draw(t, "sex"),
			Citizenships:          rapid.SampledFrom(cits).Draw(t, "citizenships"),
			CountryOfExploitation: rapid.SampledFrom(countries).Draw(t, "country"),
			ExploitationTypes:     rapid.SampledFrom(types).Draw(t, "types"),
			LabourSector:          rapid.SampledFrom(sectors).Draw(t, "sector"),
			MeansOfControl:        rapid.SampledFrom(means).Draw(t, "means"),
			RecruiterRelationship: rapid.SampledFrom(rels).Draw(t, "recruiter"),
		}
		c.Year, _ = strconv.Atoi(rapid.SampledFrom(years).Draw(t, "year"))
		if a := rapid.SampledFrom(ages).Draw(t, "age"); a != "nil" {
			n, _ := strconv.Atoi(a)
			c.Age = &n
		}
		return c
	})
}

// generalisedRows are the rows a case can be published as: its record
// generalised 0, 1 or 2 levels (computed here, not with generalisations).
func generalisedRows(r reporter, c ResearchCase) []string {
	rec, err := newCTDCRecord(c)
	if err != nil {
		r.Fatalf("newCTDCRecord(%+v): %v", c, err)
	}
	v := maps.Clone(rec.values)
	row := func() string {
		parts := make([]string, len(CTDCColumns))
		for i, c := range CTDCColumns {
			parts[i] = v[c]
		}
		return strings.Join(parts, "\x1f")
	}
	out := []string{row()}
	v["ageBroad"] = "-99"
	out = append(out, row())
	v["citizenship"], v["CountryOfExploitation"] = "-99", "-99"
	return append(out, row())
}

// checkExport checks an anonymised export against its input by brute force:
// k-anonymity over the quasi-identifiers, complete rows, counts that add
// up, and every row being one case's record, generalised at most two
// levels, each case used at most once.
func checkExport(r reporter, cases []ResearchCase, out CTDCExport, k int) {
	if len(out.Rows)+out.Dropped != len(cases) {
		r.Errorf("rows %d + dropped %d != %d cases", len(out.Rows), out.Dropped, len(cases))
	}
	if out.Generalised < 0 || out.Dropped < 0 || out.Generalised > len(out.Rows) {
		r.Errorf("generalised %d, dropped %d of %d rows", out.Generalised, out.Dropped, len(out.Rows))
	}
	quasi := make([]int, len(ctdcQuasi))
	for i, q := range ctdcQuasi {
		quasi[i] = col(r, q)
	}
	groups := map[string]int{}
	for i, row := range out.Rows {
		if len(row) != len(CTDCColumns) {
			r.Fatalf("row %d has %d cells, want %d", i, len(row), len(CTDCColumns))
		}
		for j, cell := range row {
			if cell == "" {
				r.Errorf("row %d: %s is empty", i, CTDCColumns[j])
			}
		}
		parts := make([]string, len(quasi))
		for j, q := range quasi {
			parts[j] = row[q]
		}
		groups[strings.Join(parts, "|")]++
	}
	for g, n := range groups {
		if n < k {
			r.Errorf("quasi-identifiers %s occur %d times, fewer than k=%d", g, n, k)
		}
	}
	// Match rows to cases (bipartite matching by augmenting paths).
	byRow := map[string][]int{}
	level0 := map[string]int{} // input rows by ungeneralised content
	for i, c := range cases {
		rows := generalisedRows(r, c)
		level0[rows[0]]++
		for _, x := range slices.Compact(rows) {
			byRow[x] = append(byRow[x], i)
		}
	}
	owner := make([]int, len(cases))
	for i := range owner {
		owner[i] = -1
	}
	keys := make([]string, len(out.Rows))
	for i, row := range out.Rows {
		keys[i] = strings.Join(row, "\x1f")
	}
	var try func(row int, seen []bool) bool
	try = func(row int, seen []bool) bool {
		for _, c := range byRow[keys[row]] {
			if seen[c] {
				continue
			}
			seen[c] = true
			if owner[c] < 0 || try(owner[c], seen) {
				owner[c] = row
				return true
			}
		}
		return false
	}
	for i := range out.Rows {
		if !try(i, make([]bool, len(cases))) {
			r.Errorf("row %d %v is no case's record (generalised or not), or more rows than cases share it", i, out.Rows[i])
			return
		}
	}
	// A case whose own quasi-identifiers are held by k cases is published
	// unchanged.
	inGroup := map[string]int{}
	for row, n := range level0 {
		inGroup[quasiOf(row, quasi)] += n
	}
	published := map[string]int{}
	for _, k := range keys {
		published[k]++
	}
	for row, n := range level0 {
		if inGroup[quasiOf(row, quasi)] >= k && published[row] < n {
			r.Errorf("%d cases in a group of k or more were altered or dropped: %q", n-published[row], quasiOf(row, quasi))
		}
	}
}

func quasiOf(row string, quasi []int) string {
	cells := strings.Split(row, "\x1f")
	parts := make([]string, len(quasi))
	for j, q := range quasi {
		parts[j] = cells[q]
	}
	return strings.Join(parts, "|")
}

func TestCTDCAnonymiseProperty(t *testing.T) {
	rapidChecks(t, 300)
	var draws, withRows, withGeneralisedRows, withDropped int
	rapid.Check(t, func(rt *rapid.T) {
		dom := func(name string, all []string) []string {
			n := rapid.IntRange(1, len(all)).Draw(rt, name+" domain")
			return all[:n]
		}
		// SliceOfN rarely makes long slices; draw the length uniformly.
		gen := genCase(dom)
		cases := make([]ResearchCase, rapid.IntRange(0, 300).Draw(rt, "number of cases"))
		for i := range cases {
			cases[i] = gen.Draw(rt, fmt.Sprintf("case %d", i))
		}
		k := CTDCMinGroup
		recs := make([]ctdcRecord, len(cases))
		for i, c := range cases {
			r, err := newCTDCRecord(c)
			if err != nil {
				rt.Fatalf("newCTDCRecord(%+v): %v", c, err)
			}
			recs[i] = r
		}
		out := anonymise(recs, k)
		checkExport(rt, cases, out, k)
		draws++
		if len(out.Rows) > 0 {
			withRows++
		}
		if out.Generalised > 0 {
			withGeneralisedRows++
		}
		if out.Dropped > 0 {
			withDropped++
		}
	})
	t.Logf("%d draws: %d with rows, %d with generalised rows, %d with dropped cases", draws, withRows, withGeneralisedRows, withDropped)
	if !t.Failed() && (withRows == 0 || withGeneralisedRows == 0 || withDropped == 0) {
		t.Errorf("the generator does not exercise anonymise: %d with rows, %d generalised, %d dropped", withRows, withGeneralisedRows, withDropped)
	}
}
