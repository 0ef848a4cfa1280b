package httpapi_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/store"
)

// Reports (people assisted, services delivered, outcomes) through the API:
// hand-counted figures of a fixed data set for every grouping, small-cell
// and complementary suppression, scope by role, bad input, CSV and XLSX with
// localized labels, freshness and the audit trail.
//
// The data set (rptBuild) covers the period 2024-11-01 … 2025-02-28: two
// NGOs, A in Almaty and B in Astana, with fourteen cases of which twelve
// count. Every expected figure below is counted by hand from the comments in
// rptBuild; none is computed by the test.

// ---------------------------------------------------------------------------
// Helpers (prefixed rpt: other test files of this package are written in
// parallel).

const (
	rptFrom = "2024-11-01"
	rptTo   = "2025-02-28"
	rptK    = 5 // the default k
)

// rptWorld is the fixture on one database.
type rptWorld struct {
	env      *apptest.Env
	a, b     organizations.Organization
	aCW, bCW *apptest.Caller
	aAdmin   *apptest.Caller
	aViewer  *apptest.Caller
	bAdmin   *apptest.Caller
	bViewer  *apptest.Caller
	coord    *apptest.Caller // IOM coordinator
	iomCW    *apptest.Caller // IOM caseworker
	cases    map[string]string
}

// rptRow is one row of any report as the API answers it.
type rptRow struct {
	Group      map[string]*string `json:"group"`
	People     *int64             `json:"people"`
	Services   *int64             `json:"services"`
	Nights     *int64             `json:"nights"`
	Cost       *[]rptMoney        `json:"cost"`
	Suppressed bool               `json:"suppressed"`
}

type rptMoney struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

type rptSuppression struct {
	Applied    bool `json:"applied"`
	MinCount   int  `json:"min_count"`
	Suppressed int  `json:"suppressed"`
}

// rptReport is any of the three reports as JSON.
type rptReport struct {
	Report         string         `json:"report"`
	From           string         `json:"from"`
	To             string         `json:"to"`
	OrganizationID *string        `json:"organization_id"`
	GroupBy        []string       `json:"group_by"`
	Unit           string         `json:"unit"`
	Suppression    rptSuppression `json:"suppression"`
	Rows           []rptRow       `json:"rows"`
	Closures       []rptRow       `json:"closures"`
	Returns        []rptRow       `json:"returns"`
	TimeToClosure  struct {
		People     *int64 `json:"people"`
		P25Days    *int64 `json:"p25_days"`
		MedianDays *int64 `json:"median_days"`
		P75Days    *int64 `json:"p75_days"`
		Suppressed bool   `json:"suppressed"`
	} `json:"time_to_closure"`
}

// rptSvc is the expected measures of one services row.
type rptSvc struct {
	services, people, nights int64
	cost                     map[string]int64
}

// rptPath is the path of report kind with the period and extra query
// parameters (name, value pairs).
func rptPath(kind string, kv ...string) string {
	q := url.Values{}
	q.Set("from", rptFrom)
	q.Set("to", rptTo)
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return "/api/v1/reports/" + kind + "?" + q.Encode()
}

// rptGet reads a JSON report as caller and fails the test now unless 200.
func rptGet(t testing.TB, env *apptest.Env, caller *apptest.Caller, path string) rptReport {
	t.Helper()
	res := env.Do(t, http.MethodGet, path, caller, nil)
	mustStatus(t, res, http.StatusOK, "GET "+path)
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("GET %s: Cache-Control %q, want no-store", path, cc)
	}
	var r rptReport
	res.Decode(t, &r)
	return r
}

// rptKey names a row by its group: each dimension's value, "*" for its
// total, joined by "|" in the order of dims.
func rptKey(g map[string]*string, dims []string) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		v, ok := g[d]
		switch {
		case !ok:
			parts[i] = "<missing>"
		case v == nil:
			parts[i] = "*"
		default:
			parts[i] = *v
		}
	}
	return strings.Join(parts, "|")
}

// rptWantPeople checks that rows are exactly want (key → people), none
// suppressed and none twice.
func rptWantPeople(t testing.TB, what string, rows []rptRow, dims []string, want map[string]int64) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rows {
		k := rptKey(r.Group, dims)
		if len(r.Group) != len(dims) {
			t.Errorf("%s: row %q has group %v, want exactly the dimensions %v", what, k, r.Group, dims)
		}
		if seen[k] {
			t.Errorf("%s: row %q twice", what, k)
		}
		seen[k] = true
		w, ok := want[k]
		switch {
		case !ok:
			t.Errorf("%s: unexpected row %q (people %s)", what, k, rptInt(r.People))
		case r.Suppressed || r.People == nil:
			t.Errorf("%s: row %q suppressed (people %s), want %d", what, k, rptInt(r.People), w)
		case *r.People != w:
			t.Errorf("%s: row %q has %d people, want %d", what, k, *r.People, w)
		}
	}
	for k, w := range want {
		if !seen[k] {
			t.Errorf("%s: no row %q, want %d people", what, k, w)
		}
	}
}

// rptWantServices checks services rows against want (key → measures).
func rptWantServices(t testing.TB, what string, rows []rptRow, dims []string, want map[string]rptSvc) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rows {
		k := rptKey(r.Group, dims)
		if seen[k] {
			t.Errorf("%s: row %q twice", what, k)
		}
		seen[k] = true
		w, ok := want[k]
		if !ok {
			t.Errorf("%s: unexpected row %q", what, k)
			continue
		}
		if r.Suppressed || r.Services == nil || r.People == nil || r.Nights == nil || r.Cost == nil {
			t.Errorf("%s: row %q suppressed or incomplete: %+v", what, k, r)
			continue
		}
		if *r.Services != w.services || *r.People != w.people || *r.Nights != w.nights {
			t.Errorf("%s: row %q has services/people/nights %d/%d/%d, want %d/%d/%d", what, k,
				*r.Services, *r.People, *r.Nights, w.services, w.people, w.nights)
		}
		got := map[string]int64{}
		for _, m := range *r.Cost {
			if _, dup := got[m.Currency]; dup {
				t.Errorf("%s: row %q lists currency %s twice", what, k, m.Currency)
			}
			got[m.Currency] = m.Amount
		}
		want := w.cost
		if want == nil {
			want = map[string]int64{}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: row %q costs %v, want %v", what, k, got, want)
		}
		if !slices.IsSortedFunc(*r.Cost, func(a, b rptMoney) int { return strings.Compare(a.Currency, b.Currency) }) {
			t.Errorf("%s: row %q costs not in currency order: %v", what, k, *r.Cost)
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("%s: no row %q", what, k)
		}
	}
}

