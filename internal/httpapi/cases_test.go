package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/store"
)

// ---------------------------------------------------------------------------
// Helpers (prefixed cases: other test files of this package are written in
// parallel).

// casesDoc is an identity document as the API answers it.
type casesDoc struct {
	Type           string  `json:"type"`
	Number         string  `json:"number"`
	IssuingCountry *string `json:"issuing_country"`
}

// casesPerson is the person of a case as the API answers it.
type casesPerson struct {
	GivenName         *string    `json:"given_name"`
	FamilyName        *string    `json:"family_name"`
	OtherNames        *string    `json:"other_names"`
	Sex               string     `json:"sex"`
	Gender            string     `json:"gender"`
	DateOfBirth       *string    `json:"date_of_birth"`
	BirthYear         *int       `json:"birth_year"`
	Citizenships      []string   `json:"citizenships"`
	Languages         []string   `json:"languages"`
	Phone             *string    `json:"phone"`
	Address           *string    `json:"address"`
	IdentityDocuments []casesDoc `json:"identity_documents"`
}

// casesTrafficking is the trafficking profile as the API answers it.
type casesTrafficking struct {
	TraffickingStatus     string   `json:"trafficking_status"`
	ExploitationTypes     []string `json:"exploitation_types"`
	LabourSector          *string  `json:"labour_sector"`
	MeansOfControl        []string `json:"means_of_control"`
	RecruiterRelationship string   `json:"recruiter_relationship"`
	CountryOfExploitation *string  `json:"country_of_exploitation"`
	IdentifiedOn          *string  `json:"identified_on"`
	IdentifiedBy          string   `json:"identified_by"`
}

// casesDerived is the derived block as the API answers it.
type casesDerived struct {
	Age                     *int   `json:"age"`
	AgeGroup                string `json:"age_group"`
	AgeBroad                string `json:"age_broad"`
	IsMinorAtIdentification *bool  `json:"is_minor_at_identification"`
}

// casesCase is a case as the API answers it.
type casesCase struct {
	ID             string           `json:"id"`
	CaseNumber     string           `json:"case_number"`
	OrganizationID string           `json:"organization_id"`
	AssignedTo     *string          `json:"assigned_to"`
	Status         string           `json:"status"`
	OpenedOn       string           `json:"opened_on"`
	ClosedOn       *string          `json:"closed_on"`
	ClosureReason  *string          `json:"closure_reason"`
	View           string           `json:"view"`
	Person         casesPerson      `json:"person"`
	Trafficking    casesTrafficking `json:"trafficking"`
	Derived        casesDerived     `json:"derived"`
	CreatedAt      time.Time        `json:"created_at"`
	UpdatedAt      time.Time        `json:"updated_at"`
}

// casesHistoryEntry is one entry of GET /cases/{id}/history.
type casesHistoryEntry struct {
	ID          string  `json:"id"`
	ActorID     string  `json:"actor_id"`
	Action      string  `json:"action"`
	Field       string  `json:"field"`
	Identifying bool    `json:"identifying"`
	OldValue    *string `json:"old_value"`
	NewValue    *string `json:"new_value"`
}

// casesAuditEvent is one entry of GET /audit-events.
type casesAuditEvent struct {
	ID             string  `json:"id"`
	ActorType      string  `json:"actor_type"`
	ActorID        *string `json:"actor_id"`
	OrganizationID *string `json:"organization_id"`
	Action         string  `json:"action"`
	ObjectType     string  `json:"object_type"`
	ObjectID       *string `json:"object_id"`
	Outcome        string  `json:"outcome"`
	IP             *string `json:"ip"`
	RequestID      *string `json:"request_id"`
}

// casesWorld is one service per database with two NGOs and their users.
type casesWorld struct {
	env     *apptest.Env
	orgA    organizations.Organization
	orgB    organizations.Organization
	cwA     *apptest.Caller // caseworker of A
	cwA2    *apptest.Caller // second caseworker of A
	viewerA *apptest.Caller // viewer of A
	cwB     *apptest.Caller // caseworker of B
}

func newTestCasesWorld(t *testing.T, db *store.DB) *casesWorld {
	t.Helper()
	env := apptest.New(t, db)
	w := &casesWorld{env: env}
	w.orgA = env.NewOrg(t, "CASEA", "Almaty")
	w.orgB = env.NewOrg(t, "CASEB", "Astana")
	w.cwA = env.NewUser(t, w.orgA.ID, "cw@casea.example", "caseworker")
	w.cwA2 = env.NewUser(t, w.orgA.ID, "cw2@casea.example", "caseworker")
	w.viewerA = env.NewUser(t, w.orgA.ID, "viewer@casea.example", "viewer")
	w.cwB = env.NewUser(t, w.orgB.ID, "cw@caseb.example", "caseworker")
	return w
}

func casesPath(id string) string { return "/api/v1/cases/" + id }

// casesDecode decodes a case body.
func casesDecode(t testing.TB, res *apptest.Response) casesCase {
	t.Helper()
	var c casesCase
	res.Decode(t, &c)
	return c
}

// casesCreate posts body to /api/v1/cases (query appended when not empty).
func casesCreate(t testing.TB, env *apptest.Env, as *apptest.Caller, body any, query string) *apptest.Response {
	t.Helper()
	path := "/api/v1/cases"
	if query != "" {
		path += "?" + query
	}
	return env.Do(t, http.MethodPost, path, as, body)
}

// casesMustCreate registers a case as `as` and fails the test unless 201.
func casesMustCreate(t testing.TB, env *apptest.Env, as *apptest.Caller, body any) casesCase {
	t.Helper()
	res := casesCreate(t, env, as, body, "")
	if res.Status != http.StatusCreated {
		t.Fatalf("create case %v: %d %s", body, res.Status, res.Body)
	}
	c := casesDecode(t, res)
	if uuid.Validate(c.ID) != nil {
		t.Fatalf("created case has no id: %s", res.Body)
	}
	if want := casesPath(c.ID); res.Header.Get("Location") != want {
		t.Errorf("create: Location %q, want %q", res.Header.Get("Location"), want)
	}
	if res.Header.Get("ETag") == "" {
		t.Errorf("create: no ETag")
	}
	return c
}

// casesMustGet reads a case as `as`, failing unless 200, and returns it with
// its ETag and raw body.
func casesMustGet(t testing.TB, env *apptest.Env, as *apptest.Caller, id string) (casesCase, string, []byte) {
	t.Helper()
	res := env.Do(t, http.MethodGet, casesPath(id), as, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("get case %s: %d %s", id, res.Status, res.Body)
	}
	if res.Header.Get("ETag") == "" {
		t.Errorf("get case %s: no ETag", id)
	}
	return casesDecode(t, res), res.Header.Get("ETag"), res.Body
}

// casesPatch sends a PATCH with If-Match etag ("" sends none).
func casesPatch(t testing.TB, env *apptest.Env, as *apptest.Caller, id, etag string, body any) *apptest.Response {
	t.Helper()
	return patchIfMatch(t, env, as, casesPath(id), etag, body)
}

// casesMustPatch reads the case's ETag, patches it and fails unless 200.
func casesMustPatch(t testing.TB, env *apptest.Env, as *apptest.Caller, id string, body any) casesCase {
	t.Helper()
	_, etag, _ := casesMustGet(t, env, as, id)
	res := casesPatch(t, env, as, id, etag, body)
	if res.Status != http.StatusOK {
		t.Fatalf("patch case %s with %v: %d %s", id, body, res.Status, res.Body)
	}
	return casesDecode(t, res)
}

// casesCodeOf is the problem code the contract gives each error status.
var casesCodeOf = map[int]string{
	http.StatusBadRequest:           "invalid",
	http.StatusForbidden:            "forbidden",
	http.StatusNotFound:             "not_found",
	http.StatusConflict:             "conflict",
	http.StatusPreconditionFailed:   "precondition_failed",
	http.StatusPreconditionRequired: "precondition_required",
	http.StatusUnprocessableEntity:  "invalid",
}

// casesWantProblem reports (Errorf) unless res is a problem+json with status,
// the status's code and, when field is not empty, an errors[] entry whose
// field contains field. It returns the problem.
func casesWantProblem(t testing.TB, res *apptest.Response, status int, field, what string) apptest.Problem {
	t.Helper()
	if res.Status != status {
		t.Errorf("%s: status %d, want %d: %s", what, res.Status, status, res.Body)
		return apptest.Problem{}
	}
	p := res.Problem(t)
	if want := casesCodeOf[status]; p.Code != want || p.Status != status {
		t.Errorf("%s: problem code %q status %d, want %q %d: %s", what, p.Code, p.Status, want, status, res.Body)
	}
	if field != "" {
		var names []string
		found := false
		for _, e := range p.Errors {
			names = append(names, e.Field)
			if strings.Contains(e.Field, field) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: errors %v do not name %q: %s", what, names, field, res.Body)
		}
	}
	return p
}

// casesCount counts every stored case, straight from the database.
func casesCount(t testing.TB, env *apptest.Env) int {
	t.Helper()
	var n int
	if err := env.App.DB.SQL().QueryRowContext(context.Background(), "SELECT count(*) FROM cases").Scan(&n); err != nil {
		t.Fatalf("count cases: %v", err)
	}
	return n
}

// casesListPage reads one page of GET /api/v1/cases with q as `as`.
func casesListPage(t testing.TB, env *apptest.Env, as *apptest.Caller, q url.Values) ([]casesCase, string) {
	t.Helper()
	path := "/api/v1/cases"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	res := env.Do(t, http.MethodGet, path, as, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("list %s: %d %s", path, res.Status, res.Body)
	}
	var page struct {
		Items      []casesCase `json:"items"`
		NextCursor *string     `json:"next_cursor"`
	}
	res.Decode(t, &page)
	next := ""
	if page.NextCursor != nil {
		next = *page.NextCursor
	}
	return page.Items, next
}

// casesListIDs reads every page of GET /api/v1/cases with q at page size
// limit (0: default) and returns the ids in the order received.
func casesListIDs(t testing.TB, env *apptest.Env, as *apptest.Caller, q url.Values, limit int) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for range 1000 {
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		if limit > 0 {
			pq.Set("limit", strconv.Itoa(limit))
		}
		if cursor != "" {
			pq.Set("cursor", cursor)
		}
		items, next := casesListPage(t, env, as, pq)
		if limit > 0 && len(items) > limit {
			t.Errorf("list %v: %d items on a page of %d", pq, len(items), limit)
		}
		for _, c := range items {
			ids = append(ids, c.ID)
		}
		if next == "" {
			return ids
		}
		if len(items) == 0 {
			t.Fatalf("list %v: an empty page with a next cursor", pq)
		}
		cursor = next
	}
	t.Fatalf("list %v: more than 1000 pages", q)
	return nil
}

