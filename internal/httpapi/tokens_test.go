package httpapi_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/store"
)

// tokenPairBody is the body of a successful sign-in or refresh.
type tokenPairBody struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// mustTokenClaims decodes an access token's payload without verifying it.
func mustTokenClaims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token %q is not a JWS", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("token payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatalf("token payload: %v", err)
	}
	return claims
}

// mustTokenSession returns the session id an access token carries.
func mustTokenSession(t testing.TB, token string) string {
	t.Helper()
	sid, _ := mustTokenClaims(t, token)["sid"].(string)
	if uuid.Validate(sid) != nil {
		t.Fatalf("access token has no session id: %q", sid)
	}
	return sid
}

// tokenForger signs access tokens with the key the test service trusts, so
// every claim and header can be varied one at a time.
type tokenForger struct {
	kid string
	key ed25519.PrivateKey
	cfg struct{ issuer, audience string }
}

func newTestTokenForger(t testing.TB, env *apptest.Env) *tokenForger {
	t.Helper()
	kid, key := apptest.SigningKey(t)
	f := &tokenForger{kid: kid, key: key}
	f.cfg.issuer, f.cfg.audience = env.App.Config.Issuer, env.App.Config.Audience
	return f
}

// claims returns a valid claim set for userID in sessionID, changed by change.
func (f *tokenForger) claims(userID, sessionID string, change func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": f.cfg.issuer,
		"sub": "user:" + userID,
		"aud": []string{f.cfg.audience},
		"exp": now.Add(5 * time.Minute).Unix(),
		"nbf": now.Unix(),
		"iat": now.Unix(),
		"jti": uuid.NewString(),
		"sid": sessionID,
	}
	if change != nil {
		change(c)
	}
	return c
}

// sign signs claims with method and key under the default header (typ
// at+jwt, the real kid) changed by header; a nil value removes a field.
func (f *tokenForger) sign(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["typ"] = auth.AccessTokenType
	tok.Header["kid"] = f.kid
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// valid signs a token the service must accept, changed by header and change.
func (f *tokenForger) valid(t testing.TB, userID, sessionID string, header map[string]any, change func(jwt.MapClaims)) string {
	t.Helper()
	return f.sign(t, jwt.SigningMethodEdDSA, f.key, header, f.claims(userID, sessionID, change))
}

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// mustUnauthenticatedProblem fails unless res is 401 problem+json with code
// unauthenticated and a Bearer challenge.
func mustUnauthenticatedProblem(t testing.TB, res *apptest.Response, what string) {
	t.Helper()
	if res.Status != http.StatusUnauthorized {
		shown := res.Body
		if len(shown) > 300 {
			shown = shown[:300]
		}
		t.Errorf("%s: status %d, want 401: %s", what, res.Status, shown)
		return
	}
	if p := res.Problem(t); p.Code != "unauthenticated" || p.Status != http.StatusUnauthorized {
		t.Errorf("%s: problem %+v, want code unauthenticated", what, p)
	}
	if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", what, res.Header.Get("WWW-Authenticate"))
	}
}

// meWith calls GET /api/v1/me with a raw Authorization header ("" sends none).
func meWith(t testing.TB, env *apptest.Env, authorization string) *apptest.Response {
	t.Helper()
	if authorization == "" {
		return env.Do(t, http.MethodGet, "/api/v1/me", nil, nil)
	}
	return env.Do(t, http.MethodGet, "/api/v1/me", nil, nil, "Authorization", authorization)
}

// mustMeStatus fails unless GET /api/v1/me as c answers want.
func mustMeStatus(t testing.TB, env *apptest.Env, c *apptest.Caller, want int, what string) {
	t.Helper()
	res := env.Do(t, http.MethodGet, "/api/v1/me", c, nil)
	if want == http.StatusUnauthorized {
		mustUnauthenticatedProblem(t, res, what)
		return
	}
	if res.Status != want {
		t.Errorf("%s: GET /api/v1/me %d, want %d: %s", what, res.Status, want, res.Body)
	}
}

