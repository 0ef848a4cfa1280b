package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/store"
)

// etagNow in a header value is replaced, just before the request, by the
// current ETag of the request's path (read as IOM admin), so that a refused
// PATCH is refused for the reason the row names and not for a stale version.
const etagNow = "<current ETag>"

// apiCase is one request and the status it must get. For errors the problem
// code follows from the status; wantField, when set, must be named in errors[].
type apiCase struct {
	name       string
	method     string
	path       string
	as         string // a caller of the testWorld; "" is anonymous
	body       any
	header     []string
	wantStatus int
	wantField  string
}

// testWorld is the IOM mission and two NGO partners with a user per role.
type testWorld struct {
	env     *apptest.Env
	orgA    organizations.Organization
	orgB    organizations.Organization
	callers map[string]*apptest.Caller
}

// newTestWorld builds the service on db with the IOM organisation, two NGOs
// (A and B) and one signed-in user per role that the tests need.
func newTestWorld(t *testing.T, db *store.DB) *testWorld {
	t.Helper()
	env := apptest.New(t, db)
	w := &testWorld{env: env, callers: map[string]*apptest.Caller{"iom_admin": env.Admin}}
	w.orgA = env.NewOrg(t, "RODNIK", "Almaty")
	w.orgB = env.NewOrg(t, "SENIM", "Karaganda")
	for _, u := range []struct {
		name, org, email string
		roles            []string
	}{
		{"iom_coordinator", env.IOM.ID, "coordinator@iom.example", []string{"coordinator"}},
		{"iom_caseworker", env.IOM.ID, "caseworker@iom.example", []string{"caseworker"}},
		{"a_admin", w.orgA.ID, "admin@rodnik.example", []string{"admin", "caseworker"}},
		{"a_caseworker", w.orgA.ID, "caseworker@rodnik.example", []string{"caseworker"}},
		{"a_viewer", w.orgA.ID, "viewer@rodnik.example", []string{"viewer"}},
		{"b_admin", w.orgB.ID, "admin@senim.example", []string{"admin"}},
		{"b_caseworker", w.orgB.ID, "caseworker@senim.example", []string{"caseworker"}},
	} {
		w.callers[u.name] = env.NewUser(t, u.org, u.email, u.roles...)
	}
	return w
}

// caller returns the named caller; nil for "" (anonymous).
func (w *testWorld) caller(t testing.TB, name string) *apptest.Caller {
	t.Helper()
	if name == "" {
		return nil
	}
	c, ok := w.callers[name]
	if !ok {
		t.Fatalf("no caller %q in the test world", name)
	}
	return c
}

// userPath is the path of the named caller's user record.
func (w *testWorld) userPath(t testing.TB, name string) string {
	t.Helper()
	return "/api/v1/users/" + w.caller(t, name).User.ID
}

// userJSON is a User as the API answers it.
type userJSON struct {
	ID             string    `json:"id"`
	Email          string    `json:"email"`
	DisplayName    string    `json:"display_name"`
	OrganizationID string    `json:"organization_id"`
	Roles          []string  `json:"roles"`
	Active         bool      `json:"active"`
	Locale         string    `json:"locale"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// orgJSON is an Organization as the API answers it.
type orgJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Code      string    `json:"code"`
	Kind      string    `json:"kind"`
	City      string    `json:"city"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// meJSON is GET /api/v1/me.
type meJSON struct {
	ID             string   `json:"id"`
	Email          string   `json:"email"`
	DisplayName    string   `json:"display_name"`
	OrganizationID string   `json:"organization_id"`
	Roles          []string `json:"roles"`
	Locale         string   `json:"locale"`
}

// pageJSON is one page of a list.
type pageJSON[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

var etagPattern = regexp.MustCompile(`^"[0-9]+"$`)

// mustDo sends a request through env.Do (which validates the response against
// openapi.yaml) and checks what every response must satisfy: an X-Request-Id,
// no-store on /api/, and never a password or password hash.
func mustDo(t testing.TB, env *apptest.Env, method, path string, as *apptest.Caller, body any, header ...string) *apptest.Response {
	t.Helper()
	res := env.Do(t, method, path, as, body, header...)
	if res.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s → %d: no X-Request-Id", method, path, res.Status)
	}
	if strings.HasPrefix(path, "/api/") && res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s %s → %d: Cache-Control %q, want no-store", method, path, res.Status, res.Header.Get("Cache-Control"))
	}
	if bytes.Contains(res.Body, []byte("$argon2id$")) {
		t.Errorf("%s %s → %d: body holds a password hash: %s", method, path, res.Status, res.Body)
	}
	if bytes.Contains(res.Body, []byte(apptest.Password)) {
		t.Errorf("%s %s → %d: body holds the test password: %s", method, path, res.Status, res.Body)
	}
	if strings.HasPrefix(path, "/api/") && res.Status < 300 && bytes.Contains(bytes.ToLower(res.Body), []byte("password")) {
		t.Errorf("%s %s → %d: body mentions a password: %s", method, path, res.Status, res.Body)
	}
	return res
}

// problemCodes is the problem `code` each error status must carry.
var problemCodes = map[int]string{
	http.StatusBadRequest:            "invalid",
	http.StatusUnauthorized:          "unauthenticated",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusConflict:              "conflict",
	http.StatusPreconditionFailed:    "precondition_failed",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnprocessableEntity:   "invalid",
	http.StatusPreconditionRequired:  "precondition_required",
}

// mustProblem checks that res is a problem+json answer with wantStatus, the
// code that status implies, and (when wantField is set) that field in errors[].
func mustProblem(t testing.TB, res *apptest.Response, wantStatus int, wantField string) apptest.Problem {
	t.Helper()
	if res.Status != wantStatus {
		t.Fatalf("status %d, want %d: %s", res.Status, wantStatus, res.Body)
	}
	p := res.Problem(t)
	if want := problemCodes[wantStatus]; p.Code != want {
		t.Errorf("problem code %q, want %q: %s", p.Code, want, res.Body)
	}
	if p.Status != wantStatus {
		t.Errorf("problem status %d, want %d", p.Status, wantStatus)
	}
	if p.Type == "" || p.Title == "" {
		t.Errorf("problem without type or title: %s", res.Body)
	}
	if wantStatus == http.StatusUnauthorized && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer WWW-Authenticate challenge: %v", res.Header)
	}
	if wantField != "" {
		var fields []string
		for _, f := range p.Errors {
			fields = append(fields, f.Field)
			if f.Message == "" {
				t.Errorf("errors[] entry %q has no message", f.Field)
			}
		}
		if !slices.Contains(fields, wantField) {
			t.Errorf("errors[] names %q, want %q among them: %s", fields, wantField, res.Body)
		}
	}
	return p
}

// mustDecode checks the status of res and decodes its body into a T.
func mustDecode[T any](t testing.TB, res *apptest.Response, wantStatus int) T {
	t.Helper()
	if res.Status != wantStatus {
		t.Fatalf("status %d, want %d: %s", res.Status, wantStatus, res.Body)
	}
	var v T
	res.Decode(t, &v)
	return v
}

// mustETag reads path as IOM admin and returns its ETag.
func mustETag(t testing.TB, env *apptest.Env, path string) string {
	t.Helper()
	res := env.Do(t, http.MethodGet, path, env.Admin, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.Status, res.Body)
	}
	tag := res.Header.Get("ETag")
	if !etagPattern.MatchString(tag) {
		t.Fatalf("GET %s: ETag %q is not a strong version tag", path, tag)
	}
	return tag
}

// mustSnapshot is everything the API holds about users and organisations,
// read as IOM admin, so a refused write can be shown to have changed nothing.
func mustSnapshot(t testing.TB, env *apptest.Env) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []string{"/api/v1/organizations?limit=200", "/api/v1/users?limit=200"} {
		res := env.Do(t, http.MethodGet, p, env.Admin, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("snapshot GET %s: %d %s", p, res.Status, res.Body)
		}
		var page pageJSON[json.RawMessage]
		res.Decode(t, &page)
		if page.NextCursor != nil {
			t.Fatalf("snapshot GET %s: more than one page", p)
		}
		b.Write(res.Body)
		b.WriteByte('\n')
	}
	return b.String()
}

// mustUnchanged fails the test when the database differs from before.
func mustUnchanged(t testing.TB, env *apptest.Env, before string) {
	t.Helper()
	if after := mustSnapshot(t, env); after != before {
		t.Errorf("a refused request changed the database:\nbefore: %s\nafter:  %s", before, after)
	}
}

// resolveHeader replaces etagNow with path's current ETag.
func resolveHeader(t testing.TB, env *apptest.Env, path string, header []string) []string {
	t.Helper()
	out := slices.Clone(header)
	for i := range out {
		if out[i] == etagNow {
			out[i] = mustETag(t, env, path)
		}
	}
	return out
}

// mustRunCases runs each case as a subtest: status, problem body, and for a
// refused write an unchanged database.
func mustRunCases(t *testing.T, w *testWorld, cases []apiCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			header := resolveHeader(t, w.env, c.path, c.header)
			write := c.method != http.MethodGet
			var before string
			if write {
				before = mustSnapshot(t, w.env)
			}
			res := mustDo(t, w.env, c.method, c.path, w.caller(t, c.as), c.body, header...)
			if c.wantStatus >= 400 {
				mustProblem(t, res, c.wantStatus, c.wantField)
				if write {
					mustUnchanged(t, w.env, before)
				}
				return
			}
			if res.Status != c.wantStatus {
				t.Fatalf("status %d, want %d: %s", res.Status, c.wantStatus, res.Body)
			}
		})
	}
}

// newUserBody is a valid POST /api/v1/users body.
func newUserBody(email string, roles ...string) map[string]any {
	return map[string]any{
		"email": email, "display_name": "Test User", "password": apptest.Password, "roles": roles,
	}
}

