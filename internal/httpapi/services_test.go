package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/store"
)

// ---------------------------------------------------------------------------
// Helpers (prefixed svc: other test files of this package are written in
// parallel).

// svcObj decodes a JSON object, keeping numbers exact (json.Number).
func svcObj(t testing.TB, res *apptest.Response) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(res.Body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", res.Body, err)
	}
	return m
}

// svcCanon renders v as canonical JSON (object keys sorted), for comparing
// decoded bodies with expected values.
func svcCanon(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return string(b)
}

// svcMust fails the test unless res has status want.
func svcMust(t testing.TB, res *apptest.Response, want int, what string) *apptest.Response {
	t.Helper()
	if res.Status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, res.Status, want, res.Body)
	}
	return res
}

// svcCodeOf is the problem code the contract gives each error status.
var svcCodeOf = map[int]string{
	http.StatusBadRequest:           "invalid",
	http.StatusUnprocessableEntity:  "invalid",
	http.StatusForbidden:            "forbidden",
	http.StatusNotFound:             "not_found",
	http.StatusMethodNotAllowed:     "not_found",
	http.StatusConflict:             "conflict",
	http.StatusPreconditionFailed:   "precondition_failed",
	http.StatusPreconditionRequired: "precondition_required",
}

// svcProblem checks an error answer: its status, a problem+json body with the
// status's code and, when field is not empty, an errors[] entry naming field.
// It reports with Errorf and returns whether everything matched.
func svcProblem(t testing.TB, res *apptest.Response, status int, field, what string) bool {
	t.Helper()
	if res.Status != status {
		t.Errorf("%s: status %d, want %d: %s", what, res.Status, status, res.Body)
		return false
	}
	p := res.Problem(t)
	if want := svcCodeOf[status]; p.Code != want {
		t.Errorf("%s: problem code %q, want %q: %s", what, p.Code, want, res.Body)
		return false
	}
	if p.Status != status {
		t.Errorf("%s: problem status %d, want %d", what, p.Status, status)
		return false
	}
	if field != "" {
		var names []string
		for _, e := range p.Errors {
			names = append(names, e.Field)
		}
		if !slices.Contains(names, field) {
			t.Errorf("%s: errors %v do not name %q: %s", what, names, field, res.Body)
			return false
		}
	}
	return true
}

// svcNewCase registers a minimal case as c and returns its id.
func svcNewCase(t testing.TB, env *apptest.Env, c *apptest.Caller) string {
	t.Helper()
	res := svcMust(t, env.Do(t, http.MethodPost, "/api/v1/cases", c, map[string]any{"person": map[string]any{"sex": "female"}}),
		http.StatusCreated, "create case")
	m := svcObj(t, res)
	id, _ := m["id"].(string)
	if uuid.Validate(id) != nil {
		t.Fatalf("created case has no id: %s", res.Body)
	}
	if m["status"] != "open" {
		t.Fatalf("a new case is %v, want open", m["status"])
	}
	return id
}

// svcCase reads a case as c.
func svcCase(t testing.TB, env *apptest.Env, c *apptest.Caller, caseID string) map[string]any {
	t.Helper()
	return svcObj(t, svcMust(t, env.Do(t, http.MethodGet, "/api/v1/cases/"+caseID, c, nil), http.StatusOK, "get case"))
}

// svcCaseStatus is the case's status as c reads it.
func svcCaseStatus(t testing.TB, env *apptest.Env, c *apptest.Caller, caseID string) string {
	t.Helper()
	s, _ := svcCase(t, env, c, caseID)["status"].(string)
	return s
}

func svcServicesPath(caseID string) string { return "/api/v1/cases/" + caseID + "/services" }

// svcCreateService records a service as c, fails unless 201, and returns the
// body and ETag.
func svcCreateService(t testing.TB, env *apptest.Env, c *apptest.Caller, caseID string, body map[string]any) (map[string]any, string) {
	t.Helper()
	res := svcMust(t, env.Do(t, http.MethodPost, svcServicesPath(caseID), c, body), http.StatusCreated, "create service "+svcCanon(t, body))
	m := svcObj(t, res)
	id, _ := m["id"].(string)
	if uuid.Validate(id) != nil {
		t.Fatalf("created service has no id: %s", res.Body)
	}
	if got, want := res.Header.Get("Location"), svcServicesPath(caseID)+"/"+id; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	return m, res.Header.Get("ETag")
}

// svcList reads every page of a list as c and returns the items.
func svcList(t testing.TB, env *apptest.Env, c *apptest.Caller, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	cursor := ""
	for range 1000 {
		p := withCursor(path, cursor)
		res := svcMust(t, env.Do(t, http.MethodGet, p, c, nil), http.StatusOK, "list "+p)
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor *string           `json:"next_cursor"`
		}
		res.Decode(t, &page)
		for _, raw := range page.Items {
			out = append(out, svcObj(t, &apptest.Response{Body: raw}))
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			return out
		}
		cursor = *page.NextCursor
	}
	t.Fatalf("list %s: more than 1000 pages", path)
	return nil
}

// svcIDs returns the "id" of each item.
func svcIDs(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, m := range items {
		out[i], _ = m["id"].(string)
	}
	return out
}

// svcToday is today's date (UTC) shifted by days.
func svcToday(days int) string {
	return time.Now().UTC().AddDate(0, 0, days).Format(time.DateOnly)
}

// ---------------------------------------------------------------------------
// Services

// TestServices: the eight service types with their details, validation of
// create bodies, status transitions and PATCH, and the case status that
// follows the services.
func TestServices(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "SVCA", "Almaty")
		cw := env.NewUser(t, org.ID, "cw@svca.example", "caseworker")
		t.Run("details of every type", func(t *testing.T) { svcTestDetails(t, env, org, cw) })
		t.Run("common fields and money round-trip", func(t *testing.T) { svcTestCommonFields(t, env, cw) })
		t.Run("invalid create bodies", func(t *testing.T) { svcTestInvalidCreate(t, env, cw) })
		t.Run("status transitions and If-Match", func(t *testing.T) { svcTestTransitions(t, env, cw) })
		t.Run("details merge on PATCH", func(t *testing.T) { svcTestDetailsMerge(t, env, cw) })
		t.Run("case status follows services", func(t *testing.T) { svcTestCaseStatus(t, env, cw) })
	})
}

func svcTestDetails(t *testing.T, env *apptest.Env, org organizations.Organization, cw *apptest.Caller) {
	caseID := svcNewCase(t, env, cw)
	admitted := svcToday(-10)
	types := []struct {
		typ     string
		details map[string]any
		nights  any // the derived nights, nil when none
	}{
		{"shelter", map[string]any{"facility": "Almaty shelter No 2", "admitted_on": "2025-03-01", "discharged_on": "2025-03-15"}, 14},
		{"medical", map[string]any{"kind": "sexual_reproductive", "provider": "City polyclinic 7"}, nil},
		{"psychological", map[string]any{"modality": "group", "sessions": 12}, nil},
		{"skills", map[string]any{"course": "Sewing and tailoring", "institution": "College of Light Industry", "certificate_awarded": true}, nil},
		{"reintegration", map[string]any{"dimension": "economic", "plan": "Open a small bakery in Shymkent",
			"grant": map[string]any{"amount": 250000000, "currency": "KZT"}, "business_type": "bakery"}, nil},
		{"return", map[string]any{"destination_country": "UZ", "departure_on": "2025-04-02", "escorted": true,
			"reception_arranged": false, "receiving_organization": "IOM Tashkent"}, nil},
		{"legal", map[string]any{"kind": "representation"}, nil},
		{"other", map[string]any{"description": "Bus fare to the court hearing"}, nil},
		// Still admitted: nights count up to today.
		{"shelter", map[string]any{"facility": "Aktau crisis centre", "admitted_on": admitted}, 10},
	}
	var ids []string
	for _, c := range types {
		created, etag := svcCreateService(t, env, cw, caseID, map[string]any{"type": c.typ, "details": c.details})
		want := map[string]any{}
		for k, v := range c.details {
			want[k] = v
		}
		if c.nights != nil {
			want["nights"] = c.nights
		}
		id := created["id"].(string)
		ids = append(ids, id)
		for name, v := range map[string]any{
			"type": c.typ, "status": "planned", "view": "full", "case_id": caseID,
			"provider_organization_id": org.ID, "recorded_by": cw.User.ID,
		} {
			if created[name] != v {
				t.Errorf("%s: created %s = %v, want %v", c.typ, name, created[name], v)
			}
		}
		if got, want := svcCanon(t, created["details"]), svcCanon(t, want); got != want {
			t.Errorf("%s: created details %s, want %s", c.typ, got, want)
		}
		if etag != `"1"` {
			t.Errorf("%s: created ETag %q, want \"1\"", c.typ, etag)
		}
		res := svcMust(t, env.Do(t, http.MethodGet, svcServicesPath(caseID)+"/"+id, cw, nil), http.StatusOK, "get "+c.typ)
		got := svcObj(t, res)
		if gotD, wantD := svcCanon(t, got["details"]), svcCanon(t, want); gotD != wantD {
			t.Errorf("%s: GET details %s, want %s", c.typ, gotD, wantD)
		}
		if got["type"] != c.typ || got["id"] != id {
			t.Errorf("%s: GET answered type %v id %v", c.typ, got["type"], got["id"])
		}
		if res.Header.Get("ETag") != `"1"` {
			t.Errorf("%s: GET ETag %q, want \"1\"", c.typ, res.Header.Get("ETag"))
		}
	}
	list := svcList(t, env, cw, svcServicesPath(caseID))
	got := svcIDs(list)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("service list ids %v, want %v (id order)", got, want)
	}
}

