package apptest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/casework/casework/internal/app"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/crypt"
	"github.com/casework/casework/internal/httpapi"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/store"
	"github.com/casework/casework/internal/users"
)

// Password is the password of every user the harness creates.
const Password = "a test passphrase nobody uses"

// AdminEmail is the first IOM admin's sign-in.
const AdminEmail = "admin@iom.example"

// Env is the real service on a fresh database.
type Env struct {
	App *app.App
	// IOM is the IOM organisation; Admin its first admin, signed in.
	IOM   organizations.Organization
	Admin *Caller
	// Logs holds everything the service logged.
	Logs *bytes.Buffer

	spec   *openapi3.T
	router routers.Router
}

// Caller is a signed-in user.
type Caller struct {
	User         users.User
	AccessToken  string
	RefreshToken string
}

var (
	keysOnce sync.Once
	keys     *auth.KeySet
	keysJSON []byte
	dataKeys *crypt.Keyring
)

func testKeys(t testing.TB) *auth.KeySet {
	keysOnce.Do(func() {
		var err error
		if keysJSON, err = auth.GenerateKeySet(); err != nil {
			panic(err)
		}
		if keys, err = auth.ParseKeySet(keysJSON); err != nil {
			panic(err)
		}
		ring, err := crypt.GenerateKeyring()
		if err != nil {
			panic(err)
		}
		if dataKeys, err = crypt.ParseKeyring(ring); err != nil {
			panic(err)
		}
	})
	return keys
}