// TestOrgsUsersUnauthenticated: without valid credentials every endpoint
// answers 401 before it looks at the request, and changes nothing.
func TestOrgsUsersUnauthenticated(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		w := &testWorld{env: env, callers: map[string]*apptest.Caller{}}
		w.orgA = env.NewOrg(t, "RODNIK", "Almaty")
		victim := env.NewUser(t, w.orgA.ID, "caseworker@rodnik.example", "caseworker")
		signedOut := env.SignIn(t, victim.User.Email, apptest.Password)
		if res := mustDo(t, env, http.MethodPost, "/api/v1/auth/logout", signedOut, nil); res.Status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", res.Status, res.Body)
		}
		w.callers["signed_out"] = signedOut
		userPath := "/api/v1/users/" + victim.User.ID
		orgPath := "/api/v1/organizations/" + w.orgA.ID

		endpoints := []struct {
			name, method, path string
			body               any
			header             []string
		}{
			{"list organizations", http.MethodGet, "/api/v1/organizations", nil, nil},
			{"create organization", http.MethodPost, "/api/v1/organizations", `{"name":"New","code":"NEWORG","kind":"ngo","city":"Aktau"}`, nil},
			{"get organization", http.MethodGet, orgPath, nil, nil},
			{"update organization", http.MethodPatch, orgPath, `{"city":"Nowhere"}`, []string{"If-Match", etagNow}},
			{"list users", http.MethodGet, "/api/v1/users", nil, nil},
			{"create user", http.MethodPost, "/api/v1/users", newUserBody("new@rodnik.example", "caseworker"), nil},
			{"get user", http.MethodGet, userPath, nil, nil},
			{"update user", http.MethodPatch, userPath, `{"active":false}`, []string{"If-Match", etagNow}},
			{"me", http.MethodGet, "/api/v1/me", nil, nil},
			{"logout", http.MethodPost, "/api/v1/auth/logout", nil, nil},
			// Authentication comes before validation: bad input still gets 401.
			{"create user with malformed body", http.MethodPost, "/api/v1/users", `{"email":`, nil},
			{"list users with bad limit", http.MethodGet, "/api/v1/users?limit=0", nil, nil},
			{"get user with bad id", http.MethodGet, "/api/v1/users/not-a-uuid", nil, nil},
			{"update user without If-Match", http.MethodPatch, userPath, `{"active":false}`, nil},
		}
		credentials := []struct {
			name   string
			as     string
			header []string
		}{
			{"no credentials", "", nil},
			{"garbage bearer", "", []string{"Authorization", "Bearer not-a-token"}},
			{"empty bearer", "", []string{"Authorization", "Bearer "}},
			{"basic scheme", "", []string{"Authorization", "Basic YWRtaW5AaW9tLmV4YW1wbGU6cGFzc3dvcmQ="}},
			{"refresh token as bearer", "", []string{"Authorization", "Bearer " + victim.RefreshToken}},
			{"signed-out session", "signed_out", nil},
		}
		var cases []apiCase
		for _, e := range endpoints {
			for _, c := range credentials {
				cases = append(cases, apiCase{
					name: e.name + "/" + c.name, method: e.method, path: e.path, as: c.as, body: e.body,
					header: append(slices.Clone(e.header), c.header...), wantStatus: http.StatusUnauthorized,
				})
			}
		}
		mustRunCases(t, w, cases)
	})
}

// TestOrgsUsersForbidden: roles that may not use a function get 403, and
// nothing changes.
func TestOrgsUsersForbidden(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		w := newTestWorld(t, db)
		orgA := "/api/v1/organizations/" + w.orgA.ID
		iom := "/api/v1/organizations/" + w.env.IOM.ID
		var cases []apiCase
		// Only admins manage users; only IOM admins create organisations; only
		// admins change organisations.
		for _, as := range []string{"iom_coordinator", "iom_caseworker", "a_caseworker", "a_viewer"} {
			cases = append(cases,
				apiCase{name: as + "/list users", method: http.MethodGet, path: "/api/v1/users", as: as},
				apiCase{name: as + "/list users of an organisation", method: http.MethodGet, path: "/api/v1/users?organization_id=" + w.orgA.ID, as: as},
				apiCase{name: as + "/create user", method: http.MethodPost, path: "/api/v1/users", as: as,
					body: newUserBody("new-"+strings.ReplaceAll(as, "_", "-")+"@rodnik.example", "caseworker")},
				apiCase{name: as + "/create user in named organisation", method: http.MethodPost, path: "/api/v1/users", as: as,
					body: map[string]any{"email": "x@rodnik.example", "display_name": "X", "password": apptest.Password,
						"roles": []string{"caseworker"}, "organization_id": w.orgA.ID}},
				apiCase{name: as + "/get other user", method: http.MethodGet, path: w.userPath(t, "a_admin"), as: as},
				apiCase{name: as + "/get own user record", method: http.MethodGet, path: w.userPath(t, as), as: as},
				apiCase{name: as + "/update user", method: http.MethodPatch, path: w.userPath(t, "a_caseworker"), as: as,
					body: map[string]any{"display_name": "Changed"}, header: []string{"If-Match", etagNow}},
				apiCase{name: as + "/grant itself admin", method: http.MethodPatch, path: w.userPath(t, as), as: as,
					body: map[string]any{"roles": []string{"admin"}}, header: []string{"If-Match", etagNow}},
				apiCase{name: as + "/create organization", method: http.MethodPost, path: "/api/v1/organizations", as: as,
					body: map[string]any{"name": "New", "code": "NEWORG", "kind": "ngo", "city": "Aktau"}},
				apiCase{name: as + "/update NGO organization", method: http.MethodPatch, path: orgA, as: as,
					body: map[string]any{"city": "Nowhere"}, header: []string{"If-Match", etagNow}},
				apiCase{name: as + "/update IOM organization", method: http.MethodPatch, path: iom, as: as,
					body: map[string]any{"name": "Renamed"}, header: []string{"If-Match", etagNow}},
			)
		}
		cases = append(cases,
			apiCase{name: "NGO admin/create organization", method: http.MethodPost, path: "/api/v1/organizations", as: "a_admin",
				body: map[string]any{"name": "New", "code": "NEWORG", "kind": "ngo", "city": "Aktau"}},
			apiCase{name: "NGO admin/deactivate own organization", method: http.MethodPatch, path: orgA, as: "a_admin",
				body: map[string]any{"active": false}, header: []string{"If-Match", etagNow}},
			apiCase{name: "NGO admin/set active on own organization", method: http.MethodPatch, path: orgA, as: "a_admin",
				body: map[string]any{"active": true}, header: []string{"If-Match", etagNow}},
			apiCase{name: "NGO admin/rename and deactivate own organization", method: http.MethodPatch, path: orgA, as: "a_admin",
				body: map[string]any{"name": "Renamed", "active": false}, header: []string{"If-Match", etagNow}},
		)
		for i := range cases {
			cases[i].wantStatus = http.StatusForbidden
		}
		mustRunCases(t, w, cases)
	})
}

// TestOrgsUsersForeignRecordsAreNotFound: a record of an organisation the
// caller cannot see answers exactly like one that does not exist.
func TestOrgsUsersForeignRecordsAreNotFound(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		w := newTestWorld(t, db)
		random := uuid.NewString()
		orgPath := func(id string) string { return "/api/v1/organizations/" + id }
		userPath := func(id string) string { return "/api/v1/users/" + id }
		withOrg := func(orgID string) map[string]any {
			b := newUserBody("planted@rodnik.example", "caseworker")
			b["organization_id"] = orgID
			return b
		}
		cases := []struct {
			name                    string
			as                      string
			method                  string
			foreignPath, randomPath string
			foreignBody, randomBody any
			ifMatch                 bool
		}{
			{"NGO admin reads another NGO's user", "a_admin", http.MethodGet,
				w.userPath(t, "b_caseworker"), userPath(random), nil, nil, false},
			{"NGO admin reads an IOM user", "a_admin", http.MethodGet,
				w.userPath(t, "iom_admin"), userPath(random), nil, nil, false},
			{"other NGO admin reads this NGO's admin", "b_admin", http.MethodGet,
				w.userPath(t, "a_admin"), userPath(random), nil, nil, false},
			{"NGO admin changes another NGO's user", "a_admin", http.MethodPatch,
				w.userPath(t, "b_caseworker"), userPath(random), `{"display_name":"Hijacked"}`, `{"display_name":"Hijacked"}`, true},
			{"NGO admin deactivates another NGO's admin", "a_admin", http.MethodPatch,
				w.userPath(t, "b_admin"), userPath(random), `{"active":false}`, `{"active":false}`, true},
			{"NGO admin changes an IOM admin", "a_admin", http.MethodPatch,
				w.userPath(t, "iom_admin"), userPath(random), `{"roles":["caseworker"]}`, `{"roles":["caseworker"]}`, true},
			{"NGO admin creates a user in another NGO", "a_admin", http.MethodPost,
				"/api/v1/users", "/api/v1/users", withOrg(w.orgB.ID), withOrg(random), false},
			{"NGO admin creates a user in the IOM organisation", "a_admin", http.MethodPost,
				"/api/v1/users", "/api/v1/users", withOrg(w.env.IOM.ID), withOrg(random), false},
			{"NGO admin changes another NGO", "a_admin", http.MethodPatch,
				orgPath(w.orgB.ID), orgPath(random), `{"city":"Nowhere"}`, `{"city":"Nowhere"}`, true},
			{"NGO admin changes the IOM organisation", "a_admin", http.MethodPatch,
				orgPath(w.env.IOM.ID), orgPath(random), `{"name":"Renamed"}`, `{"name":"Renamed"}`, true},
			{"NGO admin deactivates another NGO", "a_admin", http.MethodPatch,
				orgPath(w.orgB.ID), orgPath(random), `{"active":false}`, `{"active":false}`, true},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var header []string
				if c.ifMatch {
					header = []string{"If-Match", mustETag(t, w.env, c.foreignPath)}
				}
				before := mustSnapshot(t, w.env)
				as := w.caller(t, c.as)
				foreign := mustDo(t, w.env, c.method, c.foreignPath, as, c.foreignBody, header...)
				missing := mustDo(t, w.env, c.method, c.randomPath, as, c.randomBody, header...)
				mustProblem(t, foreign, http.StatusNotFound, "")
				mustProblem(t, missing, http.StatusNotFound, "")
				if f, m := mustProblemShape(t, foreign), mustProblemShape(t, missing); !reflect.DeepEqual(f, m) {
					t.Errorf("a foreign record answers differently from a missing one:\nforeign: %v\nmissing: %v", f, m)
				}
				for _, h := range []string{"ETag", "Location", "Content-Type"} {
					if foreign.Header.Get(h) != missing.Header.Get(h) {
						t.Errorf("header %s: foreign %q, missing %q", h, foreign.Header.Get(h), missing.Header.Get(h))
					}
				}
				mustUnchanged(t, w.env, before)
			})
		}

		// Records that do not exist are 404 for IOM admins too.
		mustRunCases(t, w, []apiCase{
			{name: "IOM admin reads a missing user", method: http.MethodGet, path: userPath(random), as: "iom_admin", wantStatus: http.StatusNotFound},
			{name: "IOM admin reads a missing organization", method: http.MethodGet, path: orgPath(random), as: "iom_admin", wantStatus: http.StatusNotFound},
			{name: "caseworker reads a missing organization", method: http.MethodGet, path: orgPath(random), as: "a_caseworker", wantStatus: http.StatusNotFound},
			{name: "IOM admin changes a missing user", method: http.MethodPatch, path: userPath(random), as: "iom_admin",
				body: `{"locale":"ru"}`, header: []string{"If-Match", `"1"`}, wantStatus: http.StatusNotFound},
			{name: "IOM admin changes a missing organization", method: http.MethodPatch, path: orgPath(random), as: "iom_admin",
				body: `{"city":"Aktau"}`, header: []string{"If-Match", `"1"`}, wantStatus: http.StatusNotFound},
			{name: "IOM admin creates a user in a missing organization", method: http.MethodPost, path: "/api/v1/users", as: "iom_admin",
				body: withOrg(random), wantStatus: http.StatusNotFound},
		})
	})
}