func svcTestCommonFields(t *testing.T, env *apptest.Env, cw *apptest.Caller) {
	caseID := svcNewCase(t, env, cw)
	body := map[string]any{
		"type": "shelter", "status": "in_progress", "started_on": "2025-03-01", "ended_on": "2025-03-15",
		"cost":            map[string]any{"amount": 123456789012, "currency": "KZT"},
		"funding_project": "USAID-CT-2026", "notes": "Moved to a room on the ground floor.",
		"details": map[string]any{"facility": "Karaganda shelter", "admitted_on": "2025-03-01", "discharged_on": "2025-03-15"},
	}
	created, etag := svcCreateService(t, env, cw, caseID, body)
	path := svcServicesPath(caseID) + "/" + created["id"].(string)
	got := svcObj(t, svcMust(t, env.Do(t, http.MethodGet, path, cw, nil), http.StatusOK, "get service"))
	for _, m := range []map[string]any{created, got} {
		for _, name := range []string{"status", "started_on", "ended_on", "funding_project", "notes"} {
			if m[name] != body[name] {
				t.Errorf("%s = %v, want %v", name, m[name], body[name])
			}
		}
		cost, _ := m["cost"].(map[string]any)
		if cost == nil || cost["amount"] != json.Number("123456789012") || cost["currency"] != "KZT" {
			t.Errorf("cost %v, want exactly 123456789012 KZT", m["cost"])
		}
	}
	// An IOM coordinator reads it pseudonymised: no notes, no identifying
	// details (the facility), the rest as recorded.
	coord := env.NewUser(t, env.IOM.ID, "coord@iom.example", "coordinator")
	pseudo := svcObj(t, svcMust(t, env.Do(t, http.MethodGet, path, coord, nil), http.StatusOK, "coordinator reads the service"))
	if _, ok := pseudo["notes"]; ok || pseudo["view"] != "pseudonymised" {
		t.Errorf("coordinator's view of the service: %v", pseudo)
	}
	if d := svcCanon(t, pseudo["details"]); d != `{"admitted_on":"2025-03-01","discharged_on":"2025-03-15","nights":14}` {
		t.Errorf("coordinator's details %s, want them without the facility", d)
	}
	if cost, _ := pseudo["cost"].(map[string]any); cost == nil || cost["amount"] != json.Number("123456789012") {
		t.Errorf("coordinator's cost %v", pseudo["cost"])
	}
	svcProblem(t, patchIfMatch(t, env, coord, path, etag, map[string]any{"status": "completed"}), http.StatusForbidden, "", "coordinator changes a service")
	// null clears the optional fields.
	res := svcMust(t, patchIfMatch(t, env, cw, path, etag, map[string]any{"cost": nil, "funding_project": nil, "notes": nil, "ended_on": nil}), http.StatusOK, "clear fields")
	for _, m := range []map[string]any{svcObj(t, res), svcObj(t, svcMust(t, env.Do(t, http.MethodGet, path, cw, nil), http.StatusOK, "get cleared"))} {
		if _, ok := m["notes"]; ok || m["cost"] != nil || m["funding_project"] != nil || m["ended_on"] != nil || m["started_on"] != "2025-03-01" {
			t.Errorf("after clearing cost, funding_project, notes and ended_on: %v", m)
		}
	}
	// Amounts beyond 2^53 survive too: minor units are int64, never floats.
	big := map[string]any{"type": "medical", "cost": map[string]any{"amount": int64(9007199254740993), "currency": "USD"},
		"details": map[string]any{"kind": "dental"}}
	created, _ = svcCreateService(t, env, cw, caseID, big)
	got = svcObj(t, svcMust(t, env.Do(t, http.MethodGet, svcServicesPath(caseID)+"/"+created["id"].(string), cw, nil), http.StatusOK, "get service"))
	for _, m := range []map[string]any{created, got} {
		if cost, _ := m["cost"].(map[string]any); cost == nil || cost["amount"] != json.Number("9007199254740993") {
			t.Errorf("cost %v, want amount exactly 9007199254740993", m["cost"])
		}
	}
	// The reintegration grant is money too.
	grant := map[string]any{"type": "reintegration", "details": map[string]any{"grant": map[string]any{"amount": 987654321098, "currency": "EUR"}}}
	created, _ = svcCreateService(t, env, cw, caseID, grant)
	got = svcObj(t, svcMust(t, env.Do(t, http.MethodGet, svcServicesPath(caseID)+"/"+created["id"].(string), cw, nil), http.StatusOK, "get service"))
	if g := svcCanon(t, got["details"]); g != `{"grant":{"amount":987654321098,"currency":"EUR"}}` {
		t.Errorf("grant details %s", g)
	}
	// Without cost or funding project they read as null; status defaults to planned.
	created, _ = svcCreateService(t, env, cw, caseID, map[string]any{"type": "legal"})
	if created["cost"] != nil || created["funding_project"] != nil || created["status"] != "planned" || svcCanon(t, created["details"]) != "{}" {
		t.Errorf("bare legal service: %v", created)
	}
}

func svcTestInvalidCreate(t *testing.T, env *apptest.Env, cw *apptest.Caller) {
	caseID := svcNewCase(t, env, cw)
	money := func(amount any, currency string) map[string]any {
		return map[string]any{"amount": amount, "currency": currency}
	}
	for _, c := range []struct {
		name   string
		body   map[string]any
		status int
		field  string
	}{
		{"shelter with a medical field", map[string]any{"type": "shelter", "details": map[string]any{"facility": "A", "kind": "primary"}}, 400, ""},
		{"legal with a shelter field", map[string]any{"type": "legal", "details": map[string]any{"facility": "A"}}, 400, ""},
		{"unknown detail field", map[string]any{"type": "medical", "details": map[string]any{"colour": "red"}}, 400, ""},
		{"derived nights sent", map[string]any{"type": "shelter", "details": map[string]any{"admitted_on": "2025-03-01", "nights": 3}}, 400, ""},
		{"unknown type", map[string]any{"type": "transport"}, 400, ""},
		{"no type", map[string]any{"status": "planned"}, 400, ""},
		{"unknown status", map[string]any{"type": "legal", "status": "done"}, 400, ""},
		{"unknown medical kind", map[string]any{"type": "medical", "details": map[string]any{"kind": "surgery"}}, 400, ""},
		{"sessions over 1000", map[string]any{"type": "psychological", "details": map[string]any{"sessions": 1001}}, 400, ""},
		{"return to an unassigned country", map[string]any{"type": "return", "details": map[string]any{"destination_country": "XX"}}, 422, "details.destination_country"},
		{"return to a lower-case country", map[string]any{"type": "return", "details": map[string]any{"destination_country": "uz"}}, 400, ""},
		{"negative cost", map[string]any{"type": "legal", "cost": money(-1, "KZT")}, 400, ""},
		{"cost in XXX", map[string]any{"type": "legal", "cost": money(100, "XXX")}, 422, "cost.currency"},
		{"cost in kzt", map[string]any{"type": "legal", "cost": money(100, "kzt")}, 400, ""},
		{"cost without currency", map[string]any{"type": "legal", "cost": map[string]any{"amount": 100}}, 400, ""},
		{"fractional cost", map[string]any{"type": "legal", "cost": money(1.5, "KZT")}, 400, ""},
		{"negative grant", map[string]any{"type": "reintegration", "details": map[string]any{"grant": money(-5, "KZT")}}, 400, ""},
		{"grant in XXX", map[string]any{"type": "reintegration", "details": map[string]any{"grant": money(5, "XXX")}}, 422, "details.grant"},
		{"grant in kzt", map[string]any{"type": "reintegration", "details": map[string]any{"grant": money(5, "kzt")}}, 400, ""},
		{"ended before started", map[string]any{"type": "legal", "started_on": "2025-03-10", "ended_on": "2025-03-09"}, 422, "ended_on"},
		{"discharged before admitted", map[string]any{"type": "shelter", "details": map[string]any{"admitted_on": "2025-03-10", "discharged_on": "2025-03-09"}}, 422, "details.discharged_on"},
		{"funding project with spaces", map[string]any{"type": "legal", "funding_project": "USAID CT 2026"}, 400, ""},
		{"funding project over 64", map[string]any{"type": "legal", "funding_project": strings.Repeat("A", 65)}, 400, ""},
		{"not a date", map[string]any{"type": "legal", "started_on": "10.03.2025"}, 400, ""},
		{"id that is not a UUID", map[string]any{"type": "legal", "id": "not-a-uuid"}, 400, ""},
		{"starts more than a year ahead", map[string]any{"type": "legal", "started_on": svcToday(400)}, 422, "started_on"},
	} {
		svcProblem(t, env.Do(t, http.MethodPost, svcServicesPath(caseID), cw, c.body), c.status, c.field, c.name)
	}
	if items := svcList(t, env, cw, svcServicesPath(caseID)); len(items) != 0 {
		t.Errorf("refused creates left %d services: %v", len(items), svcIDs(items))
	}
	if st := svcCaseStatus(t, env, cw, caseID); st != "open" {
		t.Errorf("refused creates moved the case to %q, want open", st)
	}
}