func rptInt(p *int64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// rptCheckSuppressed checks a suppressed table: suppressed rows show no
// measure, no shown row has 1..k-1 people, the count of suppressed rows is
// the one announced (when announced >= 0), every shown row has the value it
// has unsuppressed (exact, key → people), and no total relation hides
// exactly one of its cells (the total minus the shown cells would give it
// away). It returns the keys of the suppressed rows.
func rptCheckSuppressed(t testing.TB, what string, rows []rptRow, dims []string, exact map[string]int64, announced int) map[string]bool {
	t.Helper()
	hidden := map[string]bool{}
	byKey := map[string]rptRow{}
	for _, r := range rows {
		k := rptKey(r.Group, dims)
		byKey[k] = r
		if _, ok := exact[k]; exact != nil && !ok {
			t.Errorf("%s: unexpected row %q (suppressed %v): a group that has no one", what, k, r.Suppressed)
		}
		if r.Suppressed {
			hidden[k] = true
			if r.People != nil || r.Services != nil || r.Nights != nil || r.Cost != nil {
				t.Errorf("%s: suppressed row %q shows a measure: %+v", what, k, r)
			}
			continue
		}
		if r.People == nil {
			t.Errorf("%s: shown row %q has people null", what, k)
			continue
		}
		if *r.People >= 1 && *r.People < rptK {
			t.Errorf("%s: row %q shows %d people, a count below k=%d", what, k, *r.People, rptK)
		}
		if w, ok := exact[k]; ok && w != *r.People {
			t.Errorf("%s: row %q shows %d people, unsuppressed it has %d", what, k, *r.People, w)
		}
	}
	if exact != nil {
		for k := range exact {
			if _, ok := byKey[k]; !ok {
				t.Errorf("%s: row %q is missing (suppression must hide values, not rows)", what, k)
			}
		}
	}
	if announced >= 0 && announced != len(hidden) {
		t.Errorf("%s: suppression.suppressed = %d, but %d rows are suppressed", what, announced, len(hidden))
	}
	// Every total relation: a row with a dimension at its total, and the rows
	// equal to it but for a value of that dimension.
	for _, parent := range rows {
		pk := rptKey(parent.Group, dims)
		for di, d := range dims {
			if parent.Group[d] != nil {
				continue
			}
			members, nHidden := []string{pk}, 0
			if parent.Suppressed {
				nHidden++
			}
			for _, child := range rows {
				if child.Group[d] == nil {
					continue
				}
				same := true
				for dj, o := range dims {
					if dj != di && strOrNil(child.Group[o]) != strOrNil(parent.Group[o]) {
						same = false
						break
					}
				}
				if !same {
					continue
				}
				ck := rptKey(child.Group, dims)
				members = append(members, ck)
				if child.Suppressed {
					nHidden++
				}
			}
			if len(members) > 1 && nHidden == 1 {
				t.Errorf("%s: the relation of %q over %s hides exactly one of %v: it can be worked out", what, pk, d, members)
			}
		}
	}
	return hidden
}

// rptNewCase registers a case as caller with the person's fields ("" and
// nil fields are left out, so they default to not_collected / unknown).
func rptNewCase(t testing.TB, env *apptest.Env, caller *apptest.Caller, name, sex, dob, identified, opened string, citizenships, exploitation []string) string {
	t.Helper()
	person := map[string]any{"given_name": "Report-" + name, "citizenships": citizenships}
	if sex != "" {
		person["sex"] = sex
	}
	if dob != "" {
		person["date_of_birth"] = dob
	}
	trafficking := map[string]any{"exploitation_types": exploitation}
	if identified != "" {
		trafficking["identified_on"] = identified
	}
	id, _ := mustCreateCase(t, env, caller, map[string]any{"opened_on": opened, "person": person, "trafficking": trafficking})
	return id
}

// rptService records a service as caller; it must be created.
func rptService(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID string, body map[string]any) string {
	t.Helper()
	res := env.Do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/services", caller, body)
	mustStatus(t, res, http.StatusCreated, fmt.Sprintf("record service %v", body))
	return mustID(t, res)
}

// rptClose closes a case as caller on a day with a reason.
func rptClose(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID, reason, on string) {
	t.Helper()
	res := env.Do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/close", caller, map[string]any{"closure_reason": reason, "closed_on": on})
	mustStatus(t, res, http.StatusOK, "close case")
}

func rptKZT(n int64) map[string]any { return map[string]any{"amount": n, "currency": "KZT"} }
func rptUSD(n int64) map[string]any { return map[string]any{"amount": n, "currency": "USD"} }

// rptBuild registers the fixture. Each case's comment says what it counts
// as in the assistance report of the period (IOM view unless said):
// sex / sex_age / age_group / age_broad (age at identification) /
// exploitation / citizenship / service types / funding projects / months.
func rptBuild(t testing.TB, env *apptest.Env) *rptWorld {
	t.Helper()
	w := &rptWorld{env: env, cases: map[string]string{}}
	w.a = env.NewOrg(t, "RPTA", "Almaty")
	w.b = env.NewOrg(t, "RPTB", "Astana")
	w.aCW = env.NewUser(t, w.a.ID, "cw@rpta.example", "caseworker")
	w.bCW = env.NewUser(t, w.b.ID, "cw@rptb.example", "caseworker")
	w.aAdmin = env.NewUser(t, w.a.ID, "admin@rpta.example", "admin")
	w.aViewer = env.NewUser(t, w.a.ID, "viewer@rpta.example", "viewer")
	w.bAdmin = env.NewUser(t, w.b.ID, "admin@rptb.example", "admin")
	w.bViewer = env.NewUser(t, w.b.ID, "viewer@rptb.example", "viewer")
	w.coord = env.NewUser(t, env.IOM.ID, "coord@rpt-iom.example", "coordinator")
	w.iomCW = env.NewUser(t, env.IOM.ID, "cw@rpt-iom.example", "caseworker")
	aCW, bCW := w.aCW, w.bCW
	c := func(caller *apptest.Caller, name, sex, dob, identified, opened string, cit, expl []string) string {
		id := rptNewCase(t, env, caller, name, sex, dob, identified, opened, cit, expl)
		w.cases[name] = id
		return id
	}

	// A1 — counted: opened before the period, shelter started before `from`
	// and still running. female / women / adult / 30-38 (34) /
	// sexual_exploitation + forced_labour → also sexual_and_labour / KZ /
	// shelter / PRJ-1 / 2024-11, 2024-12, 2025-01, 2025-02.
	// Services: shelter (provider A, no discharge: no nights, no cost).
	a1 := c(aCW, "A1", "female", "1990-05-10", "2024-10-15", "2024-10-01", []string{"KZ"}, []string{"sexual_exploitation", "forced_labour"})
	rptService(t, env, aCW, a1, map[string]any{"type": "shelter", "status": "in_progress", "started_on": "2024-09-01",
		"funding_project": "PRJ-1", "details": map[string]any{"admitted_on": "2024-09-01"}})

	// A2 — counted: opened in the period. female / girls / child / 9-17 (16)
	// / sexual_exploitation / UZ / medical + return / PRJ-1 + PRJ-2 /
	// 2024-11, 2024-12. Closed 2024-12-20 returned_to_origin, 30 days after
	// identification. Return to UZ.
	a2 := c(aCW, "A2", "female", "2008-03-01", "2024-11-20", "2024-11-20", []string{"UZ"}, []string{"sexual_exploitation"})
	rptService(t, env, aCW, a2, map[string]any{"type": "medical", "status": "completed", "started_on": "2024-11-20", "ended_on": "2024-11-25",
		"cost": rptKZT(50000), "funding_project": "PRJ-1", "details": map[string]any{"kind": "primary"}})
	rptService(t, env, aCW, a2, map[string]any{"type": "return", "status": "completed", "started_on": "2024-12-18", "ended_on": "2024-12-19",
		"cost": rptKZT(120000), "funding_project": "PRJ-2", "details": map[string]any{"destination_country": "UZ"}})

	// A3 — NOT counted: opened before the period, its only completed
	// service ended the day before `from`; a cancelled service inside the
	// period does not count either. Closed 2024-10-31 (before the period:
	// no closure counted).
	a3 := c(aCW, "A3", "male", "1985-01-01", "2024-06-01", "2024-06-01", []string{"KZ", "RU"}, []string{"forced_labour"})
	rptService(t, env, aCW, a3, map[string]any{"type": "legal", "status": "completed", "started_on": "2024-06-01", "ended_on": "2024-10-31"})
	rptService(t, env, aCW, a3, map[string]any{"type": "medical", "status": "cancelled", "started_on": "2024-12-01", "ended_on": "2024-12-02",
		"cost": rptKZT(999)})

	// A4 — counted: opened in the period. male / men / adult / 27-29 (29) /
	// forced_labour / UZ / psychological (the planned skills course does not
	// count) / PRJ-2 / 2024-12, 2025-01, 2025-02.
	a4 := c(aCW, "A4", "male", "1995-07-07", "2024-12-01", "2024-12-01", []string{"UZ"}, []string{"forced_labour"})
	rptService(t, env, aCW, a4, map[string]any{"type": "psychological", "status": "in_progress", "started_on": "2024-12-05",
		"cost": rptKZT(20000), "funding_project": "PRJ-2", "details": map[string]any{"modality": "individual"}})
	rptService(t, env, aCW, a4, map[string]any{"type": "skills", "status": "planned", "started_on": "2024-12-10", "funding_project": "PRJ-9"})

	// A5 — counted: opened in the period, no service at all. female / women
	// / adult / 24-26 (25) / domestic_servitude / KZ / none / none / 2025-01.
	c(aCW, "A5", "female", "1999-02-02", "2025-01-10", "2025-01-10", []string{"KZ"}, []string{"domestic_servitude"})

	// A6 — counted: shelter ended exactly on `from`. male / boys / child /
	// 9-17 (14) / forced_begging / no citizenship → unknown / shelter /
	// PRJ-2 / 2024-11. 52 nights (2024-09-10 → 2024-11-01). Closed
	// 2024-11-15 goals_achieved, 75 days after identification.
	a6 := c(aCW, "A6", "male", "2010-06-15", "2024-09-01", "2024-09-01", []string{}, []string{"forced_begging"})
	rptService(t, env, aCW, a6, map[string]any{"type": "shelter", "status": "completed", "started_on": "2024-09-10", "ended_on": "2024-11-01",
		"cost": rptKZT(100000), "funding_project": "PRJ-2", "details": map[string]any{"admitted_on": "2024-09-10", "discharged_on": "2024-11-01"}})

	// A7 — counted: opened exactly on `to`; its reintegration starts the day
	// after `to` and its medical service was cancelled: neither counts.
	// female / unknown (no date of birth) / unknown / unknown / no
	// exploitation → unknown / KG / none / none / 2025-02. Closed on the
	// opening day (no identification date: 0 days from opening),
	// lost_contact.
	a7 := c(aCW, "A7", "female", "", "", "2025-02-28", []string{"KG"}, []string{})
	rptService(t, env, aCW, a7, map[string]any{"type": "reintegration", "status": "in_progress", "started_on": "2025-03-01",
		"details": map[string]any{"dimension": "economic"}})
	rptService(t, env, aCW, a7, map[string]any{"type": "medical", "status": "cancelled", "started_on": "2025-02-01"})

	// A8 — counted: opened before the period, return running across `from`.
	// female / women / adult / 39-47 (44) / sexual_exploitation / UZ /
	// return / PRJ-1 / 2024-11, 2024-12, 2025-01. Return to UZ. Closed
	// 2025-01-20 returned_to_origin, 111 days after identification.
	a8 := c(aCW, "A8", "female", "1980-03-03", "2024-10-01", "2024-10-01", []string{"UZ"}, []string{"sexual_exploitation"})
	rptService(t, env, aCW, a8, map[string]any{"type": "return", "status": "completed", "started_on": "2024-10-01", "ended_on": "2025-01-15",
		"cost": rptUSD(30000), "funding_project": "PRJ-1", "details": map[string]any{"destination_country": "UZ"}})

	// A9 — counted once, under A: referred to B (accepted), B gives a
	// shelter stay in January. male / men / adult / 24-26 (24) /
	// forced_labour + forced_criminality / TJ / legal (A) + shelter (B) /
	// none (legal) + PRJ-B (shelter) / 2024-12, 2025-01, 2025-02.
	// In B's own report: counted (as provider) with B's shelter only:
	// shelter / PRJ-B / 2025-01; its organisation and city stay A's.
	// 15 nights (2025-01-05 → 2025-01-20).
	a9 := c(aCW, "A9", "male", "2000-01-01", "2024-08-01", "2024-08-01", []string{"TJ"}, []string{"forced_labour", "forced_criminality"})
	rptService(t, env, aCW, a9, map[string]any{"type": "medical", "status": "completed", "started_on": "2024-08-02", "ended_on": "2024-08-10"})
	rptService(t, env, aCW, a9, map[string]any{"type": "legal", "status": "in_progress", "started_on": "2024-12-01",
		"details": map[string]any{"kind": "representation"}})
	res := env.Do(t, http.MethodPost, "/api/v1/cases/"+a9+"/consents", aCW, map[string]any{
		"type": "referral", "given": true, "recipient_organization_id": w.b.ID, "scope": "shelter in Astana",
	})
	mustStatus(t, res, http.StatusCreated, "referral consent")
	res = env.Do(t, http.MethodPost, "/api/v1/referrals", aCW, map[string]any{
		"case_id": a9, "to_organization_id": w.b.ID, "service_types": []string{"shelter"},
	})
	mustStatus(t, res, http.StatusCreated, "refer A9 to B")
	refID := mustID(t, res)
	mustStatus(t, env.Do(t, http.MethodPost, "/api/v1/referrals/"+refID+"/accept", bCW, nil), http.StatusOK, "B accepts")
	rptService(t, env, bCW, a9, map[string]any{"type": "shelter", "status": "completed", "started_on": "2025-01-05", "ended_on": "2025-01-20",
		"cost": rptKZT(45000), "funding_project": "PRJ-B", "details": map[string]any{"admitted_on": "2025-01-05", "discharged_on": "2025-01-20"}})

	// B1 — counted: opened in the period. female / women / adult / 30-38
	// (32) / sexual_exploitation + forced_labour → also sexual_and_labour /
	// KZ / medical / PRJ-B / 2024-11 … 2025-02. Closed 2024-11-30
	// goals_achieved, 25 days after identification.
	b1 := c(bCW, "B1", "female", "1992-04-04", "2024-11-05", "2024-11-05", []string{"KZ"}, []string{"sexual_exploitation", "forced_labour"})
	rptService(t, env, bCW, b1, map[string]any{"type": "medical", "status": "in_progress", "started_on": "2024-11-06",
		"cost": rptUSD(15000), "funding_project": "PRJ-B"})

	// B2 — counted: opened in the period. female / women / adult / 18-20 (18)
	// / forced_marriage / KZ + RU / psychological + return / none /
	// 2024-12, 2025-01, 2025-02. Two returns (RU and KZ): one person in
	// each country. Closed 2025-02-15 relocated, 67 days after
	// identification.
	b2 := c(bCW, "B2", "female", "2006-12-01", "2024-12-10", "2024-12-10", []string{"KZ", "RU"}, []string{"forced_marriage"})
	rptService(t, env, bCW, b2, map[string]any{"type": "psychological", "status": "completed", "started_on": "2024-12-10", "ended_on": "2025-02-10"})
	rptService(t, env, bCW, b2, map[string]any{"type": "return", "status": "completed", "started_on": "2025-02-12", "ended_on": "2025-02-12",
		"details": map[string]any{"destination_country": "RU"}})
	rptService(t, env, bCW, b2, map[string]any{"type": "return", "status": "completed", "started_on": "2025-02-14", "ended_on": "2025-02-14",
		"details": map[string]any{"destination_country": "KZ"}})

	// B3 — counted: opened in the period. male / men / adult / 48+ (55) /
	// forced_labour / RU / skills / PRJ-B / 2025-02. Closed 2025-03-01,
	// after the period: no closure counted.
	b3 := c(bCW, "B3", "male", "1970-01-01", "2025-02-01", "2025-02-01", []string{"RU"}, []string{"forced_labour"})
	rptService(t, env, bCW, b3, map[string]any{"type": "skills", "status": "in_progress", "started_on": "2025-02-20", "funding_project": "PRJ-B"})

	// B4 — counted: opened in the period; its in-progress service has not
	// started, so it does not count. no sex → not_collected / unknown /
	// child / 9-17 (13) / child_labour / UZ / none / none / 2025-01.
	b4 := c(bCW, "B4", "", "2012-01-01", "2025-01-01", "2025-01-01", []string{"UZ"}, []string{"child_labour"})
	rptService(t, env, bCW, b4, map[string]any{"type": "medical", "status": "in_progress"})

	// B5 — NOT counted: opened before the period; its shelter starts the
	// day after `to`; its return is only planned (though dated inside).
	b5 := c(bCW, "B5", "female", "1988-08-08", "2024-07-01", "2024-07-01", []string{"KZ"}, []string{"sexual_exploitation"})
	rptService(t, env, bCW, b5, map[string]any{"type": "shelter", "status": "in_progress", "started_on": "2025-03-01"})
	rptService(t, env, bCW, b5, map[string]any{"type": "return", "status": "planned", "started_on": "2024-12-01",
		"details": map[string]any{"destination_country": "UZ"}})

	// Closures (after the services: a new service reopens a closed case).
	rptClose(t, env, aCW, a2, "returned_to_origin", "2024-12-20")
	rptClose(t, env, aCW, a3, "goals_achieved", "2024-10-31")
	rptClose(t, env, aCW, a6, "goals_achieved", "2024-11-15")
	rptClose(t, env, aCW, a7, "lost_contact", "2025-02-28")
	rptClose(t, env, aCW, a8, "returned_to_origin", "2025-01-20")
	rptClose(t, env, bCW, b1, "goals_achieved", "2024-11-30")
	rptClose(t, env, bCW, b2, "relocated", "2025-02-15")
	rptClose(t, env, bCW, b3, "other", "2025-03-01")
	return w
}

// rptAssistanceByDim is the hand-counted IOM view (every organisation) of
// the people assisted, for each dimension alone. The organisation rows are
// added by rptAssistanceWant.
var rptAssistanceByDim = map[string]map[string]int64{
	// female: A1 A2 A5 A7 A8 B1 B2; male: A4 A6 A9 B3; not_collected: B4.
	"sex": {"female": 7, "male": 4, "not_collected": 1, "*": 12},
	// adult: A1 A4 A5 A8 A9 B1 B2 B3; child: A2 A6 B4; unknown: A7.
	"age_group": {"adult": 8, "child": 3, "unknown": 1, "*": 12},
	// women: A1 A5 A8 B1 B2; men: A4 A9 B3; girls: A2; boys: A6; unknown: A7 B4.
	"sex_age": {"women": 5, "men": 3, "girls": 1, "boys": 1, "unknown": 2, "*": 12},
	// 9-17: A2 A6 B4; 18-20: B2; 24-26: A5 A9; 27-29: A4; 30-38: A1 B1;
	// 39-47: A8; 48+: B3; unknown: A7.
	"age_broad": {"9-17": 3, "18-20": 1, "24-26": 2, "27-29": 1, "30-38": 2, "39-47": 1, "48+": 1, "unknown": 1, "*": 12},
	// sexual_exploitation: A1 A2 A8 B1; forced_labour: A1 A4 A9 B1 B3;
	// sexual_and_labour: A1 B1; one each: A5 A6 A7 A9 B2 B4.
	"exploitation_type": {"sexual_exploitation": 4, "forced_labour": 5, "sexual_and_labour": 2, "domestic_servitude": 1,
		"forced_begging": 1, "forced_criminality": 1, "forced_marriage": 1, "child_labour": 1, "unknown": 1, "*": 12},
	"city": {"Almaty": 8, "Astana": 4, "*": 12},
	// KZ: A1 A5 B1 B2; UZ: A2 A4 A8 B4; RU: B2 B3; KG: A7; TJ: A9; unknown: A6.
	"citizenship": {"KZ": 4, "UZ": 4, "RU": 2, "KG": 1, "TJ": 1, "unknown": 1, "*": 12},
	// shelter: A1 A6 A9; medical: A2 B1; return: A2 A8 B2; psychological:
	// A4 B2; legal: A9; skills: B3; none: A5 A7 B4.
	"service_type": {"shelter": 3, "medical": 2, "return": 3, "psychological": 2, "legal": 1, "skills": 1, "none": 3, "*": 12},
	// PRJ-1: A1 A2 A8; PRJ-2: A2 A4 A6; PRJ-B: A9 B1 B3; none: A5 A7 A9 B2 B4.
	"funding_project": {"PRJ-1": 3, "PRJ-2": 3, "PRJ-B": 3, "none": 5, "*": 12},
	// 2024-11: A1 A2 A6 A8 B1; 2024-12: A1 A2 A4 A8 A9 B1 B2;
	// 2025-01: A1 A4 A5 A8 A9 B1 B2 B4; 2025-02: A1 A4 A7 A9 B1 B2 B3.
	"month": {"2024-11": 5, "2024-12": 7, "2025-01": 8, "2025-02": 7, "*": 12},
	// Q4: A1 A2 A4 A6 A8 A9 B1 B2; Q1: A1 A4 A5 A7 A8 A9 B1 B2 B3 B4.
	"quarter": {"2024-Q4": 8, "2025-Q1": 10, "*": 12},
	"year":    {"2024": 8, "2025": 10, "*": 12},
}

// rptMulti are the dimensions a person can hold several values of.
var rptMulti = []string{"exploitation_type", "citizenship", "service_type", "funding_project", "month", "quarter", "year"}

// rptAssistanceWant is the hand-counted IOM table of dim.
func rptAssistanceWant(w *rptWorld, dim string) map[string]int64 {
	if dim == "organization" {
		return map[string]int64{w.a.ID: 8, w.b.ID: 4, "*": 12}
	}
	return rptAssistanceByDim[dim]
}

var rptAllDims = []string{"sex", "age_group", "sex_age", "age_broad", "exploitation_type", "organization", "city",
	"citizenship", "service_type", "funding_project", "month", "quarter", "year"}

// rptCombos are hand-counted tables of several dimensions (IOM view).
func rptCombos(w *rptWorld) []struct {
	dims []string
	want map[string]int64
} {
	A, B := w.a.ID, w.b.ID
	return []struct {
		dims []string
		want map[string]int64
	}{
		{[]string{"sex_age", "exploitation_type"}, map[string]int64{
			"women|sexual_exploitation": 3, // A1 A8 B1
			"women|forced_labour":       2, // A1 B1
			"women|sexual_and_labour":   2, // A1 B1
			"women|domestic_servitude":  1, // A5
			"women|forced_marriage":     1, // B2
			"women|*":                   5,
			"girls|sexual_exploitation": 1, // A2
			"girls|*":                   1,
			"men|forced_labour":         3, // A4 A9 B3
			"men|forced_criminality":    1, // A9
			"men|*":                     3,
			"boys|forced_begging":       1, // A6
			"boys|*":                    1,
			"unknown|unknown":           1, // A7
			"unknown|child_labour":      1, // B4
			"unknown|*":                 2,
			"*|sexual_exploitation":     4, "*|forced_labour": 5, "*|sexual_and_labour": 2, "*|domestic_servitude": 1,
			"*|forced_begging": 1, "*|forced_criminality": 1, "*|forced_marriage": 1, "*|child_labour": 1, "*|unknown": 1,
			"*|*": 12,
		}},
		{[]string{"organization", "service_type"}, map[string]int64{
			A + "|shelter":       3, // A1 A6 A9
			A + "|medical":       1, // A2
			A + "|return":        2, // A2 A8
			A + "|psychological": 1, // A4
			A + "|legal":         1, // A9
			A + "|none":          2, // A5 A7
			A + "|*":             8,
			B + "|medical":       1, // B1
			B + "|psychological": 1, // B2
			B + "|return":        1, // B2
			B + "|skills":        1, // B3
			B + "|none":          1, // B4
			B + "|*":             4,
			"*|shelter":          3, "*|medical": 2, "*|return": 3, "*|psychological": 2, "*|legal": 1, "*|skills": 1, "*|none": 3,
			"*|*": 12,
		}},
		// women|2024 (4) is the one small cell of women's relation over the
		// (multi-valued) year: only complementary suppression hides women|2025.
		{[]string{"sex_age", "year"}, map[string]int64{
			"women|2024":   4, // A1 A8 B1 B2
			"women|2025":   5, // A1 A5 A8 B1 B2
			"women|*":      5,
			"men|2024":     2, // A4 A9
			"men|2025":     3, // A4 A9 B3
			"men|*":        3,
			"girls|2024":   1, // A2
			"girls|*":      1,
			"boys|2024":    1, // A6
			"boys|*":       1,
			"unknown|2025": 2, // A7 B4
			"unknown|*":    2,
			"*|2024":       8,
			"*|2025":       10,
			"*|*":          12,
		}},
		{[]string{"city", "sex", "year"}, map[string]int64{
			"Almaty|female|2024":        3, // A1 A2 A8
			"Almaty|female|2025":        4, // A1 A5 A7 A8
			"Almaty|female|*":           5,
			"Almaty|male|2024":          3, // A4 A6 A9
			"Almaty|male|2025":          2, // A4 A9
			"Almaty|male|*":             3,
			"Almaty|*|2024":             6,
			"Almaty|*|2025":             6,
			"Almaty|*|*":                8,
			"Astana|female|2024":        2, // B1 B2
			"Astana|female|2025":        2, // B1 B2
			"Astana|female|*":           2,
			"Astana|male|2025":          1, // B3
			"Astana|male|*":             1,
			"Astana|not_collected|2025": 1, // B4
			"Astana|not_collected|*":    1,
			"Astana|*|2024":             2,
			"Astana|*|2025":             4,
			"Astana|*|*":                4,
			"*|female|2024":             5,
			"*|female|2025":             6,
			"*|female|*":                7,
			"*|male|2024":               3,
			"*|male|2025":               3,
			"*|male|*":                  4,
			"*|not_collected|2025":      1,
			"*|not_collected|*":         1,
			"*|*|2024":                  8,
			"*|*|2025":                  10,
			"*|*|*":                     12,
		}},
	}
}

// rptServicesWant is the hand-counted IOM services report, per dimension.
// Active services: A1 shelter, A2 medical, A2 return, A4 psychological, A6
// shelter, A8 return, A9 legal (A), A9 shelter (B), B1 medical, B2
// psychological, B2 return ×2, B3 skills — 13 services to 9 people.
func rptServicesWant(w *rptWorld) map[string]map[string]rptSvc {
	total := rptSvc{13, 9, 67, map[string]int64{"KZT": 335000, "USD": 45000}}
	return map[string]map[string]rptSvc{
		"service_type": {
			"shelter":       {3, 3, 67, map[string]int64{"KZT": 145000}},              // A1 A6(52) A9(15)
			"medical":       {2, 2, 0, map[string]int64{"KZT": 50000, "USD": 15000}},  // A2 B1
			"return":        {4, 3, 0, map[string]int64{"KZT": 120000, "USD": 30000}}, // A2 A8 B2 B2
			"psychological": {2, 2, 0, map[string]int64{"KZT": 20000}},                // A4 B2
			"legal":         {1, 1, 0, nil},                                           // A9
			"skills":        {1, 1, 0, nil},                                           // B3
			"*":             total,
		},
		"provider": {
			w.a.ID: {7, 6, 52, map[string]int64{"KZT": 290000, "USD": 30000}}, // A1 A2 A2 A4 A6 A8 A9
			w.b.ID: {6, 4, 15, map[string]int64{"KZT": 45000, "USD": 15000}},  // A9 B1 B2 B2 B2 B3
			"*":    total,
		},
		"status": {
			"in_progress": {5, 5, 0, map[string]int64{"KZT": 20000, "USD": 15000}},   // A1 A4 A9(legal) B1 B3
			"completed":   {8, 5, 67, map[string]int64{"KZT": 315000, "USD": 30000}}, // A2 A2 A6 A8 A9(shelter) B2 B2 B2
			"*":           total,
		},
		// A service falls in the month it started, or in `from`'s month.
		"month": {
			"2024-11": {5, 5, 52, map[string]int64{"KZT": 150000, "USD": 45000}}, // A1 A2(med) A6 A8 B1
			"2024-12": {4, 4, 0, map[string]int64{"KZT": 140000}},                // A2(ret) A4 A9(legal) B2(psy)
			"2025-01": {1, 1, 15, map[string]int64{"KZT": 45000}},                // A9(shelter)
			"2025-02": {3, 2, 0, nil},                                            // B2 B2 B3
			"*":       total,
		},
		"funding_project": {
			"PRJ-1": {3, 3, 0, map[string]int64{"KZT": 50000, "USD": 30000}},  // A1 A2(med) A8
			"PRJ-2": {3, 3, 52, map[string]int64{"KZT": 240000}},              // A2(ret) A4 A6
			"PRJ-B": {3, 3, 15, map[string]int64{"KZT": 45000, "USD": 15000}}, // A9(shelter) B1 B3
			"none":  {4, 2, 0, nil},                                           // A9(legal) B2 B2 B2
			"*":     total,
		},
	}
}

// ---------------------------------------------------------------------------
// Tests

// TestReports builds the fixture once per database and checks every report
// against it.
func TestReports(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		w := rptBuild(t, env)
		t.Run("assistance by every dimension", func(t *testing.T) { rptTestAssistanceDims(t, w) })
		t.Run("assistance combinations", func(t *testing.T) { rptTestAssistanceCombos(t, w) })
		t.Run("services", func(t *testing.T) { rptTestServices(t, w) })
		t.Run("outcomes", func(t *testing.T) { rptTestOutcomes(t, w) })
		t.Run("suppression", func(t *testing.T) { rptTestSuppression(t, w) })
		t.Run("scope and roles", func(t *testing.T) { rptTestScope(t, w) })
		t.Run("bad input", func(t *testing.T) { rptTestBadInput(t, w) })
		t.Run("formats", func(t *testing.T) { rptTestFormats(t, w) })
		t.Run("audit", func(t *testing.T) { rptTestAudit(t, w) })
	})
}