// TestOrgsUsersBadRequest: malformed requests, unknown and read-only fields,
// wrong types and bad parameters are 400 naming the field, and change nothing.
func TestOrgsUsersBadRequest(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		w := newTestWorld(t, db)
		user := w.userPath(t, "a_caseworker")
		org := "/api/v1/organizations/" + w.orgA.ID
		ifMatch := []string{"If-Match", etagNow}
		validOrg := func(extra string) string {
			return `{"name":"Umit Centre","code":"UMIT","kind":"ngo","city":"Aktau"` + extra + `}`
		}
		cases := []apiCase{
			// Syntax.
			{name: "create user/malformed JSON", method: http.MethodPost, path: "/api/v1/users", body: `{"email":"x@rodnik.example",`, wantField: "body"},
			{name: "create user/not an object", method: http.MethodPost, path: "/api/v1/users", body: `["email"]`, wantField: "body"},
			{name: "create user/two JSON values", method: http.MethodPost, path: "/api/v1/users",
				body: `{"email":"x@rodnik.example","display_name":"X","password":"a long passphrase nobody guesses","roles":["caseworker"]} {}`},
			{name: "create organization/malformed JSON", method: http.MethodPost, path: "/api/v1/organizations", body: `{"name":`, wantField: "body"},
			{name: "update user/malformed JSON", method: http.MethodPatch, path: user, body: `{"active":tru}`, header: ifMatch, wantField: "body"},
			{name: "update organization/malformed JSON", method: http.MethodPatch, path: org, body: `{"city"}`, header: ifMatch, wantField: "body"},
			{name: "create user/no body", method: http.MethodPost, path: "/api/v1/users"},
			{name: "update user/empty object", method: http.MethodPatch, path: user, body: `{}`, header: ifMatch},
			{name: "update organization/empty object", method: http.MethodPatch, path: org, body: `{}`, header: ifMatch},
			// Unknown and read-only fields are refused, never silently dropped.
			{name: "create organization/unknown field", method: http.MethodPost, path: "/api/v1/organizations", body: validOrg(`,"nickname":"U"`), wantField: "nickname"},
			{name: "create organization/id", method: http.MethodPost, path: "/api/v1/organizations", body: validOrg(`,"id":"` + uuid.NewString() + `"`), wantField: "id"},
			{name: "create organization/active", method: http.MethodPost, path: "/api/v1/organizations", body: validOrg(`,"active":false`), wantField: "active"},
			{name: "create user/id", method: http.MethodPost, path: "/api/v1/users", body: map[string]any{
				"id": uuid.NewString(), "email": "x@rodnik.example", "display_name": "X", "password": apptest.Password, "roles": []string{"caseworker"}}, wantField: "id"},
			{name: "create user/password_hash", method: http.MethodPost, path: "/api/v1/users", body: map[string]any{
				"password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "email": "x@rodnik.example", "display_name": "X",
				"password": apptest.Password, "roles": []string{"caseworker"}}, wantField: "password_hash"},
			{name: "update user/id", method: http.MethodPatch, path: user, body: map[string]any{"id": uuid.NewString()}, header: ifMatch, wantField: "id"},
			{name: "update user/created_at", method: http.MethodPatch, path: user, body: map[string]any{"created_at": "2020-01-01T00:00:00Z"}, header: ifMatch, wantField: "created_at"},
			{name: "update user/updated_at", method: http.MethodPatch, path: user, body: map[string]any{"updated_at": "2020-01-01T00:00:00Z"}, header: ifMatch, wantField: "updated_at"},
			{name: "update user/organization_id", method: http.MethodPatch, path: user, body: map[string]any{"organization_id": w.orgB.ID}, header: ifMatch, wantField: "organization_id"},
			{name: "update user/organization_id with a valid change", method: http.MethodPatch, path: user,
				body: map[string]any{"display_name": "Moved", "organization_id": w.env.IOM.ID}, header: ifMatch, wantField: "organization_id"},
			{name: "NGO admin update user/organization_id", as: "a_admin", method: http.MethodPatch, path: user,
				body: map[string]any{"organization_id": w.orgB.ID}, header: ifMatch, wantField: "organization_id"},
			{name: "update organization/id", method: http.MethodPatch, path: org, body: map[string]any{"id": uuid.NewString()}, header: ifMatch, wantField: "id"},
			{name: "update organization/created_at", method: http.MethodPatch, path: org, body: map[string]any{"created_at": "2020-01-01T00:00:00Z"}, header: ifMatch, wantField: "created_at"},
			{name: "update organization/code", method: http.MethodPatch, path: org, body: map[string]any{"code": "HIJACK"}, header: ifMatch, wantField: "code"},
			{name: "update organization/kind", method: http.MethodPatch, path: org, body: map[string]any{"kind": "iom"}, header: ifMatch, wantField: "kind"},
			{name: "NGO admin update organization/kind", as: "a_admin", method: http.MethodPatch, path: org, body: map[string]any{"kind": "iom"}, header: ifMatch, wantField: "kind"},
			// Wrong types and values outside the schema.
			{name: "update user/active not a boolean", method: http.MethodPatch, path: user, body: `{"active":"no"}`, header: ifMatch, wantField: "active"},
			{name: "update user/roles not an array", method: http.MethodPatch, path: user, body: `{"roles":"admin"}`, header: ifMatch, wantField: "roles"},
			{name: "update user/display_name not a string", method: http.MethodPatch, path: user, body: `{"display_name":42}`, header: ifMatch, wantField: "display_name"},
			{name: "update user/unknown role", method: http.MethodPatch, path: user, body: `{"roles":["superuser"]}`, header: ifMatch, wantField: "roles[0]"},
			{name: "update user/unknown locale", method: http.MethodPatch, path: user, body: `{"locale":"de"}`, header: ifMatch, wantField: "locale"},
			{name: "update user/empty roles", method: http.MethodPatch, path: user, body: `{"roles":[]}`, header: ifMatch, wantField: "roles"},
			{name: "update user/repeated roles", method: http.MethodPatch, path: user, body: `{"roles":["caseworker","caseworker"]}`, header: ifMatch, wantField: "roles"},
			{name: "update user/short password", method: http.MethodPatch, path: user, body: `{"password":"short"}`, header: ifMatch, wantField: "password"},
			{name: "update user/bad email", method: http.MethodPatch, path: user, body: `{"email":"not an email"}`, header: ifMatch, wantField: "email"},
			{name: "update user/empty display_name", method: http.MethodPatch, path: user, body: `{"display_name":""}`, header: ifMatch, wantField: "display_name"},
			{name: "create user/missing password", method: http.MethodPost, path: "/api/v1/users", body: map[string]any{
				"email": "x@rodnik.example", "display_name": "X", "roles": []string{"caseworker"}}, wantField: "password"},
			{name: "create user/empty roles", method: http.MethodPost, path: "/api/v1/users", body: newUserBody("x@rodnik.example"), wantField: "roles"},
			{name: "create user/bad email", method: http.MethodPost, path: "/api/v1/users", body: newUserBody("no-at-sign", "caseworker"), wantField: "email"},
			{name: "create user/organization_id not a uuid", method: http.MethodPost, path: "/api/v1/users", body: map[string]any{
				"email": "x@rodnik.example", "display_name": "X", "password": apptest.Password, "roles": []string{"caseworker"},
				"organization_id": "RODNIK"}, wantField: "organization_id"},
			{name: "create organization/name not a string", method: http.MethodPost, path: "/api/v1/organizations",
				body: `{"name":42,"code":"UMIT","kind":"ngo","city":"Aktau"}`, wantField: "name"},
			{name: "create organization/lower-case code", method: http.MethodPost, path: "/api/v1/organizations",
				body: `{"name":"Umit","code":"umit","kind":"ngo","city":"Aktau"}`, wantField: "code"},
			{name: "create organization/second IOM", method: http.MethodPost, path: "/api/v1/organizations",
				body: `{"name":"Umit","code":"UMIT","kind":"iom","city":"Aktau"}`, wantField: "kind"},
			{name: "create organization/missing city", method: http.MethodPost, path: "/api/v1/organizations",
				body: `{"name":"Umit","code":"UMIT","kind":"ngo"}`, wantField: "city"},
			{name: "update organization/active not a boolean", method: http.MethodPatch, path: org, body: `{"active":1}`, header: ifMatch, wantField: "active"},
			// Path and query parameters.
			{name: "get user/bad uuid", method: http.MethodGet, path: "/api/v1/users/not-a-uuid", wantField: "id"},
			{name: "update user/bad uuid", method: http.MethodPatch, path: "/api/v1/users/12345", body: `{"locale":"ru"}`, header: []string{"If-Match", `"1"`}, wantField: "id"},
			{name: "get organization/bad uuid", method: http.MethodGet, path: "/api/v1/organizations/RODNIK", wantField: "id"},
			{name: "update organization/bad uuid", method: http.MethodPatch, path: "/api/v1/organizations/zz", body: `{"city":"Aktau"}`, header: []string{"If-Match", `"1"`}, wantField: "id"},
		}
		for _, list := range []string{"/api/v1/users", "/api/v1/organizations"} {
			name := strings.TrimPrefix(list, "/api/v1/")
			cases = append(cases,
				apiCase{name: name + "/limit=0", method: http.MethodGet, path: list + "?limit=0", wantField: "limit"},
				apiCase{name: name + "/limit=1000", method: http.MethodGet, path: list + "?limit=1000", wantField: "limit"},
				apiCase{name: name + "/limit=-1", method: http.MethodGet, path: list + "?limit=-1", wantField: "limit"},
				apiCase{name: name + "/limit not a number", method: http.MethodGet, path: list + "?limit=ten", wantField: "limit"},
				apiCase{name: name + "/cursor with bad characters", method: http.MethodGet, path: list + "?cursor=" + url.QueryEscape("!!*"), wantField: "cursor"},
				apiCase{name: name + "/cursor never issued", method: http.MethodGet, path: list + "?cursor=bm90LWEtY3Vyc29y", wantField: "cursor"},
				apiCase{name: name + "/updated_since not a time", method: http.MethodGet, path: list + "?updated_since=yesterday", wantField: "updated_since"},
			)
		}
		cases = append(cases,
			apiCase{name: "users/organization_id not a uuid", method: http.MethodGet, path: "/api/v1/users?organization_id=RODNIK", wantField: "organization_id"})
		for i := range cases {
			if cases[i].as == "" {
				cases[i].as = "iom_admin"
			}
			cases[i].wantStatus = http.StatusBadRequest
		}
		mustRunCases(t, w, cases)
	})
}

