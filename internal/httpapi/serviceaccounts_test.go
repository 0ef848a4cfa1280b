package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/store"
)

// saAccount is a service account as the API shows it (never its secret).
type saAccount struct {
	ID              string    `json:"id"`
	OrganizationID  string    `json:"organization_id"`
	Name            string    `json:"name"`
	ClientID        string    `json:"client_id"`
	Roles           []string  `json:"roles"`
	CreatedBy       string    `json:"created_by"`
	SecretRotatedAt time.Time `json:"secret_rotated_at"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	ClientSecret    string    `json:"client_secret"`
}

// saListItem is an item of the account list: an account or a tombstone.
type saListItem struct {
	saAccount
	Deleted bool `json:"deleted"`
}

// saClientToken is the body of a successful client-credentials grant.
type saClientToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// saProblem is a problem body with the members apptest.Problem lacks.
type saProblem struct {
	Code      string `json:"code"`
	Status    int    `json:"status"`
	Reason    string `json:"reason"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field string `json:"field"`
	} `json:"errors"`
}

// saAuditEvent is an audit event as GET /audit-events shows it.
type saAuditEvent struct {
	ID             string  `json:"id"`
	ActorType      string  `json:"actor_type"`
	ActorID        *string `json:"actor_id"`
	OrganizationID *string `json:"organization_id"`
	Action         string  `json:"action"`
	ObjectType     string  `json:"object_type"`
	ObjectID       *string `json:"object_id"`
	Outcome        string  `json:"outcome"`
}

const saTokenPath = "/api/v1/auth/token"

func saPath(id string) string { return "/api/v1/service-accounts/" + id }

// saProblemOf decodes a problem body of res after checking its status.
func saProblemOf(t testing.TB, res *apptest.Response, want int, what string) saProblem {
	t.Helper()
	if res.Status != want {
		t.Errorf("%s: status %d, want %d: %s", what, res.Status, want, shortBody(res.Body))
		return saProblem{}
	}
	res.Problem(t) // problem+json
	var p saProblem
	res.Decode(t, &p)
	if p.Status != want {
		t.Errorf("%s: problem status %d, want %d", what, p.Status, want)
	}
	return p
}

// saRotate rotates id's secret as caller.
func saRotate(t testing.TB, env *apptest.Env, as *apptest.Caller, id string) *apptest.Response {
	t.Helper()
	return env.Do(t, http.MethodPost, saPath(id)+"/rotate-secret", as, nil)
}

// saCreate creates an account as caller and fails the test now unless 201
// with a complete account, its secret, Location and Cache-Control no-store.
func saCreate(t testing.TB, env *apptest.Env, as *apptest.Caller, name string, roles ...string) saAccount {
	t.Helper()
	res := env.Do(t, http.MethodPost, "/api/v1/service-accounts", as, map[string]any{"name": name, "roles": roles})
	mustStatus(t, res, http.StatusCreated, "create service account "+name)
	var a saAccount
	res.Decode(t, &a)
	if uuid.Validate(a.ID) != nil || a.ClientID != a.ID {
		t.Fatalf("created account: id %q, client_id %q: %s", a.ID, a.ClientID, res.Body)
	}
	if !strings.HasPrefix(a.ClientSecret, "cws_") || len(a.ClientSecret) < 24 {
		t.Fatalf("created account: client_secret %q, want a long cws_ secret", a.ClientSecret)
	}
	if got, want := res.Header.Get("Location"), saPath(a.ID); got != want {
		t.Errorf("create: Location %q, want %q", got, want)
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("create: Cache-Control %q, want no-store", cc)
	}
	if a.OrganizationID != as.User.OrganizationID || a.CreatedBy != as.User.ID || a.Name != name || !sameSet(a.Roles, roles) {
		t.Errorf("created account %+v: want organisation %s, created_by %s, name %q, roles %v",
			a, as.User.OrganizationID, as.User.ID, name, roles)
	}
	return a
}

// saGrantForm asks for a token with credentials in a form body.
func saGrantForm(t testing.TB, env *apptest.Env, form url.Values, header ...string) *apptest.Response {
	t.Helper()
	h := append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)
	return env.Do(t, http.MethodPost, saTokenPath, nil, form.Encode(), h...)
}

