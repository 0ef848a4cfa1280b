package auth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/auth"
)

const (
	testIssuer   = "casework"
	testAudience = "casework-api"
)

// testKey is one Ed25519 signing key in key-set JSON form.
type testKey struct {
	kid  string
	seed []byte
}

func (k testKey) private() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(k.seed) }

func newTestKey(t *testing.T, kid string) testKey {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, seed: seed}
}

func keySetJSON(active string, keys ...testKey) []byte {
	type k struct {
		KID  string `json:"kid"`
		Alg  string `json:"alg"`
		Seed string `json:"seed"`
	}
	out := struct {
		Active string `json:"active"`
		Keys   []k    `json:"keys"`
	}{Active: active}
	for _, key := range keys {
		out.Keys = append(out.Keys, k{KID: key.kid, Alg: "EdDSA", Seed: base64.StdEncoding.EncodeToString(key.seed)})
	}
	b, _ := json.Marshal(out)
	return b
}

func mustParseKeySet(t *testing.T, data []byte) *auth.KeySet {
	t.Helper()
	ks, err := auth.ParseKeySet(data)
	if err != nil {
		t.Fatalf("ParseKeySet(%s): %v", data, err)
	}
	return ks
}

// newTestTokens returns verifiers over a one-key set and that key.
func newTestTokens(t *testing.T) (*auth.Tokens, testKey) {
	t.Helper()
	key := newTestKey(t, "k1")
	return auth.NewTokens(mustParseKeySet(t, keySetJSON("k1", key)), testIssuer, testAudience, 15*time.Minute), key
}

func mustUnauthenticated(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("token accepted")
	}
	if !apperr.Is(err, apperr.Unauthenticated) {
		t.Fatalf("error %v, want Unauthenticated", err)
	}
}