// TestOrgsUsersUnprocessable: well-formed requests that break a service rule
// are 422 naming the field, and change nothing.
func TestOrgsUsersUnprocessable(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		w := newTestWorld(t, db)
		ifMatch := []string{"If-Match", etagNow}
		inOrg := func(orgID, email string, roles ...string) map[string]any {
			b := newUserBody(email, roles...)
			b["organization_id"] = orgID
			return b
		}
		withPassword := func(email, displayName, password string) map[string]any {
			return map[string]any{"email": email, "display_name": displayName, "password": password, "roles": []string{"caseworker"}}
		}
		iom := "/api/v1/organizations/" + w.env.IOM.ID
		cases := []apiCase{
			{name: "common password", as: "a_admin", method: http.MethodPost, path: "/api/v1/users",
				body: withPassword("aigerim@rodnik.example", "Aigerim S.", "qwertyuiop"), wantField: "password"},
			{name: "common password in other case", as: "a_admin", method: http.MethodPost, path: "/api/v1/users",
				body: withPassword("aigerim@rodnik.example", "Aigerim S.", "QWERTYUIOP123"), wantField: "password"},
			{name: "one repeated character", as: "a_admin", method: http.MethodPost, path: "/api/v1/users",
				body: withPassword("aigerim@rodnik.example", "Aigerim S.", "zzzzzzzzzzzz"), wantField: "password"},
			{name: "password holds the email", as: "a_admin", method: http.MethodPost, path: "/api/v1/users",
				body: withPassword("aigerim@rodnik.example", "Aigerim S.", "my name is aigerim, ok?"), wantField: "password"},
			{name: "common password on update", as: "a_admin", method: http.MethodPatch, path: w.userPath(t, "a_caseworker"),
				body: map[string]any{"password": "1234567890"}, header: ifMatch, wantField: "password"},
			{name: "NGO admin grants coordinator on create", as: "a_admin", method: http.MethodPost, path: "/api/v1/users",
				body: newUserBody("coord@rodnik.example", "coordinator"), wantField: "roles[0]"},
			{name: "NGO admin grants coordinator on update", as: "a_admin", method: http.MethodPatch, path: w.userPath(t, "a_caseworker"),
				body: map[string]any{"roles": []string{"caseworker", "coordinator"}}, header: ifMatch, wantField: "roles[1]"},
			{name: "NGO admin grants itself coordinator", as: "a_admin", method: http.MethodPatch, path: w.userPath(t, "a_admin"),
				body: map[string]any{"roles": []string{"admin", "coordinator"}}, header: ifMatch, wantField: "roles[1]"},
			{name: "IOM admin creates a coordinator in an NGO", as: "iom_admin", method: http.MethodPost, path: "/api/v1/users",
				body: inOrg(w.orgA.ID, "coord@rodnik.example", "coordinator"), wantField: "roles[0]"},
			{name: "IOM admin creates a viewer in IOM", as: "iom_admin", method: http.MethodPost, path: "/api/v1/users",
				body: inOrg(w.env.IOM.ID, "viewer@iom.example", "viewer"), wantField: "roles[0]"},
			{name: "IOM admin makes an IOM user a viewer", as: "iom_admin", method: http.MethodPatch, path: w.userPath(t, "iom_coordinator"),
				body: map[string]any{"roles": []string{"viewer"}}, header: ifMatch, wantField: "roles[0]"},
			{name: "IOM admin makes an NGO user a coordinator", as: "iom_admin", method: http.MethodPatch, path: w.userPath(t, "b_caseworker"),
				body: map[string]any{"roles": []string{"coordinator"}}, header: ifMatch, wantField: "roles[0]"},
			{name: "blank display name", as: "a_admin", method: http.MethodPost, path: "/api/v1/users",
				body: withPassword("aigerim@rodnik.example", "   ", apptest.Password), wantField: "display_name"},
			{name: "blank display name on update", as: "a_admin", method: http.MethodPatch, path: w.userPath(t, "a_viewer"),
				body: map[string]any{"display_name": "  "}, header: ifMatch, wantField: "display_name"},
			{name: "blank organization name", as: "iom_admin", method: http.MethodPost, path: "/api/v1/organizations",
				body: map[string]any{"name": "   ", "code": "UMIT", "kind": "ngo", "city": "Aktau"}, wantField: "name"},
			{name: "blank city on update", as: "a_admin", method: http.MethodPatch, path: "/api/v1/organizations/" + w.orgA.ID,
				body: map[string]any{"city": "   "}, header: ifMatch, wantField: "city"},
			{name: "IOM organization cannot be deactivated", as: "iom_admin", method: http.MethodPatch, path: iom,
				body: map[string]any{"active": false}, header: ifMatch, wantField: "active"},
		}
		for i := range cases {
			cases[i].wantStatus = http.StatusUnprocessableEntity
		}
		mustRunCases(t, w, cases)

		// The IOM admin still works after the refused deactivation.
		res := mustDo(t, w.env, http.MethodGet, iom, w.env.Admin, nil)
		if got := mustDecode[orgJSON](t, res, http.StatusOK); !got.Active {
			t.Errorf("IOM organisation is inactive after a refused deactivation: %+v", got)
		}
	})
}

// TestOrgsUsersSelfLockout: admins cannot deactivate themselves or take away
// their own admin role; nothing changes and they keep their rights.
func TestOrgsUsersSelfLockout(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "RODNIK", "Almaty")
		w := &testWorld{env: env, orgA: orgA, callers: map[string]*apptest.Caller{
			"iom_admin": env.Admin,
			"a_admin":   env.NewUser(t, orgA.ID, "admin@rodnik.example", "admin", "caseworker"),
		}}
		var cases []apiCase
		for _, as := range []string{"iom_admin", "a_admin"} {
			self := w.userPath(t, as)
			cases = append(cases,
				apiCase{name: as + "/deactivate itself", as: as, method: http.MethodPatch, path: self,
					body: map[string]any{"active": false}, wantField: "active"},
				apiCase{name: as + "/drop own admin role", as: as, method: http.MethodPatch, path: self,
					body: map[string]any{"roles": []string{"caseworker"}}, wantField: "roles"},
				apiCase{name: as + "/drop own admin role among other changes", as: as, method: http.MethodPatch, path: self,
					body: map[string]any{"display_name": "Still Me", "roles": []string{"caseworker"}}, wantField: "roles"},
			)
		}
		for i := range cases {
			cases[i].header = []string{"If-Match", etagNow}
			cases[i].wantStatus = http.StatusUnprocessableEntity
		}
		mustRunCases(t, w, cases)

		for _, as := range []string{"iom_admin", "a_admin"} {
			c := w.caller(t, as)
			if res := mustDo(t, env, http.MethodGet, "/api/v1/users", c, nil); res.Status != http.StatusOK {
				t.Errorf("%s after refused self-lockout: GET /users %d %s", as, res.Status, res.Body)
			}
			// An admin may change other things about itself.
			self := w.userPath(t, as)
			res := mustDo(t, env, http.MethodPatch, self, c, map[string]any{"display_name": "Renamed Admin", "locale": "kk"},
				"If-Match", mustETag(t, env, self))
			got := mustDecode[userJSON](t, res, http.StatusOK)
			if got.DisplayName != "Renamed Admin" || got.Locale != "kk" || !got.Active || !slices.Contains(got.Roles, "admin") {
				t.Errorf("%s changing its own name: %+v", as, got)
			}
		}
	})
}

// TestOrgsUsersIfMatch: updates need the ETag of the version they change.
func TestOrgsUsersIfMatch(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "RODNIK", "Almaty")
		target := env.NewUser(t, orgA.ID, "caseworker@rodnik.example", "caseworker")
		for _, r := range []struct {
			name, path   string
			first, again map[string]any
			check        func(t *testing.T, body []byte)
		}{
			{"user", "/api/v1/users/" + target.User.ID,
				map[string]any{"display_name": "First Change"}, map[string]any{"locale": "ru"},
				func(t *testing.T, body []byte) {
					var u userJSON
					if err := json.Unmarshal(body, &u); err != nil || u.DisplayName != "First Change" || u.Locale != "ru" {
						t.Errorf("user after both changes: %s", body)
					}
				}},
			{"organization", "/api/v1/organizations/" + orgA.ID,
				map[string]any{"name": "Rodnik Crisis Centre"}, map[string]any{"city": "Astana"},
				func(t *testing.T, body []byte) {
					var o orgJSON
					if err := json.Unmarshal(body, &o); err != nil || o.Name != "Rodnik Crisis Centre" || o.City != "Astana" {
						t.Errorf("organisation after both changes: %s", body)
					}
				}},
		} {
			t.Run(r.name, func(t *testing.T) {
				v1 := mustETag(t, env, r.path)
				before := mustSnapshot(t, env)
				for _, c := range []struct {
					name   string
					header []string
					want   int
				}{
					{"no If-Match", nil, http.StatusPreconditionRequired},
					{"empty If-Match", []string{"If-Match", ""}, http.StatusPreconditionRequired},
					{"If-Match of a future version", []string{"If-Match", `"999"`}, http.StatusPreconditionFailed},
					{"If-Match of version 0", []string{"If-Match", `"0"`}, http.StatusPreconditionFailed},
					{"If-Match never issued", []string{"If-Match", `"abc"`}, http.StatusPreconditionFailed},
					{"If-Match wildcard", []string{"If-Match", `*`}, http.StatusPreconditionFailed},
				} {
					res := mustDo(t, env, http.MethodPatch, r.path, env.Admin, r.first, c.header...)
					t.Run(c.name, func(t *testing.T) { mustProblem(t, res, c.want, "") })
				}
				mustUnchanged(t, env, before)

				res := mustDo(t, env, http.MethodPatch, r.path, env.Admin, r.first, "If-Match", v1)
				if res.Status != http.StatusOK {
					t.Fatalf("PATCH with the current ETag: %d %s", res.Status, res.Body)
				}
				v2 := res.Header.Get("ETag")
				if !etagPattern.MatchString(v2) || v2 == v1 {
					t.Fatalf("ETag after a change: %q (before %q)", v2, v1)
				}
				if got := mustETag(t, env, r.path); got != v2 {
					t.Errorf("GET after PATCH: ETag %q, PATCH answered %q", got, v2)
				}

				// The old version is stale now.
				before = mustSnapshot(t, env)
				stale := mustDo(t, env, http.MethodPatch, r.path, env.Admin, r.again, "If-Match", v1)
				mustProblem(t, stale, http.StatusPreconditionFailed, "")
				mustUnchanged(t, env, before)

				res = mustDo(t, env, http.MethodPatch, r.path, env.Admin, r.again, "If-Match", v2)
				if res.Status != http.StatusOK {
					t.Fatalf("PATCH with the new ETag: %d %s", res.Status, res.Body)
				}
				if v3 := res.Header.Get("ETag"); v3 == v2 || v3 == v1 || !etagPattern.MatchString(v3) {
					t.Errorf("ETag after the second change: %q (earlier %q, %q)", v3, v1, v2)
				}
				get := mustDo(t, env, http.MethodGet, r.path, env.Admin, nil)
				r.check(t, get.Body)
			})
		}

		// A created record's ETag and Location work for the next read and update.
		res := mustDo(t, env, http.MethodPost, "/api/v1/users", env.Admin,
			map[string]any{"email": "new@rodnik.example", "display_name": "New", "password": apptest.Password,
				"roles": []string{"viewer"}, "organization_id": orgA.ID})
		created := mustDecode[userJSON](t, res, http.StatusCreated)
		loc, tag := res.Header.Get("Location"), res.Header.Get("ETag")
		if loc != "/api/v1/users/"+created.ID || !etagPattern.MatchString(tag) {
			t.Fatalf("created user: Location %q, ETag %q", loc, tag)
		}
		if got := mustETag(t, env, loc); got != tag {
			t.Errorf("GET Location: ETag %q, create answered %q", got, tag)
		}
		if res := mustDo(t, env, http.MethodPatch, loc, env.Admin, map[string]any{"locale": "kk"}, "If-Match", tag); res.Status != http.StatusOK {
			t.Errorf("PATCH with the ETag of create: %d %s", res.Status, res.Body)
		}
	})
}