// saBasic is an HTTP Basic Authorization value for the client (both parts
// form-urlencoded first, RFC 6749 §2.3.1).
func saBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// saGrant asks for a token with the client's credentials in a form body.
func saGrant(t testing.TB, env *apptest.Env, id, secret string) *apptest.Response {
	t.Helper()
	return saGrantForm(t, env, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
}

// saMustToken decodes a successful grant and checks its shape.
func saMustToken(t testing.TB, res *apptest.Response, what string) saClientToken {
	t.Helper()
	mustStatus(t, res, http.StatusOK, what)
	var tok saClientToken
	res.Decode(t, &tok)
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 {
		t.Fatalf("%s: token %+v, want access_token, token_type Bearer and a positive expires_in", what, tok)
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	return tok
}

// saCallerFor signs the account in with its secret and returns a caller
// that carries its token.
func saCallerFor(t testing.TB, env *apptest.Env, a saAccount) *apptest.Caller {
	t.Helper()
	tok := saMustToken(t, saGrant(t, env, a.ClientID, a.ClientSecret), "token for "+a.Name)
	return &apptest.Caller{AccessToken: tok.AccessToken}
}

// saRefusedClient fails unless res is the grant's 401 invalid_client.
func saRefusedClient(t testing.TB, res *apptest.Response, what string) {
	t.Helper()
	p := saProblemOf(t, res, http.StatusUnauthorized, what)
	if res.Status == http.StatusUnauthorized && (p.Code != "unauthenticated" || p.Reason != "invalid_client") {
		t.Errorf("%s: code %q reason %q, want unauthenticated/invalid_client", what, p.Code, p.Reason)
	}
	if strings.Contains(string(res.Body), "access_token") {
		t.Errorf("%s: refused grant carries a token: %s", what, res.Body)
	}
}

// saRefusedToken fails unless the bearer token is refused with 401.
func saRefusedToken(t testing.TB, env *apptest.Env, c *apptest.Caller, what string) {
	t.Helper()
	for _, path := range []string{"/api/v1/cases", "/api/v1/organizations"} {
		p := saProblemOf(t, env.Do(t, http.MethodGet, path, c, nil), http.StatusUnauthorized, what+": GET "+path)
		if p.Status == http.StatusUnauthorized && p.Code != "unauthenticated" {
			t.Errorf("%s: GET %s: code %q, want unauthenticated", what, path, p.Code)
		}
	}
}

// saTokenWorks fails unless the bearer token is accepted.
func saTokenWorks(t testing.TB, env *apptest.Env, c *apptest.Caller, what string) {
	t.Helper()
	if res := env.Do(t, http.MethodGet, "/api/v1/organizations", c, nil); res.Status != http.StatusOK {
		t.Errorf("%s: GET /organizations: %d %s", what, res.Status, shortBody(res.Body))
	}
}

// saList reads every page of the account list as caller, with extra query q.
func saList(t testing.TB, env *apptest.Env, as *apptest.Caller, q url.Values) []saListItem {
	t.Helper()
	var out []saListItem
	cursor := ""
	for range 50 {
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		pq.Set("limit", "2")
		if cursor != "" {
			pq.Set("cursor", cursor)
		}
		res := env.Do(t, http.MethodGet, "/api/v1/service-accounts?"+pq.Encode(), as, nil)
		mustStatus(t, res, http.StatusOK, "list service accounts")
		if strings.Contains(string(res.Body), "client_secret") || strings.Contains(string(res.Body), "cws_") {
			t.Errorf("the account list shows a secret: %s", shortBody(res.Body))
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("list: Cache-Control %q, want no-store", cc)
		}
		var page struct {
			Items      []saListItem `json:"items"`
			NextCursor *string      `json:"next_cursor"`
		}
		res.Decode(t, &page)
		out = append(out, page.Items...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return out
		}
		cursor = *page.NextCursor
	}
	t.Fatalf("service accounts: too many pages")
	return nil
}

func saListIDs(items []saListItem) []string {
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

// saFind returns the item with id and whether there is one.
func saFind(items []saListItem, id string) (saListItem, bool) {
	for _, it := range items {
		if it.ID == id {
			return it, true
		}
	}
	return saListItem{}, false
}

// saCaseBody is a valid new case.
func saCaseBody() map[string]any {
	return map[string]any{
		"person": map[string]any{
			"given_name": "Integrator", "family_name": uuid.NewString()[:8],
			"sex": "female", "gender": "feminine", "citizenships": []string{"KZ"}, "languages": []string{"kk"},
		},
		"trafficking": map[string]any{
			"trafficking_status": "actual", "exploitation_types": []string{"forced_labour"},
			"country_of_exploitation": "RU", "identified_on": "2025-06-01", "identified_by": "ngo",
		},
	}
}

// saAssignedCaseBody is a valid new case assigned to a user.
func saAssignedCaseBody(userID string) map[string]any {
	b := saCaseBody()
	b["assigned_to"] = userID
	return b
}

// saStoredHash reads the secret hash the database holds for id ("<null>"
// for none).
func saStoredHash(t testing.TB, env *apptest.Env, id string) string {
	t.Helper()
	var hash *string
	q := fmt.Sprintf("SELECT secret_hash FROM service_accounts WHERE id = '%s'", uuid.MustParse(id))
	if err := env.App.DB.SQL().QueryRowContext(context.Background(), q).Scan(&hash); err != nil {
		t.Fatalf("read stored secret of %s: %v", id, err)
	}
	if hash == nil {
		return "<null>"
	}
	return *hash
}

// saNoSecretIn fails if any of the secrets appears in s.
func saNoSecretIn(t testing.TB, where, s string, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			t.Errorf("%s contains the client secret %s…", where, sec[:8])
		}
	}
}

// TestServiceAccountClientCredentials: an NGO admin creates an account; its
// secret is shown once and stored only as a hash; the grant works with HTTP
// Basic, a form body and a JSON body, and refuses everything else alike.
func TestServiceAccountClientCredentials(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "SACC", "Almaty")
		admin := env.NewUser(t, org.ID, "admin@sacc.example", "admin")
		a := saCreate(t, env, admin, "National referral mechanism", "caseworker")
		other := saCreate(t, env, admin, "Hotline", "viewer")

		// The secret is stored as a hash, never as itself.
		if h := saStoredHash(t, env, a.ID); h == "<null>" || strings.Contains(h, a.ClientSecret) || strings.Contains(a.ClientSecret, h) {
			t.Errorf("stored secret of a new account is %q, want a hash of the secret", h)
		}

		// GET never shows the secret.
		res := env.Do(t, http.MethodGet, saPath(a.ID), admin, nil)
		mustStatus(t, res, http.StatusOK, "get service account")
		var raw map[string]any
		res.Decode(t, &raw)
		if _, ok := raw["client_secret"]; ok || strings.Contains(string(res.Body), a.ClientSecret) || strings.Contains(string(res.Body), "cws_") {
			t.Errorf("GET shows the secret: %s", res.Body)
		}
		var got saAccount
		res.Decode(t, &got)
		if got.ID != a.ID || got.ClientID != a.ID || got.Name != a.Name || !sameSet(got.Roles, []string{"caseworker"}) ||
			got.OrganizationID != org.ID || got.CreatedBy != admin.User.ID || !got.CreatedAt.Equal(a.CreatedAt) {
			t.Errorf("GET %+v, want the created %+v", got, a)
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("get: Cache-Control %q, want no-store", cc)
		}
		if items := saList(t, env, admin, nil); !sameSet(saListIDs(items), []string{a.ID, other.ID}) {
			t.Errorf("list: %v, want %s and %s", saListIDs(items), a.ID, other.ID)
		}

		// Three ways to present the credentials.
		grant := url.Values{"grant_type": {"client_credentials"}}
		tokens := map[string]saClientToken{
			"HTTP Basic": saMustToken(t, saGrantForm(t, env, grant, "Authorization", saBasic(a.ClientID, a.ClientSecret)), "grant with HTTP Basic"),
			"form body":  saMustToken(t, saGrant(t, env, a.ClientID, a.ClientSecret), "grant with a form body"),
			"JSON body": saMustToken(t, env.Do(t, http.MethodPost, saTokenPath, nil, map[string]string{
				"grant_type": "client_credentials", "client_id": a.ClientID, "client_secret": a.ClientSecret}), "grant with a JSON body"),
			"form body with an ignored scope": saMustToken(t, saGrantForm(t, env, url.Values{"grant_type": {"client_credentials"},
				"client_id": {a.ClientID}, "client_secret": {a.ClientSecret}, "scope": {"cases:write"}}), "grant with a scope"),
		}
		for how, tok := range tokens {
			sub, _ := mustTokenClaims(t, tok.AccessToken)["sub"].(string)
			if !strings.HasSuffix(sub, a.ID) {
				t.Errorf("token by %s: sub %q, want the account %s", how, sub, a.ID)
			}
			saTokenWorks(t, env, &apptest.Caller{AccessToken: tok.AccessToken}, "token by "+how)
		}

		// Credentials in the header and in the body at once.
		for name, body := range map[string]url.Values{
			"id and secret": {"grant_type": {"client_credentials"}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}},
			"id only":       {"grant_type": {"client_credentials"}, "client_id": {a.ClientID}},
			"secret only":   {"grant_type": {"client_credentials"}, "client_secret": {a.ClientSecret}},
		} {
			p := saProblemOf(t, saGrantForm(t, env, body, "Authorization", saBasic(a.ClientID, a.ClientSecret)), http.StatusBadRequest,
				"Basic and "+name+" in the body")
			if p.Status == http.StatusBadRequest && p.Code != "invalid" {
				t.Errorf("Basic and %s in the body: code %q, want invalid", name, p.Code)
			}
		}

		// Wrong credentials: all refused alike.
		refusals := map[string]*apptest.Response{
			"wrong secret":             saGrant(t, env, a.ClientID, "cws_"+strings.Repeat("x", 43)),
			"unknown client_id":        saGrant(t, env, uuid.NewString(), a.ClientSecret),
			"another account's secret": saGrant(t, env, a.ClientID, other.ClientSecret),
			"secret without prefix":    saGrant(t, env, a.ClientID, strings.TrimPrefix(a.ClientSecret, "cws_")),
			"client_id not a uuid":     saGrant(t, env, "not-an-account", a.ClientSecret),
			"no credentials":           saGrantForm(t, env, url.Values{"grant_type": {"client_credentials"}}),
			"Basic, wrong secret":      saGrantForm(t, env, grant, "Authorization", saBasic(a.ClientID, other.ClientSecret)),
			"JSON, wrong secret": env.Do(t, http.MethodPost, saTokenPath, nil, map[string]string{
				"grant_type": "client_credentials", "client_id": other.ClientID, "client_secret": a.ClientSecret}),
		}
		var first map[string]any
		var firstName string
		for name, res := range refusals {
			saRefusedClient(t, res, name)
			if res.Status != http.StatusUnauthorized {
				continue
			}
			shape := mustProblemShape(t, res)
			if first == nil {
				first, firstName = shape, name
				continue
			}
			fb, _ := json.Marshal(first)
			sb, _ := json.Marshal(shape)
			if string(fb) != string(sb) {
				t.Errorf("refusals differ:\n%s: %s\n%s: %s", firstName, fb, name, sb)
			}
		}
		var ids []string
		for _, res := range refusals {
			var p saProblem
			res.Decode(t, &p)
			ids = append(ids, p.RequestID)
		}
		slices.Sort(ids)
		if len(slices.Compact(ids)) != len(refusals) {
			t.Errorf("refusals share request ids: %v", ids)
		}

		// Only the client-credentials grant.
		for _, gt := range []string{"password", "refresh_token", "authorization_code", ""} {
			form := url.Values{"grant_type": {gt}, "client_id": {a.ClientID}, "client_secret": {a.ClientSecret}}
			p := saProblemOf(t, saGrantForm(t, env, form), http.StatusBadRequest, "grant_type="+gt)
			if p.Status == http.StatusBadRequest && (p.Code != "invalid" || p.Reason != "unsupported_grant_type") {
				t.Errorf("grant_type=%q: code %q reason %q, want invalid/unsupported_grant_type", gt, p.Code, p.Reason)
			}
		}
		p := saProblemOf(t, env.Do(t, http.MethodPost, saTokenPath, nil, map[string]string{
			"grant_type": "password", "client_id": a.ClientID, "client_secret": a.ClientSecret}), http.StatusBadRequest, "JSON grant_type=password")
		if p.Reason != "unsupported_grant_type" {
			t.Errorf("JSON grant_type=password: reason %q, want unsupported_grant_type", p.Reason)
		}

		// Malformed grant requests.
		for name, res := range map[string]*apptest.Response{
			"no body":          env.Do(t, http.MethodPost, saTokenPath, nil, nil),
			"no grant_type":    saGrantForm(t, env, url.Values{"client_id": {a.ClientID}, "client_secret": {a.ClientSecret}}),
			"JSON syntax":      env.Do(t, http.MethodPost, saTokenPath, nil, `{"grant_type":`),
			"secret too long":  saGrant(t, env, a.ClientID, "cws_"+strings.Repeat("a", 200)),
			"JSON bad type":    env.Do(t, http.MethodPost, saTokenPath, nil, `{"grant_type":"client_credentials","client_id":5,"client_secret":"cws_x"}`),
			"JSON extra field": env.Do(t, http.MethodPost, saTokenPath, nil, map[string]string{"grant_type": "client_credentials", "client_id": a.ClientID, "client_secret": a.ClientSecret, "password": "x"}),
		} {
			if res.Status != http.StatusBadRequest && res.Status != http.StatusUnsupportedMediaType {
				t.Errorf("%s: status %d, want 400: %s", name, res.Status, shortBody(res.Body))
			}
			if strings.Contains(string(res.Body), "access_token") {
				t.Errorf("%s: answered a token", name)
			}
		}
	})
}