// tryRefresh presents a refresh token.
func tryRefresh(t testing.TB, env *apptest.Env, refreshToken string) *apptest.Response {
	t.Helper()
	return env.Do(t, http.MethodPost, "/api/v1/auth/refresh", nil, map[string]string{"refresh_token": refreshToken})
}

// mustRefresh presents a refresh token that must be accepted and returns
// the new pair as a caller.
func mustRefresh(t testing.TB, env *apptest.Env, c *apptest.Caller) *apptest.Caller {
	t.Helper()
	res := tryRefresh(t, env, c.RefreshToken)
	if res.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", res.Status, res.Body)
	}
	var body tokenPairBody
	res.Decode(t, &body)
	if body.TokenType != "Bearer" || body.ExpiresIn != int(env.App.Config.AccessTokenTTL.Seconds()) {
		t.Errorf("refresh answered %+v", body)
	}
	if !strings.Contains(res.Header.Get("Cache-Control"), "no-store") {
		t.Errorf("refresh Cache-Control %q, want no-store", res.Header.Get("Cache-Control"))
	}
	return &apptest.Caller{User: c.User, AccessToken: body.AccessToken, RefreshToken: body.RefreshToken}
}

// mustRefreshRefused fails unless presenting refreshToken answers 401.
func mustRefreshRefused(t testing.TB, env *apptest.Env, refreshToken, what string) {
	t.Helper()
	mustUnauthenticatedProblem(t, tryRefresh(t, env, refreshToken), what)
}

// mustAuthPatch PATCHes path as caller with the current ETag; 200 or fail.
func mustAuthPatch(t testing.TB, env *apptest.Env, caller *apptest.Caller, path string, body any) *apptest.Response {
	t.Helper()
	tag := mustETagAs(t, env, caller, path)
	res := env.Do(t, http.MethodPatch, path, caller, body, "If-Match", tag)
	if res.Status != http.StatusOK {
		t.Fatalf("PATCH %s: %d %s", path, res.Status, res.Body)
	}
	return res
}

