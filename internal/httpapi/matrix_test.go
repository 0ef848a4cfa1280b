package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/httpapi"
	"github.com/casework/casework/internal/store"
)

// The security tables of quality.md for cases, consents, services, notes,
// history and the audit trail: the object-level matrix (BOLA), pseudonymised
// views, list ≡ get (property test) and the function-level table (BFLA).

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

func matrixToday() string { return time.Now().UTC().Format(time.DateOnly) }

// matrixCaseBody is a valid case; person fields override the defaults.
func matrixCaseBody(person map[string]any) map[string]any {
	p := map[string]any{
		"given_name": "Matrix", "family_name": uuid.NewString()[:8],
		"sex": "female", "gender": "feminine", "citizenships": []string{"KZ"}, "languages": []string{"kk", "ru"},
	}
	for k, v := range person {
		p[k] = v
	}
	return map[string]any{
		"person": p,
		"trafficking": map[string]any{
			"trafficking_status": "actual", "exploitation_types": []string{"forced_labour"},
			"country_of_exploitation": "RU", "identified_on": "2025-06-01", "identified_by": "ngo",
		},
	}
}

// matrixNewCase registers a case as caller and returns its id.
func matrixNewCase(t testing.TB, env *apptest.Env, caller *apptest.Caller, person map[string]any) string {
	t.Helper()
	id, _ := mustCreateCase(t, env, caller, matrixCaseBody(person))
	return id
}

// matrixNewConsent records a given consent as caller and returns its id.
func matrixNewConsent(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID string) string {
	t.Helper()
	res := env.Do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/consents", caller,
		map[string]any{"type": "data_processing", "given": true, "scope": "matrix fixture consent"})
	mustStatus(t, res, http.StatusCreated, "create consent")
	return mustID(t, res)
}

// matrixNewService records a shelter service as caller and returns its id.
func matrixNewService(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID, notes, facility string) string {
	t.Helper()
	res := env.Do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/services", caller, map[string]any{
		"type": "shelter", "status": "in_progress", "started_on": matrixToday(), "notes": notes,
		"details": map[string]any{"facility": facility, "admitted_on": matrixToday()},
	})
	mustStatus(t, res, http.StatusCreated, "create service")
	return mustID(t, res)
}

// matrixNewNote adds a note as caller.
func matrixNewNote(t testing.TB, env *apptest.Env, caller *apptest.Caller, caseID, text string) {
	t.Helper()
	res := env.Do(t, http.MethodPost, "/api/v1/cases/"+caseID+"/notes", caller, map[string]any{"text": text})
	mustStatus(t, res, http.StatusCreated, "create note")
}

// matrixProblemShape is a problem body without the per-request members
// (request_id, instance), for comparing a foreign answer with a missing one.
func matrixProblemShape(t testing.TB, res *apptest.Response) map[string]any {
	t.Helper()
	m := mustProblemShape(t, res)
	m["content-type"] = res.Header.Get("Content-Type")
	return m
}

// matrixSameAsMissing fails unless the 404 for a foreign record looks exactly
// like the 404 for a missing one.
func matrixSameAsMissing(t testing.TB, what string, foreign, missing *apptest.Response) {
	t.Helper()
	if missing == nil {
		t.Errorf("%s: no answer for the missing record to compare with", what)
		return
	}
	if foreign.Status != missing.Status {
		t.Errorf("%s: foreign answered %d, missing %d", what, foreign.Status, missing.Status)
		return
	}
	f, m := matrixProblemShape(t, foreign), matrixProblemShape(t, missing)
	if !reflect.DeepEqual(f, m) {
		t.Errorf("%s: a foreign record answers differently from a missing one:\nforeign: %v\nmissing: %v", what, f, m)
	}
}

// ---------------------------------------------------------------------------
// 1. Object-level matrix (BOLA)
// ---------------------------------------------------------------------------

// matrixPersona is one signed-in user and what the role matrix of domain.md
// grants it.
type matrixPersona struct {
	name   string
	caller *apptest.Caller
	orgID  string
	full   bool // reads its own organisation's cases in full
	write  bool // creates and changes records of its own organisation's cases
	pseudo bool // reads every organisation's cases pseudonymised (never notes)
}

// matrixTarget is a case (with a service and a withdrawable consent) the
// matrix addresses, or a missing one (no owner).
type matrixTarget struct {
	name      string
	caseID    string
	serviceID string
	consentID string
	orgID     string
	owner     *apptest.Caller
}

func (tg *matrixTarget) exists() bool { return tg.owner != nil }

// matrixOp is one operation that takes an id.
type matrixOp struct {
	name    string
	write   bool
	note    bool // notes: never readable pseudonymised
	success int
	// before prepares an existing target as its owner (e.g. closes the case
	// before a reopen); after restores it, given the operation's answer.
	before func(t testing.TB, env *apptest.Env, tg *matrixTarget)
	after  func(t testing.TB, env *apptest.Env, tg *matrixTarget, res *apptest.Response)
	do     func(t testing.TB, env *apptest.Env, c *apptest.Caller, tg *matrixTarget, n int) *apptest.Response
}

// matrixExpect is the expected status from the role matrix: a role without
// the function 403; a case the caller's organisation cannot see (or a
// missing one) 404; otherwise success.
func matrixExpect(p matrixPersona, op matrixOp, tg *matrixTarget) int {
	own := tg.exists() && tg.orgID == p.orgID
	if op.write {
		switch {
		case !p.write:
			return http.StatusForbidden
		case own:
			return op.success
		default:
			return http.StatusNotFound
		}
	}
	if p.full && own {
		return op.success
	}
	if p.pseudo {
		switch {
		case op.note:
			return http.StatusForbidden
		case tg.exists():
			return op.success
		default:
			return http.StatusNotFound
		}
	}
	if p.full {
		return http.StatusNotFound
	}
	return http.StatusForbidden
}

// matrixETagFor is the owner's current ETag of path, or a plausible one for a
// missing target.
func matrixETagFor(t testing.TB, env *apptest.Env, tg *matrixTarget, path string) string {
	t.Helper()
	if !tg.exists() {
		return `"1"`
	}
	return mustETagAs(t, env, tg.owner, path)
}