// TestKeySetParseErrors: a key set is refused unless every key is a named
// EdDSA key with a 32-byte seed, kids are unique and the active kid exists.
func TestKeySetParseErrors(t *testing.T) {
	a, b := newTestKey(t, "a"), newTestKey(t, "b")
	seed := base64.StdEncoding.EncodeToString(a.seed)
	cases := []struct {
		name string
		json string
	}{
		{"not JSON", `{"active": "a", "keys": [`},
		{"empty", ``},
		{"JSON of the wrong shape", `["a"]`},
		{"no keys", `{"active": "a", "keys": []}`},
		{"active kid missing from the set", string(keySetJSON("c", a, b))},
		{"no active kid", string(keySetJSON("", a))},
		{"alg RS256", `{"active": "a", "keys": [{"kid": "a", "alg": "RS256", "seed": "` + seed + `"}]}`},
		{"alg HS256", `{"active": "a", "keys": [{"kid": "a", "alg": "HS256", "seed": "` + seed + `"}]}`},
		{"alg none", `{"active": "a", "keys": [{"kid": "a", "alg": "none", "seed": "` + seed + `"}]}`},
		{"alg missing", `{"active": "a", "keys": [{"kid": "a", "seed": "` + seed + `"}]}`},
		{"kid missing", `{"active": "", "keys": [{"alg": "EdDSA", "seed": "` + seed + `"}]}`},
		{"seed of 31 bytes", `{"active": "a", "keys": [{"kid": "a", "alg": "EdDSA", "seed": "` +
			base64.StdEncoding.EncodeToString(a.seed[:31]) + `"}]}`},
		{"seed of 33 bytes", `{"active": "a", "keys": [{"kid": "a", "alg": "EdDSA", "seed": "` +
			base64.StdEncoding.EncodeToString(append(append([]byte{}, a.seed...), 0)) + `"}]}`},
		{"seed of 64 bytes (a whole private key)", `{"active": "a", "keys": [{"kid": "a", "alg": "EdDSA", "seed": "` +
			base64.StdEncoding.EncodeToString(a.private()) + `"}]}`},
		{"seed not base64", `{"active": "a", "keys": [{"kid": "a", "alg": "EdDSA", "seed": "not base64!"}]}`},
		{"seed empty", `{"active": "a", "keys": [{"kid": "a", "alg": "EdDSA", "seed": ""}]}`},
		{"duplicate kid", string(keySetJSON("a", a, b, testKey{kid: "a", seed: b.seed}))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ks, err := auth.ParseKeySet([]byte(c.json))
			if err == nil {
				t.Fatalf("ParseKeySet(%s) accepted it: %v", c.json, ks)
			}
			if strings.Contains(err.Error(), seed) {
				t.Errorf("the error repeats the seed: %v", err)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		mustParseKeySet(t, keySetJSON("b", a, b))
	})
}

// TestKeySetGenerate: a generated key set parses and signs tokens.
func TestKeySetGenerate(t *testing.T) {
	data, err := auth.GenerateKeySet()
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Active string `json:"active"`
		Keys   []struct {
			KID, Alg, Seed string
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Keys) != 1 || raw.Keys[0].KID != raw.Active || raw.Keys[0].Alg != "EdDSA" {
		t.Fatalf("generated key set %s", data)
	}
	tokens := auth.NewTokens(mustParseKeySet(t, data), testIssuer, testAudience, time.Minute)
	id, sid := uuid.NewString(), uuid.NewString()
	tok, err := tokens.Issue(auth.KindUser, id, sid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Verify(tok); err != nil {
		t.Fatal(err)
	}
}

// TestKeySetFileCreatedPrivateAndReused: the default key file is created
// with mode 0600 in a 0700 directory, and the next start reuses it, so
// tokens issued before a restart still verify.
func TestKeySetFileCreatedPrivateAndReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "signing-keys.json")
	first, created, err := auth.LoadOrCreateKeySetFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("first call did not report creating the file")
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode %o, want 600", mode)
	}
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if mode := dir.Mode().Perm(); mode != 0o700 {
		t.Errorf("key directory mode %o, want 700", mode)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	second, created, err := auth.LoadOrCreateKeySetFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Fatal("second call created the file again")
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Fatal("second call rewrote the key file")
	}
	id, sid := uuid.NewString(), uuid.NewString()
	tok, err := auth.NewTokens(first, testIssuer, testAudience, time.Minute).Issue(auth.KindUser, id, sid)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewTokens(second, testIssuer, testAudience, time.Minute).Verify(tok)
	if err != nil {
		t.Fatalf("a token issued before the restart: %v", err)
	}
	if v.ID != id || v.SessionID != sid {
		t.Fatalf("verified %+v", v)
	}

	t.Run("corrupt file is an error, not a new key", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "signing-keys.json")
		if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := auth.LoadOrCreateKeySetFile(bad); err == nil {
			t.Fatal("a corrupt key file was accepted")
		}
		if data, _ := os.ReadFile(bad); string(data) != "{not json" {
			t.Fatal("a corrupt key file was overwritten")
		}
	})
}

// TestTokenRoundTrip: an issued token verifies to the caller and session it
// was issued for, with the headers and claims RFC 9068 expects.
func TestTokenRoundTrip(t *testing.T) {
	tokens, key := newTestTokens(t)
	if tokens.TTL() != 15*time.Minute {
		t.Fatalf("TTL %v", tokens.TTL())
	}
	for _, kind := range []auth.Kind{auth.KindUser, auth.KindServiceAccount} {
		t.Run(string(kind), func(t *testing.T) {
			id, sid := uuid.NewString(), uuid.NewString()
			tok, err := tokens.Issue(kind, id, sid)
			if err != nil {
				t.Fatal(err)
			}
			v, err := tokens.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if v != (auth.Verified{Kind: kind, ID: id, SessionID: sid}) {
				t.Fatalf("verified %+v, want %s %s %s", v, kind, id, sid)
			}
			header, claims := decodeToken(t, tok)
			if header["alg"] != "EdDSA" || header["typ"] != auth.AccessTokenType || header["kid"] != key.kid {
				t.Errorf("header %v", header)
			}
			prefix := "user:"
			if kind == auth.KindServiceAccount {
				prefix = "sa:"
			}
			if claims["sub"] != prefix+id || claims["sid"] != sid || claims["iss"] != testIssuer {
				t.Errorf("claims %v", claims)
			}
			exp, _ := claims["exp"].(float64)
			iat, _ := claims["iat"].(float64)
			if exp-iat != (15 * time.Minute).Seconds() {
				t.Errorf("exp - iat = %v s, want 900", exp-iat)
			}
			if jti, _ := claims["jti"].(string); jti == "" {
				t.Errorf("no jti: %v", claims)
			}
		})
	}
	t.Run("two tokens differ", func(t *testing.T) {
		id, sid := uuid.NewString(), uuid.NewString()
		a, _ := tokens.Issue(auth.KindUser, id, sid)
		b, _ := tokens.Issue(auth.KindUser, id, sid)
		if a == b {
			t.Fatal("two tokens for one session are identical")
		}
	})
}