// TestTokenBadTokensRefusedByAPI: every forged, malformed, expired or
// misdirected bearer token answers 401 unauthenticated on a protected route,
// while a correctly forged token proves the forger holds the real key.
func TestTokenBadTokensRefusedByAPI(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, strangerKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		f := newTestTokenForger(t, env)
		org := env.NewOrg(t, "TOKA", "Almaty")
		worker := env.NewUser(t, org.ID, "worker@toka.example", "caseworker")
		adminID, adminSID := env.Admin.User.ID, mustTokenSession(t, env.Admin.AccessToken)
		workerSID := mustTokenSession(t, worker.AccessToken)

		// The forger's own token for the admin's session is accepted: the
		// refusals below are for the one thing each case changes.
		forged := f.valid(t, adminID, adminSID, nil, nil)
		res := meWith(t, env, "Bearer "+forged)
		if res.Status != http.StatusOK {
			t.Fatalf("a correctly forged token is refused (%d %s); the cases below would prove nothing", res.Status, res.Body)
		}
		var me struct {
			ID string `json:"id"`
		}
		res.Decode(t, &me)
		if me.ID != adminID {
			t.Fatalf("forged token authenticated %s, want the admin %s", me.ID, adminID)
		}

		claims := func(change func(jwt.MapClaims)) jwt.MapClaims { return f.claims(adminID, adminSID, change) }
		valid := func(header map[string]any, change func(jwt.MapClaims)) string {
			return f.valid(t, adminID, adminSID, header, change)
		}
		pub := []byte(f.key.Public().(ed25519.PublicKey))
		now := time.Now()
		parts := strings.Split(forged, ".")
		refresh := env.SignIn(t, apptest.AdminEmail, apptest.Password).RefreshToken

		cases := []struct{ name, authorization string }{
			{"alg none", "Bearer " + b64JSON(t, map[string]any{"alg": "none", "typ": auth.AccessTokenType, "kid": f.kid}) +
				"." + b64JSON(t, claims(nil)) + "."},
			{"alg none, real signature kept", "Bearer " + b64JSON(t, map[string]any{"alg": "none", "typ": auth.AccessTokenType, "kid": f.kid}) +
				"." + parts[1] + "." + parts[2]},
			{"HS256 keyed with the Ed25519 public key (algorithm confusion)", "Bearer " + f.sign(t, jwt.SigningMethodHS256, pub, nil, claims(nil))},
			{"RS256 with a fresh RSA key", "Bearer " + f.sign(t, jwt.SigningMethodRS256, rsaKey, nil, claims(nil))},
			{"ES256 with a fresh EC key", "Bearer " + f.sign(t, jwt.SigningMethodES256, ecKey, nil, claims(nil))},
			{"EdDSA with a stranger's key under the real kid", "Bearer " + f.sign(t, jwt.SigningMethodEdDSA, strangerKey, nil, claims(nil))},
			{"expired", "Bearer " + valid(nil, func(c jwt.MapClaims) {
				c["exp"] = now.Add(-10 * time.Minute).Unix()
				c["iat"] = now.Add(-25 * time.Minute).Unix()
				c["nbf"] = now.Add(-25 * time.Minute).Unix()
			})},
			{"nbf 10 minutes ahead", "Bearer " + valid(nil, func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() })},
			{"iat 10 minutes ahead", "Bearer " + valid(nil, func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Minute).Unix() })},
			{"wrong aud", "Bearer " + valid(nil, func(c jwt.MapClaims) { c["aud"] = []string{"another-api"} })},
			{"wrong iss", "Bearer " + valid(nil, func(c jwt.MapClaims) { c["iss"] = "https://issuer.evil.example" })},
			{"exp missing", "Bearer " + valid(nil, func(c jwt.MapClaims) { delete(c, "exp") })},
			{"unknown kid", "Bearer " + valid(map[string]any{"kid": "k-retired"}, nil)},
			{"kid missing", "Bearer " + valid(map[string]any{"kid": nil}, nil)},
			{"typ JWT", "Bearer " + valid(map[string]any{"typ": "JWT"}, nil)},
			{"typ missing", "Bearer " + valid(map[string]any{"typ": nil}, nil)},
			{"sub without the user: prefix", "Bearer " + valid(nil, func(c jwt.MapClaims) { c["sub"] = adminID })},
			{"sub user:<not a uuid>", "Bearer " + valid(nil, func(c jwt.MapClaims) { c["sub"] = "user:admin@iom.example" })},
			{"sub of a service account that does not exist", "Bearer " + valid(nil, func(c jwt.MapClaims) { c["sub"] = "sa:" + adminID })},
			{"sid of a session that does not exist", "Bearer " + valid(nil, func(c jwt.MapClaims) { c["sid"] = uuid.NewString() })},
			{"sid of another user's session", "Bearer " + valid(nil, func(c jwt.MapClaims) { c["sid"] = workerSID })},
			{"sid missing", "Bearer " + valid(nil, func(c jwt.MapClaims) { delete(c, "sid") })},
			{"sub of a user that does not exist", "Bearer " + valid(nil, func(c jwt.MapClaims) { c["sub"] = "user:" + uuid.NewString() })},
			{"refresh token as bearer", "Bearer " + refresh},
			{"tampered signature", "Bearer " + func() string {
				sig, err := base64.RawURLEncoding.DecodeString(parts[2])
				if err != nil {
					t.Fatal(err)
				}
				sig[17] ^= 0x40
				return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
			}()},
			{"tampered payload: sub changed to the IOM admin", "Bearer " + func() string {
				wp := strings.Split(worker.AccessToken, ".")
				c := mustTokenClaims(t, worker.AccessToken)
				c["sub"] = "user:" + adminID
				return wp[0] + "." + b64JSON(t, c) + "." + wp[2]
			}()},
			{"tampered payload: sub and sid changed to the IOM admin's session", "Bearer " + func() string {
				wp := strings.Split(worker.AccessToken, ".")
				c := mustTokenClaims(t, worker.AccessToken)
				c["sub"] = "user:" + adminID
				c["sid"] = adminSID
				return wp[0] + "." + b64JSON(t, c) + "." + wp[2]
			}()},
			{"1 MB token, validly signed", "Bearer " + valid(nil, func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 1<<20) })},
			{"1 MB of garbage", "Bearer " + strings.Repeat("eyJ", 1<<20/3)},
			{"garbage", "Bearer garbage"},
			{"three garbage parts", "Bearer a.b.c"},
			{"empty bearer", "Bearer "},
			{"bearer of spaces", "Bearer      "},
			{"scheme only", "Bearer"},
			{"Basic scheme with a password", "Basic " + base64.StdEncoding.EncodeToString([]byte(apptest.AdminEmail+":"+apptest.Password))},
			{"Basic scheme with a valid token", "Basic " + forged},
			{"token without a scheme", forged},
			{"no Authorization header", ""},
		}
		for _, c := range cases {
			res := meWith(t, env, c.authorization)
			mustUnauthenticatedProblem(t, res, c.name)
			if bytes.Contains(res.Body, []byte(adminID)) {
				t.Errorf("%s: the refusal names the admin: %s", c.name, res.Body)
			}
		}

		for _, secret := range []string{forged, refresh, parts[2]} {
			if strings.Contains(env.Logs.String(), secret) {
				t.Errorf("the log holds a presented credential")
			}
		}

		// Refusals do not disturb the real sessions.
		mustMeStatus(t, env, env.Admin, http.StatusOK, "admin after the bad tokens")
		mustMeStatus(t, env, worker, http.StatusOK, "worker after the bad tokens")
	})
}

