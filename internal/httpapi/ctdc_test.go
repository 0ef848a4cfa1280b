package httpapi_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/reports"
	"github.com/casework/casework/internal/store"
)

// ---------------------------------------------------------------------------
// Helpers (prefixed ctdc: other test files of this package are written in
// parallel).

const ctdcPath = "/api/v1/exports/ctdc"

// ctdcLayout is the CTDC global dataset's column layout the contract names,
// written out so that a change of the layout in the code is a change the
// test sees.
var ctdcLayout = []string{
	"yearOfRegistration", "Datasource", "gender", "ageBroad", "majorityStatus", "majorityStatusAtExploit", "majorityEntry", "citizenship",
	"meansOfControlDebtBondage", "meansOfControlTakesEarnings", "meansOfControlRestrictsFinancialAccess", "meansOfControlThreats",
	"meansOfControlPsychologicalAbuse", "meansOfControlPhysicalAbuse", "meansOfControlSexualAbuse", "meansOfControlFalsePromises",
	"meansOfControlPsychoactiveSubstances", "meansOfControlRestrictsMovement", "meansOfControlRestrictsMedicalCare",
	"meansOfControlExcessiveWorkingHours", "meansOfControlUsesChildren", "meansOfControlThreatOfLawEnforcement",
	"meansOfControlWithholdsNecessities", "meansOfControlWithholdsDocuments", "meansOfControlOther", "meansOfControlNotSpecified",
	"meansOfControlConcatenated",
	"isForcedLabour", "isSexualExploit", "isOtherExploit", "isSexAndLabour", "isForcedMarriage", "isForcedMilitary", "isOrganRemoval",
	"isSlaveryAndPractices", "typeOfExploitConcatenated", "typeOfLabourConcatenated", "typeOfSexConcatenated",
	"RecruiterRelationship", "CountryOfExploitation",
	"recruiterRelationIntimatePartner", "recruiterRelationFriend", "recruiterRelationFamily", "recruiterRelationOther", "recruiterRelationUnknown",
}

// ctdcQuasiColumns are the quasi-identifiers of the spec's description: every
// combination of them in the output must occur ctdcK times or more.
var ctdcQuasiColumns = []string{"yearOfRegistration", "gender", "ageBroad", "majorityStatus", "citizenship", "CountryOfExploitation", "typeOfExploitConcatenated"}

// ctdcK is the k of the contract (k = 11).
const ctdcK = 11

// ctdcProfile is what a test case says about the person and the
// trafficking; every case also gets identifying canary values.
type ctdcProfile struct {
	opened       string // opened_on
	sex          string
	dob          string // date_of_birth; "" for none
	birthYear    int    // 0 for none
	citizenships []string
	country      string
	types        []string
	means        []string
	labour       string // labour_sector; "" for none
	recruiter    string // recruiter_relationship; "" for none
}

// ctdcCase is a registered case and the caseworker who registered it.
type ctdcCase struct {
	id, number string
	cw         *apptest.Caller
}

// ctdcWorld is one service with two NGOs, their caseworkers, an IOM
// coordinator, and the identifying values sent to the service.
type ctdcWorld struct {
	env        *apptest.Env
	orgA, orgB organizations.Organization
	cwA, cwB   *apptest.Caller
	coord      *apptest.Caller
	n          int
	// canaries are identifying values and ids that must never leave in the
	// export.
	canaries []string
}

func newCTDCWorld(t *testing.T, db *store.DB) *ctdcWorld {
	t.Helper()
	env := apptest.New(t, db)
	w := &ctdcWorld{env: env}
	w.orgA = env.NewOrg(t, "CTDCQA", "Almaty")
	w.orgB = env.NewOrg(t, "CTDCQB", "Astana")
	w.cwA = env.NewUser(t, w.orgA.ID, "cw@ctdcqa.example", "caseworker")
	w.cwB = env.NewUser(t, w.orgB.ID, "cw@ctdcqb.example", "caseworker")
	w.coord = env.NewUser(t, env.IOM.ID, "coord@ctdc-iom.example", "coordinator")
	w.canaries = append(w.canaries, w.orgA.ID, w.orgB.ID, w.orgA.Code, w.orgB.Code, w.orgA.Name, w.orgB.Name, env.IOM.ID,
		w.cwA.User.ID, w.cwB.User.ID, w.coord.User.ID, w.cwA.User.Email, w.cwB.User.Email)
	return w
}