func matrixOps() []matrixOp {
	get := func(suffix func(tg *matrixTarget) string) func(testing.TB, *apptest.Env, *apptest.Caller, *matrixTarget, int) *apptest.Response {
		return func(t testing.TB, env *apptest.Env, c *apptest.Caller, tg *matrixTarget, _ int) *apptest.Response {
			return env.Do(t, http.MethodGet, "/api/v1/cases/"+tg.caseID+suffix(tg), c, nil)
		}
	}
	fixed := func(s string) func(*matrixTarget) string { return func(*matrixTarget) string { return s } }
	return []matrixOp{
		{name: "GET case", success: http.StatusOK, do: get(fixed(""))},
		{name: "PATCH case", write: true, success: http.StatusOK,
			do: func(t testing.TB, env *apptest.Env, c *apptest.Caller, tg *matrixTarget, n int) *apptest.Response {
				path := "/api/v1/cases/" + tg.caseID
				tag := matrixETagFor(t, env, tg, path)
				return env.Do(t, http.MethodPatch, path, c,
					map[string]any{"person": map[string]any{"other_names": fmt.Sprintf("matrix patch %d", n)}}, "If-Match", tag)
			}},
		{name: "POST close", write: true, success: http.StatusOK,
			do: func(t testing.TB, env *apptest.Env, c *apptest.Caller, tg *matrixTarget, _ int) *apptest.Response {
				return env.Do(t, http.MethodPost, "/api/v1/cases/"+tg.caseID+"/close", c, map[string]any{"closure_reason": "goals_achieved"})
			},
			after: func(t testing.TB, env *apptest.Env, tg *matrixTarget, res *apptest.Response) {
				if res.Status/100 == 2 {
					mustStatus(t, env.Do(t, http.MethodPost, "/api/v1/cases/"+tg.caseID+"/reopen", tg.owner, nil), http.StatusOK, "owner reopens after close")
				}
			}},
		{name: "POST reopen", write: true, success: http.StatusOK,
			before: func(t testing.TB, env *apptest.Env, tg *matrixTarget) {
				mustStatus(t, env.Do(t, http.MethodPost, "/api/v1/cases/"+tg.caseID+"/close", tg.owner,
					map[string]any{"closure_reason": "other"}), http.StatusOK, "owner closes before reopen")
			},
			after: func(t testing.TB, env *apptest.Env, tg *matrixTarget, res *apptest.Response) {
				if res.Status/100 != 2 {
					mustStatus(t, env.Do(t, http.MethodPost, "/api/v1/cases/"+tg.caseID+"/reopen", tg.owner, nil), http.StatusOK, "owner reopens after a refused reopen")
				}
			},
			do: func(t testing.TB, env *apptest.Env, c *apptest.Caller, tg *matrixTarget, _ int) *apptest.Response {
				return env.Do(t, http.MethodPost, "/api/v1/cases/"+tg.caseID+"/reopen", c, nil)
			}},
		{name: "GET consents", success: http.StatusOK, do: get(fixed("/consents"))},
		{name: "POST consents", write: true, success: http.StatusCreated,
			do: func(t testing.TB, env *apptest.Env, c *apptest.Caller, tg *matrixTarget, n int) *apptest.Response {
				return env.Do(t, http.MethodPost, "/api/v1/cases/"+tg.caseID+"/consents", c,
					map[string]any{"type": "assistance", "given": true, "scope": fmt.Sprintf("matrix consent %d", n)})
			}},
		{name: "POST consent withdraw", write: true, success: http.StatusOK,
			before: func(t testing.TB, env *apptest.Env, tg *matrixTarget) {
				tg.consentID = matrixNewConsent(t, env, tg.owner, tg.caseID)
			},
			do: func(t testing.TB, env *apptest.Env, c *apptest.Caller, tg *matrixTarget, _ int) *apptest.Response {
				return env.Do(t, http.MethodPost, "/api/v1/cases/"+tg.caseID+"/consents/"+tg.consentID+"/withdraw", c, map[string]any{})
			}},
		{name: "GET services", success: http.StatusOK, do: get(fixed("/services"))},
		{name: "POST services", write: true, success: http.StatusCreated,
			do: func(t testing.TB, env *apptest.Env, c *apptest.Caller, tg *matrixTarget, n int) *apptest.Response {
				return env.Do(t, http.MethodPost, "/api/v1/cases/"+tg.caseID+"/services", c, map[string]any{
					"type": "psychological", "notes": fmt.Sprintf("matrix service %d", n),
					"details": map[string]any{"modality": "individual", "sessions": n % 1000},
				})
			}},
		{name: "GET service", success: http.StatusOK, do: get(func(tg *matrixTarget) string { return "/services/" + tg.serviceID })},
		{name: "PATCH service", write: true, success: http.StatusOK,
			do: func(t testing.TB, env *apptest.Env, c *apptest.Caller, tg *matrixTarget, n int) *apptest.Response {
				path := "/api/v1/cases/" + tg.caseID + "/services/" + tg.serviceID
				tag := matrixETagFor(t, env, tg, path)
				return env.Do(t, http.MethodPatch, path, c, map[string]any{"funding_project": fmt.Sprintf("MX-%d", n)}, "If-Match", tag)
			}},
		{name: "GET notes", note: true, success: http.StatusOK, do: get(fixed("/notes"))},
		{name: "POST notes", write: true, note: true, success: http.StatusCreated,
			do: func(t testing.TB, env *apptest.Env, c *apptest.Caller, tg *matrixTarget, n int) *apptest.Response {
				return env.Do(t, http.MethodPost, "/api/v1/cases/"+tg.caseID+"/notes", c, map[string]any{"text": fmt.Sprintf("matrix note %d", n)})
			}},
		{name: "GET history", success: http.StatusOK, do: get(fixed("/history"))},
	}
}

// matrixSnapshot is everything the owners see of their cases: the case,
// its consents, services and notes.
func matrixSnapshot(t testing.TB, env *apptest.Env, targets []*matrixTarget) []string {
	t.Helper()
	var out []string
	for _, tg := range targets {
		if !tg.exists() {
			continue
		}
		for _, suffix := range []string{"", "/consents?limit=200", "/services?limit=200", "/notes?limit=200"} {
			res := env.Do(t, http.MethodGet, "/api/v1/cases/"+tg.caseID+suffix, tg.owner, nil)
			out = append(out, fmt.Sprintf("%s%s → %d %s", tg.name, suffix, res.Status, res.Body))
		}
	}
	return out
}

// matrixChanged names the parts of two snapshots that differ.
func matrixChanged(before, after []string) []string {
	var diff []string
	for i := range max(len(before), len(after)) {
		var b, a string
		if i < len(before) {
			b = before[i]
		}
		if i < len(after) {
			a = after[i]
		}
		if a != b {
			label, _, _ := strings.Cut(a+b, " → ")
			diff = append(diff, label)
		}
	}
	return diff
}

// matrixCheckBody checks a successful answer is about the target (ids) and
// carries the view the caller is entitled to.
func matrixCheckBody(t testing.TB, cell string, res *apptest.Response, tg *matrixTarget, wantView string) {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Errorf("%s: body is not a JSON object: %s", cell, shortBody(res.Body))
		return
	}
	objs := []map[string]any{body}
	if items, ok := body["items"].([]any); ok {
		objs = nil
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				objs = append(objs, m)
			}
		}
	}
	for _, o := range objs {
		if cid, ok := o["case_id"]; ok && cid != tg.caseID {
			t.Errorf("%s: answered a record of case %v, want only case %s", cell, cid, tg.caseID)
		}
		if _, isCase := o["case_number"]; isCase && o["id"] != tg.caseID {
			t.Errorf("%s: answered case %v, want %s", cell, o["id"], tg.caseID)
		}
		if v, ok := o["view"]; ok && v != wantView {
			t.Errorf("%s: view %v, want %s", cell, v, wantView)
		}
	}
}