// casesAuditWith keeps the events of action.
func casesAuditWith(es []casesAuditEvent, action string) []casesAuditEvent {
	var out []casesAuditEvent
	for _, e := range es {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// casesHistory reads the whole history of a case as `as` and its raw pages.
func casesHistory(t testing.TB, env *apptest.Env, as *apptest.Caller, id string) ([]casesHistoryEntry, []byte) {
	t.Helper()
	var out []casesHistoryEntry
	var raw []byte
	cursor := ""
	for range 100 {
		path := casesPath(id) + "/history?limit=200"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		res := env.Do(t, http.MethodGet, path, as, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("history %s: %d %s", id, res.Status, res.Body)
		}
		raw = append(raw, res.Body...)
		var page struct {
			Items      []casesHistoryEntry `json:"items"`
			NextCursor *string             `json:"next_cursor"`
		}
		res.Decode(t, &page)
		out = append(out, page.Items...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return out, raw
		}
		cursor = *page.NextCursor
	}
	t.Fatalf("history %s: too many pages", id)
	return nil, nil
}

// casesToday is today's date in UTC.
func casesToday() time.Time {
	y, m, d := time.Now().UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func casesDay(t time.Time) string { return t.Format(time.DateOnly) }

// casesYearsOn is the age in whole years on day of someone born on dob.
func casesYearsOn(dob, day time.Time) int {
	age := day.Year() - dob.Year()
	if day.Month() < dob.Month() || (day.Month() == dob.Month() && day.Day() < dob.Day()) {
		age--
	}
	return age
}

func casesMustDate(t testing.TB, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatalf("date %q: %v", s, err)
	}
	return d
}

// casesRandom is a short random hex string for unique test values.
func casesRandom() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func casesInt(p *int) string {
	if p == nil {
		return "<nil>"
	}
	return strconv.Itoa(*p)
}

func casesBool(p *bool) string {
	if p == nil {
		return "<nil>"
	}
	return strconv.FormatBool(*p)
}

// ---------------------------------------------------------------------------
// The tests: one service per database, one subtest per area.

func TestCaseEndpoints(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		w := newTestCasesWorld(t, db)
		t.Run("CreateOwnerAndNumber", func(t *testing.T) { casesTestCreateOwnerAndNumber(t, w) })
		t.Run("CreateDerived", func(t *testing.T) { casesTestDerived(t, w) })
		t.Run("CreateBadRequest", func(t *testing.T) { casesTestCreateBadRequest(t, w) })
		t.Run("CreateUnprocessable", func(t *testing.T) { casesTestCreateUnprocessable(t, w) })
		t.Run("CreateUnknownCodes", func(t *testing.T) { casesTestUnknownCodes(t, w) })
		t.Run("MassAssignment", func(t *testing.T) { casesTestMassAssignment(t, w) })
		t.Run("ConcurrentCreates", func(t *testing.T) { casesTestConcurrentCreates(t, w) })
		t.Run("ConditionalPatch", func(t *testing.T) { casesTestConditionalPatch(t, w) })
		t.Run("Duplicates", func(t *testing.T) { casesTestDuplicates(t, w) })
		t.Run("Status", func(t *testing.T) { casesTestStatus(t, w) })
		t.Run("PatchMerge", func(t *testing.T) { casesTestPatchMerge(t, w) })
		t.Run("History", func(t *testing.T) { casesTestHistory(t, w) })
		t.Run("EncryptionCanary", func(t *testing.T) { casesTestEncryptionCanary(t, w, db) })
		t.Run("Audit", func(t *testing.T) { casesTestAudit(t, w) })
		t.Run("List", func(t *testing.T) { casesTestList(t, w) })
		t.Run("Access", func(t *testing.T) { casesTestAccess(t, w) })
	})
}

// casesTestCreateOwnerAndNumber: the owner is the caller's organisation, the
// number CODE-YYYY-NNNNN, the defaults as documented.
func casesTestCreateOwnerAndNumber(t *testing.T, w *casesWorld) {
	env := w.env
	c := casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{"sex": "female", "citizenships": []string{"KZ"}}})
	if c.OrganizationID != w.orgA.ID {
		t.Errorf("organization_id %s, want the caller's %s", c.OrganizationID, w.orgA.ID)
	}
	year := time.Now().UTC().Year()
	if !regexp.MustCompile(fmt.Sprintf(`^CASEA-%d-\d{5}$`, year)).MatchString(c.CaseNumber) {
		t.Errorf("case_number %q, want CASEA-%d-NNNNN", c.CaseNumber, year)
	}
	if c.Status != "open" || c.View != "full" {
		t.Errorf("status %q view %q, want open full", c.Status, c.View)
	}
	if c.OpenedOn != casesDay(casesToday()) {
		t.Errorf("opened_on %q, want today %s", c.OpenedOn, casesDay(casesToday()))
	}
	if strOrNil(c.AssignedTo) != w.cwA.User.ID {
		t.Errorf("assigned_to %s, want the caller %s", strOrNil(c.AssignedTo), w.cwA.User.ID)
	}
	if c.ClosedOn != nil || c.ClosureReason != nil {
		t.Errorf("a new case has closed_on %s closure_reason %s", strOrNil(c.ClosedOn), strOrNil(c.ClosureReason))
	}
	if c.Person.Gender != "not_collected" || c.Trafficking.TraffickingStatus != "not_collected" ||
		c.Trafficking.IdentifiedBy != "not_collected" || c.Trafficking.RecruiterRelationship != "not_collected" {
		t.Errorf("coded fields not sent should default to not_collected: %+v %+v", c.Person, c.Trafficking)
	}
	got, _, _ := casesMustGet(t, env, w.cwA, c.ID)
	if got.CaseNumber != c.CaseNumber || got.OrganizationID != w.orgA.ID {
		t.Errorf("read back %s/%s, want %s/%s", got.CaseNumber, got.OrganizationID, c.CaseNumber, w.orgA.ID)
	}

	// The numbers of one organisation count up without gaps on the happy path.
	next := casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{}})
	n1, _ := strconv.Atoi(c.CaseNumber[len(c.CaseNumber)-5:])
	n2, _ := strconv.Atoi(next.CaseNumber[len(next.CaseNumber)-5:])
	if n2 != n1+1 {
		t.Errorf("consecutive creates numbered %s then %s", c.CaseNumber, next.CaseNumber)
	}
	// Another organisation counts on its own, from 1.
	b := casesMustCreate(t, env, w.cwB, map[string]any{"person": map[string]any{}})
	if want := fmt.Sprintf("CASEB-%d-00001", year); b.CaseNumber != want || b.OrganizationID != w.orgB.ID {
		t.Errorf("first case of B: %s owned by %s, want %s owned by %s", b.CaseNumber, b.OrganizationID, want, w.orgB.ID)
	}

	// organization_id in the body is refused, whichever organisation it names.
	before := casesCount(t, env)
	for _, org := range []string{w.orgA.ID, w.orgB.ID} {
		res := casesCreate(t, env, w.cwA, map[string]any{"organization_id": org, "person": map[string]any{}}, "")
		casesWantProblem(t, res, http.StatusBadRequest, "organization_id", "create with organization_id")
	}
	if after := casesCount(t, env); after != before {
		t.Errorf("refused creates stored cases: %d → %d", before, after)
	}

	// assigned_to is a user of the caller's organisation (openapi.yaml
	// CaseCreate.assigned_to); another organisation's user or no user at all
	// is refused.
	ok := casesMustCreate(t, env, w.cwA, map[string]any{"assigned_to": w.cwA2.User.ID, "person": map[string]any{}})
	if strOrNil(ok.AssignedTo) != w.cwA2.User.ID {
		t.Errorf("assigned_to %s, want %s", strOrNil(ok.AssignedTo), w.cwA2.User.ID)
	}
	before = casesCount(t, env)
	for name, id := range map[string]string{"another organisation's user": w.cwB.User.ID, "no user": uuid.NewString()} {
		res := casesCreate(t, env, w.cwA, map[string]any{"assigned_to": id, "person": map[string]any{}}, "")
		casesWantProblem(t, res, http.StatusUnprocessableEntity, "assigned_to", "create assigned to "+name)
	}
	if after := casesCount(t, env); after != before {
		t.Errorf("creates assigned to foreign or missing users stored cases: %d → %d", before, after)
	}
}