// rptTestAssistanceDims: every dimension alone, unsuppressed, as the IOM
// admin; metadata of the answer.
func rptTestAssistanceDims(t *testing.T, w *rptWorld) {
	env := w.env
	// No group_by: the grand total alone.
	r := rptGet(t, env, env.Admin, rptPath("assistance", "suppress", "false"))
	rptWantPeople(t, "no group_by", r.Rows, nil, map[string]int64{"": 12})
	if r.Report != "assistance" || r.Unit != "people" || r.From != rptFrom || r.To != rptTo || r.OrganizationID != nil ||
		len(r.GroupBy) != 0 || r.Suppression.Applied || r.Suppression.MinCount != rptK || r.Suppression.Suppressed != 0 {
		t.Errorf("metadata: %+v", r)
	}
	for _, dim := range rptAllDims {
		r := rptGet(t, env, env.Admin, rptPath("assistance", "group_by", dim, "suppress", "false"))
		want := rptAssistanceWant(w, dim)
		rptWantPeople(t, dim, r.Rows, []string{dim}, want)
		if !slices.Equal(r.GroupBy, []string{dim}) {
			t.Errorf("%s: group_by %v", dim, r.GroupBy)
		}
		if n := len(r.Rows); n > 0 && r.Rows[n-1].Group[dim] != nil {
			t.Errorf("%s: the total is not the last row", dim)
		}
		// Totals are distinct people: a multi-valued dimension's rows add up
		// to more than the total.
		var sum int64
		for k, v := range want {
			if k != "*" {
				sum += v
			}
		}
		if multi := slices.Contains(rptMulti, dim); multi != (sum > want["*"]) {
			t.Errorf("%s: hand count inconsistent (sum %d, total %d, multi-valued %v)", dim, sum, want["*"], multi)
		}
	}
}