// TestMatrixObjectLevel: every operation that takes an id × every persona ×
// {A's case, B's case, a missing id} answers as the role matrix says; a
// foreign record answers exactly like a missing one; refused writes change
// nothing; nested ids that do not belong together answer 404.
func TestMatrixObjectLevel(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "MXA", "Almaty")
		orgB := env.NewOrg(t, "MXB", "Astana")
		aCW1 := env.NewUser(t, orgA.ID, "cw1@mxa.example", "caseworker")
		personas := []matrixPersona{
			{name: "A admin", caller: env.NewUser(t, orgA.ID, "admin@mxa.example", "admin"), orgID: orgA.ID, full: true, write: true},
			{name: "A caseworker (creator)", caller: aCW1, orgID: orgA.ID, full: true, write: true},
			{name: "A caseworker (other user)", caller: env.NewUser(t, orgA.ID, "cw2@mxa.example", "caseworker"), orgID: orgA.ID, full: true, write: true},
			{name: "A viewer", caller: env.NewUser(t, orgA.ID, "viewer@mxa.example", "viewer"), orgID: orgA.ID, full: true},
			{name: "B caseworker", caller: env.NewUser(t, orgB.ID, "cw@mxb.example", "caseworker"), orgID: orgB.ID, full: true, write: true},
			{name: "IOM admin", caller: env.Admin, orgID: env.IOM.ID, pseudo: true},
			{name: "IOM coordinator", caller: env.NewUser(t, env.IOM.ID, "coord@mx-iom.example", "coordinator"), orgID: env.IOM.ID, pseudo: true},
			{name: "IOM caseworker", caller: env.NewUser(t, env.IOM.ID, "cw@mx-iom.example", "caseworker"), orgID: env.IOM.ID, full: true, write: true},
		}
		bCW := personas[4].caller

		fixture := func(name string, org string, owner *apptest.Caller) *matrixTarget {
			id := matrixNewCase(t, env, owner, nil)
			tg := &matrixTarget{name: name, caseID: id, orgID: org, owner: owner}
			tg.serviceID = matrixNewService(t, env, owner, id, "fixture service of "+name, "fixture shelter of "+name)
			tg.consentID = matrixNewConsent(t, env, owner, id)
			matrixNewNote(t, env, owner, id, "fixture note of "+name)
			return tg
		}
		caseA := fixture("A's case", orgA.ID, aCW1)
		caseB := fixture("B's case", orgB.ID, bCW)
		missing := &matrixTarget{name: "missing id", caseID: uuid.NewString(), serviceID: uuid.NewString(), consentID: uuid.NewString()}
		targets := []*matrixTarget{missing, caseA, caseB}
		owned := []*matrixTarget{caseA, caseB}

		ops := matrixOps()
		state := matrixSnapshot(t, env, owned)
		n := 0
		cells := 0
		for _, p := range personas {
			t.Run(p.name, func(t *testing.T) {
				missingAnswer := map[string]*apptest.Response{}
				for _, op := range ops {
					for _, tg := range targets {
						n++
						cells++
						cell := fmt.Sprintf("%s: %s on %s", p.name, op.name, tg.name)
						if op.before != nil && tg.exists() {
							op.before(t, env, tg)
							state = matrixSnapshot(t, env, owned)
						}
						res := op.do(t, env, p.caller, tg, n)
						want := matrixExpect(p, op, tg)
						if res.Status != want {
							t.Errorf("%s: status %d, want %d: %s", cell, res.Status, want, shortBody(res.Body))
						}
						switch {
						case !tg.exists():
							missingAnswer[op.name] = res
						case want == http.StatusNotFound && res.Status == http.StatusNotFound:
							matrixSameAsMissing(t, cell, res, missingAnswer[op.name])
						}
						if res.Status/100 == 2 {
							view := "pseudonymised"
							if p.full && tg.orgID == p.orgID {
								view = "full"
							}
							matrixCheckBody(t, cell, res, tg, view)
						}
						if !op.write {
							continue
						}
						if res.Status/100 != 2 {
							after := matrixSnapshot(t, env, owned)
							if diff := matrixChanged(state, after); len(diff) > 0 {
								t.Errorf("%s: refused with %d but changed %v", cell, res.Status, diff)
							}
						}
						if op.after != nil && tg.exists() {
							op.after(t, env, tg, res)
						}
						state = matrixSnapshot(t, env, owned)
					}
				}
			})
		}
		if want := len(personas) * len(ops) * len(targets); cells != want || len(ops) != 14 {
			t.Errorf("ran %d cells over %d operations, want %d over 14", cells, len(ops), want)
		}

		// Nested ids that do not belong together answer 404, exactly like a
		// missing child of the same case, and change nothing.
		t.Run("nested ids", func(t *testing.T) {
			caseB.consentID = matrixNewConsent(t, env, bCW, caseB.caseID)
			caseA.consentID = matrixNewConsent(t, env, aCW1, caseA.caseID)
			state := matrixSnapshot(t, env, owned)
			iomAdmin := env.Admin
			type probe struct {
				who    string
				caller *apptest.Caller
				method string
				path   string
				miss   string
				body   any
				tagOf  string // the path whose owner ETag to send as If-Match
				owner  *apptest.Caller
			}
			svc := func(c, s string) string { return "/api/v1/cases/" + c + "/services/" + s }
			wd := func(c, s string) string { return "/api/v1/cases/" + c + "/consents/" + s + "/withdraw" }
			probes := []probe{
				{"A caseworker", aCW1, http.MethodGet, svc(caseA.caseID, caseB.serviceID), svc(caseA.caseID, uuid.NewString()), nil, "", nil},
				{"A caseworker", aCW1, http.MethodPatch, svc(caseA.caseID, caseB.serviceID), svc(caseA.caseID, uuid.NewString()),
					map[string]any{"funding_project": "MX-NESTED"}, svc(caseB.caseID, caseB.serviceID), bCW},
				{"B caseworker", bCW, http.MethodGet, svc(caseB.caseID, caseA.serviceID), svc(caseB.caseID, uuid.NewString()), nil, "", nil},
				{"B caseworker", bCW, http.MethodPatch, svc(caseB.caseID, caseA.serviceID), svc(caseB.caseID, uuid.NewString()),
					map[string]any{"funding_project": "MX-NESTED"}, svc(caseA.caseID, caseA.serviceID), aCW1},
				{"A caseworker", aCW1, http.MethodPost, wd(caseA.caseID, caseB.consentID), wd(caseA.caseID, uuid.NewString()), map[string]any{}, "", nil},
				{"B caseworker", bCW, http.MethodPost, wd(caseB.caseID, caseA.consentID), wd(caseB.caseID, uuid.NewString()), map[string]any{}, "", nil},
				{"IOM admin", iomAdmin, http.MethodGet, svc(caseA.caseID, caseB.serviceID), svc(caseA.caseID, uuid.NewString()), nil, "", nil},
				{"IOM admin", iomAdmin, http.MethodGet, svc(caseB.caseID, caseA.serviceID), svc(caseB.caseID, uuid.NewString()), nil, "", nil},
			}
			for _, pr := range probes {
				var header []string
				if pr.tagOf != "" {
					header = []string{"If-Match", mustETagAs(t, env, pr.owner, pr.tagOf)}
				}
				what := fmt.Sprintf("%s %s %s", pr.who, pr.method, pr.path)
				res := env.Do(t, pr.method, pr.path, pr.caller, pr.body, header...)
				if res.Status != http.StatusNotFound {
					t.Errorf("%s: status %d, want 404: %s", what, res.Status, shortBody(res.Body))
					continue
				}
				matrixSameAsMissing(t, what, res, env.Do(t, pr.method, pr.miss, pr.caller, pr.body, header...))
				after := matrixSnapshot(t, env, owned)
				if diff := matrixChanged(state, after); len(diff) > 0 {
					t.Errorf("%s: refused but changed %v", what, diff)
				}
				state = after
			}
		})
	})
}