// TestRefreshRotation: each refresh spends the token and returns a new pair
// in the same session; presenting a spent token ends the whole session, so
// every later refresh token and every access token of it is refused.
func TestRefreshRotation(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		first := env.SignIn(t, apptest.AdminEmail, apptest.Password)
		sid := mustTokenSession(t, first.AccessToken)

		second := mustRefresh(t, env, first)
		if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
			t.Fatal("refresh returned the same tokens")
		}
		if !strings.HasPrefix(second.RefreshToken, auth.RefreshTokenPrefix) {
			t.Errorf("refresh token %q lacks its prefix", second.RefreshToken)
		}
		if got := mustTokenSession(t, second.AccessToken); got != sid {
			t.Errorf("refreshed access token is in session %s, want %s", got, sid)
		}
		mustMeStatus(t, env, second, http.StatusOK, "access token from the first refresh")
		third := mustRefresh(t, env, second)
		mustMeStatus(t, env, third, http.StatusOK, "access token from the second refresh")

		// RT1 again: reuse. Refused, and the whole chain with it.
		mustRefreshRefused(t, env, first.RefreshToken, "reused RT1")
		mustRefreshRefused(t, env, third.RefreshToken, "RT3, newest of the chain, after RT1 was reused")
		mustRefreshRefused(t, env, second.RefreshToken, "RT2 after RT1 was reused")
		mustMeStatus(t, env, third, http.StatusUnauthorized, "AT3 after RT1 was reused")
		mustMeStatus(t, env, second, http.StatusUnauthorized, "AT2 after RT1 was reused")
		mustMeStatus(t, env, first, http.StatusUnauthorized, "AT1 after RT1 was reused")

		// Another session of the same user is untouched.
		mustMeStatus(t, env, env.Admin, http.StatusOK, "the admin's other session")
		mustRefresh(t, env, env.Admin)
	})
}

// TestRefreshReuseOfMiddleToken: reusing any spent token of the chain, not
// only the first, ends the session.
func TestRefreshReuseOfMiddleToken(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		first := env.SignIn(t, apptest.AdminEmail, apptest.Password)
		second := mustRefresh(t, env, first)
		third := mustRefresh(t, env, second)
		mustRefreshRefused(t, env, second.RefreshToken, "reused RT2")
		mustRefreshRefused(t, env, third.RefreshToken, "RT3 after RT2 was reused")
		mustMeStatus(t, env, third, http.StatusUnauthorized, "AT3 after RT2 was reused")
	})
}