// newCase registers a case of profile p, alternately in the two NGOs, with
// distinctive identifying values (names, phone, address, document, date of
// birth) and a note, all recorded as canaries.
func (w *ctdcWorld) newCase(t testing.TB, p ctdcProfile) ctdcCase {
	t.Helper()
	w.n++
	n := w.n
	cw := w.cwA
	if n%2 == 0 {
		cw = w.cwB
	}
	given := fmt.Sprintf("Xanthippa%c%c", 'a'+rune(n%26), 'a'+rune(n/26))
	family := fmt.Sprintf("Quorrelbeck%c", 'A'+rune(n%26))
	other := "Vexmoor Zellandine " + given
	phone := fmt.Sprintf("+7 701 555 %04d", 1000+n)
	address := fmt.Sprintf("%d Canaryvej Prospekt, Shymkent", 300+n)
	doc := fmt.Sprintf("CNRYDOC%06d", 424200+n)
	person := map[string]any{
		"given_name": given, "family_name": family, "other_names": other, "sex": p.sex,
		"citizenships": p.citizenships, "phone": phone, "address": address,
		"identity_documents": []map[string]any{{"type": "passport", "number": doc, "issuing_country": "KZ"}},
	}
	if p.dob != "" {
		person["date_of_birth"] = p.dob
		w.canaries = append(w.canaries, p.dob)
	}
	if p.birthYear != 0 {
		person["birth_year"] = p.birthYear
	}
	trafficking := map[string]any{
		"trafficking_status": "actual", "exploitation_types": p.types, "means_of_control": p.means,
		"identified_by": "ngo",
	}
	if p.country != "" {
		trafficking["country_of_exploitation"] = p.country
	}
	if p.labour != "" {
		trafficking["labour_sector"] = p.labour
	}
	if p.recruiter != "" {
		trafficking["recruiter_relationship"] = p.recruiter
	}
	id, res := mustCreateCase(t, w.env, cw, map[string]any{"opened_on": p.opened, "person": person, "trafficking": trafficking})
	var v struct {
		CaseNumber string `json:"case_number"`
	}
	res.Decode(t, &v)
	if v.CaseNumber == "" {
		t.Fatalf("created case has no case number: %s", shortBody(res.Body))
	}
	note := fmt.Sprintf("Canary note %d: she said the recruiter Grimwald Oxtongue kept her passport", n)
	nres := w.env.Do(t, http.MethodPost, "/api/v1/cases/"+id+"/notes", cw, map[string]any{"text": note})
	mustStatus(t, nres, http.StatusCreated, "create note")
	w.canaries = append(w.canaries, id, v.CaseNumber, given, family, other, phone, address, doc, note, "Grimwald Oxtongue")
	return ctdcCase{id: id, number: v.CaseNumber, cw: cw}
}

// consent records a research_anonymised consent (given or refused) on the
// day on ("" for the default, today) and returns its id.
func (w *ctdcWorld) consent(t testing.TB, c ctdcCase, given bool, on string) string {
	t.Helper()
	return ctdcConsent(t, w.env, c.cw, c.id, "research_anonymised", given, on)
}

func ctdcConsent(t testing.TB, env *apptest.Env, cw *apptest.Caller, caseID, typ string, given bool, on string) string {
	t.Helper()
	body := map[string]any{"type": typ, "given": given, "scope": "Anonymised research (CTDC)"}
	if on != "" {
		body["recorded_on"] = on
	}
	res := env.Do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/consents", cw, body)
	mustStatus(t, res, http.StatusCreated, fmt.Sprintf("record %s consent given=%v on %q", typ, given, on))
	return mustID(t, res)
}

// withdraw withdraws a consent of c.
func (w *ctdcWorld) withdraw(t testing.TB, c ctdcCase, consentID string) {
	t.Helper()
	res := w.env.Do(t, http.MethodPost, "/api/v1/cases/"+c.id+"/consents/"+consentID+"/withdraw", c.cw, map[string]any{})
	mustStatus(t, res, http.StatusOK, "withdraw consent")
}

// ctdcCSV is a parsed export.
type ctdcCSV struct {
	res    *apptest.Response
	header []string
	rows   []map[string]string
}

// ctdcExport exports as caller with query (may be empty), fails the test now
// unless 200 with a well-formed CSV, and returns it parsed.
func ctdcExport(t testing.TB, env *apptest.Env, caller *apptest.Caller, query string) ctdcCSV {
	t.Helper()
	path := ctdcPath
	if query != "" {
		path += "?" + query
	}
	res := env.Do(t, http.MethodGet, path, caller, nil)
	mustStatus(t, res, http.StatusOK, "GET "+path)
	recs, err := csv.NewReader(bytes.NewReader(res.Body)).ReadAll()
	if err != nil {
		t.Fatalf("GET %s: not CSV: %v\n%s", path, err, shortBody(res.Body))
	}
	if len(recs) == 0 {
		t.Fatalf("GET %s: no header row", path)
	}
	out := ctdcCSV{res: res, header: recs[0]}
	for _, rec := range recs[1:] {
		if len(rec) != len(out.header) {
			t.Fatalf("GET %s: a row of %d fields under a header of %d", path, len(rec), len(out.header))
		}
		m := make(map[string]string, len(rec))
		for i, c := range out.header {
			m[c] = rec[i]
		}
		out.rows = append(out.rows, m)
	}
	return out
}

// ctdcKey is a row's quasi-identifier combination, readable.
func ctdcKey(r map[string]string) string {
	parts := make([]string, len(ctdcQuasiColumns))
	for i, c := range ctdcQuasiColumns {
		parts[i] = r[c]
	}
	return strings.Join(parts, "|")
}