// casesTestDerived: age, age group, CTDC band and minority at identification
// are computed from the birth date or year and the identification (else
// opening) date, with the band edges exact to the day.
func casesTestDerived(t *testing.T, w *casesWorld) {
	env := w.env
	today := casesToday()
	ty := today.Year()
	yes, no := true, false
	type row struct {
		name                   string
		dob                    string // date of birth, "" none
		birthYear              int    // 0 none
		identifiedOn, openedOn string // "" none
		wantGroup, wantBroad   string
		wantMinor              *bool
	}
	rows := []row{
		{name: "8 at identification", dob: "2016-06-16", identifiedOn: "2025-06-15", wantGroup: "child", wantBroad: "0-8", wantMinor: &yes},
		{name: "9 on the day", dob: "2016-06-15", identifiedOn: "2025-06-15", wantGroup: "child", wantBroad: "9-17", wantMinor: &yes},
		{name: "17 the day before 18", dob: "2007-06-16", identifiedOn: "2025-06-15", wantGroup: "child", wantBroad: "9-17", wantMinor: &yes},
		{name: "18 on the day", dob: "2007-06-15", identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "18-20", wantMinor: &no},
		{name: "20", dob: "2004-06-16", identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "18-20", wantMinor: &no},
		{name: "21", dob: "2004-06-15", identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "21-23", wantMinor: &no},
		{name: "23", dob: "2001-06-16", identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "21-23", wantMinor: &no},
		{name: "24", dob: "2001-06-15", identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "24-26", wantMinor: &no},
		{name: "29", dob: "1995-06-16", identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "27-29", wantMinor: &no},
		{name: "30", dob: "1995-06-15", identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "30-38", wantMinor: &no},
		{name: "39", dob: "1986-06-15", identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "39-47", wantMinor: &no},
		{name: "47", dob: "1977-06-16", identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "39-47", wantMinor: &no},
		{name: "48", dob: "1977-06-15", identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "48+", wantMinor: &no},
		{name: "birth year 17", birthYear: 2008, identifiedOn: "2025-06-15", wantGroup: "child", wantBroad: "9-17", wantMinor: &yes},
		{name: "birth year 18", birthYear: 2007, identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "18-20", wantMinor: &no},
		{name: "birth year 8", birthYear: 2017, identifiedOn: "2025-06-15", wantGroup: "child", wantBroad: "0-8", wantMinor: &yes},
		{name: "birth year 48", birthYear: 1977, identifiedOn: "2025-06-15", wantGroup: "adult", wantBroad: "48+", wantMinor: &no},
		// No identification date: the opening date is the reference.
		{name: "child when opened, adult now", dob: "2002-01-11", openedOn: "2020-01-10", wantGroup: "child", wantBroad: "9-17", wantMinor: &yes},
		{name: "adult when opened", dob: "2002-01-10", openedOn: "2020-01-10", wantGroup: "adult", wantBroad: "18-20", wantMinor: &no},
		// The identification date wins over the opening date.
		{name: "identified the day before 18, opened on it", dob: "2000-03-01", identifiedOn: "2018-02-28", openedOn: "2018-03-01", wantGroup: "child", wantBroad: "9-17", wantMinor: &yes},
		// Relative to today: opened today, no identification date.
		{name: "30 and a day today", dob: casesDay(today.AddDate(-30, 0, -1)), wantGroup: "adult", wantBroad: "30-38", wantMinor: &no},
		{name: "born 5 years ago (year only)", birthYear: ty - 5, wantGroup: "child", wantBroad: "0-8", wantMinor: &yes},
		// No birth information at all.
		{name: "unknown age", identifiedOn: "2025-06-15", wantGroup: "unknown", wantBroad: "unknown"},
		{name: "unknown age, nothing", wantGroup: "unknown", wantBroad: "unknown"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			person := map[string]any{"sex": "female"}
			if r.dob != "" {
				person["date_of_birth"] = r.dob
			}
			if r.birthYear != 0 {
				person["birth_year"] = r.birthYear
			}
			body := map[string]any{"person": person}
			if r.identifiedOn != "" {
				body["trafficking"] = map[string]any{"identified_on": r.identifiedOn}
			}
			if r.openedOn != "" {
				body["opened_on"] = r.openedOn
			}
			c := casesMustCreate(t, env, w.cwA, body)
			var wantAge *int
			var wantBirthYear *int
			switch {
			case r.dob != "":
				a := casesYearsOn(casesMustDate(t, r.dob), today)
				y := casesMustDate(t, r.dob).Year()
				wantAge, wantBirthYear = &a, &y
			case r.birthYear != 0:
				a := ty - r.birthYear
				y := r.birthYear
				wantAge, wantBirthYear = &a, &y
			}
			d := c.Derived
			if casesInt(d.Age) != casesInt(wantAge) || d.AgeGroup != r.wantGroup || d.AgeBroad != r.wantBroad ||
				casesBool(d.IsMinorAtIdentification) != casesBool(r.wantMinor) {
				t.Errorf("derived age=%s group=%s broad=%s minor=%s, want age=%s group=%s broad=%s minor=%s",
					casesInt(d.Age), d.AgeGroup, d.AgeBroad, casesBool(d.IsMinorAtIdentification),
					casesInt(wantAge), r.wantGroup, r.wantBroad, casesBool(r.wantMinor))
			}
			if casesInt(c.Person.BirthYear) != casesInt(wantBirthYear) {
				t.Errorf("birth_year %s, want %s", casesInt(c.Person.BirthYear), casesInt(wantBirthYear))
			}
			if r.dob != "" && strOrNil(c.Person.DateOfBirth) != r.dob {
				t.Errorf("date_of_birth %s, want %s", strOrNil(c.Person.DateOfBirth), r.dob)
			}
			// A read answers the same derived block.
			got, _, _ := casesMustGet(t, env, w.cwA, c.ID)
			if casesInt(got.Derived.Age) != casesInt(d.Age) || got.Derived.AgeGroup != d.AgeGroup ||
				got.Derived.AgeBroad != d.AgeBroad || casesBool(got.Derived.IsMinorAtIdentification) != casesBool(d.IsMinorAtIdentification) {
				t.Errorf("GET derived %+v differs from the create's %+v", got.Derived, d)
			}
		})
	}

	// Derived fields follow changes: clearing the date of birth and the birth
	// year makes the age unknown again.
	c := casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{"date_of_birth": "2000-01-01"}})
	if c.Derived.AgeGroup != "adult" {
		t.Fatalf("born 2000: age_group %s", c.Derived.AgeGroup)
	}
	u := casesMustPatch(t, env, w.cwA, c.ID, map[string]any{"person": map[string]any{"date_of_birth": nil, "birth_year": nil}})
	if u.Derived.Age != nil || u.Derived.AgeGroup != "unknown" || u.Derived.AgeBroad != "unknown" || u.Derived.IsMinorAtIdentification != nil ||
		u.Person.BirthYear != nil || u.Person.DateOfBirth != nil {
		t.Errorf("after clearing the birth data: person %+v derived %+v, want everything unknown", u.Person, u.Derived)
	}
	u = casesMustPatch(t, env, w.cwA, c.ID, map[string]any{"person": map[string]any{"birth_year": ty - 10}})
	if casesInt(u.Derived.Age) != "10" || u.Derived.AgeGroup != "child" || u.Derived.AgeBroad != "9-17" {
		t.Errorf("after birth_year %d: derived age=%s group=%s broad=%s, want 10 child 9-17",
			ty-10, casesInt(u.Derived.Age), u.Derived.AgeGroup, u.Derived.AgeBroad)
	}
}

// casesTestCreateBadRequest: bodies that do not match the schema are 400 and
// store nothing.
func casesTestCreateBadRequest(t *testing.T, w *casesWorld) {
	env := w.env
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"unknown top-level field", map[string]any{"person": map[string]any{}, "nickname": "x"}, "nickname"},
		{"unknown person field", map[string]any{"person": map[string]any{"middle_name": "x"}}, "middle_name"},
		{"unknown trafficking field", map[string]any{"person": map[string]any{}, "trafficking": map[string]any{"victim": true}}, "victim"},
		{"no person", map[string]any{"opened_on": "2025-01-01"}, "person"},
		{"sex not in the enum", map[string]any{"person": map[string]any{"sex": "woman"}}, "sex"},
		{"gender not in the enum", map[string]any{"person": map[string]any{"gender": "female"}}, "gender"},
		{"trafficking status not in the enum", map[string]any{"person": map[string]any{}, "trafficking": map[string]any{"trafficking_status": "victim"}}, "trafficking_status"},
		{"exploitation type not in the enum", map[string]any{"person": map[string]any{}, "trafficking": map[string]any{"exploitation_types": []string{"sexual"}}}, "exploitation_types"},
		{"exploitation type repeated", map[string]any{"person": map[string]any{}, "trafficking": map[string]any{"exploitation_types": []string{"forced_labour", "forced_labour"}}}, "exploitation_types"},
		{"identified_by not in the enum", map[string]any{"person": map[string]any{}, "trafficking": map[string]any{"identified_by": "army"}}, "identified_by"},
		{"lower-case country", map[string]any{"person": map[string]any{"citizenships": []string{"kz"}}}, "citizenships"},
		{"three-letter country", map[string]any{"person": map[string]any{"citizenships": []string{"KAZ"}}}, "citizenships"},
		{"upper-case language", map[string]any{"person": map[string]any{"languages": []string{"KK"}}}, "languages"},
		{"labour sector out of A-U", map[string]any{"person": map[string]any{}, "trafficking": map[string]any{"labour_sector": "V"}}, "labour_sector"},
		{"birth year before 1900", map[string]any{"person": map[string]any{"birth_year": 1899}}, "birth_year"},
		{"birth year a string", map[string]any{"person": map[string]any{"birth_year": "1990"}}, "birth_year"},
		{"date of birth not a date", map[string]any{"person": map[string]any{"date_of_birth": "12.05.1990"}}, "date_of_birth"},
		{"document type not in the enum", map[string]any{"person": map[string]any{"identity_documents": []map[string]any{{"type": "visa", "number": "1"}}}}, "type"},
		{"assigned_to not a uuid", map[string]any{"assigned_to": "someone", "person": map[string]any{}}, "assigned_to"},
		{"given name too long", map[string]any{"person": map[string]any{"given_name": strings.Repeat("a", 201)}}, "given_name"},
		{"not JSON", "{not json", ""},
		{"two JSON values", `{"person":{}} {"person":{}}`, ""},
	}
	before := casesCount(t, env)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := casesCreate(t, env, w.cwA, tc.body, "")
			casesWantProblem(t, res, http.StatusBadRequest, tc.field, tc.name)
		})
	}
	if after := casesCount(t, env); after != before {
		t.Errorf("malformed creates stored cases: %d → %d", before, after)
	}
}

// casesTestCreateUnprocessable: well-formed bodies that break the service's
// rules are 422 naming the field, and store nothing.
func casesTestCreateUnprocessable(t *testing.T, w *casesWorld) {
	env := w.env
	today := casesToday()
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"unknown country XX", map[string]any{"person": map[string]any{"citizenships": []string{"KZ", "XX"}}}, "person.citizenships[1]"},
		{"unknown language xx", map[string]any{"person": map[string]any{"languages": []string{"xx"}}}, "person.languages[0]"},
		{"country repeated", map[string]any{"person": map[string]any{"citizenships": []string{"KZ", "KZ"}}}, "person.citizenships[1]"},
		{"unknown country of exploitation", map[string]any{"person": map[string]any{}, "trafficking": map[string]any{"country_of_exploitation": "XX"}}, "trafficking.country_of_exploitation"},
		{"unknown issuing country", map[string]any{"person": map[string]any{"identity_documents": []map[string]any{{"type": "passport", "number": "N1", "issuing_country": "XX"}}}}, "issuing_country"},
		{"blank document number", map[string]any{"person": map[string]any{"identity_documents": []map[string]any{{"type": "passport", "number": "   "}}}}, "number"},
		{"unknown code with another exploitation type", map[string]any{"person": map[string]any{}, "trafficking": map[string]any{"exploitation_types": []string{"unknown", "forced_labour"}}}, "trafficking.exploitation_types"},
		{"refused with another means of control", map[string]any{"person": map[string]any{}, "trafficking": map[string]any{"means_of_control": []string{"threats", "refused"}}}, "trafficking.means_of_control"},
		{"not_collected with a country", map[string]any{"person": map[string]any{"citizenships": []string{"not_collected", "KZ"}}}, "person.citizenships"},
		{"date of birth in the future", map[string]any{"person": map[string]any{"date_of_birth": casesDay(today.AddDate(0, 0, 3))}}, "person.date_of_birth"},
		{"date of birth before 1900", map[string]any{"person": map[string]any{"date_of_birth": "1899-12-31"}}, "person.date_of_birth"},
		{"birth year in the future", map[string]any{"person": map[string]any{"birth_year": today.Year() + 1}}, "person.birth_year"},
		// openapi.yaml PersonInput.birth_year: "must agree with date_of_birth
		// when both are sent".
		{"birth year disagrees with the date of birth", map[string]any{"person": map[string]any{"date_of_birth": "1990-05-05", "birth_year": 1985}}, "person.birth_year"},
		{"identified before birth", map[string]any{"person": map[string]any{"date_of_birth": "2000-05-05"}, "trafficking": map[string]any{"identified_on": "2000-05-04"}}, "trafficking.identified_on"},
		{"identified in the future", map[string]any{"person": map[string]any{}, "trafficking": map[string]any{"identified_on": casesDay(today.AddDate(0, 0, 5))}}, "trafficking.identified_on"},
		{"opened in the future", map[string]any{"opened_on": casesDay(today.AddDate(0, 0, 5)), "person": map[string]any{}}, "opened_on"},
		{"opened before 1990", map[string]any{"opened_on": "1989-12-31", "person": map[string]any{}}, "opened_on"},
	}
	before := casesCount(t, env)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := casesCreate(t, env, w.cwA, tc.body, "")
			casesWantProblem(t, res, http.StatusUnprocessableEntity, tc.field, tc.name)
		})
	}
	if after := casesCount(t, env); after != before {
		t.Errorf("invalid creates stored cases: %d → %d", before, after)
	}
	// The same rules hold on PATCH, and a refused PATCH changes nothing.
	c := casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{"date_of_birth": "2000-05-05", "citizenships": []string{"KZ"}}})
	_, etag, raw := casesMustGet(t, env, w.cwA, c.ID)
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"person": map[string]any{"citizenships": []string{"XX"}}}, "person.citizenships[0]"},
		{map[string]any{"person": map[string]any{"languages": []string{"xx"}}}, "person.languages[0]"},
		{map[string]any{"trafficking": map[string]any{"identified_on": "2000-05-04"}}, "trafficking.identified_on"},
		{map[string]any{"person": map[string]any{"date_of_birth": casesDay(today.AddDate(0, 0, 3))}}, "person.date_of_birth"},
	} {
		res := casesPatch(t, env, w.cwA, c.ID, etag, tc.body)
		casesWantProblem(t, res, http.StatusUnprocessableEntity, tc.field, fmt.Sprintf("patch %v", tc.body))
	}
	_, etag2, raw2 := casesMustGet(t, env, w.cwA, c.ID)
	if etag2 != etag || !bytes.Equal(raw, raw2) {
		t.Errorf("refused patches changed the case: %s → %s\n%s\n%s", etag, etag2, raw, raw2)
	}
}