// TestRefreshParallelUseAtMostOneWins: the same refresh token presented by
// concurrent requests yields at most one new pair; the other presentation
// counts as reuse and ends the session.
func TestRefreshParallelUseAtMostOneWins(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		rounds := []int{2, 2, 2, 2, 2, 2, 2, 2, 8}
		for round, parallel := range rounds {
			c := env.SignIn(t, apptest.AdminEmail, apptest.Password)
			start := make(chan struct{})
			results := make([]*apptest.Response, parallel)
			var wg sync.WaitGroup
			for i := range parallel {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i] = tryRefresh(t, env, c.RefreshToken)
				}()
			}
			close(start)
			wg.Wait()
			var won []tokenPairBody
			allSeen := true
			for i, res := range results {
				switch res.Status {
				case http.StatusOK:
					var body tokenPairBody
					res.Decode(t, &body)
					won = append(won, body)
				case http.StatusUnauthorized:
					mustUnauthenticatedProblem(t, res, "losing parallel refresh")
				default:
					// Not an answer about the token: the request had no
					// effect, so it is not counted as reuse below.
					allSeen = false
					t.Errorf("round %d, request %d of %d: status %d, want 200 or 401: %s", round, i, parallel, res.Status, res.Body)
				}
			}
			if len(won) > 1 {
				t.Fatalf("round %d: %d of %d parallel uses of one refresh token succeeded", round, len(won), parallel)
			}
			if len(won) == 0 {
				t.Errorf("round %d: none of %d parallel uses succeeded; the first should", round, parallel)
				continue
			}
			if !allSeen {
				continue
			}
			// The token was presented twice, which is reuse: the pair the
			// winner got dies with the session.
			winner := &apptest.Caller{AccessToken: won[0].AccessToken, RefreshToken: won[0].RefreshToken}
			mustMeStatus(t, env, winner, http.StatusUnauthorized, "winner's access token after parallel reuse")
			mustRefreshRefused(t, env, winner.RefreshToken, "winner's refresh token after parallel reuse")
			mustMeStatus(t, env, c, http.StatusUnauthorized, "original access token after parallel reuse")
		}
		mustMeStatus(t, env, env.Admin, http.StatusOK, "the admin's untouched session")
	})
}

// TestRefreshBadInput: malformed refresh requests are 400; well-formed but
// unknown tokens are 401.
func TestRefreshBadInput(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		unknown, _ := auth.NewOpaqueToken(auth.RefreshTokenPrefix)
		for _, c := range []struct{ name, token string }{
			{"unknown token", unknown},
			{"no prefix", strings.TrimPrefix(env.Admin.RefreshToken, auth.RefreshTokenPrefix)},
			{"access token as refresh token", env.Admin.AccessToken},
			{"prefix only", auth.RefreshTokenPrefix},
			{"real token with a suffix", env.Admin.RefreshToken + "x"},
			{"long token", auth.RefreshTokenPrefix + strings.Repeat("A", 400)},
		} {
			mustRefreshRefused(t, env, c.token, c.name)
		}
		for _, c := range []struct{ name, body string }{
			{"not JSON", `{"refresh_token": `},
			{"empty object", `{}`},
			{"empty token", `{"refresh_token": ""}`},
			{"token not a string", `{"refresh_token": 42}`},
			{"unknown field", `{"refresh_token": "` + unknown + `", "user_id": "x"}`},
			{"token over 512 bytes", `{"refresh_token": "` + auth.RefreshTokenPrefix + strings.Repeat("A", 600) + `"}`},
		} {
			res := env.Do(t, http.MethodPost, "/api/v1/auth/refresh", nil, c.body)
			if res.Status != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400: %s", c.name, res.Status, res.Body)
				continue
			}
			if p := res.Problem(t); p.Code != "invalid" {
				t.Errorf("%s: code %q, want invalid", c.name, p.Code)
			}
		}
		// None of that spent the admin's real token.
		mustRefresh(t, env, env.Admin)
	})
}