// TestOrgsUsersConcurrentUpdates: of 20 simultaneous updates with the same
// If-Match exactly one wins; the others get 412.
func TestOrgsUsersConcurrentUpdates(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "RODNIK", "Almaty")
		target := env.NewUser(t, orgA.ID, "caseworker@rodnik.example", "caseworker")
		for _, r := range []struct {
			name, path, field string
		}{
			{"user", "/api/v1/users/" + target.User.ID, "display_name"},
			{"organization", "/api/v1/organizations/" + orgA.ID, "name"},
		} {
			t.Run(r.name, func(t *testing.T) {
				tag := mustETag(t, env, r.path)
				const n = 20
				responses := make([]*apptest.Response, n)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						body := fmt.Sprintf(`{%q:"Writer %02d"}`, r.field, i)
						// Only t.Errorf may run here (inside mustDo), never t.Fatalf.
						responses[i] = mustDo(t, env, http.MethodPatch, r.path, env.Admin, body, "If-Match", tag)
					}()
				}
				close(start)
				wg.Wait()
				var winners []int
				var winnerTag string
				statuses := map[int]int{}
				for i, res := range responses {
					statuses[res.Status]++
					switch res.Status {
					case http.StatusOK:
						winners = append(winners, i)
						winnerTag = res.Header.Get("ETag")
					case http.StatusPreconditionFailed:
						mustProblem(t, res, http.StatusPreconditionFailed, "")
					}
				}
				if len(winners) != 1 || statuses[http.StatusPreconditionFailed] != n-1 {
					t.Fatalf("statuses %v, want exactly one 200 and %d × 412", statuses, n-1)
				}
				get := mustDo(t, env, http.MethodGet, r.path, env.Admin, nil)
				var m map[string]any
				get.Decode(t, &m)
				if want := fmt.Sprintf("Writer %02d", winners[0]); m[r.field] != want {
					t.Errorf("%s is %v, want the winner's %q", r.field, m[r.field], want)
				}
				if get.Header.Get("ETag") != winnerTag || winnerTag == tag {
					t.Errorf("ETag %q after the race, winner answered %q, before %q", get.Header.Get("ETag"), winnerTag, tag)
				}
			})
		}
	})
}

// TestOrgsUsersConflicts: duplicate organisation codes and emails are 409.
func TestOrgsUsersConflicts(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "RODNIK", "Almaty")
		existing := env.NewUser(t, orgA.ID, "caseworker@rodnik.example", "caseworker")
		other := env.NewUser(t, orgA.ID, "viewer@rodnik.example", "viewer")
		admin := env.NewUser(t, orgA.ID, "admin@rodnik.example", "admin")
		w := &testWorld{env: env, orgA: orgA, callers: map[string]*apptest.Caller{"iom_admin": env.Admin, "a_admin": admin}}
		withOrg := func(email string) map[string]any {
			b := newUserBody(email, "caseworker")
			b["organization_id"] = orgA.ID
			return b
		}
		mustRunCases(t, w, []apiCase{
			{name: "organization code taken", as: "iom_admin", method: http.MethodPost, path: "/api/v1/organizations",
				body: map[string]any{"name": "Another Rodnik", "code": "RODNIK", "kind": "ngo", "city": "Aktau"}, wantStatus: http.StatusConflict},
			{name: "IOM code taken", as: "iom_admin", method: http.MethodPost, path: "/api/v1/organizations",
				body: map[string]any{"name": "Fake IOM", "code": env.IOM.Code, "kind": "ngo", "city": "Aktau"}, wantStatus: http.StatusConflict},
			{name: "email taken", as: "a_admin", method: http.MethodPost, path: "/api/v1/users",
				body: newUserBody(existing.User.Email, "caseworker"), wantStatus: http.StatusConflict},
			{name: "email taken in other case", as: "a_admin", method: http.MethodPost, path: "/api/v1/users",
				body: newUserBody("CaseWorker@Rodnik.Example", "caseworker"), wantStatus: http.StatusConflict},
			{name: "email of a user in another organisation", as: "iom_admin", method: http.MethodPost, path: "/api/v1/users",
				body: withOrg(apptest.AdminEmail), wantStatus: http.StatusConflict},
			{name: "email taken on update", as: "a_admin", method: http.MethodPatch, path: "/api/v1/users/" + other.User.ID,
				body: map[string]any{"email": existing.User.Email}, header: []string{"If-Match", etagNow}, wantStatus: http.StatusConflict},
			{name: "email taken in other case on update", as: "iom_admin", method: http.MethodPatch, path: "/api/v1/users/" + other.User.ID,
				body: map[string]any{"email": "ADMIN@iom.example"}, header: []string{"If-Match", etagNow}, wantStatus: http.StatusConflict},
		})
		// The holder of the email still signs in with its own password.
		env.SignIn(t, existing.User.Email, apptest.Password)
	})
}

// mustSignInStatus tries to sign in and returns the status.
func mustSignInStatus(t testing.TB, env *apptest.Env, email string) int {
	t.Helper()
	return mustDo(t, env, http.MethodPost, "/api/v1/auth/login", nil, map[string]string{"email": email, "password": apptest.Password}).Status
}

// mustPatch changes path as caller with the current ETag and wants 200.
func mustPatch(t testing.TB, env *apptest.Env, as *apptest.Caller, path string, body any) *apptest.Response {
	t.Helper()
	res := mustDo(t, env, http.MethodPatch, path, as, body, "If-Match", mustETag(t, env, path))
	if res.Status != http.StatusOK {
		t.Fatalf("PATCH %s %v: %d %s", path, body, res.Status, res.Body)
	}
	return res
}

// TestOrgsUsersChangesTakeEffectImmediately: deactivation, role changes,
// organisation deactivation and logout apply on the very next request.
func TestOrgsUsersChangesTakeEffectImmediately(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "RODNIK", "Almaty")
		orgC := env.NewOrg(t, "UMIT", "Aktau")
		admin := env.NewUser(t, orgA.ID, "admin@rodnik.example", "admin")

		t.Run("deactivated user", func(t *testing.T) {
			victim := env.NewUser(t, orgA.ID, "leaver@rodnik.example", "caseworker")
			path := "/api/v1/users/" + victim.User.ID
			if res := mustDo(t, env, http.MethodGet, "/api/v1/me", victim, nil); res.Status != http.StatusOK {
				t.Fatalf("me before: %d", res.Status)
			}
			got := mustDecode[userJSON](t, mustPatch(t, env, admin, path, map[string]any{"active": false}), http.StatusOK)
			if got.Active {
				t.Fatalf("PATCH active=false answered an active user: %+v", got)
			}
			mustProblem(t, mustDo(t, env, http.MethodGet, "/api/v1/me", victim, nil), http.StatusUnauthorized, "")
			mustProblem(t, mustDo(t, env, http.MethodGet, "/api/v1/organizations", victim, nil), http.StatusUnauthorized, "")
			mustProblem(t, mustDo(t, env, http.MethodPost, "/api/v1/auth/refresh", nil,
				map[string]string{"refresh_token": victim.RefreshToken}), http.StatusUnauthorized, "")
			if s := mustSignInStatus(t, env, victim.User.Email); s != http.StatusUnauthorized {
				t.Errorf("a deactivated user signs in: %d", s)
			}
			// Reactivated, the user signs in again; the sessions that the
			// deactivation ended stay ended.
			mustPatch(t, env, admin, path, map[string]any{"active": true})
			if s := mustSignInStatus(t, env, victim.User.Email); s != http.StatusOK {
				t.Errorf("a reactivated user cannot sign in: %d", s)
			}
			mustProblem(t, mustDo(t, env, http.MethodGet, "/api/v1/me", victim, nil), http.StatusUnauthorized, "")
			mustProblem(t, mustDo(t, env, http.MethodPost, "/api/v1/auth/refresh", nil,
				map[string]string{"refresh_token": victim.RefreshToken}), http.StatusUnauthorized, "")
		})

		t.Run("password changed by an admin", func(t *testing.T) {
			victim := env.NewUser(t, orgA.ID, "forgetful@rodnik.example", "caseworker")
			mustPatch(t, env, admin, "/api/v1/users/"+victim.User.ID, map[string]any{"password": "a brand new passphrase 2026"})
			mustProblem(t, mustDo(t, env, http.MethodGet, "/api/v1/me", victim, nil), http.StatusUnauthorized, "")
			mustProblem(t, mustDo(t, env, http.MethodPost, "/api/v1/auth/refresh", nil,
				map[string]string{"refresh_token": victim.RefreshToken}), http.StatusUnauthorized, "")
			if s := mustSignInStatus(t, env, victim.User.Email); s != http.StatusUnauthorized {
				t.Errorf("the old password still signs in: %d", s)
			}
			env.SignIn(t, victim.User.Email, "a brand new passphrase 2026")
			// The admin's own session is untouched.
			if res := mustDo(t, env, http.MethodGet, "/api/v1/users", admin, nil); res.Status != http.StatusOK {
				t.Errorf("the admin after changing a password: %d", res.Status)
			}
		})

		t.Run("admin role removed and granted again", func(t *testing.T) {
			deputy := env.NewUser(t, orgA.ID, "deputy@rodnik.example", "admin", "caseworker")
			path := "/api/v1/users/" + deputy.User.ID
			if res := mustDo(t, env, http.MethodGet, "/api/v1/users", deputy, nil); res.Status != http.StatusOK {
				t.Fatalf("GET /users as admin: %d %s", res.Status, res.Body)
			}
			mustPatch(t, env, admin, path, map[string]any{"roles": []string{"caseworker"}})
			mustProblem(t, mustDo(t, env, http.MethodGet, "/api/v1/users", deputy, nil), http.StatusForbidden, "")
			mustProblem(t, mustDo(t, env, http.MethodGet, "/api/v1/users/"+admin.User.ID, deputy, nil), http.StatusForbidden, "")
			mustProblem(t, mustDo(t, env, http.MethodPost, "/api/v1/users", deputy, newUserBody("sneak@rodnik.example", "admin")), http.StatusForbidden, "")
			me := mustDecode[meJSON](t, mustDo(t, env, http.MethodGet, "/api/v1/me", deputy, nil), http.StatusOK)
			if !sameSet(me.Roles, []string{"caseworker"}) {
				t.Errorf("me after the admin role was removed: roles %v", me.Roles)
			}
			mustPatch(t, env, admin, path, map[string]any{"roles": []string{"admin", "caseworker"}})
			if res := mustDo(t, env, http.MethodGet, "/api/v1/users", deputy, nil); res.Status != http.StatusOK {
				t.Errorf("GET /users after the admin role was granted again: %d %s", res.Status, res.Body)
			}
		})

		t.Run("IOM admin role removed", func(t *testing.T) {
			second := env.NewUser(t, env.IOM.ID, "second-admin@iom.example", "admin")
			if res := mustDo(t, env, http.MethodGet, "/api/v1/users?organization_id="+orgA.ID, second, nil); res.Status != http.StatusOK {
				t.Fatalf("GET /users as IOM admin: %d", res.Status)
			}
			mustPatch(t, env, env.Admin, "/api/v1/users/"+second.User.ID, map[string]any{"roles": []string{"coordinator"}})
			mustProblem(t, mustDo(t, env, http.MethodGet, "/api/v1/users", second, nil), http.StatusForbidden, "")
			mustProblem(t, mustDo(t, env, http.MethodPost, "/api/v1/organizations", second,
				map[string]any{"name": "X", "code": "XORG", "kind": "ngo", "city": "Y"}), http.StatusForbidden, "")
		})

		t.Run("deactivated organisation", func(t *testing.T) {
			cAdmin := env.NewUser(t, orgC.ID, "admin@umit.example", "admin")
			cCase := env.NewUser(t, orgC.ID, "caseworker@umit.example", "caseworker")
			orgPath := "/api/v1/organizations/" + orgC.ID
			got := mustDecode[orgJSON](t, mustPatch(t, env, env.Admin, orgPath, map[string]any{"active": false}), http.StatusOK)
			if got.Active {
				t.Fatalf("PATCH active=false answered an active organisation: %+v", got)
			}
			for _, c := range []*apptest.Caller{cAdmin, cCase} {
				mustProblem(t, mustDo(t, env, http.MethodGet, "/api/v1/me", c, nil), http.StatusUnauthorized, "")
				mustProblem(t, mustDo(t, env, http.MethodGet, "/api/v1/organizations", c, nil), http.StatusUnauthorized, "")
				mustProblem(t, mustDo(t, env, http.MethodPost, "/api/v1/auth/refresh", nil,
					map[string]string{"refresh_token": c.RefreshToken}), http.StatusUnauthorized, "")
				if s := mustSignInStatus(t, env, c.User.Email); s != http.StatusUnauthorized {
					t.Errorf("a user of a deactivated organisation signs in: %d", s)
				}
			}
			// No new users in an inactive organisation.
			before := mustSnapshot(t, env)
			body := newUserBody("late@umit.example", "caseworker")
			body["organization_id"] = orgC.ID
			mustProblem(t, mustDo(t, env, http.MethodPost, "/api/v1/users", env.Admin, body), http.StatusUnprocessableEntity, "organization_id")
			mustUnchanged(t, env, before)
			// The users of other organisations are unaffected.
			if res := mustDo(t, env, http.MethodGet, "/api/v1/users", admin, nil); res.Status != http.StatusOK {
				t.Errorf("another NGO's admin after the deactivation: %d", res.Status)
			}
			mustPatch(t, env, env.Admin, orgPath, map[string]any{"active": true})
			if s := mustSignInStatus(t, env, cCase.User.Email); s != http.StatusOK {
				t.Errorf("a user of a reactivated organisation cannot sign in: %d", s)
			}
		})

		t.Run("logout", func(t *testing.T) {
			user := env.NewUser(t, orgA.ID, "phone@rodnik.example", "caseworker")
			laptop := env.SignIn(t, user.User.Email, apptest.Password)
			if res := mustDo(t, env, http.MethodPost, "/api/v1/auth/logout", user, nil); res.Status != http.StatusNoContent || len(res.Body) != 0 {
				t.Fatalf("logout: %d %s", res.Status, res.Body)
			}
			mustProblem(t, mustDo(t, env, http.MethodGet, "/api/v1/me", user, nil), http.StatusUnauthorized, "")
			mustProblem(t, mustDo(t, env, http.MethodPost, "/api/v1/auth/logout", user, nil), http.StatusUnauthorized, "")
			mustProblem(t, mustDo(t, env, http.MethodPost, "/api/v1/auth/refresh", nil,
				map[string]string{"refresh_token": user.RefreshToken}), http.StatusUnauthorized, "")
			// Only that session ended.
			if res := mustDo(t, env, http.MethodGet, "/api/v1/me", laptop, nil); res.Status != http.StatusOK {
				t.Errorf("another session of the same user after logout: %d", res.Status)
			}
		})
	})
}