// ---------------------------------------------------------------------------
// 2. Pseudonymised views
// ---------------------------------------------------------------------------

// matrixIdentifying reports whether a schema carries x-identifying: true.
func matrixIdentifying(ref *openapi3.SchemaRef) bool {
	if ref == nil || ref.Value == nil {
		return false
	}
	v, ok := ref.Value.Extensions["x-identifying"]
	if !ok {
		return false
	}
	switch x := v.(type) {
	case bool:
		return x
	case json.RawMessage:
		return strings.TrimSpace(string(x)) == "true"
	default:
		return fmt.Sprint(v) == "true"
	}
}

func matrixJoin(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// matrixSchemaPaths lists the paths of every property marked identifying
// under a schema (oneOf variants united; arrays as "[]").
func matrixSchemaPaths(ref *openapi3.SchemaRef, path string, stack map[*openapi3.Schema]bool, out map[string]bool) {
	if ref == nil || ref.Value == nil || stack[ref.Value] {
		return
	}
	s := ref.Value
	stack[s] = true
	defer delete(stack, s)
	for _, group := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
		for _, sub := range group {
			matrixSchemaPaths(sub, path, stack, out)
		}
	}
	for name, prop := range s.Properties {
		p := matrixJoin(path, name)
		if matrixIdentifying(prop) {
			out[p] = true
			continue
		}
		matrixSchemaPaths(prop, p, stack, out)
	}
	if s.Items != nil {
		matrixSchemaPaths(s.Items, path+"[]", stack, out)
	}
}

// matrixIdentifyingPaths is matrixSchemaPaths of a named component, sorted.
func matrixIdentifyingPaths(t testing.TB, doc *openapi3.T, name string) []string {
	t.Helper()
	ref := doc.Components.Schemas[name]
	if ref == nil {
		t.Fatalf("openapi.yaml has no schema %s", name)
	}
	set := map[string]bool{}
	matrixSchemaPaths(ref, "", map[*openapi3.Schema]bool{}, set)
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// matrixFindIdentifying walks a decoded body along its schema and returns the
// paths of identifying properties present in it. oneOf with a discriminator
// follows the variant the body names.
func matrixFindIdentifying(doc *openapi3.T, ref *openapi3.SchemaRef, v any, path string, found *[]string) {
	if ref == nil || ref.Value == nil || v == nil {
		return
	}
	s := ref.Value
	for _, sub := range s.AllOf {
		matrixFindIdentifying(doc, sub, v, path, found)
	}
	for _, sub := range s.AnyOf {
		matrixFindIdentifying(doc, sub, v, path, found)
	}
	if len(s.OneOf) > 0 {
		variants := s.OneOf
		if d := s.Discriminator; d != nil {
			if obj, ok := v.(map[string]any); ok {
				if key, ok := obj[d.PropertyName].(string); ok {
					if mr, ok := d.Mapping[key]; ok {
						if sr := doc.Components.Schemas[strings.TrimPrefix(mr.Ref, "#/components/schemas/")]; sr != nil {
							variants = openapi3.SchemaRefs{sr}
						}
					}
				}
			}
		}
		for _, sub := range variants {
			matrixFindIdentifying(doc, sub, v, path, found)
		}
	}
	switch val := v.(type) {
	case map[string]any:
		for name, prop := range s.Properties {
			pv, ok := val[name]
			if !ok {
				continue
			}
			p := matrixJoin(path, name)
			if matrixIdentifying(prop) {
				*found = append(*found, p)
				continue
			}
			matrixFindIdentifying(doc, prop, pv, p, found)
		}
	case []any:
		for i, it := range val {
			matrixFindIdentifying(doc, s.Items, it, fmt.Sprintf("%s[%d]", path, i), found)
		}
	}
}

// matrixFound returns the identifying paths present in a body of schema name.
func matrixFound(t testing.TB, doc *openapi3.T, name string, body []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON: %s", shortBody(body))
	}
	var found []string
	matrixFindIdentifying(doc, doc.Components.Schemas[name], v, "", &found)
	sort.Strings(found)
	return found
}

// matrixViews collects every "view" member anywhere in a body.
func matrixViews(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["view"].(string); ok {
			*out = append(*out, s)
		}
		for _, c := range x {
			matrixViews(c, out)
		}
	case []any:
		for _, c := range x {
			matrixViews(c, out)
		}
	}
}

// matrixGetAll GETs path and every following page, returning the bodies.
func matrixGetAll(t testing.TB, env *apptest.Env, caller *apptest.Caller, path string) [][]byte {
	t.Helper()
	var out [][]byte
	cursor := ""
	for range 100 {
		p := withCursor(path, cursor)
		res := env.Do(t, http.MethodGet, p, caller, nil)
		mustStatus(t, res, http.StatusOK, "GET "+p)
		out = append(out, res.Body)
		var page struct {
			NextCursor *string `json:"next_cursor"`
		}
		res.Decode(t, &page)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return out
		}
		cursor = *page.NextCursor
	}
	t.Fatalf("GET %s: more than 100 pages", path)
	return nil
}

// matrixCanaryCase is a case whose every identifying field holds a canary.
type matrixCanaryCase struct {
	id         string
	owner      *apptest.Caller
	canaries   []string
	serviceIDs map[string]string // type → id
	oldPhone   string            // replaced by a later change
}