// rptTestAssistanceCombos: several dimensions at once, with every subtotal.
func rptTestAssistanceCombos(t *testing.T, w *rptWorld) {
	for _, c := range rptCombos(w) {
		r := rptGet(t, w.env, w.env.Admin, rptPath("assistance", "group_by", strings.Join(c.dims, ","), "suppress", "false"))
		rptWantPeople(t, strings.Join(c.dims, "×"), r.Rows, c.dims, c.want)
	}
}

// rptTestServices: services, people, nights and costs per grouping, for
// everyone and for one organisation.
func rptTestServices(t *testing.T, w *rptWorld) {
	env := w.env
	for dim, want := range rptServicesWant(w) {
		r := rptGet(t, env, env.Admin, rptPath("services", "group_by", dim, "suppress", "false"))
		if r.Report != "services" || r.OrganizationID != nil || r.Suppression.Applied {
			t.Errorf("services %s: metadata %+v", dim, r)
		}
		rptWantServices(t, "services by "+dim, r.Rows, []string{dim}, want)
	}
	// A two-dimensional one: provider × service_type.
	A, B := w.a.ID, w.b.ID
	r := rptGet(t, env, env.Admin, rptPath("services", "group_by", "provider,service_type", "suppress", "false"))
	rptWantServices(t, "services by provider×service_type", r.Rows, []string{"provider", "service_type"}, map[string]rptSvc{
		A + "|shelter":       {2, 2, 52, map[string]int64{"KZT": 100000}},              // A1 A6
		A + "|medical":       {1, 1, 0, map[string]int64{"KZT": 50000}},                // A2
		A + "|return":        {2, 2, 0, map[string]int64{"KZT": 120000, "USD": 30000}}, // A2 A8
		A + "|psychological": {1, 1, 0, map[string]int64{"KZT": 20000}},                // A4
		A + "|legal":         {1, 1, 0, nil},                                           // A9
		A + "|*":             {7, 6, 52, map[string]int64{"KZT": 290000, "USD": 30000}},
		B + "|shelter":       {1, 1, 15, map[string]int64{"KZT": 45000}}, // A9
		B + "|medical":       {1, 1, 0, map[string]int64{"USD": 15000}},  // B1
		B + "|psychological": {1, 1, 0, nil},                             // B2
		B + "|return":        {2, 1, 0, nil},                             // B2 B2
		B + "|skills":        {1, 1, 0, nil},                             // B3
		B + "|*":             {6, 4, 15, map[string]int64{"KZT": 45000, "USD": 15000}},
		"*|shelter":          {3, 3, 67, map[string]int64{"KZT": 145000}},
		"*|medical":          {2, 2, 0, map[string]int64{"KZT": 50000, "USD": 15000}},
		"*|return":           {4, 3, 0, map[string]int64{"KZT": 120000, "USD": 30000}},
		"*|psychological":    {2, 2, 0, map[string]int64{"KZT": 20000}},
		"*|legal":            {1, 1, 0, nil},
		"*|skills":           {1, 1, 0, nil},
		"*|*":                {13, 9, 67, map[string]int64{"KZT": 335000, "USD": 45000}},
	})
	// Organisation B: its own cases' services and those it provides (A9's
	// shelter), not A's legal service to A9.
	r = rptGet(t, env, env.Admin, rptPath("services", "group_by", "service_type", "suppress", "false", "organization_id", B))
	if r.OrganizationID == nil || *r.OrganizationID != B {
		t.Errorf("services of B: organization_id %s", strOrNil(r.OrganizationID))
	}
	rptWantServices(t, "services of B by service_type", r.Rows, []string{"service_type"}, map[string]rptSvc{
		"shelter":       {1, 1, 15, map[string]int64{"KZT": 45000}}, // A9
		"medical":       {1, 1, 0, map[string]int64{"USD": 15000}},  // B1
		"psychological": {1, 1, 0, nil},                             // B2
		"return":        {2, 1, 0, nil},                             // B2 B2
		"skills":        {1, 1, 0, nil},                             // B3
		"*":             {6, 4, 15, map[string]int64{"KZT": 45000, "USD": 15000}},
	})
	// Organisation A: every service of its cases, B's shelter to A9 too.
	r = rptGet(t, env, env.Admin, rptPath("services", "suppress", "false", "organization_id", A))
	rptWantServices(t, "services of A", r.Rows, nil, map[string]rptSvc{
		"": {8, 6, 67, map[string]int64{"KZT": 335000, "USD": 30000}}, // A1 A2 A2 A4 A6 A8 A9 A9
	})
}