func svcTestTransitions(t *testing.T, env *apptest.Env, cw *apptest.Caller) {
	caseID := svcNewCase(t, env, cw)
	created, etag := svcCreateService(t, env, cw, caseID, map[string]any{"type": "psychological", "details": map[string]any{"modality": "individual"}})
	path := svcServicesPath(caseID) + "/" + created["id"].(string)
	status := func() (string, string) {
		t.Helper()
		res := svcMust(t, env.Do(t, http.MethodGet, path, cw, nil), http.StatusOK, "get service")
		s, _ := svcObj(t, res)["status"].(string)
		return s, res.Header.Get("ETag")
	}

	svcProblem(t, patchIfMatch(t, env, cw, path, "", map[string]any{"status": "in_progress"}), http.StatusPreconditionRequired, "", "PATCH without If-Match")
	svcProblem(t, patchIfMatch(t, env, cw, path, `"7"`, map[string]any{"status": "in_progress"}), http.StatusPreconditionFailed, "", "PATCH with a future version")
	if st, tag := status(); st != "planned" || tag != etag {
		t.Fatalf("refused PATCHes changed the service: %s %s", st, tag)
	}

	res := svcMust(t, patchIfMatch(t, env, cw, path, etag, map[string]any{"status": "in_progress", "started_on": "2025-05-01"}), http.StatusOK, "planned → in_progress")
	if m := svcObj(t, res); m["status"] != "in_progress" || m["started_on"] != "2025-05-01" {
		t.Errorf("after planned → in_progress: %s", res.Body)
	}
	etag2 := res.Header.Get("ETag")
	if etag2 != `"2"` {
		t.Errorf("ETag after one change %q, want \"2\"", etag2)
	}
	svcProblem(t, patchIfMatch(t, env, cw, path, etag, map[string]any{"status": "completed"}), http.StatusPreconditionFailed, "", "PATCH with the stale ETag")
	svcProblem(t, patchIfMatch(t, env, cw, path, etag2, map[string]any{"status": "planned"}), http.StatusConflict, "", "in_progress → planned")
	if st, tag := status(); st != "in_progress" || tag != etag2 {
		t.Fatalf("refused PATCHes changed the service: %s %s", st, tag)
	}

	res = svcMust(t, patchIfMatch(t, env, cw, path, etag2, map[string]any{"status": "completed", "ended_on": "2025-06-01"}), http.StatusOK, "in_progress → completed")
	if m := svcObj(t, res); m["status"] != "completed" || m["ended_on"] != "2025-06-01" {
		t.Errorf("after in_progress → completed: %s", res.Body)
	}
	etag3 := res.Header.Get("ETag")
	for _, to := range []string{"in_progress", "planned", "cancelled"} {
		svcProblem(t, patchIfMatch(t, env, cw, path, etag3, map[string]any{"status": to}), http.StatusConflict, "", "completed → "+to)
	}
	if st, tag := status(); st != "completed" || tag != etag3 {
		t.Errorf("refused transitions changed the service: %s %s", st, tag)
	}
	// Sending the current status again is no transition.
	res = svcMust(t, patchIfMatch(t, env, cw, path, etag3, map[string]any{"status": "completed", "details": map[string]any{"sessions": 8}}), http.StatusOK, "completed, unchanged status")
	if m := svcObj(t, res); m["status"] != "completed" || svcCanon(t, m["details"]) != `{"modality":"individual","sessions":8}` {
		t.Errorf("after a details change on a completed service: %s", res.Body)
	}

	// cancelled is final too.
	created, etag = svcCreateService(t, env, cw, caseID, map[string]any{"type": "legal"})
	cpath := svcServicesPath(caseID) + "/" + created["id"].(string)
	res = svcMust(t, patchIfMatch(t, env, cw, cpath, etag, map[string]any{"status": "cancelled"}), http.StatusOK, "planned → cancelled")
	etag = res.Header.Get("ETag")
	for _, to := range []string{"completed", "in_progress", "planned"} {
		svcProblem(t, patchIfMatch(t, env, cw, cpath, etag, map[string]any{"status": to}), http.StatusConflict, "", "cancelled → "+to)
	}
	if m := svcObj(t, svcMust(t, env.Do(t, http.MethodGet, cpath, cw, nil), http.StatusOK, "get cancelled")); m["status"] != "cancelled" {
		t.Errorf("cancelled service is now %v", m["status"])
	}

	// planned → completed directly is allowed.
	created, etag = svcCreateService(t, env, cw, caseID, map[string]any{"type": "other"})
	svcMust(t, patchIfMatch(t, env, cw, svcServicesPath(caseID)+"/"+created["id"].(string), etag, map[string]any{"status": "completed"}), http.StatusOK, "planned → completed")

	// A service answers only under its own case.
	other := svcNewCase(t, env, cw)
	wrong := svcServicesPath(other) + "/" + created["id"].(string)
	svcProblem(t, env.Do(t, http.MethodGet, wrong, cw, nil), http.StatusNotFound, "", "GET a service under another case")
	svcProblem(t, patchIfMatch(t, env, cw, wrong, `"2"`, map[string]any{"notes": "x"}), http.StatusNotFound, "", "PATCH a service under another case")
	svcProblem(t, env.Do(t, http.MethodGet, svcServicesPath(caseID)+"/"+uuid.NewString(), cw, nil), http.StatusNotFound, "", "GET a missing service")
	if items := svcList(t, env, cw, svcServicesPath(other)); len(items) != 0 {
		t.Errorf("the other case lists %d services", len(items))
	}

	// Dates stay consistent on PATCH as on create.
	created, etag = svcCreateService(t, env, cw, caseID, map[string]any{"type": "shelter", "started_on": "2025-03-01",
		"details": map[string]any{"admitted_on": "2025-03-01"}})
	spath := svcServicesPath(caseID) + "/" + created["id"].(string)
	svcProblem(t, patchIfMatch(t, env, cw, spath, etag, map[string]any{"ended_on": "2025-02-28"}), http.StatusUnprocessableEntity, "ended_on", "PATCH ended_on before started_on")
	svcProblem(t, patchIfMatch(t, env, cw, spath, etag, map[string]any{"details": map[string]any{"discharged_on": "2025-02-27"}}),
		http.StatusUnprocessableEntity, "details.discharged_on", "PATCH discharged_on before admitted_on")
	svcProblem(t, patchIfMatch(t, env, cw, spath, etag, map[string]any{"cost": map[string]any{"amount": 5, "currency": "XXX"}}),
		http.StatusUnprocessableEntity, "cost.currency", "PATCH cost in XXX")
	svcProblem(t, patchIfMatch(t, env, cw, spath, etag, map[string]any{"funding_project": "has spaces"}), http.StatusBadRequest, "", "PATCH funding project with spaces")
	if res := svcMust(t, env.Do(t, http.MethodGet, spath, cw, nil), http.StatusOK, "get shelter"); res.Header.Get("ETag") != etag {
		t.Errorf("refused PATCHes moved the version to %s: %s", res.Header.Get("ETag"), res.Body)
	}
}