// ctdcGroups counts the rows of each quasi-identifier combination.
func ctdcGroups(rows []map[string]string) map[string]int {
	out := map[string]int{}
	for _, r := range rows {
		out[ctdcKey(r)]++
	}
	return out
}

// ctdcCheckK reports every combination held by fewer than k rows.
func ctdcCheckK(t testing.TB, what string, rows []map[string]string) {
	t.Helper()
	for key, n := range ctdcGroups(rows) {
		if n < ctdcK {
			t.Errorf("%s: quasi-identifiers %q occur %d times, want ≥ %d", what, key, n, ctdcK)
		}
	}
}

// ctdcCount counts the rows matching every column of want.
func ctdcCount(rows []map[string]string, want map[string]string) int {
	n := 0
	for _, r := range rows {
		ok := true
		for c, v := range want {
			if r[c] != v {
				ok = false
				break
			}
		}
		if ok {
			n++
		}
	}
	return n
}

// The profiles of the seeded data. The quasi-identifiers of each group are
// what the export must show for it.
var (
	// ctdcP: women of 2023, aged 24–26 at identification, KZ citizens
	// exploited in RU, forced labour; published as they are.
	ctdcPKey = ctdcKey(map[string]string{"yearOfRegistration": "2023", "gender": "Female", "ageBroad": "24--26", "majorityStatus": "Adult",
		"citizenship": "KZ", "CountryOfExploitation": "RU", "typeOfExploitConcatenated": "Forced labour"})
	// ctdcQ: men of 2024, UZ → KZ, forced labour, in two age bands of fewer
	// than 11 each: published with the age band generalised.
	ctdcQKey = ctdcKey(map[string]string{"yearOfRegistration": "2024", "gender": "Male", "ageBroad": "-99", "majorityStatus": "Adult",
		"citizenship": "UZ", "CountryOfExploitation": "KZ", "typeOfExploitConcatenated": "Forced labour"})
	// ctdcM: boys of 2024 aged 15, GE → KZ, three exploitation types, a
	// labour sector, a recruiter who is a friend; published as they are.
	ctdcMKey = ctdcKey(map[string]string{"yearOfRegistration": "2024", "gender": "Male", "ageBroad": "9--17", "majorityStatus": "Minor",
		"citizenship": "GE", "CountryOfExploitation": "KZ", "typeOfExploitConcatenated": "Begging;Forced labour;Sexual exploitation"})
	// ctdcS: men of 2023, sexual exploitation, in three country pairs of
	// fewer than 11 each: published with age band and both countries
	// generalised.
	ctdcSKey = ctdcKey(map[string]string{"yearOfRegistration": "2023", "gender": "Male", "ageBroad": "-99", "majorityStatus": "Adult",
		"citizenship": "-99", "CountryOfExploitation": "-99", "typeOfExploitConcatenated": "Sexual exploitation"})
)

// ctdcData is the seeded world and the cases the subtests act on.
type ctdcData struct {
	w *ctdcWorld
	// scenario are cases of profile P without consents, one per consent
	// scenario of ctdcScenarios.
	scenario []ctdcCase
	// pRow and mRow are the full rows profiles P and M must export as.
	pRow, mRow map[string]string
}

// ctdcP is profile P (2023, female, 24–26, KZ → RU, forced labour) for
// the i-th case, opened on opened (date of birth varied, age at opening 25
// or 26).
func ctdcP(i int, opened string) ctdcProfile {
	return ctdcProfile{
		opened: opened, sex: "female", dob: fmt.Sprintf("1997-%02d-%02d", 1+i%6, 2+i%27),
		citizenships: []string{"KZ", "RU"}, country: "RU", types: []string{"forced_labour"},
		means: []string{"debt_bondage", "threats"},
	}
}

// ctdcScenario is a history of consents of one case and whether the case
// must then be in the export.
type ctdcScenario struct {
	name   string
	counts bool
	apply  func(t testing.TB, w *ctdcWorld, c ctdcCase)
}