// casesTestUnknownCodes: every coded field accepts unknown, refused and
// not_collected.
func casesTestUnknownCodes(t *testing.T, w *casesWorld) {
	for _, code := range []string{"unknown", "refused", "not_collected"} {
		t.Run(code, func(t *testing.T) {
			c := casesMustCreate(t, w.env, w.cwA, map[string]any{
				"person": map[string]any{
					"sex": code, "gender": code, "citizenships": []string{code}, "languages": []string{code},
					"identity_documents": []map[string]any{{"type": "other", "number": "U-" + casesRandom(), "issuing_country": code}},
				},
				"trafficking": map[string]any{
					"trafficking_status": code, "exploitation_types": []string{code}, "labour_sector": code,
					"means_of_control": []string{code}, "recruiter_relationship": code,
					"country_of_exploitation": code, "identified_by": code,
				},
			})
			p, tr := c.Person, c.Trafficking
			one := []string{code}
			if p.Sex != code || p.Gender != code || !slices.Equal(p.Citizenships, one) || !slices.Equal(p.Languages, one) ||
				len(p.IdentityDocuments) != 1 || strOrNil(p.IdentityDocuments[0].IssuingCountry) != code {
				t.Errorf("person %+v does not keep %q everywhere", p, code)
			}
			if tr.TraffickingStatus != code || !slices.Equal(tr.ExploitationTypes, one) || strOrNil(tr.LabourSector) != code ||
				!slices.Equal(tr.MeansOfControl, one) || tr.RecruiterRelationship != code ||
				strOrNil(tr.CountryOfExploitation) != code || tr.IdentifiedBy != code {
				t.Errorf("trafficking %+v does not keep %q everywhere", tr, code)
			}
		})
	}
}

// casesTestMassAssignment: read-only fields in POST and PATCH bodies are
// refused and nothing changes.
func casesTestMassAssignment(t *testing.T, w *casesWorld) {
	env := w.env
	c := casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{"given_name": "Mass" + casesRandom(), "sex": "female"}})
	readOnly := map[string]any{
		"id":              uuid.NewString(),
		"organization_id": w.orgB.ID,
		"case_number":     "CASEB-2020-99999",
		"created_at":      "2020-01-01T00:00:00Z",
		"updated_at":      "2020-01-01T00:00:00Z",
		"status":          "closed",
		"closed_on":       "2025-01-01",
		"closure_reason":  "goals_achieved",
		"derived":         map[string]any{"age": 5, "age_group": "child", "age_broad": "0-8", "is_minor_at_identification": true},
		"view":            "full",
		"consents":        []any{},
	}
	nested := map[string]map[string]any{
		"person.age":      {"person": map[string]any{"age": 5}},
		"person.derived":  {"person": map[string]any{"derived": map[string]any{"age_group": "child"}}},
		"trafficking.age": {"trafficking": map[string]any{"age_group": "child"}},
	}

	t.Run("POST", func(t *testing.T) {
		before := casesCount(t, env)
		listed := len(casesListIDs(t, env, w.cwA, nil, 200))
		for field, v := range readOnly {
			if field == "id" {
				continue // a create may carry a client-made id (sync_test.go); only a malformed one is refused
			}
			res := casesCreate(t, env, w.cwA, map[string]any{field: v, "person": map[string]any{"sex": "male"}}, "")
			casesWantProblem(t, res, http.StatusBadRequest, field, "POST with "+field)
		}
		res := casesCreate(t, env, w.cwA, map[string]any{"id": "not-a-uuid", "person": map[string]any{"sex": "male"}}, "")
		casesWantProblem(t, res, http.StatusBadRequest, "", "POST with a malformed id")
		for name, body := range nested {
			res := casesCreate(t, env, w.cwA, body, "")
			casesWantProblem(t, res, http.StatusBadRequest, "", "POST with "+name)
		}
		if after := casesCount(t, env); after != before {
			t.Errorf("refused creates stored cases: %d → %d", before, after)
		}
		if after := len(casesListIDs(t, env, w.cwA, nil, 200)); after != listed {
			t.Errorf("refused creates changed the list: %d → %d", listed, after)
		}
	})

	t.Run("PATCH", func(t *testing.T) {
		_, etag, raw := casesMustGet(t, env, w.cwA, c.ID)
		for field, v := range readOnly {
			// Alone, and alongside a legitimate change that must not be applied either.
			res := casesPatch(t, env, w.cwA, c.ID, etag, map[string]any{field: v})
			casesWantProblem(t, res, http.StatusBadRequest, field, "PATCH with "+field)
			res = casesPatch(t, env, w.cwA, c.ID, etag, map[string]any{field: v, "person": map[string]any{"sex": "male"}})
			casesWantProblem(t, res, http.StatusBadRequest, field, "PATCH with "+field+" and a change")
		}
		for name, body := range nested {
			res := casesPatch(t, env, w.cwA, c.ID, etag, body)
			casesWantProblem(t, res, http.StatusBadRequest, "", "PATCH with "+name)
		}
		got, etag2, raw2 := casesMustGet(t, env, w.cwA, c.ID)
		if etag2 != etag || !bytes.Equal(raw, raw2) {
			t.Errorf("refused patches changed the case: ETag %s → %s\n%s\n%s", etag, etag2, raw, raw2)
		}
		if got.ID != c.ID || got.OrganizationID != w.orgA.ID || got.CaseNumber != c.CaseNumber || got.Status != "open" ||
			got.Person.Sex != "female" || !got.CreatedAt.Equal(c.CreatedAt) {
			t.Errorf("case after refused patches: %+v", got)
		}
		// No case moved to the other organisation or took its number.
		var n int
		q := fmt.Sprintf("SELECT count(*) FROM cases WHERE id = '%s' AND organization_id = '%s' AND case_number = '%s' AND status = 'open' AND version = 1",
			c.ID, w.orgA.ID, c.CaseNumber)
		if err := env.App.DB.SQL().QueryRowContext(context.Background(), q).Scan(&n); err != nil || n != 1 {
			t.Errorf("stored row of %s changed (matching rows %d, err %v)", c.ID, n, err)
		}
		if bs := casesListIDs(t, env, w.cwB, nil, 200); slices.Contains(bs, c.ID) {
			t.Errorf("organisation B lists A's case %s", c.ID)
		}
		// An empty PATCH is malformed too.
		casesWantProblem(t, casesPatch(t, env, w.cwA, c.ID, etag, map[string]any{}), http.StatusBadRequest, "", "empty PATCH")
	})
}

// casesTestConcurrentCreates: 20 parallel creates in a fresh organisation get
// the numbers 00001 to 00020, each once.
func casesTestConcurrentCreates(t *testing.T, w *casesWorld) {
	env := w.env
	org := env.NewOrg(t, "CASEC", "Aktau")
	cw := env.NewUser(t, org.ID, "cw@casec.example", "caseworker")
	const n = 20
	var (
		mu      sync.Mutex
		numbers []string
		ids     []string
		wg      sync.WaitGroup
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := env.Do(t, http.MethodPost, "/api/v1/cases", cw, map[string]any{"person": map[string]any{"other_names": fmt.Sprintf("parallel %d", i)}})
			if res.Status != http.StatusCreated {
				t.Errorf("parallel create %d: %d %s", i, res.Status, res.Body)
				return
			}
			var c casesCase
			if err := json.Unmarshal(res.Body, &c); err != nil {
				t.Errorf("parallel create %d: %v", i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			numbers = append(numbers, c.CaseNumber)
			ids = append(ids, c.ID)
		}()
	}
	wg.Wait()
	year := time.Now().UTC().Year()
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("CASEC-%d-%05d", year, i))
	}
	slices.Sort(numbers)
	if !slices.Equal(numbers, want) {
		t.Errorf("parallel creates numbered %v, want %v", numbers, want)
	}
	if got := casesListIDs(t, env, cw, nil, 0); !sameSet(got, ids) || len(got) != n {
		t.Errorf("organisation lists %d cases %v, want the %d created %v", len(got), got, n, ids)
	}
}

