// Package serviceaccounts holds integrators' credentials: an organisation's
// admin creates an account with roles no wider than their own, the secret is
// shown once and stored only as a hash, and a token issued for it stops
// working the moment the account is deleted or its secret rotated.
package serviceaccounts

import (
	"context"
	"crypto/subtle"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
)

// SecretPrefix starts every client secret, so secret scanners can spot them.
const SecretPrefix = "cws_"

// Account is one service account. Deleted accounts stay as tombstones for
// clients that sync the list.
type Account struct {
	ID             string
	OrganizationID string
	Name           string
	Roles          []string
	CreatedBy      string
	// SecretID names the current secret; tokens carry it, so rotating the
	// secret refuses every token issued before.
	SecretID        string
	SecretRotatedAt time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	DeletedAt       *time.Time
}

// Store persists service accounts. A row outside scope is NotFound.
type Store interface {
	// List returns up to r.Limit+1 accounts of scope in id order, deleted
	// ones included when r.UpdatedSince is set (as tombstones).
	List(ctx context.Context, scope tenant.Scope, r page.Request) ([]Account, error)
	// Get returns one account that is not deleted.
	Get(ctx context.Context, scope tenant.Scope, id string) (Account, error)
	// Create inserts a and its secret's hash, moves the policy version on
	// and records ev, in one transaction.
	Create(ctx context.Context, a Account, secretHash string, ev audit.Event) error
	// Rotate replaces the secret (new id and hash) and records ev.
	Rotate(ctx context.Context, scope tenant.Scope, id, secretID, secretHash string, at time.Time, ev audit.Event) error
	// Delete marks the account deleted, moves the policy version on and
	// records ev.
	Delete(ctx context.Context, scope tenant.Scope, id string, at time.Time, ev audit.Event) error
	// Credentials returns the live account with this id, its secret's hash;
	// NotFound when there is none (or it or its organisation is inactive).
	Credentials(ctx context.Context, id string) (Account, string, error)
}

// Service manages service accounts and grants their tokens.
type Service struct {
	store  Store
	authz  *authz.Authorizer
	tokens *auth.Tokens
	now    func() time.Time
	newID  func() string
}

// NewService returns a Service.
func NewService(store Store, az *authz.Authorizer, tokens *auth.Tokens, now func() time.Time, newID func() string) *Service {
	return &Service{store: store, authz: az, tokens: tokens, now: now, newID: newID}
}

// NewAccount is the input of Create.
type NewAccount struct {
	Name  string
	Roles []string
}

// grantable is what a service account may hold: the roles of its
// organisation's kind other than admin (an integrator never manages people
// or credentials), each also held by the creating admin or covered by their
// admin role within the organisation.
func grantable(p auth.Principal, role string) bool {
	if role == authz.RoleAdmin || !authz.ValidRole(p.OrgKind, role) {
		return false
	}
	return p.HasRole(authz.RoleAdmin) || p.HasRole(role)
}

// List returns a page of the accounts the caller manages. Forbidden.
func (s *Service) List(ctx context.Context, r page.Request) ([]Account, *string, error) {
	scope, err := s.scope(ctx, authz.ActRead)
	if err != nil {
		return nil, nil, err
	}
	items, err := s.store.List(ctx, scope, r)
	if err != nil {
		return nil, nil, err
	}
	items, next := page.Trim(items, r.Limit, func(a Account) string { return a.ID })
	return items, next, nil
}

// Get returns one account the caller manages. Forbidden, NotFound.
func (s *Service) Get(ctx context.Context, id string) (Account, error) {
	scope, err := s.scope(ctx, authz.ActRead)
	if err != nil {
		return Account{}, err
	}
	return s.store.Get(ctx, scope, id)
}

// scope checks the caller may act on service accounts: their own
// organisation's; IOM admins also list and delete (never create or rotate,
// which would hand them another organisation's access) every organisation's.
func (s *Service) scope(ctx context.Context, act string) (tenant.Scope, error) {
	if err := s.authz.Require(ctx, authz.ObjServiceAccount, act); err != nil {
		return tenant.Scope{}, err
	}
	if (act == authz.ActRead || act == authz.ActDelete) && s.authz.Allowed(ctx, authz.ObjServiceAccount, authz.ActManageAny) {
		return tenant.All(), nil
	}
	p, _ := auth.PrincipalFrom(ctx)
	return tenant.Org(p.OrgID), nil
}