// ctdcScenarios are applied one at a time, each to its own case of profile
// P, with an export after each: 5 of them count, so P ends with ctdcPRows
// rows (13 + 5).
var ctdcScenarios = []ctdcScenario{
	{"no consent at all", false, func(t testing.TB, w *ctdcWorld, c ctdcCase) {}},
	{"refused", false, func(t testing.TB, w *ctdcWorld, c ctdcCase) {
		w.consent(t, c, false, "2023-06-01")
	}},
	{"given, then withdrawn", false, func(t testing.TB, w *ctdcWorld, c ctdcCase) {
		w.withdraw(t, c, w.consent(t, c, true, "2023-06-01"))
	}},
	{"given, then refused on a later day", false, func(t testing.TB, w *ctdcWorld, c ctdcCase) {
		w.consent(t, c, true, "2023-06-01")
		w.consent(t, c, false, "2023-09-01")
	}},
	{"refused, then given on a later day", true, func(t testing.TB, w *ctdcWorld, c ctdcCase) {
		w.consent(t, c, false, "2023-06-01")
		w.consent(t, c, true, "2023-08-01")
	}},
	{"given, then refused on the same day (recorded after)", false, func(t testing.TB, w *ctdcWorld, c ctdcCase) {
		w.consent(t, c, true, "2023-06-01")
		w.consent(t, c, false, "2023-06-01")
	}},
	{"refused, then given on the same day (recorded after)", true, func(t testing.TB, w *ctdcWorld, c ctdcCase) {
		w.consent(t, c, false, "2023-06-01")
		w.consent(t, c, true, "2023-06-01")
	}},
	{"given; a refusal recorded afterwards about an earlier day", true, func(t testing.TB, w *ctdcWorld, c ctdcCase) {
		w.consent(t, c, true, "2023-08-01")
		w.consent(t, c, false, "2023-07-01")
	}},
	{"given, withdrawn, given again later", true, func(t testing.TB, w *ctdcWorld, c ctdcCase) {
		w.withdraw(t, c, w.consent(t, c, true, "2023-06-01"))
		w.consent(t, c, true, "2023-09-01")
	}},
	{"an older given consent stays, the newer given one is withdrawn", false, func(t testing.TB, w *ctdcWorld, c ctdcCase) {
		w.consent(t, c, true, "2023-06-01")
		w.withdraw(t, c, w.consent(t, c, true, "2023-09-01"))
	}},
	{"research given, another type refused later", true, func(t testing.TB, w *ctdcWorld, c ctdcCase) {
		w.consent(t, c, true, "2023-06-01")
		ctdcConsent(t, w.env, c.cw, c.id, "data_processing", false, "2023-10-01")
	}},
	{"other types given, research never", false, func(t testing.TB, w *ctdcWorld, c ctdcCase) {
		ctdcConsent(t, w.env, c.cw, c.id, "assistance", true, "2023-06-01")
		ctdcConsent(t, w.env, c.cw, c.id, "data_processing", true, "2023-06-01")
	}},
}

// ctdcPRows is how many rows of profile P the export holds once every
// scenario has been applied.
const ctdcPRows = 18

// seedCTDC registers, in two NGOs:
//   - 13 cases of profile P with research consent given, and a case of
//     profile P without consents for each of ctdcScenarios;
//   - rare consenting P-like cases (a unique citizenship, age 70, no age,
//     and 8 of another citizenship: 10 after generalising, one short of k);
//   - 11 consenting cases each of profiles Q (2024), M (2024) and S (2023).
func seedCTDC(t *testing.T, db *store.DB) *ctdcData {
	t.Helper()
	w := newCTDCWorld(t, db)
	d := &ctdcData{w: w}
	// Opening dates include both ends of the year.
	days2023 := []string{"2023-01-01", "2023-02-14", "2023-03-30", "2023-05-05", "2023-07-19", "2023-09-09", "2023-11-11", "2023-12-31"}
	day := func(i int) string { return days2023[i%len(days2023)] }
	i := 0
	nextP := func() ctdcCase {
		i++
		return w.newCase(t, ctdcP(i, day(i)))
	}

	// 13 plain consents: profile P is published from the start.
	for range 13 {
		w.consent(t, nextP(), true, "2023-06-01")
	}
	// The consent-rule scenarios' cases: the subtest records their consents.
	for range len(ctdcScenarios) {
		d.scenario = append(d.scenario, nextP())
	}

	// Rare profiles: after generalising the age band, then both countries,
	// the ten of them share one combination (one short of k) and the case
	// without an age stays alone: all dropped.
	rare := []ctdcProfile{
		{opened: "2023-04-04", sex: "female", dob: "1998-04-04", citizenships: []string{"TJ"}, country: "RU",
			types: []string{"forced_labour"}, means: []string{"debt_bondage", "threats"}},
		{opened: "2023-04-05", sex: "female", dob: "1953-02-03", citizenships: []string{"KZ"}, country: "RU",
			types: []string{"forced_labour"}, means: []string{"debt_bondage", "threats"}},
		{opened: "2023-04-06", sex: "female", citizenships: []string{"KZ"}, country: "RU",
			types: []string{"forced_labour"}, means: []string{"debt_bondage", "threats"}},
	}
	for j := range 8 {
		rare = append(rare, ctdcProfile{opened: day(j), sex: "female", birthYear: 1993, citizenships: []string{"AM"}, country: "RU",
			types: []string{"forced_labour"}, means: []string{"threats"}})
	}
	for _, p := range rare {
		w.consent(t, w.newCase(t, p), true, "2023-06-01")
	}

	// Q: 2024, opened on both ends of the year; 6 aged 19, 5 aged 22.
	days2024 := []string{"2024-01-01", "2024-03-03", "2024-06-06", "2024-12-31"}
	for j := range 11 {
		by := 2005
		if j >= 6 {
			by = 2002
		}
		c := w.newCase(t, ctdcProfile{opened: days2024[j%len(days2024)], sex: "male", birthYear: by, citizenships: []string{"UZ"},
			country: "KZ", types: []string{"forced_labour"}, means: []string{"withholds_documents"}})
		w.consent(t, c, true, "2024-06-01")
	}
	// M: 2024, aged 15, every coded field known.
	for j := range 11 {
		c := w.newCase(t, ctdcProfile{opened: days2024[j%len(days2024)], sex: "male", birthYear: 2009, citizenships: []string{"GE"},
			country: "KZ", types: []string{"sexual_exploitation", "forced_begging", "forced_labour"}, means: []string{"other"},
			labour: "C", recruiter: "friend"})
		w.consent(t, c, true, "2024-06-01")
	}
	// S: 2023, aged 30, 4 TJ → RU, 4 KG → TR, 3 UZ → AE.
	for j := range 11 {
		cit, country := "TJ", "RU"
		switch {
		case j >= 8:
			cit, country = "UZ", "AE"
		case j >= 4:
			cit, country = "KG", "TR"
		}
		c := w.newCase(t, ctdcProfile{opened: day(j), sex: "male", birthYear: 1993, citizenships: []string{cit},
			country: country, types: []string{"sexual_exploitation"}, means: []string{}})
		w.consent(t, c, true, "2023-06-01")
	}

	d.pRow = map[string]string{}
	for _, col := range ctdcLayout {
		d.pRow[col] = "-99"
	}
	for col, v := range map[string]string{
		"yearOfRegistration": "2023", "Datasource": "Case Management", "gender": "Female", "ageBroad": "24--26",
		"majorityStatus": "Adult", "majorityStatusAtExploit": "Adult", "citizenship": "KZ",
		"meansOfControlConcatenated": "DebtBondage;Threats", "meansOfControlNotSpecified": "0",
		"isForcedLabour": "1", "isSexualExploit": "0", "isOtherExploit": "0", "isSexAndLabour": "0", "isForcedMarriage": "0",
		"isForcedMilitary": "0", "isOrganRemoval": "0", "isSlaveryAndPractices": "0",
		"typeOfExploitConcatenated": "Forced labour", "CountryOfExploitation": "RU",
	} {
		d.pRow[col] = v
	}
	for _, col := range ctdcLayout {
		if strings.HasPrefix(col, "meansOfControl") && col != "meansOfControlConcatenated" && col != "meansOfControlNotSpecified" {
			d.pRow[col] = "0"
		}
	}
	d.pRow["meansOfControlDebtBondage"], d.pRow["meansOfControlThreats"] = "1", "1"

	d.mRow = map[string]string{}
	for _, col := range ctdcLayout {
		d.mRow[col] = "0"
	}
	for col, v := range map[string]string{
		"yearOfRegistration": "2024", "Datasource": "Case Management", "gender": "Male", "ageBroad": "9--17",
		"majorityStatus": "Minor", "majorityStatusAtExploit": "Minor", "majorityEntry": "-99", "citizenship": "GE",
		"meansOfControlOther": "1", "meansOfControlConcatenated": "Other",
		"isForcedLabour": "1", "isSexualExploit": "1", "isOtherExploit": "1", "isSexAndLabour": "1",
		"typeOfExploitConcatenated": "Begging;Forced labour;Sexual exploitation", "typeOfLabourConcatenated": "C",
		"typeOfSexConcatenated": "-99", "RecruiterRelationship": "Friend", "CountryOfExploitation": "KZ", "recruiterRelationFriend": "1",
	} {
		d.mRow[col] = v
	}
	return d
}