// casesTestConditionalPatch: If-Match is required, a stale one is refused, and
// of 50 parallel PATCHes with the same one exactly one wins.
func casesTestConditionalPatch(t *testing.T, w *casesWorld) {
	env := w.env
	c := casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{"phone": "+77020000000"}})
	_, etag, raw := casesMustGet(t, env, w.cwA, c.ID)

	casesWantProblem(t, casesPatch(t, env, w.cwA, c.ID, "", map[string]any{"person": map[string]any{"phone": "+1"}}),
		http.StatusPreconditionRequired, "", "PATCH without If-Match")
	casesWantProblem(t, casesPatch(t, env, w.cwA, c.ID, `"999"`, map[string]any{"person": map[string]any{"phone": "+1"}}),
		http.StatusPreconditionFailed, "", "PATCH with a version that never was")
	casesWantProblem(t, casesPatch(t, env, w.cwA, c.ID, `"garbage"`, map[string]any{"person": map[string]any{"phone": "+1"}}),
		http.StatusPreconditionFailed, "", "PATCH with a garbage If-Match")
	if _, etag2, raw2 := casesMustGet(t, env, w.cwA, c.ID); etag2 != etag || !bytes.Equal(raw, raw2) {
		t.Errorf("refused conditional patches changed the case")
	}

	const n = 50
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		winner   string
		wg       sync.WaitGroup
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			phone := fmt.Sprintf("+7701%07d", i)
			res := env.Do(t, http.MethodPatch, casesPath(c.ID), w.cwA, map[string]any{"person": map[string]any{"phone": phone}}, "If-Match", etag)
			mu.Lock()
			defer mu.Unlock()
			statuses[res.Status]++
			if res.Status == http.StatusOK {
				winner = phone
			}
		}()
	}
	wg.Wait()
	if statuses[http.StatusOK] != 1 || statuses[http.StatusPreconditionFailed] != n-1 {
		t.Errorf("%d parallel PATCHes with one If-Match answered %v, want 1×200 and %d×412", n, statuses, n-1)
	}
	got, etag2, _ := casesMustGet(t, env, w.cwA, c.ID)
	if etag2 == etag {
		t.Errorf("ETag unchanged (%s) after a successful PATCH", etag)
	}
	if winner != "" && strOrNil(got.Person.Phone) != winner {
		t.Errorf("phone %s, want the winner's %s", strOrNil(got.Person.Phone), winner)
	}
	hist, _ := casesHistory(t, env, w.cwA, c.ID)
	phoneChanges := 0
	for _, h := range hist {
		if h.Field == "person.phone" {
			phoneChanges++
		}
	}
	if phoneChanges != 1 {
		t.Errorf("history records %d phone changes, want 1", phoneChanges)
	}
	updates := casesAuditWith(mustAuditEvents[casesAuditEvent](t, env, url.Values{"object_id": {c.ID}}), "case.update")
	if len(updates) != 1 {
		t.Errorf("%d case.update audit events, want 1", len(updates))
	}

	// The old ETag is now stale.
	casesWantProblem(t, casesPatch(t, env, w.cwA, c.ID, etag, map[string]any{"person": map[string]any{"phone": "+1"}}),
		http.StatusPreconditionFailed, "", "PATCH with a stale If-Match")
	if res := casesPatch(t, env, w.cwA, c.ID, etag2, map[string]any{"person": map[string]any{"phone": "+77019999999"}}); res.Status != http.StatusOK {
		t.Errorf("PATCH with the current ETag: %d %s", res.Status, res.Body)
	} else if res.Header.Get("ETag") == etag2 || res.Header.Get("ETag") == "" {
		t.Errorf("PATCH answered ETag %q, want a new one (was %s)", res.Header.Get("ETag"), etag2)
	}
}

// casesTestDuplicates: the same normalised name and date of birth, or a
// shared identity document, in the same organisation is a conflict naming
// the first case; other organisations' cases never are.
func casesTestDuplicates(t *testing.T, w *casesWorld) {
	env := w.env
	given, family := "Aigerim"+casesRandom(), "Testova"
	first := casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{
		"given_name": given, "family_name": family, "date_of_birth": "1995-04-12", "sex": "female"}})

	dup := map[string]any{"person": map[string]any{
		"given_name": "  " + strings.ToUpper(given) + " ", "family_name": strings.ToLower(family) + "  ", "date_of_birth": "1995-04-12"}}
	before := casesCount(t, env)
	res := casesCreate(t, env, w.cwA, dup, "")
	p := casesWantProblem(t, res, http.StatusConflict, "", "same name and date of birth")
	if res.Status == http.StatusConflict && !strings.Contains(p.Detail, first.CaseNumber) {
		t.Errorf("duplicate conflict %q does not name %s", p.Detail, first.CaseNumber)
	}
	if after := casesCount(t, env); after != before {
		t.Errorf("a refused duplicate was stored: %d → %d", before, after)
	}
	// A different date of birth is another person.
	casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{"given_name": given, "family_name": family, "date_of_birth": "1995-04-13"}})
	// Registering anyway is allowed.
	if res := casesCreate(t, env, w.cwA, dup, "allow_duplicate=true"); res.Status != http.StatusCreated {
		t.Errorf("allow_duplicate=true: %d %s", res.Status, res.Body)
	}
	// allow_duplicate=false behaves as the default.
	casesWantProblem(t, casesCreate(t, env, w.cwA, dup, "allow_duplicate=false"), http.StatusConflict, "", "allow_duplicate=false")
	// Another organisation's identical person is no duplicate, and its
	// answer reveals nothing of A's cases.
	resB := casesCreate(t, env, w.cwB, map[string]any{"person": map[string]any{"given_name": given, "family_name": family, "date_of_birth": "1995-04-12"}}, "")
	if resB.Status != http.StatusCreated {
		t.Errorf("the same person in another organisation: %d %s", resB.Status, resB.Body)
	} else if bytes.Contains(resB.Body, []byte(first.CaseNumber)) {
		t.Errorf("another organisation's create mentions %s: %s", first.CaseNumber, resB.Body)
	}

	// A shared identity document number, spacing aside.
	number := "N" + strings.ToUpper(casesRandom())
	docFirst := casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{
		"given_name": "Doc" + casesRandom(), "identity_documents": []map[string]any{{"type": "passport", "number": number, "issuing_country": "KZ"}}}})
	spaced := number[:3] + " " + number[3:7] + "  " + number[7:]
	res = casesCreate(t, env, w.cwA, map[string]any{"person": map[string]any{
		"given_name": "Other" + casesRandom(), "identity_documents": []map[string]any{{"type": "passport", "number": spaced, "issuing_country": "KZ"}}}}, "")
	p = casesWantProblem(t, res, http.StatusConflict, "", "shared identity document")
	if res.Status == http.StatusConflict && !strings.Contains(p.Detail, docFirst.CaseNumber) {
		t.Errorf("document conflict %q does not name %s", p.Detail, docFirst.CaseNumber)
	}
	if res.Status == http.StatusConflict && strings.Contains(p.Detail, number) {
		t.Errorf("document conflict repeats the document number: %q", p.Detail)
	}
	// The same number in another organisation is no duplicate.
	if res := casesCreate(t, env, w.cwB, map[string]any{"person": map[string]any{
		"identity_documents": []map[string]any{{"type": "passport", "number": number, "issuing_country": "KZ"}}}}, ""); res.Status != http.StatusCreated {
		t.Errorf("the same document in another organisation: %d %s", res.Status, res.Body)
	}
}

// casesTestStatus: open → closed → open along the allowed transitions only.
func casesTestStatus(t *testing.T, w *casesWorld) {
	env := w.env
	c := casesMustCreate(t, env, w.cwA, map[string]any{"opened_on": "2025-05-10", "person": map[string]any{}})
	if c.Status != "open" {
		t.Fatalf("new case status %s, want open", c.Status)
	}
	closePath, reopenPath := casesPath(c.ID)+"/close", casesPath(c.ID)+"/reopen"

	casesWantProblem(t, env.Do(t, http.MethodPost, reopenPath, w.cwA, nil), http.StatusConflict, "", "reopen an open case")
	casesWantProblem(t, env.Do(t, http.MethodPost, closePath, w.cwA, map[string]any{"closure_reason": "finished"}),
		http.StatusBadRequest, "closure_reason", "close with an unknown reason")
	casesWantProblem(t, env.Do(t, http.MethodPost, closePath, w.cwA, map[string]any{}),
		http.StatusBadRequest, "closure_reason", "close without a reason")
	casesWantProblem(t, env.Do(t, http.MethodPost, closePath, w.cwA, map[string]any{"closure_reason": "relocated", "closed_on": "2025-05-09"}),
		http.StatusUnprocessableEntity, "closed_on", "close before the opening date")
	casesWantProblem(t, env.Do(t, http.MethodPost, closePath, w.cwA, map[string]any{"closure_reason": "relocated", "closed_on": casesDay(casesToday().AddDate(0, 0, 5))}),
		http.StatusUnprocessableEntity, "closed_on", "close in the future")
	casesWantProblem(t, env.Do(t, http.MethodPost, closePath, w.viewerA, map[string]any{"closure_reason": "relocated"}),
		http.StatusForbidden, "", "close as a viewer")
	casesWantProblem(t, env.Do(t, http.MethodPost, closePath, w.cwB, map[string]any{"closure_reason": "relocated"}),
		http.StatusNotFound, "", "close another organisation's case")
	if got, _, _ := casesMustGet(t, env, w.cwA, c.ID); got.Status != "open" || got.ClosedOn != nil {
		t.Fatalf("refused closes changed the case: %s %s", got.Status, strOrNil(got.ClosedOn))
	}

	res := env.Do(t, http.MethodPost, closePath, w.cwA, map[string]any{"closure_reason": "goals_achieved"})
	if res.Status != http.StatusOK {
		t.Fatalf("close: %d %s", res.Status, res.Body)
	}
	closed := casesDecode(t, res)
	if closed.Status != "closed" || strOrNil(closed.ClosedOn) != casesDay(casesToday()) || strOrNil(closed.ClosureReason) != "goals_achieved" {
		t.Errorf("closed: status %s closed_on %s reason %s, want closed %s goals_achieved",
			closed.Status, strOrNil(closed.ClosedOn), strOrNil(closed.ClosureReason), casesDay(casesToday()))
	}
	if got, _, _ := casesMustGet(t, env, w.cwA, c.ID); got.Status != "closed" || strOrNil(got.ClosedOn) != casesDay(casesToday()) {
		t.Errorf("read after close: %s %s", got.Status, strOrNil(got.ClosedOn))
	}
	casesWantProblem(t, env.Do(t, http.MethodPost, closePath, w.cwA, map[string]any{"closure_reason": "other"}),
		http.StatusConflict, "", "close a closed case")
	if got, _, _ := casesMustGet(t, env, w.cwA, c.ID); strOrNil(got.ClosureReason) != "goals_achieved" {
		t.Errorf("a refused second close changed the reason to %s", strOrNil(got.ClosureReason))
	}
	casesWantProblem(t, env.Do(t, http.MethodPost, reopenPath, w.viewerA, nil), http.StatusForbidden, "", "reopen as a viewer")
	casesWantProblem(t, env.Do(t, http.MethodPost, reopenPath, w.cwB, nil), http.StatusNotFound, "", "reopen another organisation's case")

	res = env.Do(t, http.MethodPost, reopenPath, w.cwA, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("reopen: %d %s", res.Status, res.Body)
	}
	reopened := casesDecode(t, res)
	if reopened.Status != "open" || reopened.ClosedOn != nil || reopened.ClosureReason != nil {
		t.Errorf("reopened without services: status %s closed_on %s reason %s, want open, null, null",
			reopened.Status, strOrNil(reopened.ClosedOn), strOrNil(reopened.ClosureReason))
	}
	casesWantProblem(t, env.Do(t, http.MethodPost, reopenPath, w.cwA, nil), http.StatusConflict, "", "reopen a reopened case")

	// A case closed on an explicit date keeps it.
	res = env.Do(t, http.MethodPost, closePath, w.cwA, map[string]any{"closure_reason": "lost_contact", "closed_on": "2025-05-10"})
	if res.Status != http.StatusOK {
		t.Fatalf("close on the opening day: %d %s", res.Status, res.Body)
	}
	if got := casesDecode(t, res); strOrNil(got.ClosedOn) != "2025-05-10" || strOrNil(got.ClosureReason) != "lost_contact" {
		t.Errorf("closed on %s for %s, want 2025-05-10 lost_contact", strOrNil(got.ClosedOn), strOrNil(got.ClosureReason))
	}
	// The history names each move.
	hist, _ := casesHistory(t, env, w.cwA, c.ID)
	var actions []string
	for _, h := range hist {
		if h.Field == "status" {
			actions = append(actions, h.Action+":"+strOrNil(h.OldValue)+"→"+strOrNil(h.NewValue))
		}
	}
	if want := []string{"closed:open→closed", "reopened:closed→open", "closed:open→closed"}; !slices.Equal(actions, want) {
		t.Errorf("status history %v, want %v", actions, want)
	}
}