// TestLogoutEndsOnlyThatSession: after logout the session's access and
// refresh tokens are refused; the same user's other session lives on.
func TestLogoutEndsOnlyThatSession(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		a := env.SignIn(t, apptest.AdminEmail, apptest.Password)
		b := env.SignIn(t, apptest.AdminEmail, apptest.Password)
		aRefreshed := mustRefresh(t, env, a) // the session's newest pair

		res := env.Do(t, http.MethodPost, "/api/v1/auth/logout", aRefreshed, nil)
		if res.Status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", res.Status, res.Body)
		}
		if len(res.Body) != 0 {
			t.Errorf("logout 204 has a body: %s", res.Body)
		}
		mustMeStatus(t, env, aRefreshed, http.StatusUnauthorized, "access token after logout")
		mustMeStatus(t, env, a, http.StatusUnauthorized, "earlier access token of the session after logout")
		mustRefreshRefused(t, env, aRefreshed.RefreshToken, "refresh token after logout")
		mustUnauthenticatedProblem(t, env.Do(t, http.MethodPost, "/api/v1/auth/logout", aRefreshed, nil), "second logout")

		mustMeStatus(t, env, b, http.StatusOK, "the same user's other session")
		mustMeStatus(t, env, env.Admin, http.StatusOK, "the admin's first session")
		bRefreshed := mustRefresh(t, env, b)
		mustMeStatus(t, env, bRefreshed, http.StatusOK, "the other session after its refresh")

		mustUnauthenticatedProblem(t, env.Do(t, http.MethodPost, "/api/v1/auth/logout", nil, nil), "logout without a token")
	})
}

// TestLoginFailuresLookAlike: an unknown email, a wrong password, a
// deactivated account and an account of a deactivated organisation (with the
// right password) all get the same answer, apart from the request id.
func TestLoginFailuresLookAlike(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "LOGA", "Almaty")
		gone := env.NewUser(t, org.ID, "gone@loga.example", "caseworker")
		mustAuthPatch(t, env, env.Admin, "/api/v1/users/"+gone.User.ID, map[string]any{"active": false})
		closedOrg := env.NewOrg(t, "LOGB", "Shymkent")
		env.NewUser(t, closedOrg.ID, "staff@logb.example", "caseworker")
		mustAuthPatch(t, env, env.Admin, "/api/v1/organizations/"+closedOrg.ID, map[string]any{"active": false})

		attempts := []struct{ name, email, password string }{
			{"unknown email", "nobody@iom.example", apptest.Password},
			{"wrong password", apptest.AdminEmail, apptest.Password + "!"},
			{"wrong password, other case", apptest.AdminEmail, strings.ToUpper(apptest.Password)},
			{"deactivated user, right password", "gone@loga.example", apptest.Password},
			{"user of a deactivated organisation, right password", "staff@logb.example", apptest.Password},
		}
		var reference map[string]any
		var refHeader http.Header
		for i, a := range attempts {
			res := env.Do(t, http.MethodPost, "/api/v1/auth/login", nil, map[string]string{"email": a.email, "password": a.password})
			mustUnauthenticatedProblem(t, res, a.name)
			var body map[string]any
			res.Decode(t, &body)
			delete(body, "request_id")
			delete(body, "instance")
			if i == 0 {
				reference, refHeader = body, res.Header
				continue
			}
			got, _ := json.Marshal(body)
			want, _ := json.Marshal(reference)
			if !bytes.Equal(got, want) {
				t.Errorf("%s answers %s; %s answered %s", a.name, got, attempts[0].name, want)
			}
			for _, h := range []string{"Content-Type", "WWW-Authenticate", "Retry-After", "Cache-Control"} {
				if res.Header.Get(h) != refHeader.Get(h) {
					t.Errorf("%s: header %s %q; %s had %q", a.name, h, res.Header.Get(h), attempts[0].name, refHeader.Get(h))
				}
			}
		}
		if strings.Contains(env.Logs.String(), apptest.Password) {
			t.Error("the log holds a password")
		}
		if reference["code"] != "unauthenticated" {
			t.Errorf("failed sign-in code %v", reference["code"])
		}
	})
}