// ---------------------------------------------------------------------------
// Tests

// TestCTDCExport: the anonymised CTDC export over HTTP: which cases it holds
// (the latest research_anonymised consent given and not withdrawn),
// k-anonymity over the quasi-identifiers, no identifying data, the CTDC
// layout, the year filter and the file headers.
func TestCTDCExport(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		d := seedCTDC(t, db)
		w, env := d.w, d.w.env
		const total = ctdcPRows + 11 + 11 + 11 // P, Q, M and S; the rare ones dropped

		t.Run("consent rules", func(t *testing.T) {
			if len(ctdcScenarios) != len(d.scenario) {
				t.Fatalf("%d scenarios, %d cases for them", len(ctdcScenarios), len(d.scenario))
			}
			const others = 11 + 11 + 11 // Q, M and S
			check := func(what string, wantP int) {
				t.Helper()
				e := ctdcExport(t, env, w.coord, "")
				if got, p := len(e.rows), ctdcGroups(e.rows)[ctdcPKey]; got != wantP+others || p != wantP {
					t.Errorf("%s: %d rows (%d of profile P), want %d (%d): groups %v", what, got, p, wantP+others, wantP, ctdcGroups(e.rows))
				}
			}
			wantP := 13
			check("13 consents given", wantP)
			for i, sc := range ctdcScenarios {
				sc.apply(t, w, d.scenario[i])
				if sc.counts {
					wantP++
				}
				check(fmt.Sprintf("scenario %q (counts: %v)", sc.name, sc.counts), wantP)
			}
			if wantP != ctdcPRows {
				t.Fatalf("the scenarios leave %d cases of P, the other subtests expect %d", wantP, ctdcPRows)
			}

			// One more consent adds a row; withdrawing it takes it away.
			none := d.scenario[0]
			id := w.consent(t, none, true, "")
			check("one more consent given", ctdcPRows+1)
			w.withdraw(t, none, id)
			check("that consent withdrawn", ctdcPRows)
			e := ctdcExport(t, env, w.coord, "")
			if len(e.rows) != total {
				t.Errorf("%d rows, want %d (%d consenting P cases, 11 each of Q, M and S)", len(e.rows), total, ctdcPRows)
			}
		})

		t.Run("k-anonymity", func(t *testing.T) {
			for _, q := range []string{"", "year=2023", "year=2024"} {
				e := ctdcExport(t, env, w.coord, q)
				ctdcCheckK(t, "export "+q, e.rows)
			}
			e := ctdcExport(t, env, w.coord, "")
			want := map[string]int{ctdcPKey: ctdcPRows, ctdcQKey: 11, ctdcMKey: 11, ctdcSKey: 11}
			if got := ctdcGroups(e.rows); !maps.Equal(got, want) {
				t.Errorf("quasi-identifier groups %v, want %v (rare profiles generalised into a group of 10 and dropped)", got, want)
			}
			for _, r := range e.rows {
				for _, rare := range []struct{ col, v string }{
					{"ageBroad", "48+"}, {"citizenship", "TJ"}, {"citizenship", "AM"}, {"citizenship", "KG"},
					{"CountryOfExploitation", "TR"}, {"CountryOfExploitation", "AE"},
				} {
					if r[rare.col] == rare.v {
						t.Errorf("a row publishes the rare %s %s: %v", rare.col, rare.v, r)
					}
				}
			}
			// Generalising the age band keeps the majority status.
			for _, r := range e.rows {
				if ctdcKey(r) == ctdcQKey && r["majorityStatusAtExploit"] != "Adult" {
					t.Errorf("generalised Q row lost majorityStatusAtExploit: %v", r)
				}
			}
		})

		t.Run("no identifying data", func(t *testing.T) {
			date := regexp.MustCompile(`\d{4}-\d{2}-\d{2}`)
			uuidRe := regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
			caseNumber := regexp.MustCompile(`[A-Z]+-\d{4}-\d{5}`)
			for _, q := range []string{"", "year=2023", "year=2024"} {
				e := ctdcExport(t, env, w.coord, q)
				body := string(e.res.Body)
				for _, c := range w.canaries {
					if strings.Contains(body, c) {
						t.Errorf("export %q holds the identifying value %q", q, c)
					}
				}
				for _, re := range []*regexp.Regexp{date, uuidRe, caseNumber} {
					if m := re.FindString(body); m != "" {
						t.Errorf("export %q holds %q (matches %s)", q, m, re)
					}
				}
				// Only the registration year: no column holds anything like a
				// date, and nothing but the known codes and labels.
				for _, r := range e.rows {
					for col, v := range r {
						if strings.ContainsAny(v, "@/:") || len(v) > 60 {
							t.Errorf("export %q: column %s holds %q", q, col, v)
						}
					}
				}
			}
		})

		t.Run("layout and filter", func(t *testing.T) {
			e := ctdcExport(t, env, w.coord, "")
			if !slices.Equal(e.header, ctdcLayout) {
				t.Errorf("header %v,\nwant the CTDC layout %v", e.header, ctdcLayout)
			}
			if !slices.Equal(e.header, reports.CTDCColumns) {
				t.Errorf("header %v differs from reports.CTDCColumns %v", e.header, reports.CTDCColumns)
			}
			if ct, _, err := mime.ParseMediaType(e.res.Header.Get("Content-Type")); err != nil || ct != "text/csv" {
				t.Errorf("Content-Type %q, want text/csv", e.res.Header.Get("Content-Type"))
			}
			ctdcWantDisposition(t, e.res, "ctdc-export.csv")
			if cc := e.res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			for _, r := range e.rows {
				for col, v := range r {
					if v == "" {
						t.Errorf("column %s is empty, want -99 for a missing value: %v", col, r)
					}
				}
			}
			// Every P row is exactly the expected CTDC row.
			for _, r := range e.rows {
				if ctdcKey(r) != ctdcPKey {
					continue
				}
				for _, col := range ctdcLayout {
					if r[col] != d.pRow[col] {
						t.Errorf("P row: %s = %q, want %q", col, r[col], d.pRow[col])
					}
				}
				break
			}
			// Every M row is exactly the expected row: known codes mapped to
			// CTDC's labels and flags.
			for _, r := range e.rows {
				if ctdcKey(r) != ctdcMKey {
					continue
				}
				for _, col := range ctdcLayout {
					if r[col] != d.mRow[col] {
						t.Errorf("M row: %s = %q, want %q", col, r[col], d.mRow[col])
					}
				}
				break
			}
			if n := ctdcCount(e.rows, d.mRow); n != 11 {
				t.Errorf("%d rows equal the expected M row, want 11", n)
			}
			if n := ctdcCount(e.rows, d.pRow); n != ctdcPRows {
				t.Errorf("%d rows equal the expected P row, want %d", n, ctdcPRows)
			}
			// Generalised age band: -99, the majority status stays.
			if n := ctdcCount(e.rows, map[string]string{"gender": "Male", "ageBroad": "-99", "majorityStatus": "Adult", "citizenship": "UZ",
				"CountryOfExploitation": "KZ", "yearOfRegistration": "2024", "meansOfControlWithholdsDocuments": "1"}); n != 11 {
				t.Errorf("%d Q rows with the age band generalised, want 11", n)
			}
			// No means of control recorded: not specified.
			if n := ctdcCount(e.rows, map[string]string{"typeOfExploitConcatenated": "Sexual exploitation", "isSexualExploit": "1",
				"meansOfControlNotSpecified": "1", "meansOfControlConcatenated": "-99", "citizenship": "-99"}); n != 11 {
				t.Errorf("%d S rows as expected, want 11", n)
			}

			for _, tc := range []struct {
				year  string
				rows  int
				years []string
			}{
				{"2023", ctdcPRows + 11, []string{"2023"}},
				{"2024", 11 + 11, []string{"2024"}},
				{"2022", 0, nil},
			} {
				e := ctdcExport(t, env, w.coord, "year="+tc.year)
				if len(e.rows) != tc.rows {
					t.Errorf("year=%s: %d rows, want %d: %v", tc.year, len(e.rows), tc.rows, ctdcGroups(e.rows))
				}
				for _, r := range e.rows {
					if r["yearOfRegistration"] != tc.year {
						t.Errorf("year=%s: a row of %s", tc.year, r["yearOfRegistration"])
					}
				}
				if !slices.Equal(e.header, ctdcLayout) {
					t.Errorf("year=%s: header %v", tc.year, e.header)
				}
				ctdcWantDisposition(t, e.res, "ctdc-export-"+tc.year+".csv")
				if cc := e.res.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("year=%s: Cache-Control %q, want no-store", tc.year, cc)
				}
			}
		})
	})
}