// casesTestPatchMerge: fields sent replace stored ones, fields left out stay,
// null clears.
func casesTestPatchMerge(t *testing.T, w *casesWorld) {
	env := w.env
	given := "Merge" + casesRandom()
	c := casesMustCreate(t, env, w.cwA, map[string]any{
		"person": map[string]any{
			"given_name": given, "family_name": "Merged", "phone": "+77010001111", "address": "Almaty, Abay 1",
			"sex": "female", "citizenships": []string{"KZ"}, "languages": []string{"kk", "ru"}, "birth_year": 1990,
		},
		"trafficking": map[string]any{"trafficking_status": "actual", "exploitation_types": []string{"forced_labour"}, "identified_by": "ngo"},
	})
	_, etag1, _ := casesMustGet(t, env, w.cwA, c.ID)

	res := casesPatch(t, env, w.cwA, c.ID, etag1, map[string]any{"person": map[string]any{"phone": "+77010002222"}})
	if res.Status != http.StatusOK {
		t.Fatalf("patch phone: %d %s", res.Status, res.Body)
	}
	etag2 := res.Header.Get("ETag")
	if etag2 == "" || etag2 == etag1 {
		t.Errorf("ETag after a change %q, want one other than %q", etag2, etag1)
	}
	u := casesDecode(t, res)
	p := u.Person
	if strOrNil(p.Phone) != "+77010002222" || strOrNil(p.GivenName) != given || strOrNil(p.FamilyName) != "Merged" ||
		strOrNil(p.Address) != "Almaty, Abay 1" || p.Sex != "female" || !slices.Equal(p.Citizenships, []string{"KZ"}) ||
		!slices.Equal(p.Languages, []string{"kk", "ru"}) || casesInt(p.BirthYear) != "1990" {
		t.Errorf("after patching the phone, person %+v lost other fields", p)
	}
	if u.Trafficking.TraffickingStatus != "actual" || !slices.Equal(u.Trafficking.ExploitationTypes, []string{"forced_labour"}) || u.Trafficking.IdentifiedBy != "ngo" {
		t.Errorf("after patching the phone, trafficking %+v changed", u.Trafficking)
	}
	if got, etag, _ := casesMustGet(t, env, w.cwA, c.ID); etag != etag2 || strOrNil(got.Person.Phone) != "+77010002222" {
		t.Errorf("read after patch: ETag %s phone %s, want %s +77010002222", etag, strOrNil(got.Person.Phone), etag2)
	}

	// null clears an optional field and nothing else.
	res = casesPatch(t, env, w.cwA, c.ID, etag2, map[string]any{"person": map[string]any{"phone": nil}})
	if res.Status != http.StatusOK {
		t.Fatalf("patch phone null: %d %s", res.Status, res.Body)
	}
	etag3 := res.Header.Get("ETag")
	u = casesDecode(t, res)
	if u.Person.Phone != nil || strOrNil(u.Person.GivenName) != given || strOrNil(u.Person.Address) != "Almaty, Abay 1" {
		t.Errorf("after phone: null, person %+v", u.Person)
	}
	if bytes.Contains(res.Body, []byte("+7701000")) {
		t.Errorf("cleared phone still in the body: %s", res.Body)
	}
	if etag3 == etag2 || etag3 == "" {
		t.Errorf("ETag after clearing %q, want other than %q", etag3, etag2)
	}

	// The trafficking profile merges the same way.
	res = casesPatch(t, env, w.cwA, c.ID, etag3, map[string]any{"trafficking": map[string]any{"identified_by": "police"}, "person": map[string]any{"address": nil}})
	if res.Status != http.StatusOK {
		t.Fatalf("patch identified_by: %d %s", res.Status, res.Body)
	}
	u = casesDecode(t, res)
	if u.Trafficking.IdentifiedBy != "police" || u.Trafficking.TraffickingStatus != "actual" ||
		!slices.Equal(u.Trafficking.ExploitationTypes, []string{"forced_labour"}) {
		t.Errorf("after patching identified_by, trafficking %+v", u.Trafficking)
	}
	if u.Person.Address != nil || strOrNil(u.Person.GivenName) != given || u.Person.Phone != nil {
		t.Errorf("after address: null, person %+v", u.Person)
	}
	// A list replaces the stored list; an empty one empties it.
	u = casesMustPatch(t, env, w.cwA, c.ID, map[string]any{"person": map[string]any{"languages": []string{}}, "trafficking": map[string]any{"exploitation_types": []string{"sexual_exploitation", "forced_begging"}}})
	if len(u.Person.Languages) != 0 || !slices.Equal(u.Trafficking.ExploitationTypes, []string{"sexual_exploitation", "forced_begging"}) ||
		!slices.Equal(u.Person.Citizenships, []string{"KZ"}) {
		t.Errorf("after replacing lists: languages %v exploitation %v citizenships %v", u.Person.Languages, u.Trafficking.ExploitationTypes, u.Person.Citizenships)
	}
	// Reassigning, then unassigning.
	u = casesMustPatch(t, env, w.cwA, c.ID, map[string]any{"assigned_to": w.cwA2.User.ID})
	if strOrNil(u.AssignedTo) != w.cwA2.User.ID {
		t.Errorf("assigned_to %s, want %s", strOrNil(u.AssignedTo), w.cwA2.User.ID)
	}
	u = casesMustPatch(t, env, w.cwA, c.ID, map[string]any{"assigned_to": nil})
	if u.AssignedTo != nil {
		t.Errorf("assigned_to %s after null, want null", strOrNil(u.AssignedTo))
	}
	// Foreign organisations and viewers cannot patch.
	_, etag, _ := casesMustGet(t, env, w.cwA, c.ID)
	casesWantProblem(t, casesPatch(t, env, w.cwB, c.ID, etag, map[string]any{"person": map[string]any{"sex": "male"}}),
		http.StatusNotFound, "", "patch another organisation's case")
	casesWantProblem(t, casesPatch(t, env, w.viewerA, c.ID, etag, map[string]any{"person": map[string]any{"sex": "male"}}),
		http.StatusForbidden, "", "patch as a viewer")
	if got, etagAfter, _ := casesMustGet(t, env, w.cwA, c.ID); etagAfter != etag || got.Person.Sex != "female" {
		t.Errorf("refused patches changed the case: ETag %s → %s, sex %s", etag, etagAfter, got.Person.Sex)
	}
	// Assigning to another organisation's user is refused (openapi.yaml
	// CaseCreate.assigned_to: a user of the caller's organisation) and
	// changes nothing.
	casesWantProblem(t, casesPatch(t, env, w.cwA, c.ID, etag, map[string]any{"assigned_to": w.cwB.User.ID}),
		http.StatusUnprocessableEntity, "assigned_to", "assign to another organisation's user")
	if got, etagAfter, _ := casesMustGet(t, env, w.cwA, c.ID); etagAfter != etag || got.AssignedTo != nil {
		t.Errorf("a refused reassignment changed the case: ETag %s → %s, assigned_to %s", etag, etagAfter, strOrNil(got.AssignedTo))
	}
}

// casesTestHistory: who changed which field; identifying values are never
// repeated.
func casesTestHistory(t *testing.T, w *casesWorld) {
	env := w.env
	oldName, newName := "Histold"+casesRandom(), "Histnew"+casesRandom()
	oldPhone, newPhone := "+7700"+casesRandom()[:7], "+7711"+casesRandom()[:7]
	c := casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{"given_name": oldName, "sex": "female", "phone": oldPhone}})
	casesMustPatch(t, env, w.cwA2, c.ID, map[string]any{"person": map[string]any{"given_name": newName, "sex": "male", "phone": newPhone}})

	hist, raw := casesHistory(t, env, w.cwA, c.ID)
	find := func(field string) *casesHistoryEntry {
		for i := range hist {
			if hist[i].Field == field && hist[i].Action == "updated" {
				return &hist[i]
			}
		}
		return nil
	}
	if len(hist) == 0 || hist[0].Action != "created" || hist[0].ActorID != w.cwA.User.ID {
		t.Errorf("history does not start with the creation by %s: %+v", w.cwA.User.ID, hist)
	}
	if h := find("person.given_name"); h == nil {
		t.Errorf("no history entry for person.given_name: %+v", hist)
	} else if !h.Identifying || h.OldValue != nil || h.NewValue != nil || h.ActorID != w.cwA2.User.ID {
		t.Errorf("person.given_name entry %+v, want identifying, no values, by %s", *h, w.cwA2.User.ID)
	}
	if h := find("person.phone"); h == nil {
		t.Errorf("no history entry for person.phone: %+v", hist)
	} else if !h.Identifying || h.OldValue != nil || h.NewValue != nil {
		t.Errorf("person.phone entry %+v, want identifying, no values", *h)
	}
	if h := find("person.sex"); h == nil {
		t.Errorf("no history entry for person.sex: %+v", hist)
	} else if h.Identifying || strOrNil(h.OldValue) != "female" || strOrNil(h.NewValue) != "male" || h.ActorID != w.cwA2.User.ID {
		t.Errorf("person.sex entry %+v, want female → male by %s", *h, w.cwA2.User.ID)
	}
	var updated []string
	for _, h := range hist {
		if h.Action == "updated" {
			updated = append(updated, h.Field)
		}
	}
	if want := []string{"person.given_name", "person.sex", "person.phone"}; !sameSet(updated, want) {
		t.Errorf("updated fields %v, want %v", updated, want)
	}
	for _, v := range []string{oldName, newName, oldPhone, newPhone} {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("history body repeats the identifying value %q: %s", v, raw)
		}
	}
	// The viewer of the organisation reads the same history; another
	// organisation sees nothing.
	if vh, _ := casesHistory(t, env, w.viewerA, c.ID); len(vh) != len(hist) {
		t.Errorf("viewer reads %d history entries, want %d", len(vh), len(hist))
	}
	casesWantProblem(t, env.Do(t, http.MethodGet, casesPath(c.ID)+"/history", w.cwB, nil), http.StatusNotFound, "", "history of another organisation's case")
	casesWantProblem(t, env.Do(t, http.MethodGet, casesPath(uuid.NewString())+"/history", w.cwA, nil), http.StatusNotFound, "", "history of a missing case")
}