func svcTestDetailsMerge(t *testing.T, env *apptest.Env, cw *apptest.Caller) {
	caseID := svcNewCase(t, env, cw)
	created, etag := svcCreateService(t, env, cw, caseID, map[string]any{"type": "medical", "details": map[string]any{"kind": "primary", "provider": "Clinic A"}})
	path := svcServicesPath(caseID) + "/" + created["id"].(string)
	read := func() (string, string) {
		t.Helper()
		res := svcMust(t, env.Do(t, http.MethodGet, path, cw, nil), http.StatusOK, "get service")
		m := svcObj(t, res)
		if m["type"] != "medical" {
			t.Errorf("the service's type became %v", m["type"])
		}
		return svcCanon(t, m["details"]), res.Header.Get("ETag")
	}

	res := svcMust(t, patchIfMatch(t, env, cw, path, etag, map[string]any{"details": map[string]any{"provider": "Clinic B"}}), http.StatusOK, "set provider")
	if d := svcCanon(t, svcObj(t, res)["details"]); d != `{"kind":"primary","provider":"Clinic B"}` {
		t.Errorf("after setting provider: %s", d)
	}
	etag = res.Header.Get("ETag")
	res = svcMust(t, patchIfMatch(t, env, cw, path, etag, map[string]any{"details": map[string]any{"kind": nil}}), http.StatusOK, "remove kind")
	if d := svcCanon(t, svcObj(t, res)["details"]); d != `{"provider":"Clinic B"}` {
		t.Errorf("after removing kind: %s", d)
	}
	etag = res.Header.Get("ETag")
	if d, tag := read(); d != `{"provider":"Clinic B"}` || tag != etag {
		t.Errorf("GET after merges: %s %s", d, tag)
	}

	// A field of another type, or a bad value, is refused; nothing changes.
	svcProblem(t, patchIfMatch(t, env, cw, path, etag, map[string]any{"details": map[string]any{"facility": "Shelter"}}),
		http.StatusUnprocessableEntity, "details.facility", "PATCH a shelter field onto a medical service")
	svcProblem(t, patchIfMatch(t, env, cw, path, etag, map[string]any{"details": map[string]any{"kind": "representation"}}),
		http.StatusUnprocessableEntity, "details.kind", "PATCH a legal kind onto a medical service")
	svcProblem(t, patchIfMatch(t, env, cw, path, etag, map[string]any{"details": map[string]any{"nights": 4}}),
		http.StatusUnprocessableEntity, "details.nights", "PATCH derived nights")
	// The type never changes.
	svcProblem(t, patchIfMatch(t, env, cw, path, etag, map[string]any{"type": "shelter", "details": map[string]any{"facility": "Shelter"}}),
		http.StatusBadRequest, "", "PATCH type")
	svcProblem(t, patchIfMatch(t, env, cw, path, etag, map[string]any{"type": "medical"}), http.StatusBadRequest, "", "PATCH the same type")
	svcProblem(t, patchIfMatch(t, env, cw, path, etag, map[string]any{"case_id": uuid.NewString()}), http.StatusBadRequest, "", "PATCH case_id")
	svcProblem(t, patchIfMatch(t, env, cw, path, etag, map[string]any{}), http.StatusBadRequest, "", "empty PATCH")
	if d, tag := read(); d != `{"provider":"Clinic B"}` || tag != etag {
		t.Errorf("refused PATCHes changed the service: %s %s", d, tag)
	}

	// Shelter nights follow a PATCHed discharge; clearing it counts to today.
	created, etag = svcCreateService(t, env, cw, caseID, map[string]any{"type": "shelter", "details": map[string]any{"admitted_on": svcToday(-20), "facility": "F"}})
	spath := svcServicesPath(caseID) + "/" + created["id"].(string)
	if d := svcCanon(t, created["details"]); !strings.Contains(d, `"nights":20`) {
		t.Errorf("admitted 20 days ago: %s", d)
	}
	res = svcMust(t, patchIfMatch(t, env, cw, spath, etag, map[string]any{"details": map[string]any{"discharged_on": svcToday(-5)}}), http.StatusOK, "discharge")
	if d := svcCanon(t, svcObj(t, res)["details"]); !strings.Contains(d, `"nights":15`) || !strings.Contains(d, `"facility":"F"`) {
		t.Errorf("after discharge: %s", d)
	}
	res = svcMust(t, patchIfMatch(t, env, cw, spath, res.Header.Get("ETag"), map[string]any{"details": map[string]any{"discharged_on": nil}}), http.StatusOK, "undo discharge")
	if d := svcCanon(t, svcObj(t, res)["details"]); !strings.Contains(d, `"nights":20`) || strings.Contains(d, "discharged_on") {
		t.Errorf("after clearing the discharge: %s", d)
	}
}

// svcHistory reads a case's whole history as c.
func svcHistory(t testing.TB, env *apptest.Env, c *apptest.Caller, caseID string) []map[string]any {
	t.Helper()
	return svcList(t, env, c, "/api/v1/cases/"+caseID+"/history")
}

// svcHasHistory reports whether the history has an entry of action on field
// from old to new ("" matches any value).
func svcHasHistory(h []map[string]any, action, field, old, new string) bool {
	for _, e := range h {
		if e["action"] == action && e["field"] == field && (old == "" || e["old_value"] == old) && (new == "" || e["new_value"] == new) {
			return true
		}
	}
	return false
}