// ctdcWantDisposition reports unless res is an attachment named name.
func ctdcWantDisposition(t testing.TB, res *apptest.Response, name string) {
	t.Helper()
	cd := res.Header.Get("Content-Disposition")
	disp, params, err := mime.ParseMediaType(cd)
	if err != nil || disp != "attachment" || params["filename"] != name {
		t.Errorf("Content-Disposition %q, want attachment; filename=%q", cd, name)
	}
}

// TestCTDCExportAccess: who may export (IOM coordinators and IOM admins),
// the year parameter's bounds, and the audit trail of granted and denied
// exports.
func TestCTDCExportAccess(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "CTDCACC", "Aktobe")
		callers := []struct {
			name   string
			caller *apptest.Caller
			status int
		}{
			{"NGO admin", env.NewUser(t, org.ID, "admin@ctdcacc.example", "admin"), http.StatusForbidden},
			{"NGO admin and caseworker", env.NewUser(t, org.ID, "admincw@ctdcacc.example", "admin", "caseworker"), http.StatusForbidden},
			{"NGO caseworker", env.NewUser(t, org.ID, "cw@ctdcacc.example", "caseworker"), http.StatusForbidden},
			{"NGO viewer", env.NewUser(t, org.ID, "viewer@ctdcacc.example", "viewer"), http.StatusForbidden},
			{"IOM caseworker", env.NewUser(t, env.IOM.ID, "cw@ctdcacc-iom.example", "caseworker"), http.StatusForbidden},
			{"IOM coordinator", env.NewUser(t, env.IOM.ID, "coord@ctdcacc-iom.example", "coordinator"), http.StatusOK},
			{"IOM admin", env.Admin, http.StatusOK},
			{"second IOM admin", env.NewUser(t, env.IOM.ID, "admin2@ctdcacc-iom.example", "admin"), http.StatusOK},
		}
		type sent struct {
			name      string
			requestID string
			actorID   string
			status    int
		}
		var requests []sent

		t.Run("roles", func(t *testing.T) {
			for _, c := range callers {
				for _, q := range []string{"", "?year=2025"} {
					res := env.Do(t, http.MethodGet, ctdcPath+q, c.caller, nil)
					if res.Status != c.status {
						t.Errorf("%s GET %s: status %d, want %d: %s", c.name, ctdcPath+q, res.Status, c.status, shortBody(res.Body))
						continue
					}
					if c.status == http.StatusForbidden {
						if p := res.Problem(t); p.Code != "forbidden" {
							t.Errorf("%s: problem code %q, want forbidden", c.name, p.Code)
						}
						if bytes.Contains(res.Body, []byte("yearOfRegistration")) {
							t.Errorf("%s: a denied answer holds CSV", c.name)
						}
					} else if !bytes.HasPrefix(res.Body, []byte("yearOfRegistration,")) {
						t.Errorf("%s: body is not the CSV export: %s", c.name, shortBody(res.Body))
					}
					requests = append(requests, sent{c.name, res.Header.Get("X-Request-Id"), c.caller.User.ID, res.Status})
				}
			}
			res := env.Do(t, http.MethodGet, ctdcPath, nil, nil)
			if res.Status != http.StatusUnauthorized {
				t.Errorf("anonymous: status %d, want 401: %s", res.Status, shortBody(res.Body))
			} else if p := res.Problem(t); p.Code != "unauthenticated" {
				t.Errorf("anonymous: problem code %q, want unauthenticated", p.Code)
			}
			requests = append(requests, sent{"anonymous", res.Header.Get("X-Request-Id"), "", res.Status})
			bad := env.Do(t, http.MethodGet, ctdcPath, &apptest.Caller{AccessToken: "not-a-token"}, nil)
			if bad.Status != http.StatusUnauthorized {
				t.Errorf("bad token: status %d, want 401", bad.Status)
			}
		})

		t.Run("year parameter", func(t *testing.T) {
			coord := callers[5].caller
			for _, q := range []string{"abc", "1800", "1989", "2101", "2023.5", ""} {
				res := env.Do(t, http.MethodGet, ctdcPath+"?year="+url.QueryEscape(q), coord, nil)
				if res.Status != http.StatusBadRequest {
					t.Errorf("year=%q: status %d, want 400: %s", q, res.Status, shortBody(res.Body))
					continue
				}
				if p := res.Problem(t); p.Code != "invalid" {
					t.Errorf("year=%q: problem code %q, want invalid", q, p.Code)
				}
				requests = append(requests, sent{"year=" + q, res.Header.Get("X-Request-Id"), coord.User.ID, res.Status})
			}
			for _, q := range []string{"1990", "2100"} {
				res := env.Do(t, http.MethodGet, ctdcPath+"?year="+q, coord, nil)
				mustStatus(t, res, http.StatusOK, "year="+q)
				requests = append(requests, sent{"year=" + q, res.Header.Get("X-Request-Id"), coord.User.ID, res.Status})
			}
		})

		t.Run("audit", func(t *testing.T) {
			all := mustAuditEvents[casesAuditEvent](t, env, url.Values{})
			byRequest := map[string][]casesAuditEvent{}
			exports := 0
			for _, e := range all {
				if e.RequestID != nil {
					byRequest[*e.RequestID] = append(byRequest[*e.RequestID], e)
				}
				if e.Action == "export.ctdc" {
					exports++
				}
			}
			type logLine struct {
				Msg       string `json:"msg"`
				RequestID string `json:"request_id"`
				Route     string `json:"route"`
				Status    int    `json:"status"`
			}
			logged := map[string]logLine{}
			for _, line := range bytes.Split(env.Logs.Bytes(), []byte("\n")) {
				var l logLine
				if json.Unmarshal(line, &l) == nil && l.Msg == "request" && l.RequestID != "" {
					logged[l.RequestID] = l
				}
			}
			granted := 0
			for _, r := range requests {
				if r.requestID == "" {
					t.Errorf("%s: no X-Request-Id", r.name)
					continue
				}
				evs := byRequest[r.requestID]
				var actions []string
				for _, e := range evs {
					actions = append(actions, e.Action+"/"+e.Outcome)
				}
				sort.Strings(actions)
				switch r.status {
				case http.StatusOK:
					granted++
					if len(evs) != 1 || evs[0].Action != "export.ctdc" || evs[0].Outcome != "success" || evs[0].ObjectType != "export" ||
						evs[0].ActorType != "user" || strOrNil(evs[0].ActorID) != r.actorID || strOrNil(evs[0].OrganizationID) != env.IOM.ID {
						t.Errorf("%s: audit events %v (%+v), want one export.ctdc success by %s of IOM", r.name, actions, evs, r.actorID)
					}
				case http.StatusForbidden:
					// The denied event names no route: the request id ties it
					// to the access log line of the export.
					if len(evs) != 1 || evs[0].Action != "request.forbidden" || evs[0].Outcome != "denied" || evs[0].ObjectType != "request" ||
						evs[0].ActorType != "user" || strOrNil(evs[0].ActorID) != r.actorID {
						t.Errorf("%s: audit events %v (%+v), want one request.forbidden denied by %s", r.name, actions, evs, r.actorID)
					}
					if got := logged[r.requestID]; got.Route != ctdcPath || got.Status != http.StatusForbidden {
						t.Errorf("%s: access log for request %s: route %q status %d, want %s 403", r.name, r.requestID, got.Route, got.Status, ctdcPath)
					}
				case http.StatusUnauthorized:
					if len(evs) != 1 || evs[0].Action != "request.unauthenticated" || evs[0].Outcome != "denied" || evs[0].ActorType != "anonymous" {
						t.Errorf("%s: audit events %v, want one request.unauthenticated denied", r.name, actions)
					}
				case http.StatusBadRequest:
					if slices.ContainsFunc(evs, func(e casesAuditEvent) bool { return e.Action == "export.ctdc" }) {
						t.Errorf("%s: a refused request audited as an export: %v", r.name, actions)
					}
				}
			}
			if exports != granted {
				t.Errorf("%d export.ctdc events, want one per granted export (%d)", exports, granted)
			}
			// The action filter finds them too.
			if got := len(mustAuditEvents[casesAuditEvent](t, env, url.Values{"action": {"export.ctdc"}})); got != granted {
				t.Errorf("action=export.ctdc lists %d events, want %d", got, granted)
			}
		})
	})
}