// rptTestOutcomes: closures by reason, returns by country, time to closure.
func rptTestOutcomes(t *testing.T, w *rptWorld) {
	env := w.env
	reason, country := []string{"closure_reason"}, []string{"destination_country"}
	type ttc struct{ people, p25, median, p75 int64 }
	check := func(what string, r rptReport, closures, returns map[string]int64, want ttc) {
		t.Helper()
		rptWantPeople(t, what+" closures", r.Closures, reason, closures)
		rptWantPeople(t, what+" returns", r.Returns, country, returns)
		got := r.TimeToClosure
		if got.Suppressed || got.People == nil || got.P25Days == nil || got.MedianDays == nil || got.P75Days == nil {
			t.Errorf("%s: time to closure %+v, want %+v", what, got, want)
			return
		}
		if g := (ttc{*got.People, *got.P25Days, *got.MedianDays, *got.P75Days}); g != want {
			t.Errorf("%s: time to closure (people, p25, median, p75) %v, want %v", what, g, want)
		}
	}
	// Closed in the period: A7 0 days, B1 25, A2 30, B2 67, A6 75, A8 111
	// (A3 closed the day before `from`, B3 the day after `to`). Nearest
	// rank of 6: p25 the 2nd, median the 3rd, p75 the 5th.
	r := rptGet(t, env, env.Admin, rptPath("outcomes", "suppress", "false"))
	if r.Report != "outcomes" || r.OrganizationID != nil || r.Suppression.Applied {
		t.Errorf("outcomes: metadata %+v", r)
	}
	check("everyone", r,
		map[string]int64{"goals_achieved": 2, "returned_to_origin": 2, "relocated": 1, "lost_contact": 1, "*": 6},
		// UZ: A2 A8; RU: B2; KZ: B2 — three people.
		map[string]int64{"UZ": 2, "RU": 1, "KZ": 1, "*": 3},
		ttc{6, 25, 30, 75})
	// A: A7 0, A2 30, A6 75, A8 111 → 1st, 2nd, 3rd of 4.
	check("A", rptGet(t, env, env.Admin, rptPath("outcomes", "suppress", "false", "organization_id", w.a.ID)),
		map[string]int64{"goals_achieved": 1, "returned_to_origin": 2, "lost_contact": 1, "*": 4},
		map[string]int64{"UZ": 2, "*": 2},
		ttc{4, 0, 30, 75})
	// B: B1 25, B2 67 → 1st, 1st, 2nd of 2.
	check("B", rptGet(t, env, env.Admin, rptPath("outcomes", "suppress", "false", "organization_id", w.b.ID)),
		map[string]int64{"goals_achieved": 1, "relocated": 1, "*": 2},
		map[string]int64{"RU": 1, "KZ": 1, "*": 1},
		ttc{2, 25, 25, 67})

	// Suppressed (coordinator): 6 closures ≥ k show the time to closure;
	// A's 4 closures withhold it.
	r = rptGet(t, env, w.coord, rptPath("outcomes"))
	if !r.Suppression.Applied || r.Suppression.MinCount != rptK {
		t.Errorf("outcomes as coordinator: suppression %+v", r.Suppression)
	}
	hc := rptCheckSuppressed(t, "outcomes closures", r.Closures, reason,
		map[string]int64{"goals_achieved": 2, "returned_to_origin": 2, "relocated": 1, "lost_contact": 1, "*": 6}, -1)
	hr := rptCheckSuppressed(t, "outcomes returns", r.Returns, country, map[string]int64{"UZ": 2, "RU": 1, "KZ": 1, "*": 3}, -1)
	if len(hc)+len(hr) != r.Suppression.Suppressed {
		t.Errorf("outcomes: suppression.suppressed %d, rows suppressed %d", r.Suppression.Suppressed, len(hc)+len(hr))
	}
	if hc["*"] || !hr["*"] {
		t.Errorf("outcomes: total of closures (6) must show and of returns (3) must not: %v %v", hc, hr)
	}
	if got := r.TimeToClosure; got.Suppressed || rptInt(got.People) != "6" || rptInt(got.MedianDays) != "30" {
		t.Errorf("outcomes as coordinator: time to closure of 6 cases %+v, want shown", got)
	}
	r = rptGet(t, env, w.coord, rptPath("outcomes", "organization_id", w.a.ID))
	if got := r.TimeToClosure; !got.Suppressed || got.People != nil || got.P25Days != nil || got.MedianDays != nil || got.P75Days != nil {
		t.Errorf("outcomes of A as coordinator: time to closure of 4 cases %+v, want withheld", got)
	}
	if r.Suppression.Suppressed < 1 {
		t.Errorf("outcomes of A as coordinator: suppression %+v does not count the withheld time to closure", r.Suppression)
	}
}

