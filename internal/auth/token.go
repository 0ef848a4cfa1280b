package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/casework/casework/internal/apperr"
)

// AccessTokenType is the JWT `typ` header of access tokens (RFC 9068); tokens
// of any other type are refused.
const AccessTokenType = "at+jwt"

// maxTokenBytes refuses absurd tokens before any parsing.
const maxTokenBytes = 4096

// Subject prefixes keep user and service-account ids apart in `sub`.
const (
	userSubjectPrefix = "user:"
	saSubjectPrefix   = "sa:"
)

// AccessClaims are the claims of an access token.
type AccessClaims struct {
	jwt.RegisteredClaims
	// SessionID ties the token to a session (user) or a secret version (service
	// account); revoking it refuses the token on the next request.
	SessionID string `json:"sid"`
}

// Tokens issues and verifies access tokens.
type Tokens struct {
	keys     *KeySet
	issuer   string
	audience string
	ttl      time.Duration
	parser   *jwt.Parser
	now      func() time.Time
}

// NewTokens returns a token issuer and verifier over keys.
func NewTokens(keys *KeySet, issuer, audience string, ttl time.Duration) *Tokens {
	return &Tokens{
		keys:     keys,
		issuer:   issuer,
		audience: audience,
		ttl:      ttl,
		now:      time.Now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(30*time.Second),
		),
	}
}

// TTL is the lifetime of new access tokens.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue signs an access token for the caller with the given kind and id, in
// session sid.
func (t *Tokens) Issue(kind Kind, id, sid string) (string, error) {
	now := t.now().UTC()
	prefix := userSubjectPrefix
	if kind == KindServiceAccount {
		prefix = saSubjectPrefix
	}
	claims := AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   prefix + id,
			Audience:  jwt.ClaimStrings{t.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		SessionID: sid,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = t.keys.active
	tok.Header["typ"] = AccessTokenType
	return tok.SignedString(t.keys.keys[t.keys.active])
}

// Verified is what a valid access token says about its bearer.
type Verified struct {
	Kind      Kind
	ID        string
	SessionID string
}

// Verify checks an access token's algorithm, type, key, signature, issuer,
// audience and times; Unauthenticated on any failure.
func (t *Tokens) Verify(raw string) (Verified, error) {
	fail := func(why string) (Verified, error) {
		return Verified{}, apperr.Wrap(apperr.Unauthenticated, "invalid or expired token", fmt.Errorf("%s", why))
	}
	if len(raw) > maxTokenBytes {
		return fail("token too long")
	}
	var claims AccessClaims
	_, err := t.parser.ParseWithClaims(raw, &claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); !strings.EqualFold(typ, AccessTokenType) {
			return nil, fmt.Errorf("token type %q", typ)
		}
		kid, _ := tok.Header["kid"].(string)
		key, ok := t.keys.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return key.Public().(ed25519.PublicKey), nil
	})
	if err != nil {
		return fail(err.Error())
	}
	v := Verified{SessionID: claims.SessionID}
	switch {
	case strings.HasPrefix(claims.Subject, userSubjectPrefix):
		v.Kind, v.ID = KindUser, strings.TrimPrefix(claims.Subject, userSubjectPrefix)
	case strings.HasPrefix(claims.Subject, saSubjectPrefix):
		v.Kind, v.ID = KindServiceAccount, strings.TrimPrefix(claims.Subject, saSubjectPrefix)
	default:
		return fail("bad subject")
	}
	if uuid.Validate(v.ID) != nil || uuid.Validate(v.SessionID) != nil {
		return fail("bad subject or session")
	}
	return v, nil
}

// RefreshTokenPrefix starts every refresh token, so one is never mistaken for
// an access token (and secret scanners can spot them).
const RefreshTokenPrefix = "cwr_"

// NewOpaqueToken returns a random token with the given prefix and the hash to
// store in its place.
func NewOpaqueToken(prefix string) (token, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashOpaqueToken(token)
}

// HashOpaqueToken is the stored form of an opaque token: hex SHA-256. The
// token has 256 bits of entropy, so a fast hash is enough.
func HashOpaqueToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