// casesTestEncryptionCanary: identifying values written through the API are
// readable by the owner and absent in plaintext from the stored data.
func casesTestEncryptionCanary(t *testing.T, w *casesWorld, db *store.DB) {
	env := w.env
	tag := strings.ToUpper(casesRandom())
	canaries := map[string]string{
		"given_name":  "Zqgiven" + tag,
		"family_name": "Zqfamily" + tag,
		"other_names": "Zqother" + tag,
		"phone":       "+99" + tag[:9],
		"address":     "Zqaddress street " + tag,
		"document":    "ZQDOC" + tag,
		"new_phone":   "+98" + tag[:9],
		"new_address": "Zqnewaddress " + tag,
	}
	body := map[string]any{"person": map[string]any{
		"given_name": canaries["given_name"], "family_name": canaries["family_name"], "other_names": canaries["other_names"],
		"phone": canaries["phone"], "address": canaries["address"], "date_of_birth": "1993-07-21",
		"identity_documents": []map[string]any{{"type": "passport", "number": canaries["document"], "issuing_country": "KZ"}},
	}}
	// Sent with an Idempotency-Key, so the stored replay is checked too.
	res := env.Do(t, http.MethodPost, "/api/v1/cases", w.cwA, body, "Idempotency-Key", "canary-"+tag)
	if res.Status != http.StatusCreated {
		t.Fatalf("create canary case: %d %s", res.Status, res.Body)
	}
	c := casesDecode(t, res)

	got, _, raw := casesMustGet(t, env, w.cwA, c.ID)
	p := got.Person
	if strOrNil(p.GivenName) != canaries["given_name"] || strOrNil(p.FamilyName) != canaries["family_name"] ||
		strOrNil(p.OtherNames) != canaries["other_names"] || strOrNil(p.Phone) != canaries["phone"] ||
		strOrNil(p.Address) != canaries["address"] || strOrNil(p.DateOfBirth) != "1993-07-21" ||
		len(p.IdentityDocuments) != 1 || p.IdentityDocuments[0].Number != canaries["document"] {
		t.Errorf("the owner does not read the canary values back: %s", raw)
	}
	// A second write path: an update.
	u := casesMustPatch(t, env, w.cwA, c.ID, map[string]any{"person": map[string]any{"phone": canaries["new_phone"], "address": canaries["new_address"]}})
	if strOrNil(u.Person.Phone) != canaries["new_phone"] || strOrNil(u.Person.Address) != canaries["new_address"] {
		t.Errorf("the owner does not read the updated canaries back: %+v", u.Person)
	}
	// The IOM admin sees the case pseudonymised: no canary.
	ares := env.Do(t, http.MethodGet, casesPath(c.ID), env.Admin, nil)
	if ares.Status != http.StatusOK {
		t.Errorf("IOM admin read: %d %s", ares.Status, ares.Body)
	} else if v := casesDecode(t, ares); v.View != "pseudonymised" || v.Person.DateOfBirth != nil {
		t.Errorf("IOM admin view %s with date_of_birth %s, want pseudonymised without it", v.View, strOrNil(v.Person.DateOfBirth))
	}
	for name, v := range canaries {
		if bytes.Contains(ares.Body, []byte(v)) {
			t.Errorf("IOM admin's pseudonymised view holds the %s canary", name)
		}
	}

	var stored []byte // everything the database keeps
	switch db.Driver() {
	case config.SQLite:
		stored = casesSQLiteFiles(t, env)
	case config.Postgres:
		stored = casesPostgresDump(t, env)
	default:
		t.Fatalf("unknown driver %s", db.Driver())
	}
	// The dump must be real: the case number is stored in plaintext.
	if !bytes.Contains(stored, []byte(c.CaseNumber)) {
		t.Fatalf("the stored data (%d bytes) does not hold the case number %s: not the right database?", len(stored), c.CaseNumber)
	}
	lower := bytes.ToLower(stored)
	for name, v := range canaries {
		for _, form := range []string{v, strings.ToLower(v), hex.EncodeToString([]byte(v))} {
			if bytes.Contains(stored, []byte(form)) || bytes.Contains(lower, []byte(strings.ToLower(form))) {
				t.Errorf("the %s canary %q is stored in plaintext (as %q)", name, v, form)
				break
			}
		}
	}
	if logs := env.Logs.String(); func() bool {
		for _, v := range canaries {
			if strings.Contains(logs, v) {
				return true
			}
		}
		return false
	}() {
		t.Errorf("a canary value is in the service's logs")
	}
}

// casesSQLiteFiles reads the SQLite database file and its WAL from disk.
func casesSQLiteFiles(t testing.TB, env *apptest.Env) []byte {
	t.Helper()
	ctx := context.Background()
	rows, err := env.App.DB.SQL().QueryContext(ctx, "PRAGMA database_list")
	if err != nil {
		t.Fatalf("database_list: %v", err)
	}
	defer rows.Close()
	path := ""
	for rows.Next() {
		var seq int
		var name, file string
		if err := rows.Scan(&seq, &name, &file); err != nil {
			t.Fatalf("database_list: %v", err)
		}
		if name == "main" {
			path = file
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("database_list: %v", err)
	}
	if path == "" {
		t.Fatalf("no main database file")
	}
	main, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	out := slices.Clone(main)
	for _, suffix := range []string{"-wal", "-journal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("read %s%s: %v", path, suffix, err)
		}
		out = append(out, b...)
	}
	if len(main) == 0 {
		t.Fatalf("database file %s is empty", path)
	}
	return out
}

// casesPostgresDump renders every row of every table of the test's schema
// as text, like a data-only pg_dump.
func casesPostgresDump(t testing.TB, env *apptest.Env) []byte {
	t.Helper()
	ctx := context.Background()
	sqlDB := env.App.DB.SQL()
	rows, err := sqlDB.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatalf("list tables: %v", err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	for _, want := range []string{"cases", "case_history", "audit_events", "idempotency_keys"} {
		if !slices.Contains(tables, want) {
			t.Fatalf("schema has no table %s (tables %v)", want, tables)
		}
	}
	var out bytes.Buffer
	for _, table := range tables {
		rs, err := sqlDB.QueryContext(ctx, `SELECT t::text FROM "`+table+`" t`)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for rs.Next() {
			var line string
			if err := rs.Scan(&line); err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			out.WriteString(table + ": " + line + "\n")
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		rs.Close()
	}
	return out.Bytes()
}

// casesTestAudit: reads and changes of a case, and denied requests, each
// write one audit event.
func casesTestAudit(t *testing.T, w *casesWorld) {
	env := w.env
	c := casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{"given_name": "Audit" + casesRandom()}})
	q := url.Values{"object_id": {c.ID}}

	creates := casesAuditWith(mustAuditEvents[casesAuditEvent](t, env, q), "case.create")
	if len(creates) != 1 {
		t.Errorf("%d case.create events, want 1", len(creates))
	}
	before := casesAuditWith(mustAuditEvents[casesAuditEvent](t, env, q), "case.read")
	casesMustGet(t, env, w.cwA, c.ID)
	after := casesAuditWith(mustAuditEvents[casesAuditEvent](t, env, q), "case.read")
	if len(after) != len(before)+1 {
		t.Fatalf("a GET wrote %d case.read events, want 1", len(after)-len(before))
	}
	e := after[len(after)-1]
	if strOrNil(e.ActorID) != w.cwA.User.ID || strOrNil(e.OrganizationID) != w.orgA.ID || e.ActorType != "user" ||
		e.ObjectType != "case" || strOrNil(e.ObjectID) != c.ID || e.Outcome != "success" {
		t.Errorf("case.read event %+v, want user %s of %s reading case %s, success", e, w.cwA.User.ID, w.orgA.ID, c.ID)
	}
	if strOrNil(e.RequestID) == "<nil>" || strOrNil(e.RequestID) == "" || strOrNil(e.IP) == "<nil>" || strOrNil(e.IP) == "" {
		t.Errorf("case.read event without request id or IP: request_id %s ip %s", strOrNil(e.RequestID), strOrNil(e.IP))
	}

	beforeUpd := casesAuditWith(mustAuditEvents[casesAuditEvent](t, env, q), "case.update")
	casesMustPatch(t, env, w.cwA, c.ID, map[string]any{"person": map[string]any{"sex": "male"}})
	afterUpd := casesAuditWith(mustAuditEvents[casesAuditEvent](t, env, q), "case.update")
	if len(afterUpd) != len(beforeUpd)+1 {
		t.Errorf("a PATCH wrote %d case.update events, want 1", len(afterUpd)-len(beforeUpd))
	} else if u := afterUpd[len(afterUpd)-1]; strOrNil(u.ActorID) != w.cwA.User.ID || u.Outcome != "success" {
		t.Errorf("case.update event %+v", u)
	}

	// Close and reopen are audited too.
	if res := env.Do(t, http.MethodPost, casesPath(c.ID)+"/close", w.cwA, map[string]any{"closure_reason": "other"}); res.Status != http.StatusOK {
		t.Fatalf("close: %d %s", res.Status, res.Body)
	}
	if res := env.Do(t, http.MethodPost, casesPath(c.ID)+"/reopen", w.cwA, nil); res.Status != http.StatusOK {
		t.Fatalf("reopen: %d %s", res.Status, res.Body)
	}
	all := mustAuditEvents[casesAuditEvent](t, env, q)
	if n, m := len(casesAuditWith(all, "case.close")), len(casesAuditWith(all, "case.reopen")); n != 1 || m != 1 {
		t.Errorf("%d case.close and %d case.reopen events, want 1 each", n, m)
	}

	// A denied request writes one denied event for the caller.
	dq := url.Values{"actor_id": {w.viewerA.User.ID}, "outcome": {"denied"}}
	deniedBefore := mustAuditEvents[casesAuditEvent](t, env, dq)
	res := casesCreate(t, env, w.viewerA, map[string]any{"person": map[string]any{}}, "")
	casesWantProblem(t, res, http.StatusForbidden, "", "create as a viewer")
	deniedAfter := mustAuditEvents[casesAuditEvent](t, env, dq)
	if len(deniedAfter) != len(deniedBefore)+1 {
		t.Errorf("a 403 wrote %d denied events, want 1", len(deniedAfter)-len(deniedBefore))
	} else if d := deniedAfter[len(deniedAfter)-1]; d.Outcome != "denied" || strOrNil(d.OrganizationID) != w.orgA.ID || strOrNil(d.RequestID) == "<nil>" {
		t.Errorf("denied event %+v, want outcome denied in %s with a request id", d, w.orgA.ID)
	}
	// A refused PATCH (403) is audited as denied too, and writes no update.
	_, etag, _ := casesMustGet(t, env, w.cwA, c.ID)
	casesWantProblem(t, casesPatch(t, env, w.viewerA, c.ID, etag, map[string]any{"person": map[string]any{"sex": "female"}}),
		http.StatusForbidden, "", "patch as a viewer")
	if n := len(mustAuditEvents[casesAuditEvent](t, env, dq)); n != len(deniedAfter)+1 {
		t.Errorf("a PATCH 403 wrote %d denied events, want 1", n-len(deniedAfter))
	}
	if n := len(casesAuditWith(mustAuditEvents[casesAuditEvent](t, env, q), "case.update")); n != len(afterUpd) {
		t.Errorf("a refused PATCH wrote %d case.update events", n-len(afterUpd))
	}
}