// SigningKey returns the kid and private key every test service signs its
// access tokens with, so token tests can forge tokens the server must refuse.
func SigningKey(t testing.TB) (kid string, key ed25519.PrivateKey) {
	t.Helper()
	testKeys(t)
	var ks struct {
		Active string `json:"active"`
		Keys   []struct {
			KID  string `json:"kid"`
			Seed string `json:"seed"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(keysJSON, &ks); err != nil {
		t.Fatalf("key set: %v", err)
	}
	seed, err := base64.StdEncoding.DecodeString(ks.Keys[0].Seed)
	if err != nil {
		t.Fatalf("key seed: %v", err)
	}
	return ks.Active, ed25519.NewKeyFromSeed(seed)
}

// TestConfig is the configuration the harness runs with; tests may change it
// before calling NewWithConfig.
func TestConfig(t testing.TB) config.Config {
	t.Helper()
	cfg, err := config.Load(func(name string) string {
		switch name {
		case "CASEWORK_ADMIN_PASSWORD":
			return Password
		case "CASEWORK_DATA_DIR":
			return t.TempDir()
		}
		return ""
	})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// New builds the service on db with the test configuration, runs the first
// start and signs the IOM admin in.
func New(t testing.TB, db *store.DB) *Env {
	t.Helper()
	return NewWithConfig(t, db, TestConfig(t))
}

// NewWithConfig is New with a given configuration.
func NewWithConfig(t testing.TB, db *store.DB, cfg config.Config) *Env {
	t.Helper()
	ctx := context.Background()
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(ctx, cfg, db, testKeys(t), dataKeys, log)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	if err := a.FirstStart(ctx, io.Discard); err != nil {
		t.Fatalf("first start: %v", err)
	}
	spec, err := httpapi.LoadSpec()
	if err != nil {
		t.Fatalf("spec: %v", err)
	}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	e := &Env{App: a, Logs: logs, spec: spec, router: router}
	iom, err := a.OrgStore.ByCode(ctx, cfg.IOMCode)
	if err != nil {
		t.Fatalf("IOM organisation: %v", err)
	}
	e.IOM = iom
	e.Admin = e.SignIn(t, AdminEmail, Password)
	return e
}

// lockedWriter lets concurrent requests log into one buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// NewOrg registers an active NGO with code through the store.
func (e *Env) NewOrg(t testing.TB, code, city string) organizations.Organization {
	t.Helper()
	now := store.Now()
	o := organizations.Organization{
		ID: store.NewID(), Name: code + " Crisis Centre", Code: code, Kind: auth.OrgKindNGO, City: city,
		Active: true, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := e.App.OrgStore.Create(context.Background(), o); err != nil {
		t.Fatalf("create organisation %s: %v", code, err)
	}
	return o
}

// NewUser creates a user in org with roles and signs it in.
func (e *Env) NewUser(t testing.TB, orgID, email string, roles ...string) *Caller {
	t.Helper()
	_, err := e.App.Users.Provision(context.Background(), users.NewUser{
		Email: email, DisplayName: "Test " + strings.Split(email, "@")[0], Password: Password,
		Roles: roles, OrganizationID: orgID,
	})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return e.SignIn(t, email, Password)
}

// SignIn signs in through the API and fails the test unless it succeeds.
func (e *Env) SignIn(t testing.TB, email, password string) *Caller {
	t.Helper()
	res := e.Do(t, http.MethodPost, "/api/v1/auth/login", nil, map[string]string{"email": email, "password": password})
	if res.Status != http.StatusOK {
		t.Fatalf("sign in %s: %d %s", email, res.Status, res.Body)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	res.Decode(t, &tok)
	c := &Caller{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}
	me := e.Do(t, http.MethodGet, "/api/v1/me", c, nil)
	if me.Status != http.StatusOK {
		t.Fatalf("me %s: %d %s", email, me.Status, me.Body)
	}
	var body struct {
		ID             string   `json:"id"`
		Email          string   `json:"email"`
		OrganizationID string   `json:"organization_id"`
		Roles          []string `json:"roles"`
	}
	me.Decode(t, &body)
	c.User = users.User{ID: body.ID, Email: body.Email, OrganizationID: body.OrganizationID, Roles: body.Roles}
	return c
}

// Response is one answer of the service.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body into v or fails the test.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem is the decoded problem+json body of an error response.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Problem decodes an error body, failing the test unless it is problem+json.
func (r *Response) Problem(t testing.TB) Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("want application/problem+json, got %q: %s", ct, r.Body)
	}
	var p Problem
	r.Decode(t, &p)
	return p
}

// Do sends a request as caller (nil: anonymous) with body (nil: none; a
// string or []byte: raw; anything else: JSON) and extra header pairs. The
// response is validated against openapi.yaml; a violation fails the test.
func (e *Env) Do(t testing.TB, method, path string, caller *Caller, body any, header ...string) *Response {
	t.Helper()
	var reader io.Reader
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatalf("marshal body: %v", err)
		}
	}
	if body != nil {
		reader = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, reader)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if caller != nil {
		req.Header.Set("Authorization", "Bearer "+caller.AccessToken)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.App.Handler.ServeHTTP(rec, req)
	res := &Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	e.validate(t, req, raw, res)
	return res
}

// validate checks a response against the operation the request matched in
// openapi.yaml: status documented, content type and body schema right.
func (e *Env) validate(t testing.TB, req *http.Request, body []byte, res *Response) {
	t.Helper()
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := e.router.FindRoute(vreq)
	if err != nil {
		if res.Status != http.StatusNotFound && res.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: answered %d for a route the spec lacks", req.Method, req.URL.Path, res.Status)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: res.Status,
		Header: res.Header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	in.SetBodyBytes(res.Body)
	decodersOnce.Do(registerTextDecoders)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		shown := res.Body
		if len(shown) > 2000 {
			shown = shown[:2000]
		}
		t.Errorf("%s %s → %d does not match openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, res.Status, err, shown)
	}
}

var decodersOnce sync.Once

// registerTextDecoders makes kin-openapi read HTML, YAML, CSV and XLSX
// documents as the plain strings openapi.yaml describes them as.
func registerTextDecoders() {
	asString := func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	}
	openapi3filter.RegisterBodyDecoder("text/html", asString)
	openapi3filter.RegisterBodyDecoder("application/yaml", asString)
	openapi3filter.RegisterBodyDecoder("text/csv", asString)
	openapi3filter.RegisterBodyDecoder("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", asString)
}