func svcTestCaseStatus(t *testing.T, env *apptest.Env, cw *apptest.Caller) {
	caseID := svcNewCase(t, env, cw)
	want := func(status, what string) {
		t.Helper()
		if got := svcCaseStatus(t, env, cw, caseID); got != status {
			t.Fatalf("%s: case is %q, want %q", what, got, status)
		}
	}
	want("open", "new case")

	s1, e1 := svcCreateService(t, env, cw, caseID, map[string]any{"type": "shelter"})
	want("active", "after recording a planned service")
	p1 := svcServicesPath(caseID) + "/" + s1["id"].(string)
	res := svcMust(t, patchIfMatch(t, env, cw, p1, e1, map[string]any{"status": "in_progress"}), http.StatusOK, "start")
	want("active", "with a service in progress")
	svcMust(t, patchIfMatch(t, env, cw, p1, res.Header.Get("ETag"), map[string]any{"status": "completed"}), http.StatusOK, "complete")
	want("follow_up", "after completing every service")

	s2, e2 := svcCreateService(t, env, cw, caseID, map[string]any{"type": "medical", "status": "in_progress"})
	want("active", "after recording a new service in follow-up")
	svcMust(t, patchIfMatch(t, env, cw, svcServicesPath(caseID)+"/"+s2["id"].(string), e2, map[string]any{"status": "completed"}), http.StatusOK, "complete second")
	want("follow_up", "after completing the second service")

	h := svcHistory(t, env, cw, caseID)
	for _, step := range [][2]string{{"open", "active"}, {"active", "follow_up"}, {"follow_up", "active"}} {
		if !svcHasHistory(h, "status_changed", "status", step[0], step[1]) {
			t.Errorf("history lacks status_changed %s → %s: %v", step[0], step[1], h)
		}
	}

	res = svcMust(t, env.Do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/close", cw, map[string]any{"closure_reason": "goals_achieved"}), http.StatusOK, "close")
	if m := svcObj(t, res); m["status"] != "closed" || m["closed_on"] != svcToday(0) || m["closure_reason"] != "goals_achieved" {
		t.Fatalf("closed case: %s", res.Body)
	}

	svcCreateService(t, env, cw, caseID, map[string]any{"type": "legal", "details": map[string]any{"kind": "counselling"}})
	c := svcCase(t, env, cw, caseID)
	if c["status"] != "active" || c["closed_on"] != nil || c["closure_reason"] != nil {
		t.Errorf("after recording a service on the closed case: status %v closed_on %v closure_reason %v, want active, null, null",
			c["status"], c["closed_on"], c["closure_reason"])
	}
	h = svcHistory(t, env, cw, caseID)
	if !svcHasHistory(h, "reopened_by_service", "status", "closed", "active") {
		t.Errorf("history lacks reopened_by_service closed → active: %v", h)
	}
	if !svcHasHistory(h, "closed", "status", "follow_up", "closed") {
		t.Errorf("history lacks the closing: %v", h)
	}
}

// ---------------------------------------------------------------------------
// Consents

// svcConsent records a consent as c on caseID and fails unless 201.
func svcConsent(t testing.TB, env *apptest.Env, c *apptest.Caller, caseID string, body map[string]any) map[string]any {
	t.Helper()
	res := svcMust(t, env.Do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/consents", c, body), http.StatusCreated, "create consent "+svcCanon(t, body))
	m := svcObj(t, res)
	if got, want := res.Header.Get("Location"), "/api/v1/cases/"+caseID+"/consents/"+m["id"].(string); got != want {
		t.Errorf("consent Location %q, want %q", got, want)
	}
	return m
}

// svcConsentStates is the case's current consent states keyed by type and
// recipient ("type" or "type|recipient").
func svcConsentStates(t testing.TB, env *apptest.Env, c *apptest.Caller, caseID string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	list, _ := svcCase(t, env, c, caseID)["consents"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		key := m["type"].(string)
		if r, ok := m["recipient_organization_id"].(string); ok {
			key += "|" + r
		}
		if _, dup := out[key]; dup {
			t.Errorf("two current states for %s", key)
		}
		out[key] = m
	}
	return out
}

// TestConsents: consents recorded given or refused, the current state per
// type (and recipient) on the case, the referral rules, withdrawal, and the
// append-only contract.
func TestConsents(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "CONA", "Almaty")
		orgB := env.NewOrg(t, "CONB", "Astana")
		orgC := env.NewOrg(t, "CONC", "Aktau")
		now := store.Now()
		inactive := organizations.Organization{ID: store.NewID(), Name: "COND Crisis Centre", Code: "COND", Kind: auth.OrgKindNGO,
			City: "Temirtau", Active: false, Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := env.App.OrgStore.Create(t.Context(), inactive); err != nil {
			t.Fatalf("inactive organisation: %v", err)
		}
		cw := env.NewUser(t, orgA.ID, "cw@cona.example", "caseworker")
		bCW := env.NewUser(t, orgB.ID, "cw@conb.example", "caseworker")
		caseID := svcNewCase(t, env, cw)
		consents := "/api/v1/cases/" + caseID + "/consents"
		withdraw := func(caseID, consentID string) string {
			return "/api/v1/cases/" + caseID + "/consents/" + consentID + "/withdraw"
		}

		t.Run("current state is the latest per type and recipient", func(t *testing.T) {
			c1 := svcConsent(t, env, cw, caseID, map[string]any{"type": "assistance", "given": true, "recorded_on": "2025-01-10", "scope": "Shelter and medical care"})
			for name, v := range map[string]any{"type": "assistance", "given": true, "recorded_on": "2025-01-10", "recorded_by": cw.User.ID,
				"case_id": caseID, "scope": "Shelter and medical care", "withdrawn_on": nil, "recipient_organization_id": nil} {
				if c1[name] != v {
					t.Errorf("created consent %s = %v, want %v", name, c1[name], v)
				}
			}
			c2 := svcConsent(t, env, cw, caseID, map[string]any{"type": "assistance", "given": false, "recorded_on": "2025-02-10"})
			if c2["given"] != false {
				t.Errorf("refused consent reads given=%v", c2["given"])
			}
			// Recorded after c2, but about an earlier day: c2 stays current.
			svcConsent(t, env, cw, caseID, map[string]any{"type": "assistance", "given": true, "recorded_on": "2024-12-01"})
			c4 := svcConsent(t, env, cw, caseID, map[string]any{"type": "data_processing", "given": false})
			if c4["recorded_on"] != svcToday(0) {
				t.Errorf("recorded_on defaults to %v, want today %s", c4["recorded_on"], svcToday(0))
			}
			c5 := svcConsent(t, env, cw, caseID, map[string]any{"type": "referral", "given": true, "recorded_on": "2025-03-01", "recipient_organization_id": orgB.ID})
			if c5["recipient_organization_id"] != orgB.ID {
				t.Errorf("referral consent recipient %v, want %s", c5["recipient_organization_id"], orgB.ID)
			}
			c6 := svcConsent(t, env, cw, caseID, map[string]any{"type": "referral", "given": false, "recorded_on": "2025-03-02", "recipient_organization_id": orgC.ID})
			c7 := svcConsent(t, env, cw, caseID, map[string]any{"type": "referral", "given": true, "recorded_on": "2025-04-01", "recipient_organization_id": orgB.ID})
			// On the same day, the record made last wins.
			svcConsent(t, env, cw, caseID, map[string]any{"type": "research_anonymised", "given": true, "recorded_on": "2025-03-05"})
			c9 := svcConsent(t, env, cw, caseID, map[string]any{"type": "research_anonymised", "given": false, "recorded_on": "2025-03-05"})

			states := svcConsentStates(t, env, cw, caseID)
			want := map[string][3]string{ // key → state, consent id, recorded_on
				"assistance":          {"refused", c2["id"].(string), "2025-02-10"},
				"data_processing":     {"refused", c4["id"].(string), svcToday(0)},
				"referral|" + orgB.ID: {"given", c7["id"].(string), "2025-04-01"},
				"referral|" + orgC.ID: {"refused", c6["id"].(string), "2025-03-02"},
				"research_anonymised": {"refused", c9["id"].(string), "2025-03-05"},
			}
			if len(states) != len(want) {
				t.Errorf("%d current states, want %d: %v", len(states), len(want), states)
			}
			for key, w := range want {
				s := states[key]
				if s == nil || s["state"] != w[0] || s["consent_id"] != w[1] || s["recorded_on"] != w[2] {
					t.Errorf("current %s: %v, want state %s consent %s recorded %s", key, s, w[0], w[1], w[2])
				}
			}
			if items := svcList(t, env, cw, consents); len(items) != 9 {
				t.Errorf("consent list has %d events, want all 9", len(items))
			}
		})

		t.Run("referral recipient rules", func(t *testing.T) {
			before := len(svcList(t, env, cw, consents))
			for _, c := range []struct {
				name   string
				body   map[string]any
				status int
				field  string
			}{
				{"referral without recipient", map[string]any{"type": "referral", "given": true}, 422, "recipient_organization_id"},
				{"referral to the owner itself", map[string]any{"type": "referral", "given": true, "recipient_organization_id": orgA.ID}, 422, "recipient_organization_id"},
				{"referral to an unknown organisation", map[string]any{"type": "referral", "given": true, "recipient_organization_id": uuid.NewString()}, 422, "recipient_organization_id"},
				{"referral to an inactive organisation", map[string]any{"type": "referral", "given": true, "recipient_organization_id": inactive.ID}, 422, "recipient_organization_id"},
				{"recipient on assistance consent", map[string]any{"type": "assistance", "given": true, "recipient_organization_id": orgB.ID}, 422, "recipient_organization_id"},
				{"recipient on research consent", map[string]any{"type": "research_anonymised", "given": false, "recipient_organization_id": orgB.ID}, 422, "recipient_organization_id"},
				{"recorded in the future", map[string]any{"type": "medical", "given": true, "recorded_on": svcToday(3)}, 422, "recorded_on"},
				{"unknown type", map[string]any{"type": "photography", "given": true}, 400, ""},
				{"given missing", map[string]any{"type": "medical"}, 400, ""},
				{"recipient not a uuid", map[string]any{"type": "referral", "given": true, "recipient_organization_id": "CONB"}, 400, ""},
				{"withdrawn_on sent on create", map[string]any{"type": "medical", "given": true, "withdrawn_on": "2025-01-01"}, 400, ""},
			} {
				svcProblem(t, env.Do(t, http.MethodPost, consents, cw, c.body), c.status, c.field, c.name)
			}
			if after := len(svcList(t, env, cw, consents)); after != before {
				t.Errorf("refused consents were recorded: %d events, want %d", after, before)
			}
		})

		t.Run("withdrawal", func(t *testing.T) {
			m := svcConsent(t, env, cw, caseID, map[string]any{"type": "medical", "given": true, "recorded_on": "2025-05-01"})
			id := m["id"].(string)
			svcProblem(t, env.Do(t, http.MethodPost, withdraw(caseID, id), cw, map[string]any{"withdrawn_on": "2025-04-30"}),
				http.StatusUnprocessableEntity, "withdrawn_on", "withdrawn before recorded")
			svcProblem(t, env.Do(t, http.MethodPost, withdraw(caseID, id), cw, map[string]any{"withdrawn_on": svcToday(3)}),
				http.StatusUnprocessableEntity, "withdrawn_on", "withdrawn in the future")
			if s := svcConsentStates(t, env, cw, caseID)["medical"]; s == nil || s["state"] != "given" {
				t.Fatalf("refused withdrawals changed the state: %v", s)
			}

			res := svcMust(t, env.Do(t, http.MethodPost, withdraw(caseID, id), cw, map[string]any{"withdrawn_on": "2025-06-01"}), http.StatusOK, "withdraw")
			w := svcObj(t, res)
			if w["id"] != id || w["withdrawn_on"] != "2025-06-01" || w["withdrawn_by"] != cw.User.ID || w["given"] != true || w["recorded_on"] != "2025-05-01" {
				t.Errorf("withdrawn consent: %s", res.Body)
			}
			if s := svcConsentStates(t, env, cw, caseID)["medical"]; s == nil || s["state"] != "withdrawn" || s["consent_id"] != id {
				t.Errorf("case consent state after withdrawal: %v, want withdrawn %s", s, id)
			}
			svcProblem(t, env.Do(t, http.MethodPost, withdraw(caseID, id), cw, map[string]any{}), http.StatusConflict, "", "withdraw twice")
			svcProblem(t, env.Do(t, http.MethodPost, withdraw(caseID, id), cw, map[string]any{"withdrawn_on": "2025-07-01"}), http.StatusConflict, "", "withdraw twice, other date")
			var listed map[string]any
			for _, c := range svcList(t, env, cw, consents) {
				if c["id"] == id {
					listed = c
				}
			}
			if listed == nil || listed["withdrawn_on"] != "2025-06-01" {
				t.Errorf("listed consent after a second withdrawal: %v, want withdrawn_on 2025-06-01", listed)
			}

			// A refused consent cannot be withdrawn.
			r := svcConsent(t, env, cw, caseID, map[string]any{"type": "guardian", "given": false})
			svcProblem(t, env.Do(t, http.MethodPost, withdraw(caseID, r["id"].(string)), cw, map[string]any{}), http.StatusConflict, "", "withdraw a refused consent")
			if s := svcConsentStates(t, env, cw, caseID)["guardian"]; s == nil || s["state"] != "refused" {
				t.Errorf("refused consent state after a refused withdrawal: %v", s)
			}

			// withdrawn_on defaults to today.
			v := svcConsent(t, env, cw, caseID, map[string]any{"type": "voluntary_return", "given": true})
			res = svcMust(t, env.Do(t, http.MethodPost, withdraw(caseID, v["id"].(string)), cw, map[string]any{}), http.StatusOK, "withdraw today")
			if w := svcObj(t, res); w["withdrawn_on"] != svcToday(0) {
				t.Errorf("default withdrawn_on %v, want %s", w["withdrawn_on"], svcToday(0))
			}
		})

		t.Run("consents bound to their case", func(t *testing.T) {
			other := svcNewCase(t, env, cw)
			x := svcConsent(t, env, cw, other, map[string]any{"type": "assistance", "given": true})
			svcProblem(t, env.Do(t, http.MethodPost, withdraw(caseID, x["id"].(string)), cw, map[string]any{}), http.StatusNotFound, "", "withdraw another case's consent")
			svcProblem(t, env.Do(t, http.MethodPost, withdraw(caseID, uuid.NewString()), cw, map[string]any{}), http.StatusNotFound, "", "withdraw a missing consent")

			bCase := svcNewCase(t, env, bCW)
			y := svcConsent(t, env, bCW, bCase, map[string]any{"type": "assistance", "given": true})
			svcProblem(t, env.Do(t, http.MethodPost, withdraw(caseID, y["id"].(string)), cw, map[string]any{}), http.StatusNotFound, "", "withdraw another organisation's consent through an own case")
			svcProblem(t, env.Do(t, http.MethodPost, withdraw(bCase, y["id"].(string)), cw, map[string]any{}), http.StatusNotFound, "", "withdraw on another organisation's case")
			svcProblem(t, env.Do(t, http.MethodPost, "/api/v1/cases/"+bCase+"/consents", cw, map[string]any{"type": "medical", "given": true}),
				http.StatusNotFound, "", "record a consent on another organisation's case")
			svcProblem(t, env.Do(t, http.MethodGet, "/api/v1/cases/"+bCase+"/consents", cw, nil), http.StatusNotFound, "", "list another organisation's consents")

			if s := svcConsentStates(t, env, cw, other)["assistance"]; s == nil || s["state"] != "given" {
				t.Errorf("other case's consent after foreign withdrawals: %v", s)
			}
			if s := svcConsentStates(t, env, bCW, bCase)["assistance"]; s == nil || s["state"] != "given" {
				t.Errorf("organisation B's consent after A's attempts: %v", s)
			}
			if items := svcList(t, env, bCW, "/api/v1/cases/"+bCase+"/consents"); len(items) != 1 {
				t.Errorf("organisation B's case has %d consents, want 1", len(items))
			}
		})

		t.Run("append-only", func(t *testing.T) {
			before := svcList(t, env, cw, consents)
			if len(before) == 0 {
				t.Fatal("no consents to try")
			}
			id := before[0]["id"].(string)
			one := consents + "/" + id
			for _, r := range []struct{ method, path string }{
				{http.MethodDelete, one},
				{http.MethodPatch, one},
				{http.MethodPut, one},
				{http.MethodGet, one},
				{http.MethodDelete, one + "/withdraw"},
				{http.MethodDelete, consents},
				{http.MethodPut, consents},
			} {
				var body any
				if r.method == http.MethodPatch || r.method == http.MethodPut {
					body = map[string]any{"given": false}
				}
				res := env.Do(t, r.method, r.path, cw, body, "If-Match", `"1"`)
				if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed {
					t.Errorf("%s %s: status %d, want 404 or 405: %s", r.method, r.path, res.Status, res.Body)
					continue
				}
				res.Problem(t)
			}
			after := svcList(t, env, cw, consents)
			if svcCanon(t, after) != svcCanon(t, before) {
				t.Errorf("consents changed:\nbefore %s\nafter  %s", svcCanon(t, before), svcCanon(t, after))
			}
		})
	})
}