// rptTestSuppression: as the IOM coordinator (k=5, suppression on) no
// count 1..4 shows, suppressed rows show nothing, every total relation
// hides none or at least two cells, and the shown cells are the exact ones.
func rptTestSuppression(t *testing.T, w *rptWorld) {
	env := w.env
	for _, dim := range rptAllDims {
		r := rptGet(t, env, w.coord, rptPath("assistance", "group_by", dim))
		if !r.Suppression.Applied || r.Suppression.MinCount != rptK {
			t.Errorf("%s: suppression %+v", dim, r.Suppression)
		}
		rptCheckSuppressed(t, "coordinator "+dim, r.Rows, []string{dim}, rptAssistanceWant(w, dim), r.Suppression.Suppressed)
	}
	for _, c := range rptCombos(w) {
		r := rptGet(t, env, w.coord, rptPath("assistance", "group_by", strings.Join(c.dims, ",")))
		rptCheckSuppressed(t, "coordinator "+strings.Join(c.dims, "×"), r.Rows, c.dims, c.want, r.Suppression.Suppressed)
	}
	// Complementary suppression: A's 8 people would give away B's 4 (12 − 8),
	// so A is hidden too.
	r := rptGet(t, env, w.coord, rptPath("assistance", "group_by", "organization"))
	hidden := rptCheckSuppressed(t, "coordinator organization", r.Rows, []string{"organization"}, rptAssistanceWant(w, "organization"), r.Suppression.Suppressed)
	if !hidden[w.b.ID] || !hidden[w.a.ID] || hidden["*"] || r.Suppression.Suppressed != 2 {
		t.Errorf("organization: suppressed %v (announced %d), want B (4, primary) and A (8, complementary), total shown",
			hidden, r.Suppression.Suppressed)
	}
	// women in 2024 (4) would be given away by women (5) and women in 2025
	// (5): a person counts in each year, so no sum gives it away, but the
	// relation must not hide a single cell.
	r = rptGet(t, env, w.coord, rptPath("assistance", "group_by", "sex_age,year"))
	hidden = rptCheckSuppressed(t, "coordinator sex_age×year", r.Rows, []string{"sex_age", "year"}, nil, r.Suppression.Suppressed)
	if !hidden["women|2024"] || !hidden["women|2025"] {
		t.Errorf("sex_age×year: suppressed %v, want women|2024 (4) and, complementary, women|2025 (5)", hidden)
	}
	// sex: female 7 shows; male 4 and not_collected 1 hide each other.
	r = rptGet(t, env, w.coord, rptPath("assistance", "group_by", "sex"))
	hidden = rptCheckSuppressed(t, "coordinator sex", r.Rows, []string{"sex"}, rptAssistanceWant(w, "sex"), r.Suppression.Suppressed)
	if fmt.Sprint(hidden) != fmt.Sprint(map[string]bool{"male": true, "not_collected": true}) {
		t.Errorf("sex: suppressed %v, want male and not_collected", hidden)
	}
	// The services report suppresses on people.
	for dim, want := range rptServicesWant(w) {
		r := rptGet(t, env, w.coord, rptPath("services", "group_by", dim))
		exact := map[string]int64{}
		for k, v := range want {
			exact[k] = v.people
		}
		rptCheckSuppressed(t, "coordinator services "+dim, r.Rows, []string{dim}, exact, r.Suppression.Suppressed)
		for _, row := range r.Rows {
			k := rptKey(row.Group, []string{dim})
			if !row.Suppressed && row.Services != nil && row.Nights != nil && (*row.Services != want[k].services || *row.Nights != want[k].nights) {
				t.Errorf("services %s: shown row %q has %d services, %d nights, want %d, %d", dim, k, *row.Services, *row.Nights, want[k].services, want[k].nights)
			}
		}
	}
}

// rptTestScope: who may read which figures.
func rptTestScope(t *testing.T, w *rptWorld) {
	env := w.env
	A, B := w.a.ID, w.b.ID
	// A's admin and viewer: only A's 8 people, all of them A's.
	for _, c := range []*apptest.Caller{w.aAdmin, w.aViewer} {
		r := rptGet(t, env, c, rptPath("assistance"))
		if r.OrganizationID == nil || *r.OrganizationID != A || !r.Suppression.Applied {
			t.Errorf("%s: organization_id %s, suppression %+v", c.User.Email, strOrNil(r.OrganizationID), r.Suppression)
		}
		rptWantPeople(t, c.User.Email+" total", r.Rows, nil, map[string]int64{"": 8})
		r = rptGet(t, env, c, rptPath("assistance", "group_by", "organization"))
		rptWantPeople(t, c.User.Email+" by organization", r.Rows, []string{"organization"}, map[string]int64{A: 8, "*": 8})
		r = rptGet(t, env, c, rptPath("assistance", "group_by", "organization", "organization_id", A))
		rptWantPeople(t, c.User.Email+" naming its own organisation", r.Rows, []string{"organization"}, map[string]int64{A: 8, "*": 8})
		// Services of A's cases: 8 services to 6 people (B's shelter to A9
		// included).
		r = rptGet(t, env, c, rptPath("services"))
		rptWantServices(t, c.User.Email+" services", r.Rows, nil, map[string]rptSvc{"": {8, 6, 67, map[string]int64{"KZT": 335000, "USD": 30000}}})
	}
	// B's admin and viewer: B's 4 people and A9, whom B gave a shelter stay,
	// with B's services only (no legal).
	bByService := map[string]int64{"medical": 1, "psychological": 1, "return": 1, "skills": 1, "none": 1, "shelter": 1, "*": 5}
	for _, c := range []*apptest.Caller{w.bAdmin, w.bViewer} {
		r := rptGet(t, env, c, rptPath("assistance"))
		if r.OrganizationID == nil || *r.OrganizationID != B {
			t.Errorf("%s: organization_id %s", c.User.Email, strOrNil(r.OrganizationID))
		}
		rptWantPeople(t, c.User.Email+" total", r.Rows, nil, map[string]int64{"": 5})
		r = rptGet(t, env, c, rptPath("assistance", "group_by", "service_type"))
		hidden := rptCheckSuppressed(t, c.User.Email+" by service_type", r.Rows, []string{"service_type"}, bByService, r.Suppression.Suppressed)
		if len(hidden) != 6 {
			t.Errorf("%s by service_type: suppressed %v, want every service type (1 each)", c.User.Email, hidden)
		}
	}
	// The exact figures of B, unsuppressed by the IOM admin.
	for dim, want := range map[string]map[string]int64{
		"service_type": bByService,
		// 2024-11: B1; 2024-12: B1 B2; 2025-01: B1 B2 B4 A9 (shelter); 2025-02: B1 B2 B3.
		"month": {"2024-11": 1, "2024-12": 2, "2025-01": 4, "2025-02": 3, "*": 5},
		// PRJ-B: B1 B3 A9 (B's shelter); none: B2 B4.
		"funding_project": {"PRJ-B": 3, "none": 2, "*": 5},
		// A9 stays under its owner.
		"organization": {A: 1, B: 4, "*": 5},
		"sex":          {"female": 2, "male": 2, "not_collected": 1, "*": 5},
	} {
		r := rptGet(t, env, env.Admin, rptPath("assistance", "group_by", dim, "suppress", "false", "organization_id", B))
		rptWantPeople(t, "B by "+dim, r.Rows, []string{dim}, want)
	}
	// And of A.
	r := rptGet(t, env, env.Admin, rptPath("assistance", "group_by", "service_type", "suppress", "false", "organization_id", A))
	rptWantPeople(t, "A by service_type", r.Rows, []string{"service_type"},
		map[string]int64{"shelter": 3, "medical": 1, "return": 2, "psychological": 1, "legal": 1, "none": 2, "*": 8})

	// Refusals, on all three reports.
	for _, kind := range []string{"assistance", "services", "outcomes"} {
		for _, c := range []struct {
			name   string
			caller *apptest.Caller
			path   string
			status int
		}{
			{"NGO admin naming another organisation", w.aAdmin, rptPath(kind, "organization_id", B), http.StatusForbidden},
			{"NGO viewer naming another organisation", w.bViewer, rptPath(kind, "organization_id", A), http.StatusForbidden},
			{"NGO caseworker", w.aCW, rptPath(kind), http.StatusForbidden},
			{"IOM caseworker", w.iomCW, rptPath(kind), http.StatusForbidden},
			{"NGO admin unsuppressed", w.aAdmin, rptPath(kind, "suppress", "false"), http.StatusForbidden},
			{"coordinator unsuppressed", w.coord, rptPath(kind, "suppress", "false"), http.StatusForbidden},
			{"anonymous", nil, rptPath(kind), http.StatusUnauthorized},
		} {
			res := env.Do(t, http.MethodGet, c.path, c.caller, nil)
			if res.Status != c.status {
				t.Errorf("%s %s: status %d, want %d: %s", kind, c.name, res.Status, c.status, shortBody(res.Body))
				continue
			}
			res.Problem(t)
		}
		rptGet(t, env, env.Admin, rptPath(kind, "suppress", "false"))
		rptGet(t, env, w.coord, rptPath(kind, "organization_id", A))
	}
}