// TestServiceAccountActsAsAccount: a token acts with the account's roles in
// the account's organisation, and nowhere else.
func TestServiceAccountActsAsAccount(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "SAAA", "Almaty")
		orgB := env.NewOrg(t, "SAAB", "Astana")
		adminA := env.NewUser(t, orgA.ID, "admin@saaa.example", "admin")
		cwA := env.NewUser(t, orgA.ID, "cw@saaa.example", "caseworker")
		cwB := env.NewUser(t, orgB.ID, "cw@saab.example", "caseworker")
		acct := saCreate(t, env, adminA, "Case intake", "caseworker")
		sa := saCallerFor(t, env, acct)

		caseByUserA, _ := mustCreateCase(t, env, cwA, saCaseBody())
		caseB, _ := mustCreateCase(t, env, cwB, saCaseBody())

		// The account creates a case in its own organisation.
		// (A service account is no user: its case is unassigned, unless it
		// names a user of its organisation.)
		id, res := mustCreateCase(t, env, sa, saCaseBody())
		var c struct {
			OrganizationID string  `json:"organization_id"`
			AssignedTo     *string `json:"assigned_to"`
		}
		res.Decode(t, &c)
		if c.OrganizationID != orgA.ID || c.AssignedTo != nil {
			t.Errorf("case created by the account: organisation %s, assigned to %s; want %s, unassigned", c.OrganizationID, strOrNil(c.AssignedTo), orgA.ID)
		}
		_, res = mustCreateCase(t, env, sa, saAssignedCaseBody(cwA.User.ID))
		res.Decode(t, &c)
		if c.OrganizationID != orgA.ID || strOrNil(c.AssignedTo) != cwA.User.ID {
			t.Errorf("case created by the account for %s: organisation %s, assigned to %s", cwA.User.ID, c.OrganizationID, strOrNil(c.AssignedTo))
		}
		saProblemOf(t, env.Do(t, http.MethodPost, "/api/v1/cases?allow_duplicate=true", sa, saAssignedCaseBody(cwB.User.ID)),
			http.StatusUnprocessableEntity, "the account creates a case assigned to another organisation's user")
		if res := env.Do(t, http.MethodGet, "/api/v1/cases/"+id, cwA, nil); res.Status != http.StatusOK {
			t.Errorf("the organisation's caseworker reads the account's case: %d", res.Status)
		}

		// It lists its organisation's cases only.
		listed := map[string]bool{}
		cursor := ""
		for range 20 {
			res := env.Do(t, http.MethodGet, withCursor("/api/v1/cases?limit=50", cursor), sa, nil)
			mustStatus(t, res, http.StatusOK, "list cases as the account")
			var page struct {
				Items []struct {
					ID             string `json:"id"`
					OrganizationID string `json:"organization_id"`
				} `json:"items"`
				NextCursor *string `json:"next_cursor"`
			}
			res.Decode(t, &page)
			for _, it := range page.Items {
				listed[it.ID] = true
				if it.OrganizationID != orgA.ID {
					t.Errorf("the account lists case %s of organisation %s", it.ID, it.OrganizationID)
				}
			}
			if page.NextCursor == nil || *page.NextCursor == "" {
				break
			}
			cursor = *page.NextCursor
		}
		if !listed[id] || !listed[caseByUserA] || listed[caseB] {
			t.Errorf("the account's case list %v: want %s and %s, not %s", listed, id, caseByUserA, caseB)
		}

		// Another organisation's case is as missing as one that does not exist.
		foreign := env.Do(t, http.MethodGet, "/api/v1/cases/"+caseB, sa, nil)
		missing := env.Do(t, http.MethodGet, "/api/v1/cases/"+uuid.NewString(), sa, nil)
		saProblemOf(t, foreign, http.StatusNotFound, "the account reads another organisation's case")
		saProblemOf(t, missing, http.StatusNotFound, "the account reads a missing case")
		if foreign.Status == http.StatusNotFound && missing.Status == http.StatusNotFound {
			f, _ := json.Marshal(mustProblemShape(t, foreign))
			m, _ := json.Marshal(mustProblemShape(t, missing))
			if !saSameButPath(f, m) {
				t.Errorf("foreign and missing case differ:\n%s\n%s", f, m)
			}
		}

		// A caseworker account manages no accounts and reads no audit trail.
		saProblemOf(t, env.Do(t, http.MethodGet, "/api/v1/service-accounts", sa, nil), http.StatusForbidden, "the account lists accounts")
		saProblemOf(t, env.Do(t, http.MethodPost, "/api/v1/service-accounts", sa, map[string]any{"name": "Child", "roles": []string{"caseworker"}}),
			http.StatusForbidden, "the account creates an account")
		saProblemOf(t, env.Do(t, http.MethodPost, saPath(acct.ID)+"/rotate-secret", sa, nil), http.StatusForbidden, "the account rotates its own secret")
		saProblemOf(t, env.Do(t, http.MethodGet, "/api/v1/audit-events", sa, nil), http.StatusForbidden, "the account reads the audit trail")
		saProblemOf(t, env.Do(t, http.MethodPost, "/api/v1/users", sa, map[string]any{"email": "x@saaa.example", "display_name": "X",
			"password": apptest.Password, "roles": []string{"admin"}, "organization_id": orgA.ID}), http.StatusForbidden, "the account creates a user")
		// A user token cannot be passed off as the account's, nor the other way round.
		if res := env.Do(t, http.MethodPost, saTokenPath, cwA, map[string]string{"grant_type": "client_credentials"}); res.Status != http.StatusUnauthorized {
			t.Errorf("a user's bearer token as client credentials: %d, want 401", res.Status)
		}
		if res := env.Do(t, http.MethodPost, "/api/v1/auth/refresh", nil, map[string]string{"refresh_token": acct.ClientSecret}); res.Status != http.StatusUnauthorized {
			t.Errorf("the client secret as a refresh token: %d, want 401", res.Status)
		}
		if res := env.Do(t, http.MethodPost, "/api/v1/auth/logout", sa, nil); res.Status == http.StatusInternalServerError {
			t.Errorf("logout with an account's token: 500 %s", res.Body)
		}

		// GET /me: the account, as the spec describes a caller.
		me := env.Do(t, http.MethodGet, "/api/v1/me", sa, nil)
		mustStatus(t, me, http.StatusOK, "GET /me as a service account")
		var m struct {
			ID             string   `json:"id"`
			Kind           string   `json:"kind"`
			Email          *string  `json:"email"`
			DisplayName    string   `json:"display_name"`
			OrganizationID string   `json:"organization_id"`
			Roles          []string `json:"roles"`
			Locale         string   `json:"locale"`
		}
		me.Decode(t, &m)
		if m.ID != acct.ID || m.OrganizationID != orgA.ID || !sameSet(m.Roles, []string{"caseworker"}) || m.DisplayName != acct.Name {
			t.Errorf("GET /me as the account: %s, want the account %s of %s with roles [caseworker]", me.Body, acct.ID, orgA.ID)
		}
		// A service account has no email (null) and says what it is.
		if m.Kind != "service_account" || m.Email != nil {
			t.Errorf("GET /me as a service account: kind %q, email %s; want service_account, null: %s", m.Kind, strOrNil(m.Email), me.Body)
		}
		// A user's /me says user.
		um := env.Do(t, http.MethodGet, "/api/v1/me", adminA, nil)
		mustStatus(t, um, http.StatusOK, "GET /me as a user")
		var u struct {
			Kind  string  `json:"kind"`
			Email *string `json:"email"`
		}
		um.Decode(t, &u)
		if u.Kind != "user" || strOrNil(u.Email) != "admin@saaa.example" {
			t.Errorf("GET /me as a user: kind %q, email %s", u.Kind, strOrNil(u.Email))
		}
	})
}