// TestTokenKeyRotation: tokens signed by a key that is still in the set
// verify after another key becomes active; once the key is retired from the
// set they do not, and a key set that merely reuses the kid cannot forge.
func TestTokenKeyRotation(t *testing.T) {
	k1, k2 := newTestKey(t, "k1"), newTestKey(t, "k2")
	old := auth.NewTokens(mustParseKeySet(t, keySetJSON("k1", k1)), testIssuer, testAudience, time.Minute)
	rotated := auth.NewTokens(mustParseKeySet(t, keySetJSON("k2", k1, k2)), testIssuer, testAudience, time.Minute)
	retired := auth.NewTokens(mustParseKeySet(t, keySetJSON("k2", k2)), testIssuer, testAudience, time.Minute)
	impostor := auth.NewTokens(mustParseKeySet(t, keySetJSON("k1", newTestKey(t, "k1"))), testIssuer, testAudience, time.Minute)

	id, sid := uuid.NewString(), uuid.NewString()
	byOld, err := old.Issue(auth.KindUser, id, sid)
	if err != nil {
		t.Fatal(err)
	}
	byNew, err := rotated.Issue(auth.KindUser, id, sid)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := decodeToken(t, byNew); h["kid"] != "k2" {
		t.Fatalf("rotated set signs with %v, want k2", h["kid"])
	}
	if _, err := rotated.Verify(byOld); err != nil {
		t.Errorf("token of the previous key after rotation: %v", err)
	}
	if _, err := retired.Verify(byNew); err != nil {
		t.Errorf("token of the active key: %v", err)
	}
	t.Run("retired key", func(t *testing.T) {
		_, err := retired.Verify(byOld)
		mustUnauthenticated(t, err)
	})
	t.Run("same kid, different key", func(t *testing.T) {
		forged, err := impostor.Issue(auth.KindUser, id, sid)
		if err != nil {
			t.Fatal(err)
		}
		_, err = old.Verify(forged)
		mustUnauthenticated(t, err)
	})
	t.Run("new key unknown to the old set", func(t *testing.T) {
		_, err := old.Verify(byNew)
		mustUnauthenticated(t, err)
	})
}

// TestTokenIssuerSettingsAreEnforced: a verifier refuses tokens validly
// signed with its own key by an issuer with another iss, aud or lifetime.
func TestTokenIssuerSettingsAreEnforced(t *testing.T) {
	key := newTestKey(t, "k1")
	ks := mustParseKeySet(t, keySetJSON("k1", key))
	verifier := auth.NewTokens(ks, testIssuer, testAudience, 15*time.Minute)
	id, sid := uuid.NewString(), uuid.NewString()
	cases := []struct {
		name             string
		issuer, audience string
		ttl              time.Duration
	}{
		{"other issuer", "someone-else", testAudience, time.Minute},
		{"other audience", testIssuer, "other-api", time.Minute},
		{"issuer case differs", "Casework", testAudience, time.Minute},
		{"expired an hour ago", testIssuer, testAudience, -time.Hour},
		{"expired beyond the leeway", testIssuer, testAudience, -2 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, err := auth.NewTokens(ks, c.issuer, c.audience, c.ttl).Issue(auth.KindUser, id, sid)
			if err != nil {
				t.Fatal(err)
			}
			_, err = verifier.Verify(tok)
			mustUnauthenticated(t, err)
		})
	}
}