// rptReportEvents counts the audit events of each report action.
func rptReportEvents(t testing.TB, env *apptest.Env) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, a := range []string{"report.assistance", "report.services", "report.outcomes"} {
		out[a] = len(mustAuditEvents[map[string]any](t, env, url.Values{"action": {a}}))
	}
	return out
}

// rptTestBadInput: refused parameters, and nothing audited for them.
func rptTestBadInput(t *testing.T, w *rptWorld) {
	env := w.env
	before := rptReportEvents(t, env)
	base := "/api/v1/reports/"
	for _, c := range []struct {
		name   string
		path   string
		header []string
		status int
		field  string
	}{
		{"missing from", base + "assistance?to=" + rptTo, nil, http.StatusBadRequest, ""},
		{"missing to", base + "services?from=" + rptFrom, nil, http.StatusBadRequest, ""},
		{"bad date", base + "outcomes?from=2024-13-01&to=" + rptTo, nil, http.StatusBadRequest, ""},
		{"to before from", base + "assistance?from=2025-02-28&to=2024-11-01", nil, http.StatusUnprocessableEntity, "to"},
		{"to before from (services)", base + "services?from=2025-02-28&to=2025-02-27", nil, http.StatusUnprocessableEntity, "to"},
		{"to before from (outcomes)", base + "outcomes?from=2025-02-28&to=2025-02-27", nil, http.StatusUnprocessableEntity, "to"},
		{"more than ten years", base + "assistance?from=2010-01-01&to=2020-01-02", nil, http.StatusUnprocessableEntity, "to"},
		{"unknown group_by", rptPath("assistance", "group_by", "sex,shoe_size"), nil, http.StatusBadRequest, ""},
		{"assistance dimension on services", rptPath("services", "group_by", "sex"), nil, http.StatusBadRequest, ""},
		{"services dimension on assistance", rptPath("assistance", "group_by", "provider"), nil, http.StatusBadRequest, ""},
		{"five dimensions", rptPath("assistance", "group_by", "sex,age_group,city,year,month"), nil, http.StatusBadRequest, ""},
		{"repeated dimension", rptPath("assistance", "group_by", "sex,sex"), nil, http.StatusBadRequest, ""},
		{"format=pdf", rptPath("assistance", "format", "pdf"), nil, http.StatusBadRequest, ""},
		{"lang=de", rptPath("assistance", "format", "csv", "lang", "de"), nil, http.StatusBadRequest, ""},
		{"bad organization_id", rptPath("assistance", "organization_id", "not-a-uuid"), nil, http.StatusBadRequest, ""},
		{"Accept: application/pdf", rptPath("assistance"), []string{"Accept", "application/pdf"}, http.StatusNotAcceptable, ""},
		{"Accept: application/pdf (outcomes)", rptPath("outcomes"), []string{"Accept", "application/pdf"}, http.StatusNotAcceptable, ""},
	} {
		res := env.Do(t, http.MethodGet, c.path, env.Admin, nil, c.header...)
		if res.Status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, res.Status, c.status, shortBody(res.Body))
			continue
		}
		p := res.Problem(t)
		if c.field != "" {
			var fields []string
			for _, e := range p.Errors {
				fields = append(fields, e.Field)
			}
			if !slices.Contains(fields, c.field) {
				t.Errorf("%s: errors %v do not name %q", c.name, fields, c.field)
			}
		}
	}
	// Forbidden calls are not report events either.
	env.Do(t, http.MethodGet, rptPath("assistance", "suppress", "false"), w.coord, nil)
	env.Do(t, http.MethodGet, rptPath("services", "organization_id", w.b.ID), w.aAdmin, nil)
	if after := rptReportEvents(t, env); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("refused report calls were audited as reports: before %v, after %v", before, after)
	}
	// A format parameter wins over Accept.
	res := env.Do(t, http.MethodGet, rptPath("assistance", "format", "json"), env.Admin, nil, "Accept", "application/pdf")
	mustStatus(t, res, http.StatusOK, "format=json with Accept: application/pdf")
}

// rptCSV reads a CSV answer into records.
func rptCSV(t testing.TB, res *apptest.Response) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(res.Body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV %s: %v", shortBody(res.Body), err)
	}
	return recs
}

// rptFile checks the headers of a CSV or XLSX answer.
func rptFile(t testing.TB, what string, res *apptest.Response, contentType, filename string) {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", what, res.Status, shortBody(res.Body))
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, contentType) {
		t.Errorf("%s: Content-Type %q, want %s", what, ct, contentType)
	}
	if cd, want := res.Header.Get("Content-Disposition"), `attachment; filename="`+filename+`"`; cd != want {
		t.Errorf("%s: Content-Disposition %q, want %q", what, cd, want)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
}

const rptXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// rptTestFormats: CSV and XLSX, their labels in three languages, and the
// same cells in both.
func rptTestFormats(t *testing.T, w *rptWorld) {
	env := w.env
	// As the coordinator by sex: female 7, male and not_collected suppressed.
	csvName := "assistance-" + rptFrom + "-" + rptTo + ".csv"
	for _, c := range []struct {
		name   string
		path   string
		header []string
		want   string
	}{
		{"format=csv", rptPath("assistance", "group_by", "sex", "format", "csv"), nil,
			"Sex,People\nfemale,7\nmale,[c]\nnot_collected,[c]\nTotal,12\n"},
		{"Accept: text/csv", rptPath("assistance", "group_by", "sex"), []string{"Accept", "text/csv"},
			"Sex,People\nfemale,7\nmale,[c]\nnot_collected,[c]\nTotal,12\n"},
		{"lang=ru", rptPath("assistance", "group_by", "sex", "format", "csv", "lang", "ru"), nil,
			"Пол,Человек\nfemale,7\nmale,[c]\nnot_collected,[c]\nВсего,12\n"},
		{"lang=kk", rptPath("assistance", "group_by", "sex", "format", "csv", "lang", "kk"), nil,
			"Жынысы,Адам саны\nfemale,7\nmale,[c]\nnot_collected,[c]\nБарлығы,12\n"},
		{"Accept-Language ru-RU", rptPath("assistance", "group_by", "sex"), []string{"Accept", "text/csv", "Accept-Language", "ru-RU,ru;q=0.9"},
			"Пол,Человек\nfemale,7\nmale,[c]\nnot_collected,[c]\nВсего,12\n"},
		{"Accept-Language de, then kk", rptPath("assistance", "group_by", "sex", "format", "csv"), []string{"Accept-Language", "de-DE,kk;q=0.5"},
			"Жынысы,Адам саны\nfemale,7\nmale,[c]\nnot_collected,[c]\nБарлығы,12\n"},
		{"lang wins over Accept-Language", rptPath("assistance", "group_by", "sex", "format", "csv", "lang", "en"), []string{"Accept-Language", "ru"},
			"Sex,People\nfemale,7\nmale,[c]\nnot_collected,[c]\nTotal,12\n"},
	} {
		res := env.Do(t, http.MethodGet, c.path, w.coord, nil, c.header...)
		rptFile(t, c.name, res, "text/csv", csvName)
		if string(res.Body) != c.want {
			t.Errorf("%s: CSV\n%s\nwant\n%s", c.name, res.Body, c.want)
		}
	}

	// Two dimensions in Russian: each dimension's label, totals as Всего.
	res := env.Do(t, http.MethodGet, rptPath("assistance", "group_by", "city,quarter", "format", "csv", "lang", "ru", "suppress", "false"), env.Admin, nil)
	rptFile(t, "city×quarter", res, "text/csv", csvName)
	recs := rptCSV(t, res)
	// Almaty Q4: A1 A2 A4 A6 A8 A9; Almaty Q1: A1 A4 A5 A7 A8 A9; Astana Q4:
	// B1 B2; Astana Q1: B1 B2 B3 B4.
	want := [][]string{
		{"Город", "Квартал", "Человек"},
		{"Almaty", "2024-Q4", "6"}, {"Almaty", "2025-Q1", "6"}, {"Almaty", "Всего", "8"},
		{"Astana", "2024-Q4", "2"}, {"Astana", "2025-Q1", "4"}, {"Astana", "Всего", "4"},
		{"Всего", "2024-Q4", "8"}, {"Всего", "2025-Q1", "10"}, {"Всего", "Всего", "12"},
	}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("city×quarter CSV %v, want %v", recs, want)
	}

	// Services by provider, unsuppressed: a cost column per currency.
	A, B := w.a.ID, w.b.ID
	res = env.Do(t, http.MethodGet, rptPath("services", "group_by", "provider", "format", "csv", "suppress", "false"), env.Admin, nil)
	rptFile(t, "services CSV", res, "text/csv", "services-"+rptFrom+"-"+rptTo+".csv")
	recs = rptCSV(t, res)
	rowA := []string{A, "7", "6", "52", "290000", "30000"}
	rowB := []string{B, "6", "4", "15", "45000", "15000"}
	if B < A {
		rowA, rowB = rowB, rowA
	}
	want = [][]string{
		{"Provider", "Services", "People", "Nights of shelter", "Cost (KZT)", "Cost (USD)"},
		rowA, rowB, {"Total", "13", "9", "67", "335000", "45000"},
	}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("services CSV %v, want %v", recs, want)
	}
	// Services as the coordinator by service type: every type has 1 to 3
	// people, so everything but the total (9) is suppressed.
	res = env.Do(t, http.MethodGet, rptPath("services", "group_by", "service_type", "format", "csv", "lang", "kk"), w.coord, nil)
	recs = rptCSV(t, res)
	if len(recs) != 8 || strings.Join(recs[0], ",") != "Қызмет,Қызметтер саны,Адам саны,Баспанадағы түндер,Құны (KZT),Құны (USD)" ||
		strings.Join(recs[7], ",") != "Барлығы,13,9,67,335000,45000" {
		t.Errorf("services CSV in Kazakh: %v", recs)
	}
	for _, r := range recs[1:7] {
		if strings.Join(r[1:], ",") != "[c],[c],[c],[c],[c]" {
			t.Errorf("services CSV: row %v not suppressed", r)
		}
	}

	// Outcomes, unsuppressed.
	res = env.Do(t, http.MethodGet, rptPath("outcomes", "format", "csv", "suppress", "false"), env.Admin, nil)
	rptFile(t, "outcomes CSV", res, "text/csv", "outcomes-"+rptFrom+"-"+rptTo+".csv")
	recs = rptCSV(t, res)
	cl, rt, tc := "Cases closed, by reason", "People returned, by destination country", "Days from identification to closure"
	want = [][]string{
		{"Table", "Category", "People"},
		{cl, "goals_achieved", "2"}, {cl, "lost_contact", "1"}, {cl, "relocated", "1"}, {cl, "returned_to_origin", "2"}, {cl, "Total", "6"},
		{rt, "KZ", "1"}, {rt, "RU", "1"}, {rt, "UZ", "2"}, {rt, "Total", "3"},
		{tc, "People", "6"}, {tc, "25th percentile", "25"}, {tc, "Median", "30"}, {tc, "75th percentile", "75"},
	}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("outcomes CSV\n%v\nwant\n%v", recs, want)
	}
	// Outcomes of A as the coordinator, in Russian: the time to closure of
	// 4 cases is withheld.
	res = env.Do(t, http.MethodGet, rptPath("outcomes", "format", "csv", "lang", "ru", "organization_id", A), w.coord, nil)
	recs = rptCSV(t, res)
	if n := len(recs); n < 4 || fmt.Sprint(recs[n-4:]) != fmt.Sprint([][]string{
		{"Дней от выявления до закрытия", "Человек", "[c]"}, {"Дней от выявления до закрытия", "25-й процентиль", "[c]"},
		{"Дней от выявления до закрытия", "Медиана", "[c]"}, {"Дней от выявления до закрытия", "75-й процентиль", "[c]"},
	}) || recs[0][0] != "Таблица" {
		t.Errorf("outcomes CSV of A in Russian: %v", recs)
	}

	// XLSX: the same cells as the CSV, for every report.
	for _, c := range []struct {
		kind   string
		caller *apptest.Caller
		kv     []string
	}{
		{"assistance", w.coord, []string{"group_by", "sex_age,city", "lang", "kk"}},
		{"assistance", env.Admin, []string{"group_by", "exploitation_type", "suppress", "false"}},
		{"services", env.Admin, []string{"group_by", "provider,status", "suppress", "false", "lang", "ru"}},
		{"outcomes", w.coord, []string{}},
	} {
		what := c.kind + " " + strings.Join(c.kv, " ")
		csvRes := env.Do(t, http.MethodGet, rptPath(c.kind, append([]string{"format", "csv"}, c.kv...)...), c.caller, nil)
		rptFile(t, what+" CSV", csvRes, "text/csv", c.kind+"-"+rptFrom+"-"+rptTo+".csv")
		for _, via := range []struct {
			name   string
			path   string
			header []string
		}{
			{"format=xlsx", rptPath(c.kind, append([]string{"format", "xlsx"}, c.kv...)...), nil},
			{"Accept", rptPath(c.kind, c.kv...), []string{"Accept", rptXLSX}},
		} {
			xres := env.Do(t, http.MethodGet, via.path, c.caller, nil, via.header...)
			rptFile(t, what+" XLSX by "+via.name, xres, rptXLSX, c.kind+"-"+rptFrom+"-"+rptTo+".xlsx")
			f, err := excelize.OpenReader(bytes.NewReader(xres.Body))
			if err != nil {
				t.Fatalf("%s: open XLSX: %v", what, err)
			}
			sheets := f.GetSheetList()
			if !slices.Equal(sheets, []string{c.kind}) {
				t.Errorf("%s: sheets %v, want [%s]", what, sheets, c.kind)
			}
			rows, err := f.GetRows(sheets[0])
			f.Close()
			if err != nil {
				t.Fatalf("%s: rows: %v", what, err)
			}
			if want := rptCSV(t, csvRes); fmt.Sprintf("%q", rows) != fmt.Sprintf("%q", want) {
				t.Errorf("%s: XLSX cells\n%q\nCSV\n%q", what, rows, want)
			}
		}
	}
	// JSON answers are not attachments.
	res = env.Do(t, http.MethodGet, rptPath("services"), w.coord, nil, "Accept", "application/json")
	mustStatus(t, res, http.StatusOK, "services JSON")
	if cd := res.Header.Get("Content-Disposition"); cd != "" {
		t.Errorf("JSON report with Content-Disposition %q", cd)
	}
}

// rptTestAudit: every report made is one audit event of its action, by its
// caller, about the organisation it covers.
func rptTestAudit(t *testing.T, w *rptWorld) {
	env := w.env
	type event struct {
		ActorID        *string `json:"actor_id"`
		OrganizationID *string `json:"organization_id"`
		Action         string  `json:"action"`
		ObjectType     string  `json:"object_type"`
		ObjectID       *string `json:"object_id"`
		Outcome        string  `json:"outcome"`
	}
	for _, c := range []struct {
		kind     string
		caller   *apptest.Caller
		kv       []string
		objectID string
	}{
		{"assistance", w.coord, []string{"group_by", "sex"}, ""},
		{"services", w.bViewer, []string{"format", "csv"}, w.b.ID},
		{"outcomes", w.aAdmin, []string{"format", "xlsx"}, w.a.ID},
		{"assistance", env.Admin, []string{"organization_id", w.b.ID, "suppress", "false"}, w.b.ID},
	} {
		action := "report." + c.kind
		q := url.Values{"action": {action}, "actor_id": {c.caller.User.ID}}
		before := mustAuditEvents[event](t, env, q)
		res := env.Do(t, http.MethodGet, rptPath(c.kind, c.kv...), c.caller, nil)
		mustStatus(t, res, http.StatusOK, action)
		after := mustAuditEvents[event](t, env, q)
		if len(after) != len(before)+1 {
			t.Errorf("%s by %s: %d events before, %d after, want one more", action, c.caller.User.Email, len(before), len(after))
			continue
		}
		e := after[len(after)-1]
		if e.Action != action || e.ObjectType != "report" || e.Outcome != "success" || strOrNil(e.ActorID) != c.caller.User.ID ||
			strOrNil(e.OrganizationID) != c.caller.User.OrganizationID {
			t.Errorf("%s: event %+v", action, e)
		}
		if (c.objectID == "" && e.ObjectID != nil) || (c.objectID != "" && strOrNil(e.ObjectID) != c.objectID) {
			t.Errorf("%s: object_id %s, want %q", action, strOrNil(e.ObjectID), c.objectID)
		}
	}
}

// TestReportFreshness: a report reflects a service recorded a moment
// before it.
func TestReportFreshness(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "RPTF", "Shymkent")
		cw := env.NewUser(t, org.ID, "cw@rptf.example", "caseworker")
		// Opened before the period, no service yet: not assisted in it.
		id := rptNewCase(t, env, cw, "F1", "female", "1990-01-01", "2024-01-10", "2024-01-10", []string{"KZ"}, []string{"forced_labour"})
		assisted := rptPath("assistance", "suppress", "false")
		services := rptPath("services", "group_by", "service_type", "suppress", "false")
		rptWantPeople(t, "before", rptGet(t, env, env.Admin, assisted).Rows, nil, map[string]int64{"": 0})
		rptWantServices(t, "before", rptGet(t, env, env.Admin, services).Rows, []string{"service_type"}, map[string]rptSvc{"*": {0, 0, 0, nil}})

		rptService(t, env, cw, id, map[string]any{"type": "legal", "status": "in_progress", "started_on": "2025-01-15", "cost": rptKZT(7000)})
		rptWantPeople(t, "after one service", rptGet(t, env, env.Admin, assisted).Rows, nil, map[string]int64{"": 1})
		rptWantServices(t, "after one service", rptGet(t, env, env.Admin, services).Rows, []string{"service_type"}, map[string]rptSvc{
			"legal": {1, 1, 0, map[string]int64{"KZT": 7000}},
			"*":     {1, 1, 0, map[string]int64{"KZT": 7000}},
		})

		rptService(t, env, cw, id, map[string]any{"type": "shelter", "status": "completed", "started_on": "2024-12-01", "ended_on": "2024-12-11",
			"details": map[string]any{"admitted_on": "2024-12-01", "discharged_on": "2024-12-11"}})
		rptWantServices(t, "after two services", rptGet(t, env, env.Admin, services).Rows, []string{"service_type"}, map[string]rptSvc{
			"legal":   {1, 1, 0, map[string]int64{"KZT": 7000}},
			"shelter": {1, 1, 10, nil},
			"*":       {2, 1, 10, map[string]int64{"KZT": 7000}},
		})
	})
}