// saSameButPath reports whether two problem shapes differ at most in their
// detail naming the record asked for.
func saSameButPath(a, b []byte) bool {
	var x, y map[string]any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return x["code"] == y["code"] && x["status"] == y["status"] && x["title"] == y["title"] && x["type"] == y["type"] && x["detail"] == y["detail"]
}

// TestServiceAccountRotation: a new secret replaces the old at once: the
// old secret gets no tokens and tokens issued with it are refused on the
// very next request.
func TestServiceAccountRotation(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "SARO", "Almaty")
		admin := env.NewUser(t, org.ID, "admin@saro.example", "admin")
		a := saCreate(t, env, admin, "Rotating", "caseworker")
		bystander := saCreate(t, env, admin, "Bystander", "caseworker")
		old1 := saCallerFor(t, env, a)
		old2 := saCallerFor(t, env, a)
		otherTok := saCallerFor(t, env, bystander)
		saTokenWorks(t, env, old1, "token before rotation")
		oldHash := saStoredHash(t, env, a.ID)

		res := saRotate(t, env, admin, a.ID)
		mustStatus(t, res, http.StatusOK, "rotate secret")
		var r saAccount
		res.Decode(t, &r)
		if r.ID != a.ID || r.ClientID != a.ID || r.Name != a.Name || !sameSet(r.Roles, a.Roles) || !r.CreatedAt.Equal(a.CreatedAt) {
			t.Errorf("rotated account %+v, want %+v", r, a)
		}
		if !strings.HasPrefix(r.ClientSecret, "cws_") || r.ClientSecret == a.ClientSecret {
			t.Fatalf("rotation: client_secret %q, want a new cws_ secret", r.ClientSecret)
		}
		if r.SecretRotatedAt.Before(a.SecretRotatedAt) || r.UpdatedAt.Before(a.UpdatedAt) {
			t.Errorf("rotation: secret_rotated_at %v / updated_at %v went back from %v / %v", r.SecretRotatedAt, r.UpdatedAt, a.SecretRotatedAt, a.UpdatedAt)
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("rotate: Cache-Control %q, want no-store", cc)
		}
		if h := saStoredHash(t, env, a.ID); h == oldHash || strings.Contains(h, r.ClientSecret) {
			t.Errorf("stored secret after rotation: %q (before %q)", h, oldHash)
		}

		// The old tokens are refused on the very next request.
		saRefusedToken(t, env, old1, "token issued before rotation")
		saRefusedToken(t, env, old2, "second token issued before rotation")
		saProblemOf(t, env.Do(t, http.MethodPost, "/api/v1/cases?allow_duplicate=true", old1, saCaseBody()), http.StatusUnauthorized,
			"create a case with a token issued before rotation")
		// The old secret gets no token, by any route.
		saRefusedClient(t, saGrant(t, env, a.ClientID, a.ClientSecret), "old secret in the body")
		saRefusedClient(t, saGrantForm(t, env, url.Values{"grant_type": {"client_credentials"}}, "Authorization", saBasic(a.ClientID, a.ClientSecret)),
			"old secret with Basic")
		// The new one does, and its token works.
		fresh := saCallerFor(t, env, r)
		saTokenWorks(t, env, fresh, "token issued after rotation")
		mustCreateCase(t, env, fresh, saCaseBody())
		// GET shows the rotation, never the secret.
		g := env.Do(t, http.MethodGet, saPath(a.ID), admin, nil)
		mustStatus(t, g, http.StatusOK, "get after rotation")
		saNoSecretIn(t, "GET after rotation", string(g.Body), a.ClientSecret, r.ClientSecret)
		var got saAccount
		g.Decode(t, &got)
		if !got.SecretRotatedAt.Equal(r.SecretRotatedAt) {
			t.Errorf("GET secret_rotated_at %v, want %v", got.SecretRotatedAt, r.SecretRotatedAt)
		}
		// Another account is untouched.
		saTokenWorks(t, env, otherTok, "another account's token after a rotation")

		// Rotating twice: only the latest secret works.
		res = saRotate(t, env, admin, a.ID)
		mustStatus(t, res, http.StatusOK, "second rotation")
		var r2 saAccount
		res.Decode(t, &r2)
		saRefusedToken(t, env, fresh, "token issued before the second rotation")
		saRefusedClient(t, saGrant(t, env, a.ClientID, r.ClientSecret), "second secret after the second rotation")
		saTokenWorks(t, env, saCallerFor(t, env, r2), "token of the third secret")
	})
}

