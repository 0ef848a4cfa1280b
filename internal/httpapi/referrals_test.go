package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/store"
)

// Referrals between organisations (issue 4): the lifecycle and who may move
// it, the access a referral gives the recipient and when it ends, the
// consent gate, list ≡ get with referred cases, the referral list filters,
// the sync feed's tombstones, two API instances on one database, and the
// audit trail.

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// refProblem is a problem+json body with the referral refusal reason.
type refProblem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
	Errors []struct {
		Field string `json:"field"`
	} `json:"errors"`
}

// refWantProblem checks res is a problem+json answer with status, code and
// (when not empty) reason.
func refWantProblem(t testing.TB, res *apptest.Response, status int, code, reason, what string) refProblem {
	t.Helper()
	var p refProblem
	if res.Status != status {
		t.Errorf("%s: status %d, want %d: %s", what, res.Status, status, shortBody(res.Body))
		return p
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s: content type %q, want application/problem+json", what, ct)
		return p
	}
	if err := json.Unmarshal(res.Body, &p); err != nil {
		t.Errorf("%s: problem body: %v", what, err)
		return p
	}
	if p.Code != code {
		t.Errorf("%s: problem code %q, want %q: %s", what, p.Code, code, shortBody(res.Body))
	}
	if reason != "" && p.Reason != reason {
		t.Errorf("%s: problem reason %q, want %q: %s", what, p.Reason, reason, shortBody(res.Body))
	}
	return p
}

// refWorld is one database's service with a referring organisation A, a
// recipient B and a third organisation C, and their users.
type refWorld struct {
	env                       *apptest.Env
	a, b, c                   organizations.Organization
	aCW, bCW, cCW             *apptest.Caller
	aViewer, bViewer, cViewer *apptest.Caller // only with refAllRoles
	coord                     *apptest.Caller // IOM coordinator, only with refAllRoles
}

const refAllRoles = true

// refNewWorld registers A, B and C with a caseworker each; allRoles adds a
// viewer per organisation and an IOM coordinator.
func refNewWorld(t testing.TB, env *apptest.Env, allRoles bool) *refWorld {
	t.Helper()
	w := &refWorld{env: env}
	w.a = env.NewOrg(t, "REFA", "Almaty")
	w.b = env.NewOrg(t, "REFB", "Astana")
	w.c = env.NewOrg(t, "REFC", "Aktau")
	w.aCW = env.NewUser(t, w.a.ID, "cw@refa.example", "caseworker")
	w.bCW = env.NewUser(t, w.b.ID, "cw@refb.example", "caseworker")
	w.cCW = env.NewUser(t, w.c.ID, "cw@refc.example", "caseworker")
	if allRoles {
		w.aViewer = env.NewUser(t, w.a.ID, "viewer@refa.example", "viewer")
		w.bViewer = env.NewUser(t, w.b.ID, "viewer@refb.example", "viewer")
		w.cViewer = env.NewUser(t, w.c.ID, "viewer@refc.example", "viewer")
		w.coord = env.NewUser(t, env.IOM.ID, "coord@ref-iom.example", "coordinator")
	}
	return w
}

// refCase is a case registered for a test, with the identifying values it
// was registered with.
type refCase struct {
	id, number                 string
	given, family, phone, addr string
}

// refNewCase registers a case with identifying fields as caller.
func refNewCase(t testing.TB, env *apptest.Env, caller *apptest.Caller) refCase {
	t.Helper()
	tag := uuid.NewString()[:8]
	c := refCase{given: "Aigul-" + tag, family: "Referred-" + tag, phone: "+7702" + tag[:4], addr: "Abay 1, flat " + tag}
	body := map[string]any{
		"person": map[string]any{
			"given_name": c.given, "family_name": c.family, "phone": c.phone, "address": c.addr,
			"date_of_birth": "1999-04-02", "sex": "female", "gender": "feminine",
			"citizenships": []string{"KZ"}, "languages": []string{"kk", "ru"},
		},
		"trafficking": map[string]any{
			"trafficking_status": "actual", "exploitation_types": []string{"forced_labour"},
			"country_of_exploitation": "RU", "identified_on": "2025-06-01", "identified_by": "ngo",
		},
	}
	id, res := mustCreateCase(t, env, caller, body)
	var v struct {
		CaseNumber string `json:"case_number"`
	}
	res.Decode(t, &v)
	c.id, c.number = id, v.CaseNumber
	return c
}

// refConsent records a referral consent (given or refused) naming
// recipient and returns its id.
func refConsent(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID, recipient string, given bool) string {
	t.Helper()
	res := env.Do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/consents", caller, map[string]any{
		"type": "referral", "given": given, "recipient_organization_id": recipient, "scope": "referral for services",
	})
	mustStatus(t, res, http.StatusCreated, "record referral consent")
	return mustID(t, res)
}

// refWithdrawConsent withdraws a consent as caller.
func refWithdrawConsent(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID, consentID string) {
	t.Helper()
	res := env.Do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/consents/"+consentID+"/withdraw", caller, map[string]any{})
	mustStatus(t, res, http.StatusOK, "withdraw consent")
}