// TestPseudonymisedViews: IOM admins and coordinators read other
// organisations' cases, services, consents and history without any property
// openapi.yaml marks x-identifying and without any canary value stored; the
// owning organisation's caseworker sees all of them (view full).
func TestPseudonymisedViews(t *testing.T) {
	doc, err := httpapi.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	casePaths := matrixIdentifyingPaths(t, doc, "Case")
	if len(casePaths) == 0 {
		t.Fatal("openapi.yaml marks no property of Case x-identifying")
	}
	// The read variant of each service type, and its identifying paths.
	svc := doc.Components.Schemas["Service"]
	if svc == nil || svc.Value.Discriminator == nil || len(svc.Value.Discriminator.Mapping) == 0 {
		t.Fatal("openapi.yaml: Service is not a discriminated oneOf")
	}
	servicePaths := map[string][]string{}
	for typ, mr := range svc.Value.Discriminator.Mapping {
		name := strings.TrimPrefix(mr.Ref, "#/components/schemas/")
		paths := matrixIdentifyingPaths(t, doc, name)
		if len(paths) == 0 {
			t.Fatalf("service variant %s has no identifying property (its notes are free text)", name)
		}
		for _, p := range paths {
			// Every identifying service property is a plain string; the test
			// fills each with a canary.
			ref := doc.Components.Schemas[name]
			for _, part := range strings.Split(p, ".") {
				ref = ref.Value.Properties[part]
			}
			if ref.Value.Type == nil || !ref.Value.Type.Is("string") || ref.Value.Format != "" {
				t.Fatalf("%s.%s is identifying but not a plain string; extend the canaries", name, p)
			}
		}
		servicePaths[typ] = paths
	}
	types := make([]string, 0, len(servicePaths))
	for typ := range servicePaths {
		types = append(types, typ)
	}
	sort.Strings(types)
	t.Logf("identifying: Case %v; services %v", casePaths, servicePaths)

	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "PSA", "Aktau")
		orgB := env.NewOrg(t, "PSB", "Karaganda")
		aCW := env.NewUser(t, orgA.ID, "cw@psa.example", "caseworker")
		bCW := env.NewUser(t, orgB.ID, "cw@psb.example", "caseworker")
		coord := env.NewUser(t, env.IOM.ID, "coord@ps-iom.example", "coordinator")

		var all []string // every canary of both cases
		canaryCase := func(label, dob string, owner *apptest.Caller) *matrixCanaryCase {
			uid := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
			cc := &matrixCanaryCase{owner: owner, serviceIDs: map[string]string{}}
			cv := func(field string) string {
				s := "CANARY" + label + uid + field + "~" // "~" ends it: no canary is a prefix of another
				cc.canaries = append(cc.canaries, s)
				return s
			}
			cc.canaries = append(cc.canaries, dob)
			cc.oldPhone = cv("phone")
			cc.id = matrixNewCase(t, env, owner, map[string]any{
				"given_name": cv("given"), "family_name": cv("family"), "other_names": cv("other"),
				"date_of_birth": dob, "phone": cc.oldPhone, "address": cv("address"),
				"identity_documents": []any{map[string]any{"type": "passport", "number": cv("doc"), "issuing_country": "KZ"}},
			})
			for _, typ := range types {
				body := map[string]any{"type": typ}
				for _, p := range servicePaths[typ] {
					m := body
					parts := strings.Split(p, ".")
					for _, part := range parts[:len(parts)-1] {
						next, ok := m[part].(map[string]any)
						if !ok {
							next = map[string]any{}
							m[part] = next
						}
						m = next
					}
					m[parts[len(parts)-1]] = cv(typ + "-" + strings.ReplaceAll(p, ".", "-"))
				}
				res := env.Do(t, http.MethodPost, "/api/v1/cases/"+cc.id+"/services", owner, body)
				mustStatus(t, res, http.StatusCreated, "create "+typ+" service")
				cc.serviceIDs[typ] = mustID(t, res)
			}
			matrixNewConsent(t, env, owner, cc.id)
			matrixNewNote(t, env, owner, cc.id, cv("note"))
			// A changed phone: history says the field changed, never the value.
			path := "/api/v1/cases/" + cc.id
			res := env.Do(t, http.MethodPatch, path, owner, map[string]any{"person": map[string]any{"phone": cv("phone2")}},
				"If-Match", mustETagAs(t, env, owner, path))
			mustStatus(t, res, http.StatusOK, "change phone")
			all = append(all, cc.canaries...)
			return cc
		}
		caseA := canaryCase("A", "1987-03-19", aCW)
		caseB := canaryCase("B", "1991-11-23", bCW)

		leaks := func(body []byte) []string {
			var hit []string
			for _, c := range all {
				if strings.Contains(string(body), c) {
					hit = append(hit, c)
				}
			}
			return hit
		}
		// pseudo checks one body an IOM role reads.
		pseudo := func(t *testing.T, who, path, schema string, body []byte) {
			t.Helper()
			if found := matrixFound(t, doc, schema, body); len(found) > 0 {
				t.Errorf("%s GET %s: identifying fields %v in a pseudonymised view", who, path, found)
			}
			if hit := leaks(body); len(hit) > 0 {
				t.Errorf("%s GET %s: canary values %v in a pseudonymised view", who, path, hit)
			}
			var v any
			_ = json.Unmarshal(body, &v)
			var views []string
			matrixViews(v, &views)
			for _, view := range views {
				if view != "pseudonymised" {
					t.Errorf("%s GET %s: view %q, want pseudonymised", who, path, view)
				}
			}
		}
		get := func(t *testing.T, c *apptest.Caller, path string) []byte {
			t.Helper()
			res := env.Do(t, http.MethodGet, path, c, nil)
			mustStatus(t, res, http.StatusOK, "GET "+path)
			return res.Body
		}

		for _, iom := range []struct {
			name   string
			caller *apptest.Caller
		}{{"IOM admin", env.Admin}, {"IOM coordinator", coord}} {
			t.Run(iom.name, func(t *testing.T) {
				// Lists of cases, all organisations and one at a time.
				seen := map[string]bool{}
				for _, path := range []string{"/api/v1/cases?limit=1", "/api/v1/cases", "/api/v1/cases?organization_id=" + orgA.ID, "/api/v1/cases?organization_id=" + orgB.ID} {
					for _, body := range matrixGetAll(t, env, iom.caller, path) {
						pseudo(t, iom.name, path, "CaseList", body)
						var page struct {
							Items []struct {
								ID string `json:"id"`
							} `json:"items"`
						}
						if err := json.Unmarshal(body, &page); err != nil {
							t.Fatal(err)
						}
						for _, it := range page.Items {
							seen[it.ID] = true
						}
					}
				}
				if !seen[caseA.id] || !seen[caseB.id] {
					t.Errorf("%s: case lists did not include both canary cases (A %v, B %v); the checks above saw nothing", iom.name, seen[caseA.id], seen[caseB.id])
				}
				for _, cc := range []*matrixCanaryCase{caseA, caseB} {
					base := "/api/v1/cases/" + cc.id
					pseudo(t, iom.name, base, "Case", get(t, iom.caller, base))
					for _, body := range matrixGetAll(t, env, iom.caller, base+"/services?limit=3") {
						pseudo(t, iom.name, base+"/services", "ServiceList", body)
					}
					for typ, id := range cc.serviceIDs {
						p := base + "/services/" + id
						body := get(t, iom.caller, p)
						pseudo(t, iom.name, p+" ("+typ+")", "Service", body)
					}
					pseudo(t, iom.name, base+"/consents", "ConsentList", get(t, iom.caller, base+"/consents"))
					pseudo(t, iom.name, base+"/history", "HistoryList", get(t, iom.caller, base+"/history?limit=200"))
					if res := env.Do(t, http.MethodGet, base+"/notes", iom.caller, nil); res.Status != http.StatusForbidden {
						t.Errorf("%s GET %s/notes: status %d, want 403: %s", iom.name, base, res.Status, shortBody(res.Body))
					}
				}
			})
		}
		t.Run("IOM admin audit trail", func(t *testing.T) {
			for _, body := range matrixGetAll(t, env, env.Admin, "/api/v1/audit-events?limit=200") {
				if hit := leaks(body); len(hit) > 0 {
					t.Errorf("audit events carry canary values %v", hit)
				}
			}
		})

		// The owners see every identifying field of their own case in full,
		// and nothing of the other organisation's.
		for _, cc := range []*matrixCanaryCase{caseA, caseB} {
			t.Run("owner "+cc.owner.User.Email, func(t *testing.T) {
				base := "/api/v1/cases/" + cc.id
				var seen strings.Builder
				body := get(t, cc.owner, base)
				seen.Write(body)
				var c struct {
					View string `json:"view"`
				}
				if err := json.Unmarshal(body, &c); err != nil || c.View != "full" {
					t.Errorf("owner GET %s: view %q, want full", base, c.View)
				}
				if found := matrixFound(t, doc, "Case", body); !slices.Equal(found, casePaths) {
					t.Errorf("owner GET %s: identifying fields %v, want all of %v", base, found, casePaths)
				}
				for typ, id := range cc.serviceIDs {
					p := base + "/services/" + id
					body := get(t, cc.owner, p)
					seen.Write(body)
					if found := matrixFound(t, doc, "Service", body); !slices.Equal(found, servicePaths[typ]) {
						t.Errorf("owner GET %s (%s): identifying fields %v, want %v", p, typ, found, servicePaths[typ])
					}
					if !strings.Contains(string(body), `"view":"full"`) {
						t.Errorf("owner GET %s: not view full: %s", p, shortBody(body))
					}
				}
				seen.Write(get(t, cc.owner, base+"/notes"))
				// History never repeats identifying values, not even to the owner.
				history := get(t, cc.owner, base+"/history?limit=200")
				if hit := leaks(history); len(hit) > 0 {
					t.Errorf("owner GET %s/history: identifying values %v repeated", base, hit)
				}
				if !strings.Contains(string(history), "person.phone") {
					t.Errorf("owner GET %s/history: the phone change is not recorded: %s", base, shortBody(history))
				}
				for _, canary := range cc.canaries {
					if !strings.Contains(seen.String(), canary) && canary != cc.oldPhone {
						t.Errorf("owner does not see its own canary %q", canary)
					}
				}
				// Nothing of the other organisation's case in the owner's list.
				other := caseA
				if cc == caseA {
					other = caseB
				}
				for _, body := range matrixGetAll(t, env, cc.owner, "/api/v1/cases") {
					for _, canary := range other.canaries {
						if strings.Contains(string(body), canary) {
							t.Errorf("owner's case list carries the other organisation's canary %q", canary)
						}
					}
				}
			})
		}
	})
}