// TestOrgsUsersRoles: who sees and changes which users and organisations.
func TestOrgsUsersRoles(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		w := newTestWorld(t, db)
		env := w.env
		orgOf := map[string]string{}
		for name, c := range w.callers {
			orgOf[name] = c.User.OrganizationID
		}

		t.Run("me", func(t *testing.T) {
			for name, c := range w.callers {
				me := mustDecode[meJSON](t, mustDo(t, env, http.MethodGet, "/api/v1/me", c, nil), http.StatusOK)
				if me.ID != c.User.ID || me.Email != c.User.Email || me.OrganizationID != orgOf[name] || len(me.Roles) == 0 || me.Locale == "" {
					t.Errorf("%s: me %+v", name, me)
				}
			}
		})

		t.Run("everybody reads the organisation directory", func(t *testing.T) {
			for name, c := range w.callers {
				page := mustDecode[pageJSON[orgJSON]](t, mustDo(t, env, http.MethodGet, "/api/v1/organizations", c, nil), http.StatusOK)
				codes := map[string]orgJSON{}
				for _, o := range page.Items {
					codes[o.Code] = o
				}
				if len(page.Items) != 3 || codes["IOM"].Kind != "iom" || codes["RODNIK"].Kind != "ngo" || codes["SENIM"].ID != w.orgB.ID {
					t.Errorf("%s lists organisations %+v", name, page.Items)
				}
				res := mustDo(t, env, http.MethodGet, "/api/v1/organizations/"+w.orgB.ID, c, nil)
				o := mustDecode[orgJSON](t, res, http.StatusOK)
				if o.ID != w.orgB.ID || o.Code != "SENIM" || o.City != "Karaganda" || !o.Active || o.Kind != "ngo" {
					t.Errorf("%s reads another NGO: %+v", name, o)
				}
				if !etagPattern.MatchString(res.Header.Get("ETag")) {
					t.Errorf("%s: GET organisation without ETag", name)
				}
			}
		})

		t.Run("IOM admin lists every organisation's users and filters", func(t *testing.T) {
			page := mustDecode[pageJSON[userJSON]](t, mustDo(t, env, http.MethodGet, "/api/v1/users", env.Admin, nil), http.StatusOK)
			var got []string
			for _, u := range page.Items {
				got = append(got, u.ID)
			}
			var want []string
			for _, c := range w.callers {
				want = append(want, c.User.ID)
			}
			if !sameSet(got, want) {
				t.Errorf("IOM admin lists %v, want %v", got, want)
			}
			for org, names := range map[string][]string{
				w.orgA.ID:  {"a_admin", "a_caseworker", "a_viewer"},
				w.orgB.ID:  {"b_admin", "b_caseworker"},
				env.IOM.ID: {"iom_admin", "iom_coordinator", "iom_caseworker"},
			} {
				page := mustDecode[pageJSON[userJSON]](t, mustDo(t, env, http.MethodGet, "/api/v1/users?organization_id="+org, env.Admin, nil), http.StatusOK)
				var got, want []string
				for _, u := range page.Items {
					got = append(got, u.ID)
					if u.OrganizationID != org {
						t.Errorf("filter organization_id=%s returned a user of %s", org, u.OrganizationID)
					}
				}
				for _, n := range names {
					want = append(want, w.caller(t, n).User.ID)
				}
				if !sameSet(got, want) {
					t.Errorf("users of %s: %v, want %v", org, got, want)
				}
			}
			empty := mustDecode[pageJSON[userJSON]](t, mustDo(t, env, http.MethodGet, "/api/v1/users?organization_id="+uuid.NewString(), env.Admin, nil), http.StatusOK)
			if len(empty.Items) != 0 || empty.NextCursor != nil {
				t.Errorf("users of a missing organisation: %+v", empty)
			}
		})

		t.Run("NGO admin sees only its own organisation's users", func(t *testing.T) {
			for _, filter := range []string{"", "?organization_id=" + w.orgA.ID} {
				page := mustDecode[pageJSON[userJSON]](t, mustDo(t, env, http.MethodGet, "/api/v1/users"+filter, w.caller(t, "a_admin"), nil), http.StatusOK)
				var got []string
				for _, u := range page.Items {
					got = append(got, u.ID)
				}
				want := []string{w.caller(t, "a_admin").User.ID, w.caller(t, "a_caseworker").User.ID, w.caller(t, "a_viewer").User.ID}
				if !sameSet(got, want) {
					t.Errorf("NGO admin lists %q: %v, want %v", filter, got, want)
				}
			}
			for _, org := range []string{w.orgB.ID, env.IOM.ID} {
				page := mustDecode[pageJSON[userJSON]](t, mustDo(t, env, http.MethodGet, "/api/v1/users?organization_id="+org, w.caller(t, "a_admin"), nil), http.StatusOK)
				if len(page.Items) != 0 {
					t.Errorf("NGO admin filtering by another organisation sees %+v", page.Items)
				}
			}
			u := mustDecode[userJSON](t, mustDo(t, env, http.MethodGet, w.userPath(t, "a_viewer"), w.caller(t, "a_admin"), nil), http.StatusOK)
			if u.ID != w.caller(t, "a_viewer").User.ID || u.OrganizationID != w.orgA.ID || !sameSet(u.Roles, []string{"viewer"}) || !u.Active {
				t.Errorf("NGO admin reads its viewer: %+v", u)
			}
		})

		t.Run("NGO admin creates and changes its own organisation's users", func(t *testing.T) {
			aAdmin := w.caller(t, "a_admin")
			res := mustDo(t, env, http.MethodPost, "/api/v1/users", aAdmin, map[string]any{
				"email": "Aigerim@Rodnik.Example", "display_name": " Aigerim S. ", "password": "a long passphrase nobody guesses",
				"roles": []string{"viewer", "caseworker"}, "locale": "ru",
			})
			u := mustDecode[userJSON](t, res, http.StatusCreated)
			if u.Email != "aigerim@rodnik.example" || u.DisplayName != "Aigerim S." || u.OrganizationID != w.orgA.ID ||
				!sameSet(u.Roles, []string{"caseworker", "viewer"}) || !u.Active || u.Locale != "ru" ||
				u.CreatedAt.IsZero() || !u.UpdatedAt.Equal(u.CreatedAt) {
				t.Errorf("created user: %+v", u)
			}
			if loc := res.Header.Get("Location"); loc != "/api/v1/users/"+u.ID {
				t.Errorf("Location %q", loc)
			}
			if got := mustDecode[userJSON](t, mustDo(t, env, http.MethodGet, "/api/v1/users/"+u.ID, aAdmin, nil), http.StatusOK); !reflect.DeepEqual(got.Roles, u.Roles) || got.Email != u.Email {
				t.Errorf("read back %+v, created %+v", got, u)
			}
			// The new user signs in with its password.
			env.SignIn(t, "aigerim@rodnik.example", "a long passphrase nobody guesses")

			// Naming its own organisation is allowed; default locale is en.
			res = mustDo(t, env, http.MethodPost, "/api/v1/users", aAdmin, map[string]any{
				"email": "second@rodnik.example", "display_name": "Second Admin", "password": apptest.Password,
				"roles": []string{"admin"}, "organization_id": w.orgA.ID,
			})
			second := mustDecode[userJSON](t, res, http.StatusCreated)
			if second.OrganizationID != w.orgA.ID || second.Locale != "en" || !sameSet(second.Roles, []string{"admin"}) {
				t.Errorf("second created user: %+v", second)
			}

			got := mustDecode[userJSON](t, mustPatch(t, env, aAdmin, "/api/v1/users/"+u.ID,
				map[string]any{"roles": []string{"caseworker"}, "locale": "kk", "display_name": "Aigerim Serikova"}), http.StatusOK)
			if !sameSet(got.Roles, []string{"caseworker"}) || got.Locale != "kk" || got.DisplayName != "Aigerim Serikova" ||
				got.OrganizationID != w.orgA.ID || !got.UpdatedAt.After(u.UpdatedAt) || !got.CreatedAt.Equal(u.CreatedAt) {
				t.Errorf("changed user: %+v (was %+v)", got, u)
			}
		})

		t.Run("IOM admin creates and changes users of any organisation", func(t *testing.T) {
			body := newUserBody("new@senim.example", "admin")
			body["organization_id"] = w.orgB.ID
			u := mustDecode[userJSON](t, mustDo(t, env, http.MethodPost, "/api/v1/users", env.Admin, body), http.StatusCreated)
			if u.OrganizationID != w.orgB.ID || !sameSet(u.Roles, []string{"admin"}) {
				t.Errorf("IOM admin created %+v", u)
			}
			body = newUserBody("analyst@iom.example", "coordinator")
			body["organization_id"] = env.IOM.ID
			c := mustDecode[userJSON](t, mustDo(t, env, http.MethodPost, "/api/v1/users", env.Admin, body), http.StatusCreated)
			if c.OrganizationID != env.IOM.ID || !sameSet(c.Roles, []string{"coordinator"}) {
				t.Errorf("IOM admin created %+v", c)
			}
			// Without organization_id the user joins the IOM admin's organisation.
			d := mustDecode[userJSON](t, mustDo(t, env, http.MethodPost, "/api/v1/users", env.Admin, newUserBody("colleague@iom.example", "caseworker")), http.StatusCreated)
			if d.OrganizationID != env.IOM.ID {
				t.Errorf("IOM admin created without organization_id: %+v", d)
			}
			got := mustDecode[userJSON](t, mustPatch(t, env, env.Admin, w.userPath(t, "b_caseworker"), map[string]any{"locale": "kk"}), http.StatusOK)
			if got.Locale != "kk" || got.OrganizationID != w.orgB.ID {
				t.Errorf("IOM admin changed %+v", got)
			}
		})

		t.Run("organisations", func(t *testing.T) {
			res := mustDo(t, env, http.MethodPost, "/api/v1/organizations", env.Admin,
				map[string]any{"name": " Umit Shelter ", "code": "UMIT2026", "kind": "ngo", "city": " Aktau "})
			o := mustDecode[orgJSON](t, res, http.StatusCreated)
			if o.Name != "Umit Shelter" || o.Code != "UMIT2026" || o.Kind != "ngo" || o.City != "Aktau" || !o.Active {
				t.Errorf("created organisation: %+v", o)
			}
			if res.Header.Get("Location") != "/api/v1/organizations/"+o.ID || !etagPattern.MatchString(res.Header.Get("ETag")) {
				t.Errorf("created organisation: Location %q, ETag %q", res.Header.Get("Location"), res.Header.Get("ETag"))
			}

			// An NGO admin changes its own organisation's name and city.
			aPath := "/api/v1/organizations/" + w.orgA.ID
			got := mustDecode[orgJSON](t, mustPatch(t, env, w.caller(t, "a_admin"), aPath,
				map[string]any{"name": "Rodnik Centre", "city": "Astana"}), http.StatusOK)
			if got.Name != "Rodnik Centre" || got.City != "Astana" || got.Code != "RODNIK" || !got.Active {
				t.Errorf("NGO admin changed its organisation: %+v", got)
			}

			// IOM admins change active, on any NGO.
			got = mustDecode[orgJSON](t, mustPatch(t, env, env.Admin, "/api/v1/organizations/"+o.ID, map[string]any{"active": false}), http.StatusOK)
			if got.Active {
				t.Errorf("deactivated organisation is active: %+v", got)
			}
			got = mustDecode[orgJSON](t, mustPatch(t, env, env.Admin, "/api/v1/organizations/"+o.ID, map[string]any{"active": true, "city": "Atyrau"}), http.StatusOK)
			if !got.Active || got.City != "Atyrau" {
				t.Errorf("reactivated organisation: %+v", got)
			}
			// IOM admins may rename their own organisation, and keep it active.
			got = mustDecode[orgJSON](t, mustPatch(t, env, env.Admin, "/api/v1/organizations/"+env.IOM.ID, map[string]any{"name": "IOM Kazakhstan", "active": true}), http.StatusOK)
			if got.Name != "IOM Kazakhstan" || !got.Active || got.Kind != "iom" {
				t.Errorf("IOM organisation renamed: %+v", got)
			}
		})
	})
}