// forge signs claims with header fields over the defaults.
func forge(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
			continue
		}
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// unsigned builds header.payload. with no signature, whatever alg says.
func unsigned(t *testing.T, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

func decodeToken(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts", tok, len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// badTokens returns a token a verifier over key must accept (for subjectID in
// sessionID) and the named tokens it must refuse; otherID is the subject a
// tampered payload claims instead.
func badTokens(t *testing.T, key testKey, subjectID, sessionID, otherID string) (valid string, bad []struct{ name, token string }) {
	t.Helper()
	now := time.Now()
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"iss": testIssuer,
			"sub": "user:" + subjectID,
			"aud": []string{testAudience},
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
	header := func(change map[string]any) map[string]any {
		h := map[string]any{"typ": auth.AccessTokenType, "kid": key.kid}
		for k, v := range change {
			h[k] = v
		}
		return h
	}
	priv := key.private()
	signed := func(hc map[string]any, change func(jwt.MapClaims)) string {
		return forge(t, jwt.SigningMethodEdDSA, priv, header(hc), claims(change))
	}
	valid = signed(nil, nil)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := newTestKey(t, key.kid).private()
	pub := []byte(priv.Public().(ed25519.PublicKey))
	add := func(name, token string) { bad = append(bad, struct{ name, token string }{name, token}) }

	add("alg none", unsigned(t, map[string]any{"alg": "none", "typ": auth.AccessTokenType, "kid": key.kid}, claims(nil)))
	add("alg None", unsigned(t, map[string]any{"alg": "None", "typ": auth.AccessTokenType, "kid": key.kid}, claims(nil)))
	add("alg none with the real signature kept", func() string {
		parts := strings.Split(valid, ".")
		h, _ := json.Marshal(map[string]any{"alg": "none", "typ": auth.AccessTokenType, "kid": key.kid})
		return base64.RawURLEncoding.EncodeToString(h) + "." + parts[1] + "." + parts[2]
	}())
	add("HS256 keyed with the Ed25519 public key", forge(t, jwt.SigningMethodHS256, pub, header(nil), claims(nil)))
	add("HS256 keyed with the public key in base64", forge(t, jwt.SigningMethodHS256,
		[]byte(base64.StdEncoding.EncodeToString(pub)), header(nil), claims(nil)))
	add("HS512 keyed with the Ed25519 seed", forge(t, jwt.SigningMethodHS512, key.seed, header(nil), claims(nil)))
	add("RS256 with a fresh RSA key", forge(t, jwt.SigningMethodRS256, rsaKey, header(nil), claims(nil)))
	add("PS256 with a fresh RSA key", forge(t, jwt.SigningMethodPS256, rsaKey, header(nil), claims(nil)))
	add("ES256 with a fresh EC key", forge(t, jwt.SigningMethodES256, ecKey, header(nil), claims(nil)))
	add("EdDSA with another key under the real kid", forge(t, jwt.SigningMethodEdDSA, otherKey, header(nil), claims(nil)))
	add("EdDSA with another key and its jwk embedded", forge(t, jwt.SigningMethodEdDSA, otherKey,
		header(map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519",
			"x": base64.RawURLEncoding.EncodeToString(otherKey.Public().(ed25519.PublicKey))}}), claims(nil)))
	add("expired 10 minutes ago", signed(nil, func(c jwt.MapClaims) {
		c["exp"] = now.Add(-10 * time.Minute).Unix()
		c["iat"] = now.Add(-20 * time.Minute).Unix()
		c["nbf"] = now.Add(-20 * time.Minute).Unix()
	}))
	add("nbf 10 minutes ahead", signed(nil, func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() }))
	add("iat 10 minutes ahead", signed(nil, func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Minute).Unix() }))
	add("exp missing", signed(nil, func(c jwt.MapClaims) { delete(c, "exp") }))
	add("exp not a number", signed(nil, func(c jwt.MapClaims) { c["exp"] = "tomorrow" }))
	add("wrong aud", signed(nil, func(c jwt.MapClaims) { c["aud"] = []string{"other-api"} }))
	add("aud missing", signed(nil, func(c jwt.MapClaims) { delete(c, "aud") }))
	add("wrong iss", signed(nil, func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))
	add("iss missing", signed(nil, func(c jwt.MapClaims) { delete(c, "iss") }))
	add("unknown kid", signed(map[string]any{"kid": "retired-or-never-existed"}, nil))
	add("kid missing", signed(map[string]any{"kid": nil}, nil))
	add("kid a path", signed(map[string]any{"kid": "../../../../dev/null"}, nil))
	add("typ JWT", signed(map[string]any{"typ": "JWT"}, nil))
	add("typ missing", signed(map[string]any{"typ": nil}, nil))
	add("typ refresh", signed(map[string]any{"typ": "rt+jwt"}, nil))
	add("sub without prefix", signed(nil, func(c jwt.MapClaims) { c["sub"] = subjectID }))
	add("sub user:not-a-uuid", signed(nil, func(c jwt.MapClaims) { c["sub"] = "user:admin" }))
	add("sub of another prefix", signed(nil, func(c jwt.MapClaims) { c["sub"] = "org:" + subjectID }))
	add("sub missing", signed(nil, func(c jwt.MapClaims) { delete(c, "sub") }))
	add("sid missing", signed(nil, func(c jwt.MapClaims) { delete(c, "sid") }))
	add("sid not a uuid", signed(nil, func(c jwt.MapClaims) { c["sid"] = "1 OR 1=1" }))
	add("refresh token as bearer", func() string { tok, _ := auth.NewOpaqueToken(auth.RefreshTokenPrefix); return tok }())
	add("signature tampered", func() string {
		parts := strings.Split(valid, ".")
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			t.Fatal(err)
		}
		sig[10] ^= 0x01
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	}())
	add("signature removed", valid[:strings.LastIndex(valid, ".")+1])
	add("signature truncated", valid[:len(valid)-4])
	add("payload tampered (sub changed, signature kept)", func() string {
		parts := strings.Split(valid, ".")
		c := claims(nil)
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(b, &c)
		c["sub"] = "user:" + otherID
		nb, _ := json.Marshal(c)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(nb) + "." + parts[2]
	}())
	add("1 MB token, validly signed", signed(nil, func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 1<<20) }))
	add("1 MB of garbage", strings.Repeat("A", 1<<20))
	add("garbage", "garbage")
	add("three empty parts", "..")
	add("three garbage parts", "a.b.c")
	add("header not JSON", base64.RawURLEncoding.EncodeToString([]byte("{not json"))+"."+strings.Split(valid, ".")[1]+"."+strings.Split(valid, ".")[2])
	add("valid token twice", valid+valid)
	add("valid token with a suffix", valid+".x")
	add("empty", "")
	return valid, bad
}