// refReferral is a referral as the API answers it.
type refReferral struct {
	ID                 string     `json:"id"`
	CaseID             string     `json:"case_id"`
	CaseNumber         string     `json:"case_number"`
	FromOrganizationID string     `json:"from_organization_id"`
	ToOrganizationID   string     `json:"to_organization_id"`
	ServiceTypes       []string   `json:"service_types"`
	Reason             *string    `json:"reason"`
	Status             string     `json:"status"`
	EndedWhy           *string    `json:"ended_why"`
	CreatedBy          string     `json:"created_by"`
	RespondedBy        *string    `json:"responded_by"`
	RespondedAt        *time.Time `json:"responded_at"`
	EndedBy            *string    `json:"ended_by"`
	EndedAt            *time.Time `json:"ended_at"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

// refPost asks to refer caseID to org to as caller.
func refPost(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID, to string) *apptest.Response {
	t.Helper()
	return env.Do(t, http.MethodPost, "/api/v1/referrals", caller, map[string]any{
		"case_id": caseID, "to_organization_id": to, "service_types": []string{"shelter", "medical"},
		"reason": "Needs a shelter place in Astana",
	})
}

// refCreate refers caseID to org to as caller and fails unless it is created.
func refCreate(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID, to string) refReferral {
	t.Helper()
	res := refPost(t, env, caller, caseID, to)
	mustStatus(t, res, http.StatusCreated, "create referral")
	var r refReferral
	res.Decode(t, &r)
	return r
}

// refAct posts action on referral id as caller.
func refAct(t testing.TB, env *apptest.Env, caller *apptest.Caller, id, action string) *apptest.Response {
	t.Helper()
	return env.Do(t, http.MethodPost, "/api/v1/referrals/"+id+"/"+action, caller, nil)
}

// refMustAct applies action and fails unless the referral moved to want.
func refMustAct(t testing.TB, env *apptest.Env, caller *apptest.Caller, id, action, want string) refReferral {
	t.Helper()
	res := refAct(t, env, caller, id, action)
	mustStatus(t, res, http.StatusOK, action+" referral")
	var r refReferral
	res.Decode(t, &r)
	if r.Status != want {
		t.Fatalf("%s referral: status %q, want %q", action, r.Status, want)
	}
	return r
}

// refGet reads referral id as caller; it must answer 200.
func refGet(t testing.TB, env *apptest.Env, caller *apptest.Caller, id string) refReferral {
	t.Helper()
	res := env.Do(t, http.MethodGet, "/api/v1/referrals/"+id, caller, nil)
	mustStatus(t, res, http.StatusOK, "GET referral")
	var r refReferral
	res.Decode(t, &r)
	return r
}

// refPostService records a medical service on caseID as caller.
func refPostService(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID, notes string) *apptest.Response {
	t.Helper()
	return env.Do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/services", caller, map[string]any{
		"type": "medical", "status": "in_progress", "notes": notes,
		"details": map[string]any{"kind": "primary", "provider": "City clinic"},
	})
}

// refService is a service as the API answers it.
type refService struct {
	ID                     string `json:"id"`
	CaseID                 string `json:"case_id"`
	ProviderOrganizationID string `json:"provider_organization_id"`
	RecordedBy             string `json:"recorded_by"`
	Notes                  string `json:"notes"`
	View                   string `json:"view"`
}

// refNewService records a service on caseID as caller; it must be created.
func refNewService(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID, notes string) refService {
	t.Helper()
	res := refPostService(t, env, caller, caseID, notes)
	mustStatus(t, res, http.StatusCreated, "record service")
	var s refService
	res.Decode(t, &s)
	return s
}

// refServices lists a case's services as caller; it must answer 200.
func refServices(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID string) map[string]refService {
	t.Helper()
	res := env.Do(t, http.MethodGet, "/api/v1/cases/"+caseID+"/services?limit=200", caller, nil)
	mustStatus(t, res, http.StatusOK, "list services")
	var body struct {
		Items []refService `json:"items"`
	}
	res.Decode(t, &body)
	out := map[string]refService{}
	for _, s := range body.Items {
		out[s.ID] = s
	}
	return out
}

// refItem is one entry of a case list: a case or a tombstone.
type refItem struct {
	ID             string    `json:"id"`
	Deleted        bool      `json:"deleted"`
	Referred       *bool     `json:"referred"`
	View           string    `json:"view"`
	OrganizationID string    `json:"organization_id"`
	UpdatedAt      time.Time `json:"updated_at"`
	keys           []string
}

// refCases pages through GET /api/v1/cases?query as caller with limit (0:
// the default), failing on any error or an id listed twice.
func refCases(t testing.TB, env *apptest.Env, caller *apptest.Caller, query string, limit int) []refItem {
	t.Helper()
	var out []refItem
	seen := map[string]bool{}
	cursor := ""
	for range 500 {
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatalf("query %q: %v", query, err)
		}
		if limit > 0 {
			q.Set("limit", fmt.Sprint(limit))
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		path := "/api/v1/cases?" + q.Encode()
		res := env.Do(t, http.MethodGet, path, caller, nil)
		mustStatus(t, res, http.StatusOK, "GET "+path)
		var body struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor *string           `json:"next_cursor"`
		}
		res.Decode(t, &body)
		if limit > 0 && len(body.Items) > limit {
			t.Fatalf("GET %s: %d items for limit %d", path, len(body.Items), limit)
		}
		for _, raw := range body.Items {
			var it refItem
			if err := json.Unmarshal(raw, &it); err != nil {
				t.Fatalf("item %s: %v", raw, err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("item %s: %v", raw, err)
			}
			for k := range m {
				it.keys = append(it.keys, k)
			}
			sort.Strings(it.keys)
			if seen[it.ID] {
				t.Fatalf("%s: case %s listed twice (limit %d, query %q)", caller.User.Email, it.ID, limit, query)
			}
			seen[it.ID] = true
			out = append(out, it)
		}
		if body.NextCursor == nil || *body.NextCursor == "" {
			return out
		}
		cursor = *body.NextCursor
	}
	t.Fatalf("GET /api/v1/cases?%s: too many pages", query)
	return nil
}

// refListed is the set of cases (not tombstones) caller's plain list holds.
func refListed(t testing.TB, env *apptest.Env, caller *apptest.Caller, limit int) map[string]refItem {
	t.Helper()
	out := map[string]refItem{}
	for _, it := range refCases(t, env, caller, "", limit) {
		if it.Deleted {
			t.Errorf("%s: plain case list (no updated_since) holds a tombstone for %s", caller.User.Email, it.ID)
			continue
		}
		out[it.ID] = it
	}
	return out
}

// refCaseView is the part of a case answer the referral tests look at.
type refCaseView struct {
	ID             string `json:"id"`
	CaseNumber     string `json:"case_number"`
	OrganizationID string `json:"organization_id"`
	View           string `json:"view"`
	Referred       *bool  `json:"referred"`
	Person         struct {
		GivenName   *string `json:"given_name"`
		FamilyName  *string `json:"family_name"`
		Phone       *string `json:"phone"`
		Address     *string `json:"address"`
		DateOfBirth *string `json:"date_of_birth"`
	} `json:"person"`
}

// refEvent is an audit event.
type refEvent struct {
	ID             string  `json:"id"`
	ActorID        *string `json:"actor_id"`
	OrganizationID *string `json:"organization_id"`
	Action         string  `json:"action"`
	ObjectType     string  `json:"object_type"`
	ObjectID       *string `json:"object_id"`
	Outcome        string  `json:"outcome"`
}

// refSortedKeys returns the keys of a set, sorted.
func refSortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// refSince formats t for an updated_since query parameter.
func refSince(t time.Time) string {
	return "updated_since=" + url.QueryEscape(t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano))
}

// refCheckAccess checks that recipient reads the referred case in full, with
// its identifying fields and marked referred, finds it in its list marked
// referred, reads and records services on it (as provider), and can do
// nothing else with it. It returns the service it recorded.
func refCheckAccess(t testing.TB, w *refWorld, recipient *apptest.Caller, kase refCase, ownerService string) refService {
	t.Helper()
	env := w.env
	base := "/api/v1/cases/" + kase.id
	res := env.Do(t, http.MethodGet, base, recipient, nil)
	mustStatus(t, res, http.StatusOK, "recipient GET referred case")
	var v refCaseView
	res.Decode(t, &v)
	if v.View != "full" {
		t.Errorf("recipient's view of the referred case %q, want full", v.View)
	}
	if v.Referred == nil || !*v.Referred {
		t.Errorf("recipient's GET of the referred case: referred %v, want true", v.Referred)
	}
	if v.OrganizationID != w.a.ID || v.CaseNumber != kase.number {
		t.Errorf("recipient's GET: organization %s number %s, want %s %s", v.OrganizationID, v.CaseNumber, w.a.ID, kase.number)
	}
	if strOrNil(v.Person.GivenName) != kase.given || strOrNil(v.Person.FamilyName) != kase.family ||
		strOrNil(v.Person.Phone) != kase.phone || strOrNil(v.Person.Address) != kase.addr || strOrNil(v.Person.DateOfBirth) != "1999-04-02" {
		t.Errorf("recipient's GET lacks identifying fields: %s", shortBody(res.Body))
	}
	etag := res.Header.Get("ETag")

	listed := refListed(t, env, recipient, 0)
	if it, ok := listed[kase.id]; !ok {
		t.Errorf("recipient's case list lacks the referred case")
	} else if it.Referred == nil || !*it.Referred || it.View != "full" {
		t.Errorf("recipient's case list: referred %v view %q, want true full", it.Referred, it.View)
	}
	byOrg := refCases(t, env, recipient, "organization_id="+w.a.ID, 0)
	if len(byOrg) != 1 || byOrg[0].ID != kase.id {
		t.Errorf("recipient's case list filtered by the owner: %d items, want just the referred case", len(byOrg))
	}

	svcs := refServices(t, env, recipient, kase.id)
	if _, ok := svcs[ownerService]; !ok {
		t.Errorf("recipient's service list lacks the owner's service")
	}
	mustStatus(t, env.Do(t, http.MethodGet, base+"/services/"+ownerService, recipient, nil), http.StatusOK, "recipient GET owner's service")
	mine := refNewService(t, env, recipient, kase.id, "recorded by the recipient")
	if mine.ProviderOrganizationID != w.b.ID || mine.CaseID != kase.id || mine.RecordedBy != recipient.User.ID {
		t.Errorf("recipient's service: provider %s case %s recorded_by %s, want %s %s %s",
			mine.ProviderOrganizationID, mine.CaseID, mine.RecordedBy, w.b.ID, kase.id, recipient.User.ID)
	}
	// It changes its own services, never the owner's.
	sp := base + "/services/" + mine.ID
	got := env.Do(t, http.MethodGet, sp, recipient, nil)
	mustStatus(t, got, http.StatusOK, "recipient GET its service")
	mustStatus(t, env.Do(t, http.MethodPatch, sp, recipient, map[string]any{"funding_project": "REF-1"}, "If-Match", got.Header.Get("ETag")),
		http.StatusOK, "recipient PATCH its own service")
	op := base + "/services/" + ownerService
	otag := env.Do(t, http.MethodGet, op, w.aCW, nil).Header.Get("ETag")
	refWantProblem(t, env.Do(t, http.MethodPatch, op, recipient, map[string]any{"funding_project": "REF-2"}, "If-Match", otag),
		http.StatusNotFound, "not_found", "", "recipient PATCH the owner's service")

	// Nothing else: the person, closing, consents, notes (the recipient's
	// caseworkers may read notes — of their own cases — so the case is not
	// visible for notes: 404, not 403), history, onward referral.
	refWantProblem(t, env.Do(t, http.MethodPatch, base, recipient, map[string]any{"person": map[string]any{"other_names": "x"}}, "If-Match", etag),
		http.StatusNotFound, "not_found", "", "recipient PATCH referred case")
	refWantProblem(t, env.Do(t, http.MethodPost, base+"/close", recipient, map[string]any{"closure_reason": "goals_achieved"}),
		http.StatusNotFound, "not_found", "", "recipient close referred case")
	refWantProblem(t, env.Do(t, http.MethodPost, base+"/reopen", recipient, nil),
		http.StatusNotFound, "not_found", "", "recipient reopen referred case")
	refWantProblem(t, env.Do(t, http.MethodGet, base+"/notes", recipient, nil),
		http.StatusNotFound, "not_found", "", "recipient list notes of referred case")
	refWantProblem(t, env.Do(t, http.MethodPost, base+"/notes", recipient, map[string]any{"text": "recipient note"}),
		http.StatusNotFound, "not_found", "", "recipient add note to referred case")
	refWantProblem(t, env.Do(t, http.MethodGet, base+"/consents", recipient, nil),
		http.StatusNotFound, "not_found", "", "recipient list consents of referred case")
	refWantProblem(t, env.Do(t, http.MethodPost, base+"/consents", recipient, map[string]any{"type": "medical", "given": true}),
		http.StatusNotFound, "not_found", "", "recipient record consent on referred case")
	refWantProblem(t, env.Do(t, http.MethodGet, base+"/history", recipient, nil),
		http.StatusNotFound, "not_found", "", "recipient read history of referred case")
	refWantProblem(t, refPost(t, env, recipient, kase.id, w.c.ID),
		http.StatusNotFound, "not_found", "", "recipient refers the referred case onward")
	return mine
}

// refCheckNoAccess checks that caller cannot see caseID at all, starting
// with its very next request (GET of the case): not the case, its services,
// a service of it (serviceIDs), a service POST or PATCH, and not in its
// list. Reads are 404; writes 404 for a caller who records services
// (caseworkers), 403 for one whose roles cannot record services at all
// (viewers: the function is missing, whatever the case).
func refCheckNoAccess(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID string, serviceIDs []string, what string) {
	t.Helper()
	write, writeCode := http.StatusNotFound, "not_found"
	if !slices.Contains(caller.User.Roles, "caseworker") && !slices.Contains(caller.User.Roles, "admin") {
		write, writeCode = http.StatusForbidden, "forbidden"
	}
	base := "/api/v1/cases/" + caseID
	gone := refWantProblem(t, env.Do(t, http.MethodGet, base, caller, nil), http.StatusNotFound, "not_found", "", what+": GET case")
	missing := refWantProblem(t, env.Do(t, http.MethodGet, "/api/v1/cases/"+uuid.NewString(), caller, nil), http.StatusNotFound, "not_found", "", what+": GET a missing case")
	if gone.Title != missing.Title || gone.Detail != missing.Detail || gone.Type != missing.Type {
		t.Errorf("%s: the case answers unlike a missing one: %+v vs %+v", what, gone, missing)
	}
	refWantProblem(t, env.Do(t, http.MethodGet, base+"/services", caller, nil), http.StatusNotFound, "not_found", "", what+": GET services")
	refWantProblem(t, refPostService(t, env, caller, caseID, "must not be recorded"), write, writeCode, "", what+": POST service")
	for _, sid := range serviceIDs {
		refWantProblem(t, env.Do(t, http.MethodGet, base+"/services/"+sid, caller, nil), http.StatusNotFound, "not_found", "", what+": GET nested service")
		refWantProblem(t, env.Do(t, http.MethodPatch, base+"/services/"+sid, caller, map[string]any{"funding_project": "GONE-1"}, "If-Match", `"1"`),
			write, writeCode, "", what+": PATCH nested service")
	}
	for _, limit := range []int{1, 0} {
		if _, ok := refListed(t, env, caller, limit)[caseID]; ok {
			t.Errorf("%s: the case is in %s's list (limit %d)", what, caller.User.Email, limit)
		}
	}
}

// ---------------------------------------------------------------------------
// 1. Lifecycle, illegal transitions, role × organisation × action
// ---------------------------------------------------------------------------

// TestReferralLifecycle: A refers a case to B with the person's consent; B
// accepts, records a service A then sees, and completes; each step answers
// the referral in its new status with who and when, and is audited.
func TestReferralLifecycle(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		w := refNewWorld(t, env, !refAllRoles)
		kase := refNewCase(t, env, w.aCW)
		refConsent(t, env, w.aCW, kase.id, w.b.ID, true)

		res := refPost(t, env, w.aCW, kase.id, w.b.ID)
		mustStatus(t, res, http.StatusCreated, "A refers to B")
		var r refReferral
		res.Decode(t, &r)
		if loc := res.Header.Get("Location"); loc != "/api/v1/referrals/"+r.ID {
			t.Errorf("Location %q, want /api/v1/referrals/%s", loc, r.ID)
		}
		if r.Status != "pending" || r.CaseID != kase.id || r.CaseNumber != kase.number || r.FromOrganizationID != w.a.ID ||
			r.ToOrganizationID != w.b.ID || strOrNil(r.Reason) != "Needs a shelter place in Astana" || r.CreatedBy != w.aCW.User.ID {
			t.Errorf("created referral: %+v", r)
		}
		if !slices.Equal(r.ServiceTypes, []string{"medical", "shelter"}) {
			t.Errorf("service_types %v, want [medical shelter]", r.ServiceTypes)
		}
		if r.RespondedBy != nil || r.RespondedAt != nil || r.EndedBy != nil || r.EndedAt != nil || r.EndedWhy != nil {
			t.Errorf("a pending referral has responded/ended fields: %s", shortBody(res.Body))
		}
		if evs := mustAuditEvents[refEvent](t, env, url.Values{"action": {"referral.create"}, "object_id": {r.ID}}); len(evs) != 1 ||
			strOrNil(evs[0].ActorID) != w.aCW.User.ID || strOrNil(evs[0].OrganizationID) != w.a.ID || evs[0].Outcome != "success" {
			t.Errorf("referral.create audit events: %+v", evs)
		}

		// Both sides read it, the reason included.
		for _, c := range []*apptest.Caller{w.aCW, w.bCW} {
			got := refGet(t, env, c, r.ID)
			if got.Status != "pending" || strOrNil(got.Reason) != "Needs a shelter place in Astana" || got.CaseNumber != kase.number {
				t.Errorf("%s reads %+v", c.User.Email, got)
			}
		}

		acc := refMustAct(t, env, w.bCW, r.ID, "accept", "accepted")
		if strOrNil(acc.RespondedBy) != w.bCW.User.ID || acc.RespondedAt == nil || acc.EndedAt != nil || !acc.UpdatedAt.After(r.UpdatedAt) && !acc.UpdatedAt.Equal(r.UpdatedAt) {
			t.Errorf("accepted referral: %+v", acc)
		}

		svc := refNewService(t, env, w.bCW, kase.id, "shelter place arranged by B")
		if svc.ProviderOrganizationID != w.b.ID {
			t.Errorf("B's service provider %s, want B %s", svc.ProviderOrganizationID, w.b.ID)
		}
		aSvcs := refServices(t, env, w.aCW, kase.id)
		if s, ok := aSvcs[svc.ID]; !ok || s.ProviderOrganizationID != w.b.ID || s.View != "full" || s.Notes != "shelter place arranged by B" {
			t.Errorf("A's services of the case: B's service %+v (present %v)", s, ok)
		}

		done := refMustAct(t, env, w.bCW, r.ID, "complete", "completed")
		if strOrNil(done.EndedBy) != w.bCW.User.ID || done.EndedAt == nil || strOrNil(done.RespondedBy) != w.bCW.User.ID || done.EndedWhy != nil {
			t.Errorf("completed referral: %+v", done)
		}
		if got := refGet(t, env, w.aCW, r.ID); got.Status != "completed" {
			t.Errorf("A reads status %q after complete", got.Status)
		}
		// B's service stays on the case, visible to A; B no longer sees it.
		if s, ok := refServices(t, env, w.aCW, kase.id)[svc.ID]; !ok || s.ProviderOrganizationID != w.b.ID {
			t.Errorf("after complete, A's services lack B's service")
		}
		refCheckNoAccess(t, env, w.bCW, kase.id, []string{svc.ID}, "B after complete")

		// An Idempotency-Key makes a retried create return the first referral.
		body := map[string]any{"case_id": kase.id, "to_organization_id": w.b.ID, "service_types": []string{"legal"}}
		first := env.Do(t, http.MethodPost, "/api/v1/referrals", w.aCW, body, "Idempotency-Key", "ref-retry-1")
		mustStatus(t, first, http.StatusCreated, "create with Idempotency-Key")
		again := env.Do(t, http.MethodPost, "/api/v1/referrals", w.aCW, body, "Idempotency-Key", "ref-retry-1")
		mustStatus(t, again, http.StatusCreated, "retried create with the same Idempotency-Key")
		if mustID(t, again) != mustID(t, first) {
			t.Errorf("a retried create made a second referral")
		}
		res = env.Do(t, http.MethodGet, "/api/v1/referrals?case_id="+kase.id+"&status=pending", w.aCW, nil)
		mustStatus(t, res, http.StatusOK, "list pending referrals of the case")
		var pend struct {
			Items []refReferral `json:"items"`
		}
		res.Decode(t, &pend)
		if len(pend.Items) != 1 {
			t.Errorf("%d pending referrals after a retried create, want 1", len(pend.Items))
		}
	})
}

// refStatuses are every referral status.
var refStatuses = []string{"pending", "accepted", "declined", "withdrawn", "revoked", "completed"}

// refActions are every referral action; refFrom is the status each moves
// from, refTo where to, refByOwner whether the owner makes it.
var (
	refActions = []string{"accept", "decline", "withdraw", "revoke", "complete"}
	refFrom    = map[string]string{"accept": "pending", "decline": "pending", "withdraw": "pending", "revoke": "accepted", "complete": "accepted"}
	refTo      = map[string]string{"accept": "accepted", "decline": "declined", "withdraw": "withdrawn", "revoke": "revoked", "complete": "completed"}
	refByOwner = map[string]bool{"withdraw": true, "revoke": true}
)

// refInStatus creates a referral of caseID from A to B and moves it to status.
func refInStatus(t testing.TB, w *refWorld, caseID, status string) refReferral {
	t.Helper()
	r := refCreate(t, w.env, w.aCW, caseID, w.b.ID)
	switch status {
	case "pending":
	case "accepted":
		r = refMustAct(t, w.env, w.bCW, r.ID, "accept", "accepted")
	case "declined":
		r = refMustAct(t, w.env, w.bCW, r.ID, "decline", "declined")
	case "withdrawn":
		r = refMustAct(t, w.env, w.aCW, r.ID, "withdraw", "withdrawn")
	case "revoked":
		refMustAct(t, w.env, w.bCW, r.ID, "accept", "accepted")
		r = refMustAct(t, w.env, w.aCW, r.ID, "revoke", "revoked")
	case "completed":
		refMustAct(t, w.env, w.bCW, r.ID, "accept", "accepted")
		r = refMustAct(t, w.env, w.bCW, r.ID, "complete", "completed")
	default:
		t.Fatalf("no status %q", status)
	}
	return r
}

// refPersona is a user trying referral actions, and what the role matrix
// gives it.
type refPersona struct {
	name   string
	caller *apptest.Caller
	side   string // owner, recipient, third
	read   bool   // holds referral read
	act    bool   // holds the referral actions
}

// refExpect is the status persona p should get for action ("get" or an
// action) on a referral in status.
func refExpect(p refPersona, action, status string) int {
	if !p.read {
		return http.StatusForbidden // no referral function at all
	}
	if action == "get" {
		if p.side == "third" {
			return http.StatusNotFound
		}
		return http.StatusOK
	}
	if !p.act {
		return http.StatusForbidden
	}
	if p.side == "third" {
		return http.StatusNotFound
	}
	if (p.side == "owner") != refByOwner[action] {
		return http.StatusForbidden // the other side's action
	}
	if refFrom[action] != status {
		return http.StatusConflict
	}
	return http.StatusOK
}

// TestReferralTransitionsAndRoles: every persona (owner's caseworker and
// viewer, recipient's caseworker and viewer, a third organisation's
// caseworker and viewer, the IOM coordinator and admin) × every action ×
// every status answers as the rules say: the owner never accepts, declines
// or completes (403); the recipient never withdraws or revokes (403); any
// other move of the right side is 409; the third organisation gets 404 —
// like a missing referral; viewers read but never act; the IOM roles have
// no referral function (403). Refused actions change nothing.
func TestReferralTransitionsAndRoles(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		w := refNewWorld(t, env, refAllRoles)
		personas := []refPersona{
			{"A caseworker (owner)", w.aCW, "owner", true, true},
			{"A viewer", w.aViewer, "owner", true, false},
			{"B caseworker (recipient)", w.bCW, "recipient", true, true},
			{"B viewer", w.bViewer, "recipient", true, false},
			{"C caseworker", w.cCW, "third", true, true},
			{"C viewer", w.cViewer, "third", true, false},
			{"IOM coordinator", w.coord, "third", false, false},
			{"IOM admin", env.Admin, "third", false, false},
		}
		kase := refNewCase(t, env, w.aCW)
		refConsent(t, env, w.aCW, kase.id, w.b.ID, true)
		missing := uuid.NewString()

		for _, status := range refStatuses {
			t.Run(status, func(t *testing.T) {
				fx := refInStatus(t, w, kase.id, status)
				for _, p := range personas {
					for _, action := range append([]string{"get"}, refActions...) {
						want := refExpect(p, action, status)
						if want == http.StatusOK && action != "get" {
							continue // a move that succeeds: below, on a fresh referral
						}
						var res, miss *apptest.Response
						if action == "get" {
							res = env.Do(t, http.MethodGet, "/api/v1/referrals/"+fx.ID, p.caller, nil)
							miss = env.Do(t, http.MethodGet, "/api/v1/referrals/"+missing, p.caller, nil)
						} else {
							res = refAct(t, env, p.caller, fx.ID, action)
							miss = refAct(t, env, p.caller, missing, action)
						}
						cell := fmt.Sprintf("%s %s a %s referral", p.name, action, status)
						switch want {
						case http.StatusOK:
							mustStatus(t, res, http.StatusOK, cell)
							var got refReferral
							res.Decode(t, &got)
							if got.ID != fx.ID || got.Status != status {
								t.Errorf("%s: read %s in %s", cell, got.ID, got.Status)
							}
						case http.StatusForbidden:
							refWantProblem(t, res, http.StatusForbidden, "forbidden", "", cell)
						case http.StatusConflict:
							refWantProblem(t, res, http.StatusConflict, "conflict", "", cell)
						case http.StatusNotFound:
							fp := refWantProblem(t, res, http.StatusNotFound, "not_found", "", cell)
							mp := refWantProblem(t, miss, http.StatusNotFound, "not_found", "", cell+" (missing id)")
							if fp.Title != mp.Title || fp.Detail != mp.Detail || fp.Type != mp.Type {
								t.Errorf("%s: answers unlike a missing referral: %+v vs %+v", cell, fp, mp)
							}
						}
					}
				}
				after := refGet(t, env, w.aCW, fx.ID)
				if after.Status != status || !after.UpdatedAt.Equal(fx.UpdatedAt) {
					t.Errorf("refused actions changed the %s referral: now %s, updated %v (was %v)", status, after.Status, after.UpdatedAt, fx.UpdatedAt)
				}
			})
		}

		// The moves that succeed, each on a fresh referral.
		t.Run("legal moves", func(t *testing.T) {
			for _, p := range personas {
				for _, action := range refActions {
					for _, status := range refStatuses {
						if refExpect(p, action, status) != http.StatusOK {
							continue
						}
						fx := refInStatus(t, w, kase.id, status)
						got := refMustAct(t, env, p.caller, fx.ID, action, refTo[action])
						if action == "accept" {
							if strOrNil(got.RespondedBy) != p.caller.User.ID || got.RespondedAt == nil || got.EndedAt != nil {
								t.Errorf("%s accept: responded_by %s at %v ended_at %v", p.name, strOrNil(got.RespondedBy), got.RespondedAt, got.EndedAt)
							}
						} else if strOrNil(got.EndedBy) != p.caller.User.ID || got.EndedAt == nil || got.EndedWhy != nil {
							t.Errorf("%s %s: ended_by %s at %v why %s", p.name, action, strOrNil(got.EndedBy), got.EndedAt, strOrNil(got.EndedWhy))
						}
						// And the same move again is 409: it is no longer in its from status.
						refWantProblem(t, refAct(t, env, p.caller, fx.ID, action), http.StatusConflict, "conflict", "", p.name+" "+action+" twice")
					}
				}
			}
		})

		// Referral creation: only the owner's caseworkers.
		t.Run("create", func(t *testing.T) {
			refWantProblem(t, refPost(t, env, w.aViewer, kase.id, w.b.ID), http.StatusForbidden, "forbidden", "", "A viewer refers")
			refWantProblem(t, refPost(t, env, w.coord, kase.id, w.b.ID), http.StatusForbidden, "forbidden", "", "IOM coordinator refers")
			refWantProblem(t, refPost(t, env, env.Admin, kase.id, w.b.ID), http.StatusForbidden, "forbidden", "", "IOM admin refers")
			refWantProblem(t, refPost(t, env, w.cCW, kase.id, w.b.ID), http.StatusNotFound, "not_found", "", "C caseworker refers A's case")
			refWantProblem(t, refPost(t, env, w.bViewer, kase.id, w.c.ID), http.StatusForbidden, "forbidden", "", "B viewer refers")
			// List: the IOM roles have no referral list either.
			for _, c := range []*apptest.Caller{w.coord, env.Admin} {
				refWantProblem(t, env.Do(t, http.MethodGet, "/api/v1/referrals", c, nil), http.StatusForbidden, "forbidden", "", c.User.Email+" lists referrals")
			}
		})
	})
}

// ---------------------------------------------------------------------------
// 2. Access before, during and after each ending
// ---------------------------------------------------------------------------

// TestReferralAccess: before B accepts it sees nothing of the case; while
// accepted it reads the case in full (marked referred), lists it, reads and
// records services, and nothing else; B's viewer, C and A's other cases
// stay out of reach; after every ending (decline, withdraw, revoke,
// complete, consent withdrawal or refusal) B's very next request is 404 and
// the case leaves its list, while the services B recorded stay with A.
func TestReferralAccess(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		w := refNewWorld(t, env, refAllRoles)
		other := refNewCase(t, env, w.aCW) // A's case never referred
		otherSvc := refNewService(t, env, w.aCW, other.id, "A's other service")
		refConsent(t, env, w.aCW, other.id, w.c.ID, true)

		// setup registers a case with a service of A's and a referral
		// consent naming B, and refers it.
		setup := func(t *testing.T) (refCase, string, string, refReferral) {
			kase := refNewCase(t, env, w.aCW)
			aSvc := refNewService(t, env, w.aCW, kase.id, "A's own service")
			consent := refConsent(t, env, w.aCW, kase.id, w.b.ID, true)
			r := refCreate(t, env, w.aCW, kase.id, w.b.ID)
			refCheckNoAccess(t, env, w.bCW, kase.id, []string{aSvc.ID}, "B before accept")
			return kase, aSvc.ID, consent, r
		}
		// during accepts and checks everything B may and may not do.
		during := func(t *testing.T, kase refCase, aSvc string, r refReferral) refService {
			refMustAct(t, env, w.bCW, r.ID, "accept", "accepted")
			mine := refCheckAccess(t, w, w.bCW, kase, aSvc)
			refCheckNoAccess(t, env, w.bViewer, kase.id, []string{aSvc, mine.ID}, "B's viewer during accept")
			refCheckNoAccess(t, env, w.cCW, kase.id, []string{aSvc, mine.ID}, "C during accept")
			refCheckNoAccess(t, env, w.bCW, other.id, []string{otherSvc.ID}, "B on A's other case during accept")
			// A sees its case unmarked.
			res := env.Do(t, http.MethodGet, "/api/v1/cases/"+kase.id, w.aCW, nil)
			mustStatus(t, res, http.StatusOK, "A GET its referred case")
			var v refCaseView
			res.Decode(t, &v)
			if v.Referred != nil && *v.Referred {
				t.Errorf("the owner sees its own case marked referred")
			}
			return mine
		}
		// after checks B lost everything and A keeps B's services.
		after := func(t *testing.T, kase refCase, ids []string, mine *refService, what string) {
			refCheckNoAccess(t, env, w.bCW, kase.id, ids, what)
			if mine != nil {
				s, ok := refServices(t, env, w.aCW, kase.id)[mine.ID]
				if !ok || s.ProviderOrganizationID != w.b.ID || s.Notes != "recorded by the recipient" {
					t.Errorf("%s: A's services of the case lack B's service (%+v)", what, s)
				}
			}
		}

		t.Run("decline", func(t *testing.T) {
			kase, aSvc, _, r := setup(t)
			refMustAct(t, env, w.bCW, r.ID, "decline", "declined")
			after(t, kase, []string{aSvc}, nil, "B after decline")
		})
		t.Run("withdraw", func(t *testing.T) {
			kase, aSvc, _, r := setup(t)
			refMustAct(t, env, w.aCW, r.ID, "withdraw", "withdrawn")
			after(t, kase, []string{aSvc}, nil, "B after withdraw")
		})
		t.Run("revoke", func(t *testing.T) {
			kase, aSvc, _, r := setup(t)
			mine := during(t, kase, aSvc, r)
			refMustAct(t, env, w.aCW, r.ID, "revoke", "revoked")
			after(t, kase, []string{aSvc, mine.ID}, &mine, "B after revoke")
		})
		t.Run("complete", func(t *testing.T) {
			kase, aSvc, _, r := setup(t)
			mine := during(t, kase, aSvc, r)
			refMustAct(t, env, w.bCW, r.ID, "complete", "completed")
			after(t, kase, []string{aSvc, mine.ID}, &mine, "B after complete")
		})
		t.Run("consent withdrawn while accepted", func(t *testing.T) {
			kase, aSvc, consent, r := setup(t)
			mine := during(t, kase, aSvc, r)
			refWithdrawConsent(t, env, w.aCW, kase.id, consent)
			after(t, kase, []string{aSvc, mine.ID}, &mine, "B after consent withdrawal")
			got := refGet(t, env, w.aCW, r.ID)
			if got.Status != "revoked" || strOrNil(got.EndedWhy) != "consent_withdrawn" || strOrNil(got.EndedBy) != w.aCW.User.ID || got.EndedAt == nil {
				t.Errorf("after consent withdrawal the accepted referral is %s, ended_why %s, ended_by %s", got.Status, strOrNil(got.EndedWhy), strOrNil(got.EndedBy))
			}
			if b := refGet(t, env, w.bCW, r.ID); b.Status != "revoked" {
				t.Errorf("B reads the referral as %s after consent withdrawal", b.Status)
			}
			refWantProblem(t, refAct(t, env, w.bCW, r.ID, "complete"), http.StatusConflict, "conflict", "", "B completes a referral revoked by consent withdrawal")
		})
		t.Run("consent withdrawn while pending", func(t *testing.T) {
			kase, aSvc, consent, r := setup(t)
			refWithdrawConsent(t, env, w.aCW, kase.id, consent)
			got := refGet(t, env, w.aCW, r.ID)
			if got.Status != "withdrawn" || strOrNil(got.EndedWhy) != "consent_withdrawn" {
				t.Errorf("after consent withdrawal the pending referral is %s, ended_why %s", got.Status, strOrNil(got.EndedWhy))
			}
			refWantProblem(t, refAct(t, env, w.bCW, r.ID, "accept"), http.StatusConflict, "conflict", "", "B accepts a referral withdrawn by consent withdrawal")
			after(t, kase, []string{aSvc}, nil, "B after consent withdrawal of a pending referral")
		})
		t.Run("consent refused while accepted", func(t *testing.T) {
			kase, aSvc, _, r := setup(t)
			mine := during(t, kase, aSvc, r)
			refConsent(t, env, w.aCW, kase.id, w.b.ID, false)
			after(t, kase, []string{aSvc, mine.ID}, &mine, "B after consent refusal")
			if got := refGet(t, env, w.aCW, r.ID); got.Status != "revoked" || strOrNil(got.EndedWhy) != "consent_withdrawn" {
				t.Errorf("after consent refusal the accepted referral is %s, ended_why %s", got.Status, strOrNil(got.EndedWhy))
			}
		})
		t.Run("two accepted referrals", func(t *testing.T) {
			// Access lasts while any referral of the case to B is accepted.
			kase, aSvc, _, r := setup(t)
			r2 := refCreate(t, env, w.aCW, kase.id, w.b.ID)
			refMustAct(t, env, w.bCW, r.ID, "accept", "accepted")
			refMustAct(t, env, w.bCW, r2.ID, "accept", "accepted")
			if n := len(refCases(t, env, w.bCW, "organization_id="+w.a.ID, 0)); n != 1 {
				t.Errorf("a case referred twice is listed %d times", n)
			}
			refMustAct(t, env, w.aCW, r.ID, "revoke", "revoked")
			mustStatus(t, env.Do(t, http.MethodGet, "/api/v1/cases/"+kase.id, w.bCW, nil), http.StatusOK, "B reads the case while the second referral is accepted")
			refMustAct(t, env, w.bCW, r2.ID, "complete", "completed")
			after(t, kase, []string{aSvc}, nil, "B after both referrals ended")
		})
		t.Run("consent for another recipient withdrawn", func(t *testing.T) {
			// Withdrawing the consent naming C ends C's referral only.
			kase, aSvc, _, r := setup(t)
			toC := refConsent(t, env, w.aCW, kase.id, w.c.ID, true)
			rc := refCreate(t, env, w.aCW, kase.id, w.c.ID)
			refMustAct(t, env, w.cCW, rc.ID, "accept", "accepted")
			refMustAct(t, env, w.bCW, r.ID, "accept", "accepted")
			mustStatus(t, env.Do(t, http.MethodGet, "/api/v1/cases/"+kase.id, w.cCW, nil), http.StatusOK, "C reads the case referred to it too")
			refWithdrawConsent(t, env, w.aCW, kase.id, toC)
			if got := refGet(t, env, w.aCW, rc.ID); got.Status != "revoked" {
				t.Errorf("C's referral is %s after its consent was withdrawn", got.Status)
			}
			if got := refGet(t, env, w.aCW, r.ID); got.Status != "accepted" {
				t.Errorf("B's referral is %s after C's consent was withdrawn", got.Status)
			}
			mustStatus(t, env.Do(t, http.MethodGet, "/api/v1/cases/"+kase.id, w.bCW, nil), http.StatusOK, "B reads the case after C's consent was withdrawn")
			refCheckNoAccess(t, env, w.cCW, kase.id, []string{aSvc}, "C after its consent was withdrawn")
		})
	})
}

// ---------------------------------------------------------------------------
// 3. Consent gate and the other refusals of create
// ---------------------------------------------------------------------------

// TestReferralConsentGate: a referral needs a current, given referral
// consent naming the recipient, another organisation as recipient, an
// active one, and a case of the caller's organisation.
func TestReferralConsentGate(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		w := refNewWorld(t, env, !refAllRoles)
		refused := func(t *testing.T, res *apptest.Response, reason, field, what string) {
			t.Helper()
			p := refWantProblem(t, res, http.StatusUnprocessableEntity, "invalid", reason, what)
			if field != "" && !slices.ContainsFunc(p.Errors, func(e struct {
				Field string `json:"field"`
			}) bool {
				return e.Field == field
			}) {
				t.Errorf("%s: errors %+v do not name %s", what, p.Errors, field)
			}
		}
		none := func(t *testing.T, caseID string) {
			t.Helper()
			res := env.Do(t, http.MethodGet, "/api/v1/referrals?case_id="+caseID, w.aCW, nil)
			mustStatus(t, res, http.StatusOK, "list referrals of the case")
			var body struct {
				Items []refReferral `json:"items"`
			}
			res.Decode(t, &body)
			if len(body.Items) != 0 {
				t.Errorf("a refused referral was stored: %+v", body.Items)
			}
		}

		t.Run("no consent", func(t *testing.T) {
			k := refNewCase(t, env, w.aCW)
			refConsent(t, env, w.aCW, k.id, w.c.ID, true) // for C only
			refused(t, refPost(t, env, w.aCW, k.id, w.b.ID), "referral_consent_missing", "case_id", "consent names another recipient")
			k2 := refNewCase(t, env, w.aCW)
			refused(t, refPost(t, env, w.aCW, k2.id, w.b.ID), "referral_consent_missing", "case_id", "no consent at all")
			// Consent of another type is no referral consent.
			res := env.Do(t, http.MethodPost, "/api/v1/cases/"+k2.id+"/consents", w.aCW, map[string]any{"type": "assistance", "given": true})
			mustStatus(t, res, http.StatusCreated, "assistance consent")
			refused(t, refPost(t, env, w.aCW, k2.id, w.b.ID), "referral_consent_missing", "case_id", "only an assistance consent")
			none(t, k.id)
			none(t, k2.id)
			// The consent naming C does allow referring to C.
			refCreate(t, env, w.aCW, k.id, w.c.ID)
		})
		t.Run("refused consent", func(t *testing.T) {
			k := refNewCase(t, env, w.aCW)
			refConsent(t, env, w.aCW, k.id, w.b.ID, false)
			refused(t, refPost(t, env, w.aCW, k.id, w.b.ID), "referral_consent_refused", "case_id", "refused consent")
			none(t, k.id)
		})
		t.Run("withdrawn consent", func(t *testing.T) {
			k := refNewCase(t, env, w.aCW)
			id := refConsent(t, env, w.aCW, k.id, w.b.ID, true)
			refWithdrawConsent(t, env, w.aCW, k.id, id)
			refused(t, refPost(t, env, w.aCW, k.id, w.b.ID), "referral_consent_withdrawn", "case_id", "withdrawn consent")
			none(t, k.id)
			// Consent given again allows it again.
			refConsent(t, env, w.aCW, k.id, w.b.ID, true)
			refCreate(t, env, w.aCW, k.id, w.b.ID)
		})
		t.Run("to itself", func(t *testing.T) {
			k := refNewCase(t, env, w.aCW)
			refConsent(t, env, w.aCW, k.id, w.b.ID, true)
			refused(t, refPost(t, env, w.aCW, k.id, w.a.ID), "referral_to_self", "to_organization_id", "refer to own organisation")
			none(t, k.id)
		})
		t.Run("recipient not active", func(t *testing.T) {
			d := env.NewOrg(t, "REFD", "Karaganda")
			k := refNewCase(t, env, w.aCW)
			refConsent(t, env, w.aCW, k.id, d.ID, true) // consent while D was active
			path := "/api/v1/organizations/" + d.ID
			got := env.Do(t, http.MethodGet, path, env.Admin, nil)
			mustStatus(t, got, http.StatusOK, "IOM admin GET organisation")
			mustStatus(t, env.Do(t, http.MethodPatch, path, env.Admin, map[string]any{"active": false}, "If-Match", got.Header.Get("ETag")),
				http.StatusOK, "IOM admin deactivates D")
			refused(t, refPost(t, env, w.aCW, k.id, d.ID), "recipient_not_active", "to_organization_id", "refer to an inactive organisation")
			refused(t, refPost(t, env, w.aCW, k.id, uuid.NewString()), "recipient_not_active", "to_organization_id", "refer to a missing organisation")
			none(t, k.id)
		})
		t.Run("case of another organisation", func(t *testing.T) {
			k := refNewCase(t, env, w.aCW)
			refConsent(t, env, w.aCW, k.id, w.b.ID, true)
			refWantProblem(t, refPost(t, env, w.cCW, k.id, w.b.ID), http.StatusNotFound, "not_found", "", "C refers A's case")
			refWantProblem(t, refPost(t, env, w.bCW, k.id, w.b.ID), http.StatusNotFound, "not_found", "", "B refers A's case to itself")
			refWantProblem(t, refPost(t, env, w.aCW, uuid.NewString(), w.b.ID), http.StatusNotFound, "not_found", "", "refer a missing case")
			none(t, k.id)
		})
	})
}

// ---------------------------------------------------------------------------
// 4. List ≡ GET with referred cases
// ---------------------------------------------------------------------------

// TestReferralListEqualsGet: for every user, the case list (limit 1, 2 and
// the default) holds exactly the cases GET answers 200 for, in the same view
// and with the same referred mark — before accept, during, and after each
// kind of ending.
func TestReferralListEqualsGet(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		w := refNewWorld(t, env, refAllRoles)
		users := []*apptest.Caller{w.aCW, w.aViewer, w.bCW, w.bViewer, w.cCW, w.cViewer, w.coord}
		var all []string
		newCase := func(owner *apptest.Caller) refCase {
			k := refNewCase(t, env, owner)
			all = append(all, k.id)
			return k
		}
		newCase(w.aCW)
		newCase(w.bCW)
		newCase(w.cCW)
		type mark struct {
			view     string
			referred bool
		}
		check := func(phase string) {
			t.Helper()
			for _, u := range users {
				got := map[string]mark{}
				for _, id := range all {
					res := env.Do(t, http.MethodGet, "/api/v1/cases/"+id, u, nil)
					switch res.Status {
					case http.StatusOK:
						var v refCaseView
						res.Decode(t, &v)
						got[id] = mark{v.View, v.Referred != nil && *v.Referred}
					case http.StatusNotFound:
					default:
						t.Fatalf("%s: %s GET case: %d %s", phase, u.User.Email, res.Status, shortBody(res.Body))
					}
				}
				for _, limit := range []int{1, 2, 0} {
					listed := map[string]mark{}
					for id, it := range refListed(t, env, u, limit) {
						listed[id] = mark{it.View, it.Referred != nil && *it.Referred}
					}
					if !reflect.DeepEqual(listed, got) {
						t.Errorf("%s: %s %v limit %d: list %v, GET 200 %v", phase, u.User.Email, u.User.Roles, limit, listed, got)
					}
				}
			}
		}
		// One referral per ending, on cases of their own.
		endings := []string{"decline", "withdraw", "revoke", "complete", "consent"}
		type fixture struct {
			kase    refCase
			consent string
			r       refReferral
		}
		fx := map[string]fixture{}
		for _, e := range endings {
			k := newCase(w.aCW)
			c := refConsent(t, env, w.aCW, k.id, w.b.ID, true)
			fx[e] = fixture{k, c, refCreate(t, env, w.aCW, k.id, w.b.ID)}
		}
		check("before accept")
		for _, e := range []string{"revoke", "complete", "consent"} {
			refMustAct(t, env, w.bCW, fx[e].r.ID, "accept", "accepted")
		}
		check("during accept")
		if n := len(refListed(t, env, w.bCW, 0)); n != 4 {
			t.Errorf("during accept B lists %d cases, want 4 (its own and three referred)", n)
		}
		refMustAct(t, env, w.bCW, fx["decline"].r.ID, "decline", "declined")
		refMustAct(t, env, w.aCW, fx["withdraw"].r.ID, "withdraw", "withdrawn")
		check("after decline and withdraw")
		refMustAct(t, env, w.aCW, fx["revoke"].r.ID, "revoke", "revoked")
		check("after revoke")
		refMustAct(t, env, w.bCW, fx["complete"].r.ID, "complete", "completed")
		check("after complete")
		refWithdrawConsent(t, env, w.aCW, fx["consent"].kase.id, fx["consent"].consent)
		check("after consent withdrawal")
		if got := refSortedKeys(refListed(t, env, w.bCW, 0)); len(got) != 1 {
			t.Errorf("after every ending B lists %v, want only its own case", got)
		}
	})
}

// ---------------------------------------------------------------------------
// 5. Referral list filters and visibility
// ---------------------------------------------------------------------------

// TestReferralListFilters: the referral list shows each organisation the
// referrals it sent or received, filtered by direction, status and case,
// paged without loss; GET answers exactly those.
func TestReferralListFilters(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		w := refNewWorld(t, env, refAllRoles)
		k1 := refNewCase(t, env, w.aCW)
		refConsent(t, env, w.aCW, k1.id, w.b.ID, true)
		refConsent(t, env, w.aCW, k1.id, w.c.ID, true)
		k2 := refNewCase(t, env, w.aCW)
		refConsent(t, env, w.aCW, k2.id, w.b.ID, true)
		kb := refNewCase(t, env, w.bCW)
		refConsent(t, env, w.bCW, kb.id, w.a.ID, true)

		pending := refCreate(t, env, w.aCW, k1.id, w.b.ID)                                                  // A→B pending
		toC := refMustAct(t, env, w.cCW, refCreate(t, env, w.aCW, k1.id, w.c.ID).ID, "decline", "declined") // A→C declined
		accepted := refInStatus(t, w, k2.id, "accepted")                                                    // A→B accepted
		fromB := refCreate(t, env, w.bCW, kb.id, w.a.ID)                                                    // B→A pending
		everyone := []refReferral{pending, toC, accepted, fromB}

		ids := func(rs ...refReferral) []string {
			out := make([]string, len(rs))
			for i, r := range rs {
				out[i] = r.ID
			}
			sort.Strings(out)
			return out
		}
		list := func(c *apptest.Caller, query string, limit int) []string {
			t.Helper()
			var out []string
			cursor := ""
			for range 50 {
				q, _ := url.ParseQuery(query)
				if limit > 0 {
					q.Set("limit", fmt.Sprint(limit))
				}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				res := env.Do(t, http.MethodGet, "/api/v1/referrals?"+q.Encode(), c, nil)
				mustStatus(t, res, http.StatusOK, "list referrals ?"+q.Encode())
				var body struct {
					Items      []refReferral `json:"items"`
					NextCursor *string       `json:"next_cursor"`
				}
				res.Decode(t, &body)
				for _, r := range body.Items {
					if r.FromOrganizationID != c.User.OrganizationID && r.ToOrganizationID != c.User.OrganizationID {
						t.Errorf("%s lists referral %s between %s and %s", c.User.Email, r.ID, r.FromOrganizationID, r.ToOrganizationID)
					}
					out = append(out, r.ID)
				}
				if body.NextCursor == nil || *body.NextCursor == "" {
					sort.Strings(out)
					return out
				}
				cursor = *body.NextCursor
			}
			t.Fatal("too many pages")
			return nil
		}
		cases := []struct {
			who   *apptest.Caller
			query string
			want  []string
		}{
			{w.aCW, "", ids(everyone...)},
			{w.aCW, "direction=sent", ids(pending, toC, accepted)},
			{w.aCW, "direction=received", ids(fromB)},
			{w.aCW, "status=pending", ids(pending, fromB)},
			{w.aCW, "direction=sent&status=pending", ids(pending)},
			{w.aCW, "status=accepted", ids(accepted)},
			{w.aCW, "status=revoked", nil},
			{w.aCW, "case_id=" + k1.id, ids(pending, toC)},
			{w.aCW, "case_id=" + k1.id + "&status=declined", ids(toC)},
			{w.aViewer, "", ids(everyone...)},
			{w.bCW, "", ids(pending, accepted, fromB)},
			{w.bCW, "direction=sent", ids(fromB)},
			{w.bCW, "direction=received", ids(pending, accepted)},
			{w.bCW, "direction=received&status=accepted", ids(accepted)},
			{w.bCW, "case_id=" + k1.id, ids(pending)},
			{w.bViewer, "direction=received", ids(pending, accepted)},
			{w.cCW, "", ids(toC)},
			{w.cCW, "direction=sent", nil},
			{w.cCW, "case_id=" + k2.id, nil},
			{w.cViewer, "", ids(toC)},
		}
		for _, c := range cases {
			for _, limit := range []int{1, 2, 0} {
				if got := list(c.who, c.query, limit); !slices.Equal(got, c.want) {
					t.Errorf("%s ?%s limit %d: %v, want %v", c.who.User.Email, c.query, limit, got, c.want)
				}
			}
		}
		// GET answers exactly the referrals each organisation lists.
		for _, c := range []*apptest.Caller{w.aCW, w.bCW, w.cCW, w.bViewer} {
			visible := list(c, "", 0)
			for _, r := range everyone {
				res := env.Do(t, http.MethodGet, "/api/v1/referrals/"+r.ID, c, nil)
				want := http.StatusNotFound
				if slices.Contains(visible, r.ID) {
					want = http.StatusOK
				}
				if res.Status != want {
					t.Errorf("%s GET referral %s→%s: %d, want %d", c.User.Email, r.FromOrganizationID, r.ToOrganizationID, res.Status, want)
				}
			}
		}
		refWantProblem(t, env.Do(t, http.MethodGet, "/api/v1/referrals?direction=sideways", w.aCW, nil), http.StatusBadRequest, "invalid", "", "unknown direction")
	})
}

// ---------------------------------------------------------------------------
// 6. Sync: updated_since shows access starting and ending
// ---------------------------------------------------------------------------

// refClient is a client app's local copy of its case list, kept by
// applying the updated_since feed.
type refClient struct {
	limit int
	since time.Time
	cases map[string]time.Time
}

// sync pulls the feed since the last sync and applies it: cases are
// stored, tombstones drop the local copy.
func (c *refClient) sync(t testing.TB, env *apptest.Env, caller *apptest.Caller) []refItem {
	t.Helper()
	start := time.Now().UTC()
	query := ""
	if c.cases == nil {
		c.cases = map[string]time.Time{}
	} else {
		query = refSince(c.since)
	}
	feed := refCases(t, env, caller, query, c.limit)
	for _, it := range feed {
		if it.Deleted {
			delete(c.cases, it.ID)
		} else {
			c.cases[it.ID] = it.UpdatedAt
		}
	}
	c.since = start
	return feed
}

// TestReferralSync: with updated_since, B's case list carries a referred
// case once access starts and a tombstone {id, deleted, updated_at} once it
// ends (revoke, complete, consent withdrawal), never for referrals B never
// had access through; client apps applying the feed (paged by 1, 2 and the
// default) end with exactly the server's list.
func TestReferralSync(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		w := refNewWorld(t, env, !refAllRoles)
		own := refNewCase(t, env, w.bCW)
		var ks []refCase
		consents := map[string]string{}
		for range 5 {
			k := refNewCase(t, env, w.aCW)
			consents[k.id] = refConsent(t, env, w.aCW, k.id, w.b.ID, true)
			ks = append(ks, k)
		}
		clients := []*refClient{{limit: 1}, {limit: 2}, {limit: 0}}
		agree := func(phase string) {
			t.Helper()
			for _, c := range clients {
				c.sync(t, env, w.bCW)
				server := refListed(t, env, w.bCW, 0)
				if got, want := refSortedKeys(c.cases), refSortedKeys(server); !slices.Equal(got, want) {
					t.Errorf("%s: client (limit %d) holds %v, server lists %v", phase, c.limit, got, want)
				}
			}
		}
		agree("first sync")
		if len(clients[0].cases) != 1 {
			t.Fatalf("B's first sync holds %d cases, want only its own %s", len(clients[0].cases), own.id)
		}

		// Access starts: pending is invisible, accepted appears in the feed.
		r0 := refCreate(t, env, w.aCW, ks[0].id, w.b.ID)
		r1 := refCreate(t, env, w.aCW, ks[1].id, w.b.ID)
		t0 := time.Now().UTC()
		for _, c := range clients {
			if len(c.sync(t, env, w.bCW)) != 0 {
				t.Errorf("pending referrals put cases into B's feed")
			}
		}
		refMustAct(t, env, w.bCW, r0.ID, "accept", "accepted")
		refMustAct(t, env, w.bCW, r1.ID, "accept", "accepted")
		feed := refCases(t, env, w.bCW, refSince(t0), 0)
		got := map[string]refItem{}
		for _, it := range feed {
			got[it.ID] = it
		}
		for _, k := range ks[:2] {
			it, ok := got[k.id]
			if !ok || it.Deleted || it.Referred == nil || !*it.Referred {
				t.Errorf("B's feed since before accept: case %s present %v deleted %v referred %v", k.id, ok, it.Deleted, it.Referred)
			}
		}
		if len(feed) != 2 {
			t.Errorf("B's feed since before accept has %d items, want the 2 accepted cases", len(feed))
		}
		agree("after accept")

		// Access ends by revoke: a tombstone, exactly {id, deleted, updated_at}.
		t1 := time.Now().UTC()
		refMustAct(t, env, w.aCW, r0.ID, "revoke", "revoked")
		feed = refCases(t, env, w.bCW, refSince(t1), 0)
		if len(feed) != 1 || feed[0].ID != ks[0].id || !feed[0].Deleted {
			t.Errorf("B's feed since before revoke: %+v, want one tombstone for %s", feed, ks[0].id)
		} else {
			if !slices.Equal(feed[0].keys, []string{"deleted", "id", "updated_at"}) {
				t.Errorf("tombstone has members %v, want exactly id, deleted, updated_at", feed[0].keys)
			}
			if feed[0].UpdatedAt.Before(t1.Truncate(time.Microsecond)) {
				t.Errorf("tombstone updated_at %v is before the revoke (%v)", feed[0].UpdatedAt, t1)
			}
		}
		// A plain list never carries tombstones; other filters neither.
		if _, ok := refListed(t, env, w.bCW, 0)[ks[0].id]; ok {
			t.Errorf("the revoked case is still in B's list")
		}
		for _, it := range refCases(t, env, w.bCW, refSince(t1)+"&status=open", 0) {
			if it.Deleted {
				t.Errorf("a filtered feed carries a tombstone for %s", it.ID)
			}
		}
		// A's own feed never has tombstones for its own cases.
		for _, it := range refCases(t, env, w.aCW, refSince(t1), 0) {
			if it.Deleted {
				t.Errorf("A's feed carries a tombstone for its own case %s", it.ID)
			}
		}
		agree("after revoke")

		// More endings, a return and a referral that never gave access, in one round.
		t2 := time.Now().UTC()
		refMustAct(t, env, w.bCW, r1.ID, "complete", "completed")
		r2 := refInStatus(t, w, ks[2].id, "accepted")
		refWithdrawConsent(t, env, w.aCW, ks[2].id, consents[ks[2].id]) // r2 → revoked
		if g := refGet(t, env, w.aCW, r2.ID); g.Status != "revoked" {
			t.Errorf("r2 is %s after consent withdrawal", g.Status)
		}
		refInStatus(t, w, ks[3].id, "declined")
		refInStatus(t, w, ks[4].id, "accepted")
		refInStatus(t, w, ks[0].id, "accepted") // B regains the revoked case
		feed = refCases(t, env, w.bCW, refSince(t2), 1)
		want := map[string]bool{ks[1].id: true, ks[2].id: true, ks[4].id: false, ks[0].id: false} // id → tombstone
		got = map[string]refItem{}
		for _, it := range feed {
			got[it.ID] = it
		}
		for id, tomb := range want {
			if it, ok := got[id]; !ok || it.Deleted != tomb {
				t.Errorf("B's feed since t2: case %s present %v deleted %v, want deleted %v", id, ok, it.Deleted, tomb)
			}
		}
		if _, ok := got[ks[3].id]; ok {
			t.Errorf("B's feed has an entry for a case whose referral B declined")
		}
		if len(feed) != len(want) {
			t.Errorf("B's feed since t2 has %d items, want %d", len(feed), len(want))
		}
		var order []string
		for _, it := range feed {
			order = append(order, it.ID)
		}
		if !slices.IsSorted(order) {
			t.Errorf("B's feed is not in id order: %v", order)
		}
		agree("after complete, consent withdrawal, decline and regained access")
	})
}

// ---------------------------------------------------------------------------
// 7. Two API instances on one database
// ---------------------------------------------------------------------------

// TestReferralTwoServers: two API instances share one database, each with
// its own authoriser; a referral accepted through one gives access on the
// other, and one revoked (or ended by consent withdrawal) through one is
// refused on the other on B's very next request.
func TestReferralTwoServers(t *testing.T) {
	for _, driver := range apptest.Drivers() {
		t.Run(string(driver), func(t *testing.T) {
			dbA, dbB := apptest.NewDBPair(t, driver)
			envA := apptest.New(t, dbA)
			envB := apptest.New(t, dbB)
			w := refNewWorld(t, envA, !refAllRoles)
			bOnB := envB.SignIn(t, "cw@refb.example", apptest.Password)
			if bOnB.User.OrganizationID != w.b.ID {
				t.Fatalf("B's caseworker on the second instance is in %s, want %s", bOnB.User.OrganizationID, w.b.ID)
			}
			// start refers a case to B through A's instance, accepts it
			// through A's instance, and checks B reads it through its own.
			start := func(t *testing.T) (refCase, string, refReferral, refService) {
				k := refNewCase(t, envA, w.aCW)
				consent := refConsent(t, envA, w.aCW, k.id, w.b.ID, true)
				r := refCreate(t, envA, w.aCW, k.id, w.b.ID)
				refCheckNoAccess(t, envB, bOnB, k.id, nil, "B on its instance before accept")
				refMustAct(t, envA, w.bCW, r.ID, "accept", "accepted")
				mustStatus(t, envB.Do(t, http.MethodGet, "/api/v1/cases/"+k.id, bOnB, nil), http.StatusOK, "B on its instance reads the accepted referral's case")
				mustStatus(t, envB.Do(t, http.MethodGet, "/api/v1/cases/"+k.id+"/services", bOnB, nil), http.StatusOK, "B on its instance lists services")
				svc := refNewService(t, envB, bOnB, k.id, "recorded by the recipient")
				if _, ok := refListed(t, envB, bOnB, 0)[k.id]; !ok {
					t.Errorf("B's list on its instance lacks the referred case")
				}
				return k, consent, r, svc
			}
			t.Run("revoke", func(t *testing.T) {
				k, _, r, svc := start(t)
				refMustAct(t, envA, w.aCW, r.ID, "revoke", "revoked")
				refCheckNoAccess(t, envB, bOnB, k.id, []string{svc.ID}, "B on its instance after revoke on A's")
				if g := refGet(t, envB, bOnB, r.ID); g.Status != "revoked" {
					t.Errorf("B reads the referral as %s on its instance", g.Status)
				}
				if _, ok := refServices(t, envA, w.aCW, k.id)[svc.ID]; !ok {
					t.Errorf("A lacks the service B recorded through the other instance")
				}
			})
			t.Run("consent withdrawal", func(t *testing.T) {
				k, consent, r, svc := start(t)
				refWithdrawConsent(t, envA, w.aCW, k.id, consent)
				refCheckNoAccess(t, envB, bOnB, k.id, []string{svc.ID}, "B on its instance after consent withdrawal on A's")
				if g := refGet(t, envB, bOnB, r.ID); g.Status != "revoked" || strOrNil(g.EndedWhy) != "consent_withdrawn" {
					t.Errorf("B reads the referral as %s (%s) on its instance", g.Status, strOrNil(g.EndedWhy))
				}
			})
			t.Run("complete on B's instance", func(t *testing.T) {
				k, _, r, svc := start(t)
				refMustAct(t, envB, bOnB, r.ID, "complete", "completed")
				refCheckNoAccess(t, envA, w.bCW, k.id, []string{svc.ID}, "B on A's instance after complete on its own")
			})
		})
	}
}

// ---------------------------------------------------------------------------
// 8. Audit
// ---------------------------------------------------------------------------

// TestReferralAudit: every referral action is an audit event about the
// referral, by the user and organisation that made it; B's reads of the
// referred case and its services and B's service are audited under B's
// organisation; the end of a referral by consent withdrawal leaves an
// event about the referral too.
func TestReferralAudit(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		w := refNewWorld(t, env, !refAllRoles)
		k := refNewCase(t, env, w.aCW)
		consent := refConsent(t, env, w.aCW, k.id, w.b.ID, true)

		// one wants exactly one success event of action about object by caller.
		one := func(t *testing.T, action, objectType, object string, by *apptest.Caller, orgID string) {
			t.Helper()
			evs := mustAuditEvents[refEvent](t, env, url.Values{"action": {action}, "object_id": {object}})
			if len(evs) != 1 {
				t.Errorf("%s on %s: %d audit events, want 1: %+v", action, object, len(evs), evs)
				return
			}
			e := evs[0]
			if strOrNil(e.ActorID) != by.User.ID || strOrNil(e.OrganizationID) != orgID || e.ObjectType != objectType || e.Outcome != "success" {
				t.Errorf("%s on %s: event %+v, want actor %s org %s type %s success", action, object, e, by.User.ID, orgID, objectType)
			}
		}

		t.Run("actions", func(t *testing.T) {
			rDone := refInStatus(t, w, k.id, "completed")
			one(t, "referral.create", "referral", rDone.ID, w.aCW, w.a.ID)
			one(t, "referral.accept", "referral", rDone.ID, w.bCW, w.b.ID)
			one(t, "referral.complete", "referral", rDone.ID, w.bCW, w.b.ID)
			rRev := refInStatus(t, w, k.id, "revoked")
			one(t, "referral.accept", "referral", rRev.ID, w.bCW, w.b.ID)
			one(t, "referral.revoke", "referral", rRev.ID, w.aCW, w.a.ID)
			rDec := refInStatus(t, w, k.id, "declined")
			one(t, "referral.decline", "referral", rDec.ID, w.bCW, w.b.ID)
			rWd := refInStatus(t, w, k.id, "withdrawn")
			one(t, "referral.withdraw", "referral", rWd.ID, w.aCW, w.a.ID)
		})

		t.Run("reads by the recipient", func(t *testing.T) {
			r := refInStatus(t, w, k.id, "accepted")
			mustStatus(t, env.Do(t, http.MethodGet, "/api/v1/cases/"+k.id, w.bCW, nil), http.StatusOK, "B reads the referred case")
			evs := mustAuditEvents[refEvent](t, env, url.Values{"action": {"case.read"}, "object_id": {k.id}, "actor_id": {w.bCW.User.ID}})
			if len(evs) != 1 || strOrNil(evs[0].OrganizationID) != w.b.ID || evs[0].Outcome != "success" || evs[0].ObjectType != "case" {
				t.Errorf("B's read of the referred case: audit events %+v, want one case.read of B's organisation", evs)
			}
			refServices(t, env, w.bCW, k.id)
			if evs := mustAuditEvents[refEvent](t, env, url.Values{"action": {"service.list"}, "object_id": {k.id}, "actor_id": {w.bCW.User.ID}}); len(evs) != 1 ||
				strOrNil(evs[0].OrganizationID) != w.b.ID {
				t.Errorf("B's service list of the referred case: audit events %+v, want one service.list of B's organisation", evs)
			}
			svc := refNewService(t, env, w.bCW, k.id, "audited")
			one(t, "service.create", "service", svc.ID, w.bCW, w.b.ID)
			refListed(t, env, w.bCW, 0)
			if evs := mustAuditEvents[refEvent](t, env, url.Values{"action": {"case.list"}, "actor_id": {w.bCW.User.ID}}); len(evs) == 0 || strOrNil(evs[len(evs)-1].OrganizationID) != w.b.ID {
				t.Errorf("B's case list holding the referred case: audit events %+v, want case.list of B's organisation", evs)
			}
			refMustAct(t, env, w.aCW, r.ID, "revoke", "revoked")
		})

		t.Run("ended by consent withdrawal", func(t *testing.T) {
			r := refInStatus(t, w, k.id, "accepted")
			refWithdrawConsent(t, env, w.aCW, k.id, consent)
			if g := refGet(t, env, w.aCW, r.ID); g.Status != "revoked" {
				t.Fatalf("referral is %s after consent withdrawal", g.Status)
			}
			one(t, "consent.withdraw", "consent", consent, w.aCW, w.a.ID)
			var about []string
			for _, e := range mustAuditEvents[refEvent](t, env, url.Values{"object_id": {r.ID}}) {
				about = append(about, e.Action)
			}
			if !slices.ContainsFunc(about, func(a string) bool {
				return a != "referral.create" && a != "referral.accept" && strings.HasPrefix(a, "referral.")
			}) {
				t.Errorf("the referral's revocation by consent withdrawal left no audit event about the referral (events about it: %v)", about)
			}
		})
	})
}