// TestServiceAccountDeletion: a deleted account's tokens are refused on the
// next request, it gets no new ones, and lists show it only as a tombstone.
func TestServiceAccountDeletion(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "SADE", "Almaty")
		admin := env.NewUser(t, org.ID, "admin@sade.example", "admin")
		since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		a := saCreate(t, env, admin, "Short-lived", "caseworker")
		keep := saCreate(t, env, admin, "Long-lived", "viewer")
		tok := saCallerFor(t, env, a)
		keepTok := saCallerFor(t, env, keep)
		saTokenWorks(t, env, tok, "token before deletion")

		res := env.Do(t, http.MethodDelete, saPath(a.ID), admin, nil)
		mustStatus(t, res, http.StatusNoContent, "delete service account")
		if len(res.Body) != 0 {
			t.Errorf("delete: body %q, want none", res.Body)
		}

		saRefusedToken(t, env, tok, "token of a deleted account")
		saRefusedClient(t, saGrant(t, env, a.ClientID, a.ClientSecret), "secret of a deleted account")
		saRefusedClient(t, saGrantForm(t, env, url.Values{"grant_type": {"client_credentials"}}, "Authorization", saBasic(a.ClientID, a.ClientSecret)),
			"secret of a deleted account with Basic")
		if h := saStoredHash(t, env, a.ID); h != "<null>" {
			t.Errorf("a deleted account keeps its secret's hash %q", h)
		}
		saProblemOf(t, env.Do(t, http.MethodGet, saPath(a.ID), admin, nil), http.StatusNotFound, "GET a deleted account")
		saProblemOf(t, env.Do(t, http.MethodDelete, saPath(a.ID), admin, nil), http.StatusNotFound, "delete a deleted account")
		saProblemOf(t, env.Do(t, http.MethodPost, saPath(a.ID)+"/rotate-secret", admin, nil), http.StatusNotFound, "rotate a deleted account")
		// A rotation attempt must not revive it.
		saRefusedClient(t, saGrant(t, env, a.ClientID, a.ClientSecret), "secret of a deleted account after a refused rotation")

		// Lists: gone without updated_since; a tombstone with it.
		if items := saList(t, env, admin, nil); !slices.Equal(saListIDs(items), []string{keep.ID}) {
			t.Errorf("list after deletion: %v, want only %s", saListIDs(items), keep.ID)
		}
		for _, as := range []*apptest.Caller{admin, env.Admin} {
			items := saList(t, env, as, url.Values{"updated_since": {since}})
			ts, ok := saFind(items, a.ID)
			if !ok {
				t.Errorf("list with updated_since: no tombstone for %s in %v", a.ID, saListIDs(items))
				continue
			}
			if !ts.Deleted || ts.Name != "" || ts.OrganizationID != "" || ts.ClientID != "" || ts.Roles != nil || ts.UpdatedAt.Before(a.UpdatedAt) {
				t.Errorf("tombstone %+v, want {id, deleted: true, updated_at}", ts)
			}
			if k, ok := saFind(items, keep.ID); !ok || k.Deleted || k.Name != keep.Name {
				t.Errorf("list with updated_since: live account %s shown as %+v", keep.ID, k)
			}
		}
		// The tombstone has exactly the three members.
		res = env.Do(t, http.MethodGet, "/api/v1/service-accounts?updated_since="+url.QueryEscape(since), admin, nil)
		mustStatus(t, res, http.StatusOK, "list with updated_since")
		var page struct {
			Items []map[string]any `json:"items"`
		}
		res.Decode(t, &page)
		for _, it := range page.Items {
			if it["id"] == a.ID {
				keys := make([]string, 0, len(it))
				for k := range it {
					keys = append(keys, k)
				}
				if !sameSet(keys, []string{"id", "deleted", "updated_at"}) || it["deleted"] != true {
					t.Errorf("tombstone %v, want exactly id, deleted: true, updated_at", it)
				}
			}
		}
		// Only the deleted account's tokens end.
		saTokenWorks(t, env, keepTok, "another account's token after a deletion")
		// A new account gets a new id; the deleted one stays gone.
		again := saCreate(t, env, admin, "Short-lived", "caseworker")
		if again.ID == a.ID {
			t.Errorf("a new account reuses the deleted account's id")
		}
		saRefusedToken(t, env, tok, "token of a deleted account after a new one with its name")
	})
}

