// Package auth authenticates callers: password hashing, access tokens (JWT),
// opaque refresh tokens, and the Principal that travels in the request context.
package auth

import "context"

// Kind says what kind of caller a Principal is.
type Kind string

// The kinds of caller.
const (
	KindUser           Kind = "user"
	KindServiceAccount Kind = "service_account"
)

// Organisation kinds, as stored.
const (
	OrgKindIOM = "iom"
	OrgKindNGO = "ngo"
)

// Principal is the authenticated caller of one request, loaded fresh from the
// database on every request so that logout, deactivation and role changes take
// effect at once.
type Principal struct {
	Kind        Kind
	ID          string
	SessionID   string
	OrgID       string
	OrgKind     string
	Roles       []string
	Email       string
	DisplayName string
	Locale      string
	// PolicyVersion is the authorization policy version the database held when
	// the principal was loaded; the authorizer catches up to it before deciding.
	PolicyVersion int64
}

// IsIOM reports whether the caller belongs to the IOM organisation.
func (p Principal) IsIOM() bool { return p.OrgKind == OrgKindIOM }

// HasRole reports whether the caller holds role in its own organisation.
func (p Principal) HasRole(role string) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns a context that carries p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller carried by ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