// TestLoginMalformedBody: requests that do not match LoginRequest are 400
// and sign nobody in.
func TestLoginMalformedBody(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		for _, c := range []struct{ name, body string }{
			{"not JSON", `{"email": "admin@iom.example", "password": `},
			{"empty body", ``},
			{"JSON array", `[]`},
			{"JSON string", `"admin@iom.example"`},
			{"password missing", `{"email": "admin@iom.example"}`},
			{"email missing", `{"password": "` + apptest.Password + `"}`},
			{"empty password", `{"email": "admin@iom.example", "password": ""}`},
			{"password not a string", `{"email": "admin@iom.example", "password": 12345678901}`},
			{"email not a string", `{"email": ["admin@iom.example"], "password": "` + apptest.Password + `"}`},
			{"unknown field", `{"email": "admin@iom.example", "password": "` + apptest.Password + `", "roles": ["admin"]}`},
			{"password over 1024 bytes", `{"email": "admin@iom.example", "password": "` + strings.Repeat("p", 1025) + `"}`},
			{"email over 254 bytes", `{"email": "` + strings.Repeat("a", 250) + `@iom.example", "password": "` + apptest.Password + `"}`},
		} {
			res := env.Do(t, http.MethodPost, "/api/v1/auth/login", nil, c.body)
			if res.Status != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400: %s", c.name, res.Status, res.Body)
				continue
			}
			if p := res.Problem(t); p.Code != "invalid" {
				t.Errorf("%s: code %q, want invalid", c.name, p.Code)
			}
		}
	})
}

// TestAuthDeactivationEndsSessions: a deactivated user's access and refresh
// tokens are refused on the next request; reactivation does not revive them.
func TestAuthDeactivationEndsSessions(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "DEAC", "Almaty")
		u := env.NewUser(t, org.ID, "worker@deac.example", "caseworker")
		u2 := env.SignIn(t, "worker@deac.example", apptest.Password)
		other := env.NewUser(t, org.ID, "colleague@deac.example", "caseworker")
		path := "/api/v1/users/" + u.User.ID

		res := mustAuthPatch(t, env, env.Admin, path, map[string]any{"active": false})
		var body struct {
			Active bool `json:"active"`
		}
		res.Decode(t, &body)
		if body.Active {
			t.Fatalf("PATCH active=false answered active: %s", res.Body)
		}
		mustMeStatus(t, env, u, http.StatusUnauthorized, "deactivated user's access token")
		mustMeStatus(t, env, u2, http.StatusUnauthorized, "deactivated user's second session")
		mustRefreshRefused(t, env, u.RefreshToken, "deactivated user's refresh token")
		mustRefreshRefused(t, env, u2.RefreshToken, "deactivated user's second refresh token")
		mustUnauthenticatedProblem(t, env.Do(t, http.MethodPost, "/api/v1/auth/login", nil,
			map[string]string{"email": "worker@deac.example", "password": apptest.Password}), "deactivated user signing in")
		mustMeStatus(t, env, other, http.StatusOK, "a colleague in the same organisation")

		mustAuthPatch(t, env, env.Admin, path, map[string]any{"active": true})
		mustMeStatus(t, env, u, http.StatusUnauthorized, "old access token after reactivation")
		mustRefreshRefused(t, env, u2.RefreshToken, "old refresh token after reactivation")
		back := env.SignIn(t, "worker@deac.example", apptest.Password)
		mustMeStatus(t, env, back, http.StatusOK, "new session after reactivation")
	})
}