// TestOrgsUsersPagination: pages followed through next_cursor return every
// record exactly once, in order; updated_since filters.
func TestOrgsUsersPagination(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "RODNIK", "Almaty")
		orgB := env.NewOrg(t, "SENIM", "Karaganda")
		for i := range 3 {
			env.NewOrg(t, fmt.Sprintf("NGO%d", i), "Temirtau")
		}
		aAdmin := env.NewUser(t, orgA.ID, "admin@rodnik.example", "admin")
		for i := range 4 {
			body := newUserBody(fmt.Sprintf("user%d@rodnik.example", i), "caseworker")
			body["organization_id"] = orgA.ID
			mustDecode[userJSON](t, mustDo(t, env, http.MethodPost, "/api/v1/users", env.Admin, body), http.StatusCreated)
		}
		for i := range 2 {
			body := newUserBody(fmt.Sprintf("user%d@senim.example", i), "viewer")
			body["organization_id"] = orgB.ID
			mustDecode[userJSON](t, mustDo(t, env, http.MethodPost, "/api/v1/users", env.Admin, body), http.StatusCreated)
		}

		for _, r := range []struct {
			name, list string
			as         *apptest.Caller
			wantN      int
		}{
			{"users as IOM admin", "/api/v1/users", env.Admin, 8},
			{"users of one organisation as IOM admin", "/api/v1/users?organization_id=" + orgA.ID, env.Admin, 5},
			{"users as NGO admin", "/api/v1/users", aAdmin, 5},
			{"organizations", "/api/v1/organizations", aAdmin, 6},
		} {
			t.Run(r.name, func(t *testing.T) {
				all := mustListIDs(t, env, r.as, r.list, 200)
				if len(all) != r.wantN {
					t.Fatalf("one page of 200 holds %d records, want %d", len(all), r.wantN)
				}
				if !sort.StringsAreSorted(all) {
					t.Errorf("records are not in id order: %v", all)
				}
				for _, limit := range []int{1, 2, 3, r.wantN, r.wantN + 1} {
					if got := mustListIDs(t, env, r.as, r.list, limit); !slices.Equal(got, all) {
						t.Errorf("limit=%d pages give %v, want %v", limit, got, all)
					}
				}
			})
		}

		t.Run("updated_since", func(t *testing.T) {
			ids := mustListIDs(t, env, env.Admin, "/api/v1/users", 200)
			changed := mustDecode[userJSON](t, mustPatch(t, env, env.Admin, "/api/v1/users/"+ids[2], map[string]any{"locale": "kk"}), http.StatusOK)
			since := changed.UpdatedAt
			for _, c := range []struct {
				name  string
				since string
				want  []string
			}{
				{"exactly the change", since.Format(time.RFC3339Nano), []string{changed.ID}},
				{"the change in another time zone", since.In(time.FixedZone("ALMT", 5*3600)).Format(time.RFC3339Nano), []string{changed.ID}},
				{"just before the change", since.Add(-time.Microsecond).Format(time.RFC3339Nano), []string{changed.ID}},
				{"just after the change", since.Add(time.Microsecond).Format(time.RFC3339Nano), nil},
				{"far future", "2999-01-01T00:00:00Z", nil},
				{"far past", "2000-01-01T00:00:00Z", ids},
			} {
				got := mustListIDs(t, env, env.Admin, "/api/v1/users?updated_since="+url.QueryEscape(c.since), 1)
				if !slices.Equal(got, c.want) {
					t.Errorf("%s (%s): %v, want %v", c.name, c.since, got, c.want)
				}
			}

			orgs := mustListIDs(t, env, env.Admin, "/api/v1/organizations", 200)
			o := mustDecode[orgJSON](t, mustPatch(t, env, env.Admin, "/api/v1/organizations/"+orgB.ID, map[string]any{"city": "Temirtau"}), http.StatusOK)
			for _, c := range []struct {
				since string
				want  []string
			}{
				{o.UpdatedAt.Format(time.RFC3339Nano), []string{orgB.ID}},
				{o.UpdatedAt.Add(time.Microsecond).Format(time.RFC3339Nano), nil},
				{"2000-01-01T00:00:00+05:00", orgs},
			} {
				if got := mustListIDs(t, env, env.Admin, "/api/v1/organizations?updated_since="+url.QueryEscape(c.since), 2); !slices.Equal(got, c.want) {
					t.Errorf("organisations since %s: %v, want %v", c.since, got, c.want)
				}
			}
		})
	})
}

// mustListIDs follows next_cursor from the first page of list with limit and
// returns the ids in the order received. Each page holds at most limit
// records, only the last page lacks next_cursor, and no id repeats.
func mustListIDs(t testing.TB, env *apptest.Env, as *apptest.Caller, list string, limit int) []string {
	t.Helper()
	sep := "?"
	if strings.Contains(list, "?") {
		sep = "&"
	}
	var ids []string
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatalf("%s: more than 50 pages; the cursor does not advance", list)
		}
		path := fmt.Sprintf("%s%slimit=%d", list, sep, limit)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		page := mustDecode[pageJSON[struct {
			ID string `json:"id"`
		}]](t, mustDo(t, env, http.MethodGet, path, as, nil), http.StatusOK)
		if len(page.Items) > limit {
			t.Fatalf("%s: %d items on a page of %d", path, len(page.Items), limit)
		}
		for _, it := range page.Items {
			if seen[it.ID] {
				t.Fatalf("%s: %s appears twice", path, it.ID)
			}
			seen[it.ID] = true
			ids = append(ids, it.ID)
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			return ids
		}
		if len(page.Items) < limit {
			t.Errorf("%s: a short page (%d of %d) still has next_cursor", path, len(page.Items), limit)
		}
		cursor = *page.NextCursor
	}
}