// ---------------------------------------------------------------------------
// Notes

// TestNotes: notes are written and read by the owning organisation only,
// validated, and their text appears in no other response.
func TestNotes(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "NOTA", "Almaty")
		orgB := env.NewOrg(t, "NOTB", "Astana")
		cw := env.NewUser(t, org.ID, "cw@nota.example", "caseworker")
		viewer := env.NewUser(t, org.ID, "viewer@nota.example", "viewer")
		ngoAdmin := env.NewUser(t, org.ID, "admin@nota.example", "admin")
		bCW := env.NewUser(t, orgB.ID, "cw@notb.example", "caseworker")
		coord := env.NewUser(t, env.IOM.ID, "coord@iom.example", "coordinator")
		caseID := svcNewCase(t, env, cw)
		notes := "/api/v1/cases/" + caseID + "/notes"
		canary := "svc-canary-" + uuid.NewString()
		text := canary + " met at the shelter; she wants to call her sister before deciding on return"

		res := svcMust(t, env.Do(t, http.MethodPost, notes, cw, map[string]any{"text": text}), http.StatusCreated, "create note")
		n1 := svcObj(t, res)
		if n1["text"] != text || n1["author_id"] != cw.User.ID || n1["case_id"] != caseID {
			t.Errorf("created note: %s", res.Body)
		}
		if got, want := res.Header.Get("Location"), notes+"/"+n1["id"].(string); got != want {
			t.Errorf("note Location %q, want %q", got, want)
		}
		n2 := svcObj(t, svcMust(t, env.Do(t, http.MethodPost, notes, cw, map[string]any{"text": "  Second visit.  "}), http.StatusCreated, "create second note"))
		if n2["text"] != "Second visit." {
			t.Errorf("second note text %q, want it trimmed", n2["text"])
		}
		long := strings.Repeat("ж", 10000)
		n3 := svcObj(t, svcMust(t, env.Do(t, http.MethodPost, notes, cw, map[string]any{"text": long}), http.StatusCreated, "create a 10000-character note"))
		if n3["text"] != long {
			t.Errorf("10000-character note did not round-trip (%d bytes)", len(n3["text"].(string)))
		}

		want := []string{n1["id"].(string), n2["id"].(string), n3["id"].(string)}
		slices.Sort(want)
		items := svcList(t, env, cw, notes)
		if got := svcIDs(items); !slices.Equal(got, want) {
			t.Errorf("caseworker lists notes %v, want %v", got, want)
		} else if items[slices.Index(got, n1["id"].(string))]["text"] != text {
			t.Errorf("listed note text differs: %v", items)
		}
		if got := svcIDs(svcList(t, env, viewer, notes)); !slices.Equal(got, want) {
			t.Errorf("viewer lists notes %v, want %v", got, want)
		}
		if got := svcIDs(svcList(t, env, ngoAdmin, notes)); !slices.Equal(got, want) {
			t.Errorf("NGO admin lists notes %v, want %v", got, want)
		}
		if got := svcIDs(svcList(t, env, cw, notes+"?limit=1")); !slices.Equal(got, want) {
			t.Errorf("notes paged one by one %v, want %v", got, want)
		}

		for _, c := range []struct {
			name   string
			body   any
			status int
			field  string
		}{
			{"empty text", map[string]any{"text": ""}, 400, ""},
			{"10001 characters", map[string]any{"text": strings.Repeat("a", 10001)}, 400, ""},
			{"10001 two-byte characters", map[string]any{"text": strings.Repeat("ж", 10001)}, 400, ""},
			{"only spaces", map[string]any{"text": "   "}, 422, "text"},
			{"no text", map[string]any{}, 400, ""},
			{"text not a string", map[string]any{"text": 42}, 400, ""},
			{"author sent", map[string]any{"text": "x", "author_id": bCW.User.ID}, 400, ""},
		} {
			svcProblem(t, env.Do(t, http.MethodPost, notes, cw, c.body), c.status, c.field, c.name)
		}
		svcProblem(t, env.Do(t, http.MethodPost, notes, viewer, map[string]any{"text": "viewer note"}), http.StatusForbidden, "", "viewer creates a note")
		svcProblem(t, env.Do(t, http.MethodGet, notes, coord, nil), http.StatusForbidden, "", "IOM coordinator lists notes")
		svcProblem(t, env.Do(t, http.MethodGet, notes, env.Admin, nil), http.StatusForbidden, "", "IOM admin lists notes")
		svcProblem(t, env.Do(t, http.MethodPost, notes, coord, map[string]any{"text": "x"}), http.StatusForbidden, "", "IOM coordinator creates a note")
		svcProblem(t, env.Do(t, http.MethodPost, notes, env.Admin, map[string]any{"text": "x"}), http.StatusForbidden, "", "IOM admin creates a note")
		svcProblem(t, env.Do(t, http.MethodGet, notes, bCW, nil), http.StatusNotFound, "", "other organisation lists notes")
		svcProblem(t, env.Do(t, http.MethodPost, notes, bCW, map[string]any{"text": "x"}), http.StatusNotFound, "", "other organisation creates a note")
		if got := svcIDs(svcList(t, env, cw, notes)); !slices.Equal(got, want) {
			t.Errorf("after refused creates the notes are %v, want %v", got, want)
		}

		// The text is in no other answer: case, lists, history, services,
		// consents, audit events; nor in the log.
		svcConsent(t, env, cw, caseID, map[string]any{"type": "assistance", "given": true})
		svcCreateService(t, env, cw, caseID, map[string]any{"type": "other"})
		var bodies []struct {
			what string
			body []byte
		}
		collect := func(what string, c *apptest.Caller, path string) {
			t.Helper()
			res := env.Do(t, http.MethodGet, path, c, nil)
			if res.Status != http.StatusOK {
				t.Errorf("%s: status %d: %s", what, res.Status, res.Body)
			}
			bodies = append(bodies, struct {
				what string
				body []byte
			}{what, res.Body})
		}
		collect("case, caseworker", cw, "/api/v1/cases/"+caseID)
		collect("case, viewer", viewer, "/api/v1/cases/"+caseID)
		collect("case, coordinator", coord, "/api/v1/cases/"+caseID)
		collect("case, IOM admin", env.Admin, "/api/v1/cases/"+caseID)
		collect("case list, caseworker", cw, "/api/v1/cases")
		collect("case list, coordinator", coord, "/api/v1/cases")
		collect("history", cw, "/api/v1/cases/"+caseID+"/history")
		collect("history, coordinator", coord, "/api/v1/cases/"+caseID+"/history")
		collect("services", cw, "/api/v1/cases/"+caseID+"/services")
		collect("consents", cw, "/api/v1/cases/"+caseID+"/consents")
		collect("audit events, IOM admin", env.Admin, "/api/v1/audit-events?limit=200")
		collect("audit events, NGO admin", ngoAdmin, "/api/v1/audit-events?limit=200")
		for _, b := range bodies {
			if bytes.Contains(b.body, []byte(canary)) {
				t.Errorf("%s holds the note's text: %s", b.what, b.body)
			}
		}
		if strings.Contains(env.Logs.String(), canary) {
			t.Error("the log holds the note's text")
		}
		// The note's creation and the reads are audited, by id.
		events := svcAuditList(t, env, env.Admin, url.Values{"object_id": {n1["id"].(string)}})
		if len(events) != 1 || events[0].Action != "note.create" || events[0].ActorID != cw.User.ID || events[0].ObjectType != "note" {
			t.Errorf("audit events of the note: %+v, want one note.create by the caseworker", events)
		}
		reads := svcAuditList(t, env, env.Admin, url.Values{"action": {"note.list"}, "object_id": {caseID}})
		if len(reads) < 5 {
			t.Errorf("%d note.list audit events, want at least 5 (one per successful list)", len(reads))
		}
	})
}