// ---------------------------------------------------------------------------
// 3. List ≡ get (property test)
// ---------------------------------------------------------------------------

// matrixPoolUser is a user of the property test whose roles each check
// draws anew.
type matrixPoolUser struct {
	caller *apptest.Caller
	iom    bool
	roles  []string
}

// matrixRoleSets lists every non-empty set of roles an organisation may grant.
func matrixRoleSets(roles []string) [][]string {
	var out [][]string
	for mask := 1; mask < 1<<len(roles); mask++ {
		var set []string
		for i, r := range roles {
			if mask&(1<<i) != 0 {
				set = append(set, r)
			}
		}
		out = append(out, set)
	}
	return out
}

// matrixResetCases deletes every case and what hangs off it, so that each
// generated data set stands alone (users and organisations are kept: they
// cost an argon2id hash each).
func matrixResetCases(t testing.TB, db *store.DB) {
	t.Helper()
	for _, table := range []string{"referrals", "consent_withdrawals", "consents", "services", "notes", "case_history", "case_documents", "case_exploitations", "cases"} {
		if _, err := db.SQL().ExecContext(context.Background(), "DELETE FROM "+table); err != nil {
			t.Fatalf("reset %s: %v", table, err)
		}
	}
}

// matrixListed pages through GET /api/v1/cases with limit (0: default) and
// returns each id's view; a repeated id or an oversized page is an error.
func matrixListed(t *testing.T, rt *rapid.T, env *apptest.Env, c *apptest.Caller, limit, bound int) map[string]string {
	out := map[string]string{}
	cursor := ""
	for page := 0; ; page++ {
		if page > bound+2 {
			rt.Fatalf("limit %d: more than %d pages for %d cases", limit, page, bound)
		}
		q := url.Values{}
		if limit > 0 {
			q.Set("limit", strconv.Itoa(limit))
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		path := "/api/v1/cases"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		res := env.Do(t, http.MethodGet, path, c, nil)
		if res.Status != http.StatusOK {
			rt.Fatalf("%s %v GET %s: %d %s", c.User.Email, c.User.Roles, path, res.Status, shortBody(res.Body))
		}
		var body struct {
			Items []struct {
				ID   string `json:"id"`
				View string `json:"view"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(res.Body, &body); err != nil {
			rt.Fatalf("decode: %v", err)
		}
		if limit > 0 && len(body.Items) > limit {
			rt.Fatalf("limit %d answered %d items", limit, len(body.Items))
		}
		for _, it := range body.Items {
			if _, dup := out[it.ID]; dup {
				rt.Fatalf("%s: case %s listed twice with limit %d", c.User.Email, it.ID, limit)
			}
			out[it.ID] = it.View
		}
		if body.NextCursor == nil || *body.NextCursor == "" {
			return out
		}
		cursor = *body.NextCursor
	}
}

// TestListEqualsGet: for generated organisations' cases (created by random
// users with random roles, some closed), every user's case list — paged
// with limit 1, 2 and the default — holds exactly the ids GET answers 200
// for, each once and in the same view.
func TestListEqualsGet(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		var pool []*matrixPoolUser
		for _, code := range []string{"LEQA", "LEQB"} {
			org := env.NewOrg(t, code, "Temirtau")
			for j := range 2 {
				c := env.NewUser(t, org.ID, fmt.Sprintf("u%d@%s.example", j, strings.ToLower(code)), "caseworker")
				pool = append(pool, &matrixPoolUser{caller: c, roles: []string{"caseworker"}})
			}
		}
		for j := range 2 {
			c := env.NewUser(t, env.IOM.ID, fmt.Sprintf("u%d@leq-iom.example", j), "coordinator")
			pool = append(pool, &matrixPoolUser{caller: c, iom: true, roles: []string{"coordinator"}})
		}
		ngoSets := matrixRoleSets([]string{"admin", "caseworker", "viewer"})
		iomSets := matrixRoleSets([]string{"admin", "caseworker", "coordinator"})
		readers := []*apptest.Caller{env.Admin}
		for _, u := range pool {
			readers = append(readers, u.caller)
		}
		checks := 0
		rapid.Check(t, func(rt *rapid.T) {
			checks++
			matrixResetCases(t, db)
			for i, u := range pool {
				sets := ngoSets
				if u.iom {
					sets = iomSets
				}
				roles := sets[rapid.IntRange(0, len(sets)-1).Draw(rt, fmt.Sprintf("roles of user %d", i))]
				if !slices.Equal(roles, u.roles) {
					path := "/api/v1/users/" + u.caller.User.ID
					res := env.Do(t, http.MethodPatch, path, env.Admin, map[string]any{"roles": roles}, "If-Match", mustETagAs(t, env, env.Admin, path))
					if res.Status != http.StatusOK {
						rt.Fatalf("set roles %v: %d %s", roles, res.Status, shortBody(res.Body))
					}
					u.roles = roles
					u.caller.User.Roles = roles
				}
			}
			var creators []*matrixPoolUser
			for _, u := range pool {
				if slices.Contains(u.roles, "caseworker") || (!u.iom && slices.Contains(u.roles, "admin")) {
					creators = append(creators, u)
				}
			}
			var ids []string
			n := rapid.IntRange(0, 6).Draw(rt, "cases")
			for k := 0; k < n && len(creators) > 0; k++ {
				u := creators[rapid.IntRange(0, len(creators)-1).Draw(rt, fmt.Sprintf("creator of case %d", k))]
				res := env.Do(t, http.MethodPost, "/api/v1/cases?allow_duplicate=true", u.caller, matrixCaseBody(nil))
				if res.Status != http.StatusCreated {
					rt.Fatalf("%v create case: %d %s", u.roles, res.Status, shortBody(res.Body))
				}
				id := mustID(t, res)
				ids = append(ids, id)
				if rapid.Bool().Draw(rt, fmt.Sprintf("case %d closed", k)) {
					res := env.Do(t, http.MethodPost, "/api/v1/cases/"+id+"/close", u.caller, map[string]any{"closure_reason": "lost_contact"})
					if res.Status != http.StatusOK {
						rt.Fatalf("close: %d %s", res.Status, shortBody(res.Body))
					}
				}
			}
			for _, c := range readers {
				got := map[string]string{}
				for _, id := range ids {
					res := env.Do(t, http.MethodGet, "/api/v1/cases/"+id, c, nil)
					switch res.Status {
					case http.StatusOK:
						var v struct {
							View string `json:"view"`
						}
						res.Decode(t, &v)
						got[id] = v.View
					case http.StatusNotFound:
					default:
						rt.Fatalf("%s %v GET case: %d %s", c.User.Email, c.User.Roles, res.Status, shortBody(res.Body))
					}
				}
				for _, limit := range []int{1, 2, 0} {
					listed := matrixListed(t, rt, env, c, limit, len(ids))
					if !reflect.DeepEqual(listed, got) {
						rt.Fatalf("%s %v, limit %d: list gives %v, GET 200 gives %v (of %d cases)", c.User.Email, c.User.Roles, limit, listed, got, len(ids))
					}
				}
			}
		})
		if checks == 0 {
			t.Error("the property never ran")
		}
	})
}

// ---------------------------------------------------------------------------
// 4. Function-level table (BFLA)
// ---------------------------------------------------------------------------

// matrixFunctionOps are the operations of the function-level table, in the
// order each role runs them.
var matrixFunctionOps = []string{
	"listCases", "createCase", "getCase", "updateCase", "closeCase", "reopenCase",
	"listConsents", "createConsent", "withdrawConsent",
	"listServices", "createService", "getService", "updateService",
	"listNotes", "createNote", "listCaseHistory", "listAuditEvents",
}

// matrixFunctionTable is the role matrix of domain.md, per role, for the
// operations above on a record of the caller's own organisation (for IOM
// admins and coordinators: an IOM caseworker's case, seen pseudonymised).
var matrixFunctionTable = map[string][]int{
	//                  list create get upd  close reop  lsCon crCon wdCon lsSvc crSvc getSv updSv lsNot crNot hist  audit
	"NGO admin":       {200, 201, 200, 200, 200, 200, 200, 201, 200, 200, 201, 200, 200, 200, 201, 200, 200},
	"NGO caseworker":  {200, 201, 200, 200, 200, 200, 200, 201, 200, 200, 201, 200, 200, 200, 201, 200, 403},
	"NGO viewer":      {200, 403, 200, 403, 403, 403, 200, 403, 403, 200, 403, 200, 403, 200, 403, 200, 403},
	"IOM admin":       {200, 403, 200, 403, 403, 403, 200, 403, 403, 200, 403, 200, 403, 403, 403, 200, 200},
	"IOM coordinator": {200, 403, 200, 403, 403, 403, 200, 403, 403, 200, 403, 200, 403, 403, 403, 200, 403},
	"IOM caseworker":  {200, 201, 200, 200, 200, 200, 200, 201, 200, 200, 201, 200, 200, 200, 201, 200, 403},
}

// TestFunctionLevelTable: each role may use exactly the functions the role
// matrix gives it, on its own organisation's records; and the audit trail's
// organisation filter never shows an NGO admin another organisation's events.
func TestFunctionLevelTable(t *testing.T) {
	for role, row := range matrixFunctionTable {
		if len(row) != len(matrixFunctionOps) {
			t.Fatalf("table row %s has %d cells for %d operations", role, len(row), len(matrixFunctionOps))
		}
	}
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "FLA", "Almaty")
		orgB := env.NewOrg(t, "FLB", "Astana")
		aCW := env.NewUser(t, orgA.ID, "cw@fla.example", "caseworker")
		iomCW := env.NewUser(t, env.IOM.ID, "cw@fl-iom.example", "caseworker")
		bCW := env.NewUser(t, orgB.ID, "cw@flb.example", "caseworker")
		type fixture struct {
			caseID, serviceID string
			owner             *apptest.Caller
		}
		newFixture := func(owner *apptest.Caller) fixture {
			id := matrixNewCase(t, env, owner, nil)
			return fixture{caseID: id, serviceID: matrixNewService(t, env, owner, id, "fl notes", "fl shelter"), owner: owner}
		}
		fxA, fxIOM := newFixture(aCW), newFixture(iomCW)
		fxB := newFixture(bCW)
		if res := env.Do(t, http.MethodGet, "/api/v1/cases/"+fxB.caseID, bCW, nil); res.Status != http.StatusOK {
			t.Fatalf("B reads its case: %d", res.Status)
		}
		aAdmin := env.NewUser(t, orgA.ID, "admin@fla.example", "admin")
		roles := []struct {
			name   string
			caller *apptest.Caller
			fx     fixture
		}{
			{"NGO admin", aAdmin, fxA},
			{"NGO caseworker", env.NewUser(t, orgA.ID, "cw2@fla.example", "caseworker"), fxA},
			{"NGO viewer", env.NewUser(t, orgA.ID, "viewer@fla.example", "viewer"), fxA},
			{"IOM admin", env.Admin, fxIOM},
			{"IOM coordinator", env.NewUser(t, env.IOM.ID, "coord@fl-iom.example", "coordinator"), fxIOM},
			{"IOM caseworker", env.NewUser(t, env.IOM.ID, "cw2@fl-iom.example", "caseworker"), fxIOM},
		}
		for _, r := range roles {
			t.Run(r.name, func(t *testing.T) {
				c := r.caller
				work := r.fx // the case the role works on: its own if it may create one
				consentID := ""
				closed := false
				n := 0
				for i, op := range matrixFunctionOps {
					want := matrixFunctionTable[r.name][i]
					base := "/api/v1/cases/" + work.caseID
					n++
					var res *apptest.Response
					switch op {
					case "listCases":
						res = env.Do(t, http.MethodGet, "/api/v1/cases", c, nil)
					case "createCase":
						res = env.Do(t, http.MethodPost, "/api/v1/cases?allow_duplicate=true", c, matrixCaseBody(nil))
						if res.Status == http.StatusCreated {
							work = fixture{caseID: mustID(t, res), owner: c}
						}
					case "getCase":
						res = env.Do(t, http.MethodGet, base, c, nil)
					case "updateCase":
						res = env.Do(t, http.MethodPatch, base, c, map[string]any{"person": map[string]any{"other_names": "fl " + r.name}},
							"If-Match", mustETagAs(t, env, work.owner, base))
					case "closeCase":
						res = env.Do(t, http.MethodPost, base+"/close", c, map[string]any{"closure_reason": "goals_achieved"})
						closed = res.Status == http.StatusOK
					case "reopenCase":
						if !closed {
							mustStatus(t, env.Do(t, http.MethodPost, base+"/close", work.owner, map[string]any{"closure_reason": "other"}), http.StatusOK, "owner closes")
						}
						res = env.Do(t, http.MethodPost, base+"/reopen", c, nil)
						if res.Status != http.StatusOK {
							mustStatus(t, env.Do(t, http.MethodPost, base+"/reopen", work.owner, nil), http.StatusOK, "owner reopens")
						}
					case "listConsents":
						res = env.Do(t, http.MethodGet, base+"/consents", c, nil)
					case "createConsent":
						res = env.Do(t, http.MethodPost, base+"/consents", c, map[string]any{"type": "medical", "given": true})
						if res.Status == http.StatusCreated {
							consentID = mustID(t, res)
						} else {
							consentID = matrixNewConsent(t, env, work.owner, work.caseID)
						}
					case "withdrawConsent":
						res = env.Do(t, http.MethodPost, base+"/consents/"+consentID+"/withdraw", c, map[string]any{})
					case "listServices":
						res = env.Do(t, http.MethodGet, base+"/services", c, nil)
					case "createService":
						res = env.Do(t, http.MethodPost, base+"/services", c, map[string]any{"type": "legal", "details": map[string]any{"kind": "counselling"}})
						if res.Status == http.StatusCreated {
							work.serviceID = mustID(t, res)
						} else if work.serviceID == "" {
							t.Fatalf("no service to work on")
						}
					case "getService":
						res = env.Do(t, http.MethodGet, base+"/services/"+work.serviceID, c, nil)
					case "updateService":
						p := base + "/services/" + work.serviceID
						res = env.Do(t, http.MethodPatch, p, c, map[string]any{"funding_project": "FL-" + strconv.Itoa(n)}, "If-Match", mustETagAs(t, env, work.owner, p))
					case "listNotes":
						res = env.Do(t, http.MethodGet, base+"/notes", c, nil)
					case "createNote":
						res = env.Do(t, http.MethodPost, base+"/notes", c, map[string]any{"text": "fl note by " + r.name})
					case "listCaseHistory":
						res = env.Do(t, http.MethodGet, base+"/history", c, nil)
					case "listAuditEvents":
						res = env.Do(t, http.MethodGet, "/api/v1/audit-events", c, nil)
					default:
						t.Fatalf("no request for %s", op)
					}
					if res.Status != want {
						t.Errorf("%s %s: status %d, want %d: %s", r.name, op, res.Status, want, shortBody(res.Body))
						continue
					}
					if want == http.StatusForbidden {
						if p := res.Problem(t); p.Code != "forbidden" {
							t.Errorf("%s %s: problem code %q, want forbidden", r.name, op, p.Code)
						}
					}
					if op == "getCase" && res.Status == http.StatusOK {
						var v struct {
							View string `json:"view"`
						}
						res.Decode(t, &v)
						wantView := "full"
						if r.name == "IOM admin" || r.name == "IOM coordinator" {
							wantView = "pseudonymised"
						}
						if v.View != wantView {
							t.Errorf("%s getCase: view %q, want %q", r.name, v.View, wantView)
						}
					}
				}
			})
		}

		// The audit trail: an NGO admin reads its own organisation's events
		// only, whatever it filters by; IOM admins every organisation's.
		t.Run("audit-events filters", func(t *testing.T) {
			type event struct {
				OrganizationID *string `json:"organization_id"`
				ActorID        *string `json:"actor_id"`
				ObjectID       *string `json:"object_id"`
			}
			events := func(c *apptest.Caller, query string) []event {
				var out []event
				for _, body := range matrixGetAll(t, env, c, "/api/v1/audit-events?limit=200"+query) {
					var page struct {
						Items []event `json:"items"`
					}
					if err := json.Unmarshal(body, &page); err != nil {
						t.Fatal(err)
					}
					out = append(out, page.Items...)
				}
				return out
			}
			org := func(e event) string {
				if e.OrganizationID == nil {
					return "<none>"
				}
				return *e.OrganizationID
			}
			own := events(aAdmin, "")
			if len(own) == 0 {
				t.Error("NGO admin sees no events of its own organisation")
			}
			for _, e := range own {
				if org(e) != orgA.ID {
					t.Errorf("NGO admin sees an event of organisation %s", org(e))
				}
				if e.ObjectID != nil && (*e.ObjectID == fxB.caseID || *e.ObjectID == fxB.serviceID) {
					t.Errorf("NGO admin sees an event about B's records")
				}
			}
			for _, q := range []string{"&organization_id=" + orgB.ID, "&actor_id=" + bCW.User.ID, "&object_id=" + fxB.caseID, "&organization_id=" + env.IOM.ID} {
				if got := events(aAdmin, q); len(got) != 0 {
					t.Errorf("NGO admin audit-events?%s: %d events of other organisations, want none (first of %s)", q[1:], len(got), org(got[0]))
				}
			}
			if got := events(aAdmin, "&organization_id="+orgA.ID); len(got) != len(own) {
				t.Errorf("NGO admin filtering by its own organisation: %d events, unfiltered %d", len(got), len(own))
			}
			onlyB := events(env.Admin, "&organization_id="+orgB.ID)
			if len(onlyB) == 0 {
				t.Error("IOM admin sees no events of B")
			}
			for _, e := range onlyB {
				if org(e) != orgB.ID {
					t.Errorf("IOM admin audit-events?organization_id=B: event of %s", org(e))
				}
			}
			byOrg := map[string]int{}
			for _, e := range events(env.Admin, "") {
				byOrg[org(e)]++
			}
			if byOrg[orgA.ID] == 0 || byOrg[orgB.ID] == 0 || byOrg[env.IOM.ID] == 0 {
				t.Errorf("IOM admin's audit trail by organisation %v lacks A, B or IOM", byOrg)
			}
		})
	})
}