// TestAuthOrgDeactivationEndsSessions: deactivating an organisation refuses
// its users' tokens on the next request.
func TestAuthOrgDeactivationEndsSessions(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "ORGD", "Almaty")
		u := env.NewUser(t, org.ID, "worker@orgd.example", "caseworker")
		mustAuthPatch(t, env, env.Admin, "/api/v1/organizations/"+org.ID, map[string]any{"active": false})
		mustMeStatus(t, env, u, http.StatusUnauthorized, "access token of a deactivated organisation's user")
		mustRefreshRefused(t, env, u.RefreshToken, "refresh token of a deactivated organisation's user")
		mustMeStatus(t, env, env.Admin, http.StatusOK, "the IOM admin")
	})
}

// TestAuthPasswordChangeEndsSessions: when an admin sets a user's password,
// every session the user had ends; the new password signs in, the old does
// not.
func TestAuthPasswordChangeEndsSessions(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "PWCH", "Almaty")
		const email = "worker@pwch.example"
		u := env.NewUser(t, org.ID, email, "caseworker")
		u2 := env.SignIn(t, email, apptest.Password)
		const newPassword = "a brand new passphrase 42"

		mustAuthPatch(t, env, env.Admin, "/api/v1/users/"+u.User.ID, map[string]any{"password": newPassword})
		mustMeStatus(t, env, u, http.StatusUnauthorized, "access token after the password change")
		mustMeStatus(t, env, u2, http.StatusUnauthorized, "second session's access token after the password change")
		mustRefreshRefused(t, env, u.RefreshToken, "refresh token after the password change")
		mustRefreshRefused(t, env, u2.RefreshToken, "second refresh token after the password change")
		mustUnauthenticatedProblem(t, env.Do(t, http.MethodPost, "/api/v1/auth/login", nil,
			map[string]string{"email": email, "password": apptest.Password}), "old password")
		fresh := env.SignIn(t, email, newPassword)
		mustMeStatus(t, env, fresh, http.StatusOK, "session with the new password")
		mustMeStatus(t, env, env.Admin, http.StatusOK, "the admin who changed it")
	})
}

// TestAuthRoleRemovalNextRequest: an NGO admin demoted to caseworker is
// refused user management on the very next request, and allowed again on the
// request after the role is restored; the token itself stays valid.
func TestAuthRoleRemovalNextRequest(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "ROLE", "Almaty")
		ngoAdmin := env.NewUser(t, org.ID, "boss@role.example", "admin")
		path := "/api/v1/users/" + ngoAdmin.User.ID
		if res := env.Do(t, http.MethodGet, "/api/v1/users", ngoAdmin, nil); res.Status != http.StatusOK {
			t.Fatalf("NGO admin lists users: %d %s", res.Status, res.Body)
		}
		mustAuthPatch(t, env, env.Admin, path, map[string]any{"roles": []string{"caseworker"}})
		res := env.Do(t, http.MethodGet, "/api/v1/users", ngoAdmin, nil)
		if res.Status != http.StatusForbidden {
			t.Fatalf("demoted admin lists users: %d, want 403: %s", res.Status, res.Body)
		}
		if p := res.Problem(t); p.Code != "forbidden" {
			t.Errorf("demoted admin: code %q, want forbidden", p.Code)
		}
		var me struct {
			Roles []string `json:"roles"`
		}
		meRes := env.Do(t, http.MethodGet, "/api/v1/me", ngoAdmin, nil)
		if meRes.Status != http.StatusOK {
			t.Fatalf("demoted admin /me: %d %s", meRes.Status, meRes.Body)
		}
		meRes.Decode(t, &me)
		if len(me.Roles) != 1 || me.Roles[0] != "caseworker" {
			t.Errorf("demoted admin's roles %v, want [caseworker]", me.Roles)
		}
		mustAuthPatch(t, env, env.Admin, path, map[string]any{"roles": []string{"admin"}})
		if res := env.Do(t, http.MethodGet, "/api/v1/users", ngoAdmin, nil); res.Status != http.StatusOK {
			t.Fatalf("restored admin lists users: %d %s", res.Status, res.Body)
		}
	})
}