// TestServiceAccountRoles: who may create which account, and what it may do.
func TestServiceAccountRoles(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "SARA", "Almaty")
		orgB := env.NewOrg(t, "SARB", "Astana")
		adminA := env.NewUser(t, orgA.ID, "admin@sara.example", "admin")
		cwA := env.NewUser(t, orgA.ID, "cw@sara.example", "caseworker")
		viewerA := env.NewUser(t, orgA.ID, "viewer@sara.example", "viewer")
		adminB := env.NewUser(t, orgB.ID, "admin@sarb.example", "admin")
		coord := env.NewUser(t, env.IOM.ID, "coord@iom.example", "coordinator")
		count := func() int {
			var n int
			if err := env.App.DB.SQL().QueryRowContext(context.Background(), "SELECT count(*) FROM service_accounts").Scan(&n); err != nil {
				t.Fatalf("count service accounts: %v", err)
			}
			return n
		}

		t.Run("grantable roles", func(t *testing.T) {
			before := count()
			for name, roles := range map[string][]string{
				"admin":                    {"admin"},
				"admin among others":       {"caseworker", "admin"},
				"coordinator (IOM only)":   {"coordinator"},
				"viewer and coordinator":   {"viewer", "coordinator"},
				"caseworker, coordinator ": {"caseworker", "coordinator"},
			} {
				p := saProblemOf(t, env.Do(t, http.MethodPost, "/api/v1/service-accounts", adminA, map[string]any{"name": "X", "roles": roles}),
					http.StatusUnprocessableEntity, "NGO admin creates an account with "+name)
				if p.Status == http.StatusUnprocessableEntity && (p.Code != "invalid" || len(p.Errors) == 0 || !strings.HasPrefix(p.Errors[0].Field, "roles")) {
					t.Errorf("%s: problem %+v, want invalid with a roles error", name, p)
				}
			}
			// The IOM admin neither grants admin nor NGO-only roles.
			for name, roles := range map[string][]string{"admin": {"admin"}, "viewer (NGO only)": {"viewer"}} {
				saProblemOf(t, env.Do(t, http.MethodPost, "/api/v1/service-accounts", env.Admin, map[string]any{"name": "X", "roles": roles}),
					http.StatusUnprocessableEntity, "IOM admin creates an account with "+name)
			}
			if n := count(); n != before {
				t.Errorf("refused creations stored %d accounts", n-before)
			}
			// Each role of the organisation but admin is fine, duplicates folded.
			a := saCreate(t, env, adminA, "All roles", "caseworker", "viewer")
			res := env.Do(t, http.MethodPost, "/api/v1/service-accounts", adminA, map[string]any{"name": "Dup", "roles": []string{"viewer", "viewer"}})
			mustStatus(t, res, http.StatusCreated, "create with a repeated role")
			var dup saAccount
			res.Decode(t, &dup)
			if !slices.Equal(dup.Roles, []string{"viewer"}) {
				t.Errorf("repeated role stored as %v", dup.Roles)
			}
			_ = a
		})

		t.Run("only admins create", func(t *testing.T) {
			before := count()
			for name, as := range map[string]*apptest.Caller{"NGO caseworker": cwA, "NGO viewer": viewerA, "IOM coordinator": coord} {
				p := saProblemOf(t, env.Do(t, http.MethodPost, "/api/v1/service-accounts", as, map[string]any{"name": "X", "roles": []string{"viewer"}}),
					http.StatusForbidden, name+" creates an account")
				if p.Status == http.StatusForbidden && p.Code != "forbidden" {
					t.Errorf("%s: code %q, want forbidden", name, p.Code)
				}
				saProblemOf(t, env.Do(t, http.MethodGet, "/api/v1/service-accounts", as, nil), http.StatusForbidden, name+" lists accounts")
			}
			if n := count(); n != before {
				t.Errorf("refused creations stored %d accounts", n-before)
			}
		})

		t.Run("IOM coordinator account", func(t *testing.T) {
			iomAcct := saCreate(t, env, env.Admin, "Statistics", "coordinator")
			if iomAcct.OrganizationID != env.IOM.ID {
				t.Fatalf("IOM account in %s, want IOM %s", iomAcct.OrganizationID, env.IOM.ID)
			}
			sa := saCallerFor(t, env, iomAcct)
			res := env.Do(t, http.MethodGet, "/api/v1/reports/assistance?from=2025-01-01&to=2025-12-31", sa, nil)
			mustStatus(t, res, http.StatusOK, "coordinator account pulls the assistance report")
			saProblemOf(t, env.Do(t, http.MethodPost, "/api/v1/cases?allow_duplicate=true", sa, saCaseBody()), http.StatusForbidden,
				"coordinator account creates a case")
			saProblemOf(t, env.Do(t, http.MethodGet, "/api/v1/service-accounts", sa, nil), http.StatusForbidden, "coordinator account lists accounts")
		})

		t.Run("across organisations", func(t *testing.T) {
			accA := saCreate(t, env, adminA, "A's integration", "caseworker")
			accB := saCreate(t, env, adminB, "B's integration", "caseworker")
			accB2 := saCreate(t, env, adminB, "B's second integration", "viewer")
			iomAcct := saCreate(t, env, env.Admin, "IOM integration", "caseworker")
			tokB := saCallerFor(t, env, accB)

			// Each NGO admin lists their own organisation's only.
			for as, want := range map[*apptest.Caller]string{adminA: orgA.ID, adminB: orgB.ID} {
				for _, it := range saList(t, env, as, nil) {
					if it.OrganizationID != want {
						t.Errorf("an NGO admin of %s lists account %s of %s", want, it.ID, it.OrganizationID)
					}
				}
			}
			// The IOM admin lists every organisation's.
			all := saListIDs(saList(t, env, env.Admin, nil))
			for _, id := range []string{accA.ID, accB.ID, accB2.ID, iomAcct.ID} {
				if !slices.Contains(all, id) {
					t.Errorf("the IOM admin's list lacks %s", id)
				}
			}
			if res := env.Do(t, http.MethodGet, saPath(accB.ID), env.Admin, nil); res.Status != http.StatusOK {
				t.Errorf("the IOM admin reads an NGO's account: %d", res.Status)
			}

			// An NGO admin sees nothing of another NGO's accounts.
			for name, req := range map[string][2]string{
				"get":    {http.MethodGet, ""},
				"rotate": {http.MethodPost, "/rotate-secret"},
				"delete": {http.MethodDelete, ""},
			} {
				foreign := env.Do(t, req[0], saPath(accB.ID)+req[1], adminA, nil)
				missing := env.Do(t, req[0], saPath(uuid.NewString())+req[1], adminA, nil)
				saProblemOf(t, foreign, http.StatusNotFound, "NGO admin "+name+"s another NGO's account")
				saProblemOf(t, missing, http.StatusNotFound, "NGO admin "+name+"s a missing account")
				if foreign.Status == missing.Status {
					f, _ := json.Marshal(mustProblemShape(t, foreign))
					m, _ := json.Marshal(mustProblemShape(t, missing))
					if !saSameButPath(f, m) {
						t.Errorf("%s: foreign and missing differ:\n%s\n%s", name, f, m)
					}
				}
			}
			// The IOM admin cannot rotate an NGO's account (it would hand them its access).
			saProblemOf(t, env.Do(t, http.MethodPost, saPath(accB.ID)+"/rotate-secret", env.Admin, nil), http.StatusNotFound,
				"IOM admin rotates an NGO's account")
			// Nothing of it changed.
			saTokenWorks(t, env, tokB, "B's token after refused foreign rotations and deletions")
			saMustToken(t, saGrant(t, env, accB.ClientID, accB.ClientSecret), "B's secret after refused foreign rotations")
			if items := saList(t, env, adminB, nil); !sameSet(saListIDs(items), []string{accB.ID, accB2.ID}) {
				t.Errorf("B's accounts after refused foreign deletions: %v", saListIDs(items))
			}
			// The IOM admin can delete it, which ends its tokens.
			mustStatus(t, env.Do(t, http.MethodDelete, saPath(accB.ID), env.Admin, nil), http.StatusNoContent, "IOM admin deletes an NGO's account")
			saRefusedToken(t, env, tokB, "token of an account the IOM admin deleted")
			saRefusedClient(t, saGrant(t, env, accB.ClientID, accB.ClientSecret), "secret of an account the IOM admin deleted")
			if items := saList(t, env, adminB, nil); !slices.Equal(saListIDs(items), []string{accB2.ID}) {
				t.Errorf("B's accounts after the IOM admin's deletion: %v, want %s", saListIDs(items), accB2.ID)
			}
			// The NGO admin cannot act on an IOM account either.
			saProblemOf(t, env.Do(t, http.MethodDelete, saPath(iomAcct.ID), adminA, nil), http.StatusNotFound, "NGO admin deletes an IOM account")
		})

		t.Run("unauthenticated", func(t *testing.T) {
			acc := saCreate(t, env, adminA, "Unauth target", "viewer")
			for _, r := range []struct {
				method, path string
				body         any
			}{
				{http.MethodGet, "/api/v1/service-accounts", nil},
				{http.MethodPost, "/api/v1/service-accounts", map[string]any{"name": "X", "roles": []string{"viewer"}}},
				{http.MethodPost, "/api/v1/service-accounts", map[string]any{"bogus": true}},
				{http.MethodGet, saPath(acc.ID), nil},
				{http.MethodDelete, saPath(acc.ID), nil},
				{http.MethodPost, saPath(acc.ID) + "/rotate-secret", nil},
				{http.MethodGet, saPath("not-a-uuid"), nil},
			} {
				for name, hdr := range map[string][]string{
					"no token":      nil,
					"garbage token": {"Authorization", "Bearer not-a-token"},
					"client secret": {"Authorization", "Bearer " + acc.ClientSecret},
					"Basic":         {"Authorization", saBasic(acc.ClientID, acc.ClientSecret)},
				} {
					res := env.Do(t, r.method, r.path, nil, r.body, hdr...)
					p := saProblemOf(t, res, http.StatusUnauthorized, r.method+" "+r.path+" with "+name)
					if res.Status == http.StatusUnauthorized && p.Code != "unauthenticated" {
						t.Errorf("%s %s with %s: code %q", r.method, r.path, name, p.Code)
					}
				}
			}
			if res := env.Do(t, http.MethodGet, saPath(acc.ID), adminA, nil); res.Status != http.StatusOK {
				t.Errorf("the account after anonymous attempts: %d", res.Status)
			}
			saMustToken(t, saGrant(t, env, acc.ClientID, acc.ClientSecret), "the secret after anonymous rotation attempts")
		})

		t.Run("bad requests", func(t *testing.T) {
			before := count()
			for _, id := range []string{"not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"} {
				saProblemOf(t, env.Do(t, http.MethodGet, saPath(id), adminA, nil), http.StatusBadRequest, "GET bad id "+id)
				saProblemOf(t, env.Do(t, http.MethodDelete, saPath(id), adminA, nil), http.StatusBadRequest, "DELETE bad id "+id)
				saProblemOf(t, env.Do(t, http.MethodPost, saPath(id)+"/rotate-secret", adminA, nil), http.StatusBadRequest, "rotate bad id "+id)
			}
			for name, c := range map[string]struct {
				body any
				want int
			}{
				"missing name":        {map[string]any{"roles": []string{"viewer"}}, http.StatusBadRequest},
				"missing roles":       {map[string]any{"name": "X"}, http.StatusBadRequest},
				"unknown field":       {map[string]any{"name": "X", "roles": []string{"viewer"}, "client_secret": "cws_mine"}, http.StatusBadRequest},
				"organization_id":     {map[string]any{"name": "X", "roles": []string{"viewer"}, "organization_id": orgB.ID}, http.StatusBadRequest},
				"empty roles":         {map[string]any{"name": "X", "roles": []string{}}, http.StatusBadRequest},
				"unknown role":        {map[string]any{"name": "X", "roles": []string{"superuser"}}, http.StatusBadRequest},
				"four roles":          {map[string]any{"name": "X", "roles": []string{"viewer", "viewer", "viewer", "viewer"}}, http.StatusBadRequest},
				"empty name":          {map[string]any{"name": "", "roles": []string{"viewer"}}, http.StatusBadRequest},
				"name too long":       {map[string]any{"name": strings.Repeat("n", 101), "roles": []string{"viewer"}}, http.StatusBadRequest},
				"name not a string":   {map[string]any{"name": 5, "roles": []string{"viewer"}}, http.StatusBadRequest},
				"roles not an array":  {map[string]any{"name": "X", "roles": "viewer"}, http.StatusBadRequest},
				"malformed JSON":      {`{"name":"X",`, http.StatusBadRequest},
				"blank name":          {map[string]any{"name": "   ", "roles": []string{"viewer"}}, http.StatusUnprocessableEntity},
				"empty object":        {map[string]any{}, http.StatusBadRequest},
				"JSON array":          {`[]`, http.StatusBadRequest},
				"id given":            {map[string]any{"id": uuid.NewString(), "name": "X", "roles": []string{"viewer"}}, http.StatusBadRequest},
				"secret_rotated_at":   {map[string]any{"name": "X", "roles": []string{"viewer"}, "secret_rotated_at": "2025-01-01T00:00:00Z"}, http.StatusBadRequest},
				"created_by injected": {map[string]any{"name": "X", "roles": []string{"viewer"}, "created_by": adminB.User.ID}, http.StatusBadRequest},
			} {
				res := env.Do(t, http.MethodPost, "/api/v1/service-accounts", adminA, c.body)
				p := saProblemOf(t, res, c.want, "create with "+name)
				if res.Status == c.want && p.Code != "invalid" {
					t.Errorf("create with %s: code %q, want invalid", name, p.Code)
				}
			}
			if n := count(); n != before {
				t.Errorf("refused creations stored %d accounts", n-before)
			}
			// 100 characters is fine; surrounding blanks are trimmed.
			long := strings.Repeat("n", 100)
			saCreate(t, env, adminA, long, "viewer")
			res := env.Do(t, http.MethodPost, "/api/v1/service-accounts", adminA, map[string]any{"name": "  Trimmed  ", "roles": []string{"viewer"}})
			mustStatus(t, res, http.StatusCreated, "create with a padded name")
			var a saAccount
			res.Decode(t, &a)
			if a.Name != "Trimmed" {
				t.Errorf("padded name stored as %q", a.Name)
			}
			// Bad list parameters.
			for _, q := range []string{"limit=0", "limit=abc", "limit=100000", "updated_since=yesterday", "cursor=%00%01"} {
				if res := env.Do(t, http.MethodGet, "/api/v1/service-accounts?"+q, adminA, nil); res.Status != http.StatusBadRequest {
					t.Errorf("list with %s: %d, want 400", q, res.Status)
				}
			}
		})
	})
}