// ---------------------------------------------------------------------------
// Audit events

type svcAuditEvent struct {
	ID             string    `json:"id"`
	OccurredAt     time.Time `json:"occurred_at"`
	ActorType      string    `json:"actor_type"`
	ActorID        string    `json:"actor_id"`
	OrganizationID string    `json:"organization_id"`
	Action         string    `json:"action"`
	ObjectType     string    `json:"object_type"`
	ObjectID       string    `json:"object_id"`
	Outcome        string    `json:"outcome"`
}

// svcAuditPage reads one page of audit events as c.
func svcAuditPage(t testing.TB, env *apptest.Env, c *apptest.Caller, q url.Values) ([]svcAuditEvent, *string) {
	t.Helper()
	path := "/api/v1/audit-events"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	res := svcMust(t, env.Do(t, http.MethodGet, path, c, nil), http.StatusOK, "list "+path)
	var page struct {
		Items      []svcAuditEvent `json:"items"`
		NextCursor *string         `json:"next_cursor"`
	}
	res.Decode(t, &page)
	if page.NextCursor != nil && *page.NextCursor == "" {
		page.NextCursor = nil
	}
	return page.Items, page.NextCursor
}

// svcAuditList reads every audit event matching q as c, 200 a page.
func svcAuditList(t testing.TB, env *apptest.Env, c *apptest.Caller, q url.Values) []svcAuditEvent {
	t.Helper()
	var out []svcAuditEvent
	base := url.Values{}
	for k, v := range q {
		base[k] = v
	}
	base.Set("limit", "200")
	for range 1000 {
		items, next := svcAuditPage(t, env, c, base)
		out = append(out, items...)
		if next == nil {
			return out
		}
		base.Set("cursor", *next)
	}
	t.Fatal("audit events: more than 1000 pages")
	return nil
}