// casesTestList: every filter returns exactly the expected cases; cursors
// page through every case once; the page size is bounded.
func casesTestList(t *testing.T, w *casesWorld) {
	env := w.env
	org := env.NewOrg(t, "CASEL", "Karaganda")
	cw := env.NewUser(t, org.ID, "cw@casel.example", "caseworker")
	cw2 := env.NewUser(t, org.ID, "cw2@casel.example", "caseworker")

	l1 := casesMustCreate(t, env, cw, map[string]any{"opened_on": "2025-01-10",
		"person":      map[string]any{"sex": "female", "date_of_birth": "1990-01-01"},
		"trafficking": map[string]any{"exploitation_types": []string{"sexual_exploitation"}}})
	l2 := casesMustCreate(t, env, cw, map[string]any{"opened_on": "2025-02-10",
		"person":      map[string]any{"sex": "male", "date_of_birth": "2015-01-01"},
		"trafficking": map[string]any{"exploitation_types": []string{"forced_labour"}}})
	l3 := casesMustCreate(t, env, cw, map[string]any{"opened_on": "2025-03-10", "assigned_to": cw2.User.ID,
		"person":      map[string]any{},
		"trafficking": map[string]any{"exploitation_types": []string{"sexual_exploitation", "forced_labour"}}})
	l4 := casesMustCreate(t, env, cw, map[string]any{"opened_on": "2025-04-10",
		"person": map[string]any{"sex": "female", "birth_year": 2010}})
	if res := env.Do(t, http.MethodPost, casesPath(l4.ID)+"/close", cw, map[string]any{"closure_reason": "relocated"}); res.Status != http.StatusOK {
		t.Fatalf("close l4: %d %s", res.Status, res.Body)
	}
	if l2.Derived.AgeGroup != "child" || l4.Derived.AgeGroup != "child" || l1.Derived.AgeGroup != "adult" || l3.Derived.AgeGroup != "unknown" {
		t.Fatalf("set-up age groups: %s %s %s %s", l1.Derived.AgeGroup, l2.Derived.AgeGroup, l3.Derived.AgeGroup, l4.Derived.AgeGroup)
	}
	all := []string{l1.ID, l2.ID, l3.ID, l4.ID}

	time.Sleep(20 * time.Millisecond)
	since := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	casesMustPatch(t, env, cw, l1.ID, map[string]any{"person": map[string]any{"languages": []string{"ru"}}})

	ids := func(cs ...casesCase) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", all},
		{"status=closed", ids(l4)},
		{"status=open", ids(l1, l2, l3)},
		{"status=active", ids()},
		{"sex=female", ids(l1, l4)},
		{"sex=male", ids(l2)},
		{"sex=not_collected", ids(l3)},
		{"age_group=child", ids(l2, l4)},
		{"age_group=adult", ids(l1)},
		{"age_group=unknown", ids(l3)},
		{"exploitation_type=sexual_exploitation", ids(l1, l3)},
		{"exploitation_type=forced_labour", ids(l2, l3)},
		{"exploitation_type=forced_begging", ids()},
		{"opened_from=2025-02-01&opened_to=2025-03-31", ids(l2, l3)},
		{"opened_from=2025-03-10", ids(l3, l4)},
		{"opened_to=2025-02-10", ids(l1, l2)},
		{"opened_from=2025-02-10&opened_to=2025-02-10", ids(l2)},
		{"assigned_to=" + cw2.User.ID, ids(l3)},
		{"assigned_to=" + cw.User.ID, ids(l1, l2, l4)},
		{"assigned_to=" + w.cwA.User.ID, ids()},
		{"updated_since=" + url.QueryEscape(since.Format(time.RFC3339Nano)), ids(l1)},
		{"sex=female&status=open", ids(l1)},
		{"age_group=child&exploitation_type=forced_labour", ids(l2)},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			for _, limit := range []int{0, 1} {
				got := casesListIDs(t, env, cw, q, limit)
				if !sameSet(got, tc.want) || len(got) != len(tc.want) {
					t.Errorf("limit %d: got %v, want %v", limit, got, tc.want)
				}
			}
		})
	}

	// Paging: limit=1 and 2 return every case exactly once, in a stable order.
	full := casesListIDs(t, env, cw, nil, 0)
	for _, limit := range []int{1, 2, 3} {
		got := casesListIDs(t, env, cw, nil, limit)
		if !slices.Equal(got, full) || !sameSet(got, all) {
			t.Errorf("limit %d pages %v, want %v (default page %v)", limit, got, all, full)
		}
	}
	items, next := casesListPage(t, env, cw, url.Values{"limit": {"4"}})
	if len(items) != 4 || next != "" {
		t.Errorf("a page holding every case: %d items, next_cursor %q, want 4 and none", len(items), next)
	}
	for _, it := range items {
		if it.OrganizationID != org.ID || it.View != "full" {
			t.Errorf("listed case %s of %s view %s", it.ID, it.OrganizationID, it.View)
		}
	}
	// Another organisation lists none of them.
	if got := casesListIDs(t, env, w.cwB, nil, 0); slices.ContainsFunc(got, func(id string) bool { return slices.Contains(all, id) }) {
		t.Errorf("organisation B lists L's cases: %v", got)
	}

	for _, bad := range []string{"limit=201", "limit=1000", "limit=0", "limit=-1", "limit=x", "cursor=!!", "status=deleted", "age_group=teen", "opened_from=10.01.2025", "assigned_to=me", "updated_since=yesterday"} {
		res := env.Do(t, http.MethodGet, "/api/v1/cases?"+bad, cw, nil)
		field, _, _ := strings.Cut(bad, "=")
		casesWantProblem(t, res, http.StatusBadRequest, field, "list ?"+bad)
	}
	// A cursor that decodes but was never issued is refused too.
	res := env.Do(t, http.MethodGet, "/api/v1/cases?cursor=bm90LWEtY3Vyc29y", cw, nil)
	casesWantProblem(t, res, http.StatusBadRequest, "cursor", "list with a forged cursor")
}

// casesTestAccess: every case endpoint answers 401 without a token, and a
// foreign case answers exactly like a missing one.
func casesTestAccess(t *testing.T, w *casesWorld) {
	env := w.env
	c := casesMustCreate(t, env, w.cwA, map[string]any{"person": map[string]any{"given_name": "Access" + casesRandom()}})
	_, etag, _ := casesMustGet(t, env, w.cwA, c.ID)
	type req struct {
		method, path string
		body         any
	}
	reqs := func(id string) []req {
		return []req{
			{http.MethodGet, "/api/v1/cases", nil},
			{http.MethodPost, "/api/v1/cases", map[string]any{"person": map[string]any{}}},
			{http.MethodGet, casesPath(id), nil},
			{http.MethodPatch, casesPath(id), map[string]any{"person": map[string]any{"sex": "male"}}},
			{http.MethodPost, casesPath(id) + "/close", map[string]any{"closure_reason": "other"}},
			{http.MethodPost, casesPath(id) + "/reopen", nil},
			{http.MethodGet, casesPath(id) + "/history", nil},
		}
	}
	before := casesCount(t, env)
	for _, r := range reqs(c.ID) {
		res := env.Do(t, r.method, r.path, nil, r.body, "If-Match", etag)
		if res.Status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", r.method, r.path, res.Status)
			continue
		}
		if p := res.Problem(t); p.Code != "unauthenticated" {
			t.Errorf("%s %s without a token: code %q", r.method, r.path, p.Code)
		}
	}
	if after := casesCount(t, env); after != before {
		t.Errorf("anonymous requests stored cases: %d → %d", before, after)
	}
	// Foreign (A's case as B) and missing ids answer the same 404.
	norm := func(res *apptest.Response) string {
		var m map[string]any
		res.Decode(t, &m)
		delete(m, "instance")
		delete(m, "request_id")
		b, _ := json.Marshal(m)
		return string(b)
	}
	missing := uuid.NewString()
	for i, r := range reqs(c.ID)[2:] {
		m := reqs(missing)[2+i]
		foreign := env.Do(t, r.method, r.path, w.cwB, r.body, "If-Match", etag)
		absent := env.Do(t, m.method, m.path, w.cwB, m.body, "If-Match", etag)
		if foreign.Status != http.StatusNotFound || absent.Status != http.StatusNotFound {
			t.Errorf("%s %s: foreign %d, missing %d, want 404 both", r.method, r.path, foreign.Status, absent.Status)
			continue
		}
		if f, a := norm(foreign), norm(absent); f != a {
			t.Errorf("%s %s: foreign answers %s, missing answers %s", r.method, r.path, f, a)
		}
	}
	if got, etagAfter, _ := casesMustGet(t, env, w.cwA, c.ID); etagAfter != etag || got.Person.Sex != "not_collected" || got.Status != "open" {
		t.Errorf("foreign requests changed the case: ETag %s → %s, %+v", etag, etagAfter, got)
	}
}