// TestOrgsUsersNoSecretsInResponsesOrLogs: passwords, hashes and tokens never
// appear in any response or in the log.
func TestOrgsUsersNoSecretsInResponsesOrLogs(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "RODNIK", "Almaty")
		aAdmin := env.NewUser(t, orgA.ID, "admin@rodnik.example", "admin")
		const first, second = "first secret passphrase 71", "second secret passphrase 93"
		secrets := []string{apptest.Password, first, second, "$argon2id$"}
		var bodies [][]byte
		record := func(res *apptest.Response) *apptest.Response {
			bodies = append(bodies, res.Body)
			return res
		}

		res := record(mustDo(t, env, http.MethodPost, "/api/v1/users", aAdmin, map[string]any{
			"email": "aigerim@rodnik.example", "display_name": "Aigerim", "password": first, "roles": []string{"caseworker"}}))
		u := mustDecode[userJSON](t, res, http.StatusCreated)
		path := "/api/v1/users/" + u.ID
		record(mustPatch(t, env, aAdmin, path, map[string]any{"password": second}))
		record(mustDo(t, env, http.MethodPatch, path, aAdmin, map[string]any{"password": "qwertyuiop"}, "If-Match", mustETag(t, env, path)))
		record(mustDo(t, env, http.MethodPatch, path, aAdmin, map[string]any{"password": "short"}, "If-Match", mustETag(t, env, path)))
		record(mustDo(t, env, http.MethodPost, "/api/v1/users", aAdmin, map[string]any{
			"email": "aigerim@rodnik.example", "display_name": "Aigerim", "password": first, "roles": []string{"caseworker"}}))
		record(mustDo(t, env, http.MethodPost, "/api/v1/users", aAdmin, map[string]any{
			"email": "other@rodnik.example", "display_name": "Other", "password": first, "roles": []string{"coordinator"}}))
		// The old password no longer works; the new one does.
		record(mustDo(t, env, http.MethodPost, "/api/v1/auth/login", nil, map[string]string{"email": u.Email, "password": first}))
		record(mustDo(t, env, http.MethodPost, "/api/v1/auth/login", nil, map[string]string{"email": "nobody@rodnik.example", "password": second}))
		login := record(mustDo(t, env, http.MethodPost, "/api/v1/auth/login", nil, map[string]string{"email": u.Email, "password": second}))
		if login.Status != http.StatusOK {
			t.Fatalf("sign-in with the changed password: %d %s", login.Status, login.Body)
		}
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		login.Decode(t, &tok)
		user := &apptest.Caller{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}
		refreshed := record(mustDo(t, env, http.MethodPost, "/api/v1/auth/refresh", nil, map[string]string{"refresh_token": tok.RefreshToken}))
		var tok2 struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		refreshed.Decode(t, &tok2)
		record(mustDo(t, env, http.MethodGet, "/api/v1/me", user, nil))
		for _, p := range []string{"/api/v1/users", "/api/v1/users?organization_id=" + orgA.ID, path, "/api/v1/organizations", "/api/v1/me"} {
			record(mustDo(t, env, http.MethodGet, p, env.Admin, nil))
			record(mustDo(t, env, http.MethodGet, p, aAdmin, nil))
		}
		record(mustDo(t, env, http.MethodPost, "/api/v1/auth/logout", &apptest.Caller{AccessToken: tok2.AccessToken}, nil))

		for _, b := range bodies {
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("a response holds %q: %s", s, b)
				}
			}
			var v any
			if len(b) > 0 && json.Unmarshal(b, &v) == nil {
				if k := passwordKey(v); k != "" {
					t.Errorf("a response has a key %q: %s", k, b)
				}
			}
		}

		logs := env.Logs.String()
		tokens := []string{tok.AccessToken, tok.RefreshToken, tok2.AccessToken, tok2.RefreshToken,
			env.Admin.AccessToken, env.Admin.RefreshToken, aAdmin.AccessToken, aAdmin.RefreshToken}
		for _, s := range append(secrets, tokens...) {
			if s == "" {
				t.Fatal("a token under test is empty")
			}
			if strings.Contains(logs, s) {
				t.Errorf("the log holds a secret (%.12s…)", s)
			}
		}
		if !strings.Contains(logs, `"route":"/api/v1/users/:id"`) {
			t.Errorf("the log does not look like the access log; is the test reading the right buffer?\n%.2000s", logs)
		}
	})
}

// passwordKey returns the first object key in v that mentions a password.
func passwordKey(v any) string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.Contains(strings.ToLower(k), "password") {
				return k
			}
			if k := passwordKey(e); k != "" {
				return k
			}
		}
	case []any:
		for _, e := range x {
			if k := passwordKey(e); k != "" {
				return k
			}
		}
	}
	return ""
}

// TestOrgsUsersBodyLimits: bodies over the configured limit are 413; bodies
// that nest too deeply are 400.
func TestOrgsUsersBodyLimits(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		cfg := apptest.TestConfig(t)
		cfg.BodyLimitBytes = 1024
		env := apptest.NewWithConfig(t, db, cfg)
		orgA := env.NewOrg(t, "RODNIK", "Almaty")
		userPath := "/api/v1/users/" + env.Admin.User.ID
		orgPath := "/api/v1/organizations/" + orgA.ID
		big := strings.Repeat("x", 2000)
		nested := strings.Repeat("[", 100) + strings.Repeat("]", 100)
		w := &testWorld{env: env, orgA: orgA, callers: map[string]*apptest.Caller{"iom_admin": env.Admin}}
		mustRunCases(t, w, []apiCase{
			{name: "create organization over the limit", as: "iom_admin", method: http.MethodPost, path: "/api/v1/organizations",
				body: `{"name":"` + big + `","code":"BIG","kind":"ngo","city":"Aktau"}`, wantStatus: http.StatusRequestEntityTooLarge},
			{name: "create user over the limit", as: "iom_admin", method: http.MethodPost, path: "/api/v1/users",
				body:       map[string]any{"email": "big@rodnik.example", "display_name": big, "password": apptest.Password, "roles": []string{"caseworker"}},
				wantStatus: http.StatusRequestEntityTooLarge},
			{name: "update user over the limit", as: "iom_admin", method: http.MethodPatch, path: userPath,
				body: `{"display_name":"` + big + `"}`, header: []string{"If-Match", etagNow}, wantStatus: http.StatusRequestEntityTooLarge},
			{name: "update organization over the limit", as: "iom_admin", method: http.MethodPatch, path: orgPath,
				body: `{"city":"` + big + `"}`, header: []string{"If-Match", etagNow}, wantStatus: http.StatusRequestEntityTooLarge},
			{name: "login over the limit", method: http.MethodPost, path: "/api/v1/auth/login",
				body: `{"email":"admin@iom.example","password":"` + big + `"}`, wantStatus: http.StatusRequestEntityTooLarge},
			{name: "create user nested 100 deep", as: "iom_admin", method: http.MethodPost, path: "/api/v1/users",
				body:       `{"email":"deep@rodnik.example","display_name":"Deep","password":"a long passphrase nobody guesses","roles":` + nested + `}`,
				wantStatus: http.StatusBadRequest},
			{name: "update organization nested 100 deep", as: "iom_admin", method: http.MethodPatch, path: orgPath,
				body: `{"city":"Aktau","extra":` + nested + `}`, header: []string{"If-Match", etagNow}, wantStatus: http.StatusBadRequest},
			{name: "nested 100 deep and over the limit", as: "iom_admin", method: http.MethodPost, path: "/api/v1/users",
				body: `{"roles":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, wantStatus: http.StatusRequestEntityTooLarge},
			{name: "login nested 100 deep", method: http.MethodPost, path: "/api/v1/auth/login",
				body: `{"email":` + nested + `}`, wantStatus: http.StatusBadRequest},
		})

		// Within the limit, brackets inside strings are text, not nesting.
		name := strings.Repeat("[", 100)
		got := mustDecode[userJSON](t, mustPatch(t, env, env.Admin, userPath, map[string]any{"display_name": name}), http.StatusOK)
		if got.DisplayName != name {
			t.Errorf("display name of brackets: %q", got.DisplayName)
		}
		// A body just under the limit is accepted.
		body := fmt.Sprintf(`{"name":%q,"code":"NEARLIMIT","kind":"ngo","city":"Aktau"}`, strings.Repeat("n", 200))
		if len(body) > 1024 {
			t.Fatalf("test body is %d bytes", len(body))
		}
		if res := mustDo(t, env, http.MethodPost, "/api/v1/organizations", env.Admin, body); res.Status != http.StatusCreated {
			t.Errorf("a body under the limit: %d %s", res.Status, res.Body)
		}

		// A body without a declared length is cut off at the limit too. (env.Do
		// always declares the length, so this request goes to the handler directly.)
		before := mustSnapshot(t, env)
		req := httptest.NewRequest(http.MethodPost, "/api/v1/organizations",
			io.MultiReader(strings.NewReader(`{"name":"`+big+`","code":"CHUNKED","kind":"ngo","city":"Aktau"}`)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+env.Admin.AccessToken)
		if req.ContentLength > 0 {
			t.Fatalf("request declares its length %d", req.ContentLength)
		}
		rec := httptest.NewRecorder()
		env.App.Handler.ServeHTTP(rec, req)
		res := &apptest.Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
		mustProblem(t, res, http.StatusRequestEntityTooLarge, "")
		mustUnchanged(t, env, before)
	})
}

// TestOrgsUsersResponseHeaders: every response carries X-Request-Id (the
// caller's when it is plain), and /api/ responses are never cached.
func TestOrgsUsersResponseHeaders(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "RODNIK", "Almaty")
		userPath := "/api/v1/users/" + env.Admin.User.ID
		seen := map[string]bool{}
		for _, c := range []struct {
			method, path string
			as           *apptest.Caller
			body         any
			header       []string
			want         int
		}{
			{http.MethodGet, "/api/v1/organizations", env.Admin, nil, nil, http.StatusOK},
			{http.MethodGet, "/api/v1/organizations/" + orgA.ID, env.Admin, nil, nil, http.StatusOK},
			{http.MethodPost, "/api/v1/organizations", env.Admin, `{"name":"Umit","code":"UMIT","kind":"ngo","city":"Aktau"}`, nil, http.StatusCreated},
			{http.MethodPatch, "/api/v1/organizations/" + orgA.ID, env.Admin, `{"city":"Aktau"}`, []string{"If-Match", `"1"`}, http.StatusOK},
			{http.MethodGet, "/api/v1/users", env.Admin, nil, nil, http.StatusOK},
			{http.MethodGet, userPath, env.Admin, nil, nil, http.StatusOK},
			{http.MethodPatch, userPath, env.Admin, `{"locale":"ru"}`, nil, http.StatusPreconditionRequired},
			{http.MethodPatch, userPath, env.Admin, `{"locale":"ru"}`, []string{"If-Match", `"99"`}, http.StatusPreconditionFailed},
			{http.MethodPost, "/api/v1/users", env.Admin, `{`, nil, http.StatusBadRequest},
			{http.MethodPost, "/api/v1/users", env.Admin, newUserBody("x@rodnik.example", "viewer"), nil, http.StatusUnprocessableEntity},
			{http.MethodGet, "/api/v1/users/" + uuid.NewString(), env.Admin, nil, nil, http.StatusNotFound},
			{http.MethodGet, "/api/v1/me", nil, nil, nil, http.StatusUnauthorized},
			{http.MethodGet, "/api/v1/me", env.Admin, nil, nil, http.StatusOK},
			{http.MethodGet, "/api/v1/nowhere", env.Admin, nil, nil, http.StatusNotFound},
			{http.MethodGet, "/healthz", nil, nil, nil, http.StatusOK},
			{http.MethodGet, "/openapi.yaml", nil, nil, nil, http.StatusOK},
		} {
			res := mustDo(t, env, c.method, c.path, c.as, c.body, c.header...)
			if res.Status != c.want {
				t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, res.Status, c.want, res.Body)
			}
			id := res.Header.Get("X-Request-Id")
			if seen[id] {
				t.Errorf("%s %s: X-Request-Id %q repeats", c.method, c.path, id)
			}
			seen[id] = true
			if res.Status >= 400 {
				var p struct {
					RequestID string `json:"request_id"`
				}
				res.Decode(t, &p)
				if p.RequestID != id {
					t.Errorf("%s %s: problem request_id %q, header %q", c.method, c.path, p.RequestID, id)
				}
			}
		}
		// The caller's own request id is kept when it is plain, replaced otherwise.
		res := mustDo(t, env, http.MethodGet, "/api/v1/me", env.Admin, nil, "X-Request-Id", "client-42.a_b")
		if got := res.Header.Get("X-Request-Id"); got != "client-42.a_b" {
			t.Errorf("plain caller request id answered as %q", got)
		}
		for _, bad := range []string{"has spaces in it", strings.Repeat("a", 65), "semi;colon", "new\u00e9"} {
			res := mustDo(t, env, http.MethodGet, "/api/v1/me", env.Admin, nil, "X-Request-Id", bad)
			if got := res.Header.Get("X-Request-Id"); got == bad || got == "" {
				t.Errorf("unsafe caller request id %q answered as %q", bad, got)
			}
		}
	})
}