// TestTokenBadTokensRefused: every malformed, forged, mis-typed or
// out-of-date token is Unauthenticated.
func TestTokenBadTokensRefused(t *testing.T) {
	tokens, key := newTestTokens(t)
	id, sid := uuid.NewString(), uuid.NewString()
	valid, bad := badTokens(t, key, id, sid, uuid.NewString())
	v, err := tokens.Verify(valid)
	if err != nil {
		t.Fatalf("the forger's valid token is refused, so the bad ones prove nothing: %v", err)
	}
	if v.ID != id || v.SessionID != sid || v.Kind != auth.KindUser {
		t.Fatalf("verified %+v", v)
	}
	if len(bad) < 40 {
		t.Fatalf("only %d bad tokens", len(bad))
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, err := tokens.Verify(b.token)
			mustUnauthenticated(t, err)
			var ae *apperr.Error
			if errors.As(err, &ae) && strings.Contains(ae.Message, "kid") {
				t.Errorf("the public message names the reason: %q", ae.Message)
			}
		})
	}
}

// TestTokenOpaqueRefresh: refresh tokens carry the prefix and 256 random
// bits, and only their SHA-256 is stored.
func TestTokenOpaqueRefresh(t *testing.T) {
	a, hashA := auth.NewOpaqueToken(auth.RefreshTokenPrefix)
	b, hashB := auth.NewOpaqueToken(auth.RefreshTokenPrefix)
	if a == b || hashA == hashB {
		t.Fatal("two refresh tokens are equal")
	}
	if !strings.HasPrefix(a, auth.RefreshTokenPrefix) {
		t.Fatalf("token %q lacks the prefix", a)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(a, auth.RefreshTokenPrefix))
	if err != nil || len(raw) != 32 {
		t.Fatalf("token body is %d bytes (%v), want 32", len(raw), err)
	}
	if hashA != auth.HashOpaqueToken(a) || len(hashA) != 64 || strings.Contains(hashA, a) {
		t.Fatalf("hash %q of %q", hashA, a)
	}
	if hashA == auth.HashOpaqueToken(a+"x") {
		t.Fatal("hash ignores a suffix")
	}
}