// Create adds an account to the caller's organisation and returns it with
// its secret, which is never shown again. Forbidden, Invalid.
func (s *Service) Create(ctx context.Context, in NewAccount) (Account, string, error) {
	if _, err := s.scope(ctx, authz.ActCreate); err != nil {
		return Account{}, "", err
	}
	p, _ := auth.PrincipalFrom(ctx)
	in.Name = strings.TrimSpace(in.Name)
	var v apperr.Validator
	v.Check(in.Name != "" && utf8.RuneCountInString(in.Name) <= 100, "name", "must be 1 to 100 characters")
	v.Check(len(in.Roles) > 0, "roles", "must name at least one role")
	for _, r := range in.Roles {
		v.Check(grantable(p, r), "roles", "may only hold non-admin roles of your organisation that you hold yourself")
	}
	if err := v.Err(); err != nil {
		return Account{}, "", err
	}
	roles := slices.Clone(in.Roles)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	secret, hash := auth.NewOpaqueToken(SecretPrefix)
	now := s.now()
	a := Account{ID: s.newID(), OrganizationID: p.OrgID, Name: in.Name, Roles: roles, CreatedBy: p.ID,
		SecretID: s.newID(), SecretRotatedAt: now, CreatedAt: now, UpdatedAt: now}
	ev := audit.New(ctx, "service_account.create", "service_account", a.ID, audit.Success)
	if err := s.store.Create(ctx, a, hash, ev); err != nil {
		return Account{}, "", err
	}
	return a, secret, nil
}

// RotateSecret gives an account a new secret, returned once; every token
// issued with the old one is refused from now on. Forbidden, NotFound.
func (s *Service) RotateSecret(ctx context.Context, id string) (Account, string, error) {
	scope, err := s.scope(ctx, authz.ActUpdate)
	if err != nil {
		return Account{}, "", err
	}
	secret, hash := auth.NewOpaqueToken(SecretPrefix)
	now := s.now()
	ev := audit.New(ctx, "service_account.rotate_secret", "service_account", id, audit.Success)
	if err := s.store.Rotate(ctx, scope, id, s.newID(), hash, now, ev); err != nil {
		return Account{}, "", err
	}
	a, err := s.store.Get(ctx, scope, id)
	return a, secret, err
}

// Delete deletes an account; its tokens are refused from now on.
// Forbidden, NotFound.
func (s *Service) Delete(ctx context.Context, id string) error {
	scope, err := s.scope(ctx, authz.ActDelete)
	if err != nil {
		return err
	}
	ev := audit.New(ctx, "service_account.delete", "service_account", id, audit.Success)
	return s.store.Delete(ctx, scope, id, s.now(), ev)
}

// Token is an access token granted by the client-credentials grant.
type Token struct {
	AccessToken string
	ExpiresIn   int
	AccountID   string
	OrgID       string
}

// Grant implements the client-credentials grant (RFC 6749 §4.4): a live
// account whose secret matches gets an access token bound to that secret.
// Every failure is the same Unauthenticated error.
func (s *Service) Grant(ctx context.Context, clientID, secret string) (Token, error) {
	refused := apperr.New(apperr.Unauthenticated, "invalid client credentials")
	// Client ids are account ids (UUIDs); anything else names no account.
	if !strings.HasPrefix(secret, SecretPrefix) || len(secret) > 128 || uuid.Validate(clientID) != nil {
		return Token{}, refused
	}
	a, hash, err := s.store.Credentials(ctx, clientID)
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return Token{}, refused
		}
		return Token{}, err
	}
	if subtle.ConstantTimeCompare([]byte(hash), []byte(auth.HashOpaqueToken(secret))) != 1 {
		return Token{}, refused
	}
	access, err := s.tokens.Issue(auth.KindServiceAccount, a.ID, a.SecretID)
	if err != nil {
		return Token{}, apperr.Wrap(apperr.Internal, "sign token", err)
	}
	return Token{AccessToken: access, ExpiresIn: int(s.tokens.TTL().Seconds()), AccountID: a.ID, OrgID: a.OrganizationID}, nil
}