func svcAuditIDs(es []svcAuditEvent) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func svcAuditWhere(es []svcAuditEvent, keep func(svcAuditEvent) bool) []svcAuditEvent {
	var out []svcAuditEvent
	for _, e := range es {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// TestAuditEvents: each filter narrows exactly, NGO admins see their own
// organisation's events only, IOM admins all, other roles none, and paging
// covers every event once.
func TestAuditEvents(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "AUDA", "Almaty")
		orgB := env.NewOrg(t, "AUDB", "Astana")
		aAdmin := env.NewUser(t, orgA.ID, "admin@auda.example", "admin")
		aCW := env.NewUser(t, orgA.ID, "cw@auda.example", "caseworker")
		aViewer := env.NewUser(t, orgA.ID, "viewer@auda.example", "viewer")
		bAdmin := env.NewUser(t, orgB.ID, "admin@audb.example", "admin")
		bCW := env.NewUser(t, orgB.ID, "cw@audb.example", "caseworker")
		coord := env.NewUser(t, env.IOM.ID, "coord@iom.example", "coordinator")

		// Activity in both organisations, then the denials.
		caseA := svcNewCase(t, env, aCW)
		svcCase(t, env, aCW, caseA)
		svcCreateService(t, env, aCW, caseA, map[string]any{"type": "legal"})
		consent := svcConsent(t, env, aCW, caseA, map[string]any{"type": "assistance", "given": true})
		caseB := svcNewCase(t, env, bCW)
		svcCase(t, env, bCW, caseB)
		svcCase(t, env, bCW, caseB)
		svcProblem(t, env.Do(t, http.MethodGet, "/api/v1/audit-events", aCW, nil), http.StatusForbidden, "", "caseworker lists audit events")
		svcProblem(t, env.Do(t, http.MethodGet, "/api/v1/audit-events", aViewer, nil), http.StatusForbidden, "", "viewer lists audit events")
		svcProblem(t, env.Do(t, http.MethodGet, "/api/v1/audit-events", coord, nil), http.StatusForbidden, "", "IOM coordinator lists audit events")
		svcProblem(t, env.Do(t, http.MethodGet, "/api/v1/audit-events", bCW, nil), http.StatusForbidden, "", "caseworker B lists audit events")
		if res := env.Do(t, http.MethodPost, "/api/v1/auth/login", nil, map[string]string{"email": "cw@auda.example", "password": "not the password"}); res.Status != http.StatusUnauthorized {
			t.Fatalf("failed sign-in: %d %s", res.Status, res.Body)
		}

		// Listing audit events is not itself audited, so this snapshot is
		// the whole trail for the rest of the test.
		all := svcAuditList(t, env, env.Admin, nil)
		has := func(what string, keep func(svcAuditEvent) bool) {
			t.Helper()
			if len(svcAuditWhere(all, keep)) == 0 {
				t.Errorf("the trail lacks %s", what)
			}
		}
		has("case A's creation", func(e svcAuditEvent) bool {
			return e.Action == "case.create" && e.ObjectID == caseA && e.ActorID == aCW.User.ID && e.OrganizationID == orgA.ID && e.Outcome == "success" && e.ActorType == "user"
		})
		has("case B's creation", func(e svcAuditEvent) bool {
			return e.Action == "case.create" && e.ObjectID == caseB && e.OrganizationID == orgB.ID
		})
		has("the consent", func(e svcAuditEvent) bool { return e.Action == "consent.create" && e.ObjectID == consent["id"] })
		has("caseworker A's denied request", func(e svcAuditEvent) bool {
			return e.Outcome == "denied" && e.ActorID == aCW.User.ID && e.OrganizationID == orgA.ID
		})
		has("the coordinator's denied request", func(e svcAuditEvent) bool { return e.Outcome == "denied" && e.ActorID == coord.User.ID })
		// A sign-in is its user's organisation's event, so that NGO admins
		// see their users' sign-ins.
		has("caseworker A's sign-in with its organisation", func(e svcAuditEvent) bool {
			return e.Action == "auth.login" && e.Outcome == "success" && e.ActorID == aCW.User.ID && e.OrganizationID == orgA.ID
		})
		has("the IOM admin's sign-in with its organisation", func(e svcAuditEvent) bool {
			return e.Action == "auth.login" && e.Outcome == "success" && e.ActorID == env.Admin.User.ID && e.OrganizationID == env.IOM.ID
		})
		ids := svcAuditIDs(all)
		if !slices.IsSorted(ids) {
			t.Errorf("audit events are not in id order")
		}
		if len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("the trail lists an event twice")
		}

		t.Run("filters narrow exactly", func(t *testing.T) {
			mid := all[len(all)/2].OccurredAt
			late := all[len(all)*3/4].OccurredAt
			ts := func(x time.Time) []string { return []string{x.Format(time.RFC3339Nano)} }
			for _, f := range []struct {
				name  string
				q     url.Values
				keep  func(svcAuditEvent) bool
				count int // exact count when > 0
			}{
				{"action", url.Values{"action": {"case.create"}}, func(e svcAuditEvent) bool { return e.Action == "case.create" }, 2},
				{"object_type", url.Values{"object_type": {"consent"}}, func(e svcAuditEvent) bool { return e.ObjectType == "consent" }, 1},
				{"object_id", url.Values{"object_id": {caseA}}, func(e svcAuditEvent) bool { return e.ObjectID == caseA }, 0},
				{"actor_id", url.Values{"actor_id": {aCW.User.ID}}, func(e svcAuditEvent) bool { return e.ActorID == aCW.User.ID }, 0},
				{"outcome denied", url.Values{"outcome": {"denied"}}, func(e svcAuditEvent) bool { return e.Outcome == "denied" }, 0},
				{"outcome success", url.Values{"outcome": {"success"}}, func(e svcAuditEvent) bool { return e.Outcome == "success" }, 0},
				{"organization_id", url.Values{"organization_id": {orgB.ID}}, func(e svcAuditEvent) bool { return e.OrganizationID == orgB.ID }, 0},
				{"from", url.Values{"from": ts(mid)}, func(e svcAuditEvent) bool { return !e.OccurredAt.Before(mid) }, 0},
				{"to", url.Values{"to": ts(mid)}, func(e svcAuditEvent) bool { return e.OccurredAt.Before(mid) }, 0},
				{"from and to", url.Values{"from": ts(mid), "to": ts(late)}, func(e svcAuditEvent) bool { return !e.OccurredAt.Before(mid) && e.OccurredAt.Before(late) }, 0},
				{"actor and action", url.Values{"actor_id": {bCW.User.ID}, "action": {"case.read"}},
					func(e svcAuditEvent) bool { return e.ActorID == bCW.User.ID && e.Action == "case.read" }, 2},
				{"object and action", url.Values{"object_id": {caseA}, "action": {"case.read"}},
					func(e svcAuditEvent) bool { return e.ObjectID == caseA && e.Action == "case.read" }, 1},
				{"no match", url.Values{"actor_id": {uuid.NewString()}}, func(svcAuditEvent) bool { return false }, 0},
			} {
				want := svcAuditWhere(all, f.keep)
				got := svcAuditList(t, env, env.Admin, f.q)
				if !slices.Equal(svcAuditIDs(got), svcAuditIDs(want)) {
					t.Errorf("%s (%s): %d events %v, want %d %v", f.name, f.q.Encode(), len(got), svcAuditIDs(got), len(want), svcAuditIDs(want))
					continue
				}
				if f.count > 0 && len(got) != f.count {
					t.Errorf("%s: %d events, want %d", f.name, len(got), f.count)
				}
				if f.name != "no match" && (len(want) == 0 || len(want) == len(all)) {
					t.Errorf("%s: the filter does not narrow (%d of %d); the test data is too thin", f.name, len(want), len(all))
				}
			}
			svcProblem(t, env.Do(t, http.MethodGet, "/api/v1/audit-events?outcome=maybe", env.Admin, nil), http.StatusBadRequest, "outcome", "unknown outcome")
			svcProblem(t, env.Do(t, http.MethodGet, "/api/v1/audit-events?from=yesterday", env.Admin, nil), http.StatusBadRequest, "from", "from not a time")
			svcProblem(t, env.Do(t, http.MethodGet, "/api/v1/audit-events?object_id=42", env.Admin, nil), http.StatusBadRequest, "object_id", "object_id not a uuid")
		})

		t.Run("NGO admins see their own organisation's events", func(t *testing.T) {
			for _, c := range []struct {
				name  string
				admin *apptest.Caller
				org   string
				other string
			}{{"A", aAdmin, orgA.ID, orgB.ID}, {"B", bAdmin, orgB.ID, orgA.ID}} {
				want := svcAuditWhere(all, func(e svcAuditEvent) bool { return e.OrganizationID == c.org })
				got := svcAuditList(t, env, c.admin, nil)
				if !slices.Equal(svcAuditIDs(got), svcAuditIDs(want)) {
					t.Errorf("admin %s sees %d events, want its organisation's %d", c.name, len(got), len(want))
				}
				if len(want) == 0 {
					t.Errorf("organisation %s has no events", c.name)
				}
				if got := svcAuditList(t, env, c.admin, url.Values{"organization_id": {c.other}}); len(got) != 0 {
					t.Errorf("admin %s filtering on the other organisation sees %d events", c.name, len(got))
				}
				if got := svcAuditList(t, env, c.admin, url.Values{"organization_id": {env.IOM.ID}}); len(got) != 0 {
					t.Errorf("admin %s filtering on IOM sees %d events", c.name, len(got))
				}
			}
			if got := svcAuditList(t, env, aAdmin, url.Values{"object_id": {caseB}}); len(got) != 0 {
				t.Errorf("admin A sees %d events about case B", len(got))
			}
			if got := svcAuditList(t, env, aAdmin, url.Values{"actor_id": {aCW.User.ID}}); len(got) == 0 ||
				!slices.Equal(svcAuditIDs(got), svcAuditIDs(svcAuditWhere(all, func(e svcAuditEvent) bool { return e.ActorID == aCW.User.ID && e.OrganizationID == orgA.ID }))) {
				t.Errorf("admin A filtering on its caseworker: %v", svcAuditIDs(got))
			}
			// The IOM admin sees every organisation.
			for _, org := range []string{orgA.ID, orgB.ID, env.IOM.ID} {
				if len(svcAuditWhere(all, func(e svcAuditEvent) bool { return e.OrganizationID == org })) == 0 {
					t.Errorf("the IOM admin sees no events of organisation %s", org)
				}
			}
		})

		t.Run("paging", func(t *testing.T) {
			for _, c := range []struct {
				name   string
				caller *apptest.Caller
				limit  int
				want   []svcAuditEvent
			}{
				{"IOM admin, 2 a page", env.Admin, 2, all},
				{"IOM admin, 7 a page", env.Admin, 7, all},
				{"NGO admin, 1 a page", aAdmin, 1, svcAuditWhere(all, func(e svcAuditEvent) bool { return e.OrganizationID == orgA.ID })},
			} {
				var got []svcAuditEvent
				q := url.Values{"limit": {strconv.Itoa(c.limit)}}
				pages := 0
				for {
					items, next := svcAuditPage(t, env, c.caller, q)
					pages++
					if len(items) > c.limit {
						t.Fatalf("%s: page of %d items", c.name, len(items))
					}
					got = append(got, items...)
					if next == nil {
						break
					}
					if len(items) != c.limit {
						t.Errorf("%s: a page of %d before the last", c.name, len(items))
					}
					if pages > len(c.want)+2 {
						t.Fatalf("%s: paging does not end", c.name)
					}
					q.Set("cursor", *next)
				}
				if !slices.Equal(svcAuditIDs(got), svcAuditIDs(c.want)) {
					t.Errorf("%s: pages hold %d events, want %d exactly once each in order", c.name, len(got), len(c.want))
				}
				if wantPages := (len(c.want) + c.limit - 1) / c.limit; pages != wantPages && pages != wantPages+1 {
					t.Errorf("%s: %d pages for %d events", c.name, pages, len(c.want))
				}
			}
			// A filter holds across pages.
			var got []svcAuditEvent
			q := url.Values{"limit": {"1"}, "organization_id": {orgA.ID}, "outcome": {"success"}}
			for range 1000 {
				items, next := svcAuditPage(t, env, env.Admin, q)
				got = append(got, items...)
				if next == nil {
					break
				}
				q.Set("cursor", *next)
			}
			want := svcAuditWhere(all, func(e svcAuditEvent) bool { return e.OrganizationID == orgA.ID && e.Outcome == "success" })
			if !slices.Equal(svcAuditIDs(got), svcAuditIDs(want)) {
				t.Errorf("filtered paging: %d events, want %d", len(got), len(want))
			}
			svcProblem(t, env.Do(t, http.MethodGet, "/api/v1/audit-events?limit=0", env.Admin, nil), http.StatusBadRequest, "limit", "limit 0")
			svcProblem(t, env.Do(t, http.MethodGet, "/api/v1/audit-events?limit=201", env.Admin, nil), http.StatusBadRequest, "limit", "limit 201")
		})

		// Nothing changes or deletes the trail.
		for _, m := range []string{http.MethodPost, http.MethodDelete, http.MethodPatch, http.MethodPut} {
			res := env.Do(t, m, "/api/v1/audit-events", env.Admin, map[string]any{})
			if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed {
				t.Errorf("%s /api/v1/audit-events: status %d, want 404 or 405", m, res.Status)
			}
			res = env.Do(t, m, "/api/v1/audit-events/"+all[0].ID, env.Admin, map[string]any{})
			if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed {
				t.Errorf("%s /api/v1/audit-events/{id}: status %d, want 404 or 405", m, res.Status)
			}
		}
		after := svcAuditList(t, env, env.Admin, nil)
		if len(after) < len(all) || !slices.Equal(svcAuditIDs(after)[:len(all)], ids) {
			t.Errorf("the trail changed: %d events before, %d now", len(all), len(after))
		}
	})
}