// TestServiceAccountAudit: creation, rotation, deletion and every grant
// leave an event; no secret appears in the trail or the logs.
func TestServiceAccountAudit(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "SAAU", "Almaty")
		admin := env.NewUser(t, org.ID, "admin@saau.example", "admin")

		a := saCreate(t, env, admin, "Audited", "caseworker")
		tokA := saCallerFor(t, env, a)
		caseID, _ := mustCreateCase(t, env, tokA, saCaseBody())
		res := saRotate(t, env, admin, a.ID)
		mustStatus(t, res, http.StatusOK, "rotate")
		var r saAccount
		res.Decode(t, &r)
		saRefusedClient(t, saGrant(t, env, a.ClientID, a.ClientSecret), "old secret")
		saRefusedClient(t, saGrant(t, env, uuid.NewString(), r.ClientSecret), "unknown client")
		saRefusedClient(t, saGrantForm(t, env, url.Values{"grant_type": {"client_credentials"}}, "Authorization", saBasic(a.ClientID, a.ClientSecret+"x")),
			"Basic wrong secret")
		saMustToken(t, saGrant(t, env, r.ClientID, r.ClientSecret), "new secret")
		mustStatus(t, env.Do(t, http.MethodDelete, saPath(a.ID), admin, nil), http.StatusNoContent, "delete")
		saRefusedClient(t, saGrant(t, env, r.ClientID, r.ClientSecret), "deleted account")

		all := mustAuditEvents[saAuditEvent](t, env, nil)
		with := func(action, outcome string) []saAuditEvent {
			var out []saAuditEvent
			for _, e := range all {
				if e.Action == action && (outcome == "" || e.Outcome == outcome) {
					out = append(out, e)
				}
			}
			return out
		}
		str := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		byAdmin := func(action string) {
			t.Helper()
			es := with(action, "success")
			if len(es) != 1 {
				t.Errorf("%s: %d success events, want 1: %+v", action, len(es), es)
				return
			}
			e := es[0]
			if e.ActorType != "user" || str(e.ActorID) != admin.User.ID || str(e.OrganizationID) != org.ID ||
				e.ObjectType != "service_account" || str(e.ObjectID) != a.ID {
				t.Errorf("%s event %+v, want user %s of %s on service_account %s", action, e, admin.User.ID, org.ID, a.ID)
			}
		}
		byAdmin("service_account.create")
		byAdmin("service_account.rotate_secret")
		byAdmin("service_account.delete")

		ok := with("auth.client_credentials", "success")
		if len(ok) != 2 {
			t.Errorf("auth.client_credentials success: %d events, want 2: %+v", len(ok), ok)
		}
		for _, e := range ok {
			if e.ActorType != "service_account" || str(e.ActorID) != a.ID || str(e.OrganizationID) != org.ID || str(e.ObjectID) != a.ID {
				t.Errorf("successful grant event %+v, want the account %s of %s", e, a.ID, org.ID)
			}
		}
		failed := with("auth.client_credentials", "failure")
		if len(failed) != 4 {
			t.Errorf("auth.client_credentials failure: %d events, want 4: %+v", len(failed), failed)
		}
		for _, e := range failed {
			if e.ActorType != "anonymous" || e.ActorID != nil {
				t.Errorf("failed grant event %+v, want an anonymous actor", e)
			}
		}
		// Filtering by outcome agrees.
		if f := mustAuditEvents[saAuditEvent](t, env, url.Values{"action": {"auth.client_credentials"}, "outcome": {"failure"}}); len(f) != len(failed) {
			t.Errorf("filtered failures: %d, want %d", len(f), len(failed))
		}
		// What the account did is the account's.
		cases := with("case.create", "success")
		found := false
		for _, e := range cases {
			if str(e.ObjectID) == caseID {
				found = true
				if e.ActorType != "service_account" || str(e.ActorID) != a.ID || str(e.OrganizationID) != org.ID {
					t.Errorf("case created by the account audited as %+v", e)
				}
			}
		}
		if !found {
			t.Errorf("no case.create event for the account's case %s", caseID)
		}
		// The NGO admin sees their organisation's events too.
		if res := env.Do(t, http.MethodGet, "/api/v1/audit-events?action=service_account.create", admin, nil); res.Status != http.StatusOK ||
			!strings.Contains(string(res.Body), a.ID) {
			t.Errorf("the NGO admin's trail lacks the account's creation: %d %s", res.Status, shortBody(res.Body))
		}

		// No secret in the trail or the logs.
		raw := env.Do(t, http.MethodGet, "/api/v1/audit-events?limit=200", env.Admin, nil)
		saNoSecretIn(t, "the audit trail", string(raw.Body), a.ClientSecret, r.ClientSecret)
		if strings.Contains(string(raw.Body), "cws_") {
			t.Errorf("the audit trail contains something like a client secret")
		}
		logs := env.Logs.String()
		if logs == "" {
			t.Errorf("the service logged nothing; the log check proves nothing")
		}
		saNoSecretIn(t, "the logs", logs, a.ClientSecret, r.ClientSecret)
		if strings.Contains(logs, "cws_") {
			t.Errorf("the logs contain something like a client secret")
		}
		// Not in any stored row of the account either.
		var n int
		q := fmt.Sprintf("SELECT count(*) FROM service_accounts WHERE secret_hash LIKE '%%cws_%%' OR name LIKE '%%cws_%%' OR id = '%s' AND secret_hash IS NOT NULL", uuid.MustParse(a.ID))
		if err := env.App.DB.SQL().QueryRowContext(context.Background(), q).Scan(&n); err != nil || n != 0 {
			t.Errorf("stored accounts hold a secret or the deleted account's hash (rows %d, err %v)", n, err)
		}
	})
}

// TestServiceAccountOrgDeactivation: when the IOM admin deactivates an
// organisation, its accounts' tokens are refused and no new ones issued;
// other organisations' accounts are unaffected.
func TestServiceAccountOrgDeactivation(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		orgA := env.NewOrg(t, "SAOD", "Almaty")
		orgB := env.NewOrg(t, "SAOE", "Astana")
		adminA := env.NewUser(t, orgA.ID, "admin@saod.example", "admin")
		adminB := env.NewUser(t, orgB.ID, "admin@saoe.example", "admin")
		a := saCreate(t, env, adminA, "A's integration", "caseworker")
		b := saCreate(t, env, adminB, "B's integration", "caseworker")
		tokA := saCallerFor(t, env, a)
		tokB := saCallerFor(t, env, b)

		orgPath := "/api/v1/organizations/" + orgA.ID
		setActive := func(active bool) {
			t.Helper()
			res := patchIfMatch(t, env, env.Admin, orgPath, mustETagAs(t, env, env.Admin, orgPath), map[string]any{"active": active})
			mustStatus(t, res, http.StatusOK, fmt.Sprintf("set organisation active=%v", active))
			var o struct {
				Active bool `json:"active"`
			}
			res.Decode(t, &o)
			if o.Active != active {
				t.Fatalf("organisation active %v after PATCH active=%v", o.Active, active)
			}
		}
		setActive(false)

		saRefusedToken(t, env, tokA, "token of an account of a deactivated organisation")
		saProblemOf(t, env.Do(t, http.MethodPost, "/api/v1/cases?allow_duplicate=true", tokA, saCaseBody()), http.StatusUnauthorized,
			"create a case with a token of a deactivated organisation")
		saRefusedClient(t, saGrant(t, env, a.ClientID, a.ClientSecret), "secret of an account of a deactivated organisation")
		saRefusedClient(t, saGrantForm(t, env, url.Values{"grant_type": {"client_credentials"}}, "Authorization", saBasic(a.ClientID, a.ClientSecret)),
			"Basic secret of an account of a deactivated organisation")
		// Another organisation's account is unaffected.
		saTokenWorks(t, env, tokB, "another organisation's account")
		saMustToken(t, saGrant(t, env, b.ClientID, b.ClientSecret), "another organisation's secret")
		// The IOM admin still sees the account.
		if res := env.Do(t, http.MethodGet, saPath(a.ID), env.Admin, nil); res.Status != http.StatusOK {
			t.Errorf("the IOM admin reads an account of a deactivated organisation: %d", res.Status)
		}

		// Reactivated, the account may get tokens again.
		setActive(true)
		fresh := saCallerFor(t, env, a)
		saTokenWorks(t, env, fresh, "token after reactivation")
	})
}
