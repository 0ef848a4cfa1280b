// Package users holds the people who sign in: the record, validation, the
// rules of who may create and change whom, and the Store it needs.
package users

import (
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
)

// User is one person who signs in. The password hash never leaves the store.
type User struct {
	ID             string
	OrganizationID string
	OrgKind        string
	Email          string
	DisplayName    string
	Roles          []string
	Active         bool
	Locale         string
	Version        int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Changes are the fields an update sets; nil leaves a field alone.
type Changes struct {
	Email        *string
	DisplayName  *string
	PasswordHash *string
	Roles        []string
	Active       *bool
	Locale       *string
}

// Store persists users. Every method is bound to a tenant scope: a row
// outside it is NotFound.
type Store interface {
	// List returns up to r.Limit+1 users in id order within scope, of one
	// organisation when orgID is not empty.
	List(ctx context.Context, scope tenant.Scope, orgID string, r page.Request) ([]User, error)
	// Get returns one user; NotFound outside scope.
	Get(ctx context.Context, scope tenant.Scope, id string) (User, error)
	// Create inserts u with its password hash; Conflict when the email is taken.
	Create(ctx context.Context, u User, passwordHash string) error
	// Update applies c when the stored version is version. A change of roles
	// or activity moves the authorization policy version on; deactivation or
	// a new password ends the user's sessions. NotFound outside scope,
	// PreconditionFailed on another version, Conflict on a taken email.
	Update(ctx context.Context, scope tenant.Scope, id string, version int64, c Changes) (User, error)
}

// Service enforces who may read, create and change users.
type Service struct {
	store  Store
	orgs   organizations.Store
	authz  *authz.Authorizer
	hasher *auth.Hasher
	now    func() time.Time
	newID  func() string
}

// NewService returns a Service over store.
func NewService(store Store, orgs organizations.Store, az *authz.Authorizer, hasher *auth.Hasher, now func() time.Time, newID func() string) *Service {
	return &Service{store: store, orgs: orgs, authz: az, hasher: hasher, now: now, newID: newID}
}

// NewUser is the input of Create and Provision.
type NewUser struct {
	Email          string
	DisplayName    string
	Password       string
	Roles          []string
	Locale         string
	OrganizationID string // empty: the caller's own organisation
}

// scope is the rows the caller may manage: every organisation's for IOM
// admins, its own otherwise.
func (s *Service) scope(ctx context.Context) tenant.Scope {
	if s.authz.Allowed(ctx, authz.ObjUser, authz.ActManageAny) {
		return tenant.All()
	}
	p, _ := auth.PrincipalFrom(ctx)
	return tenant.Org(p.OrgID)
}

// List returns a page of users the caller manages. Forbidden.
func (s *Service) List(ctx context.Context, orgID string, r page.Request) ([]User, *string, error) {
	if err := s.authz.Require(ctx, authz.ObjUser, authz.ActRead); err != nil {
		return nil, nil, err
	}
	items, err := s.store.List(ctx, s.scope(ctx), orgID, r)
	if err != nil {
		return nil, nil, err
	}
	items, next := page.Trim(items, r.Limit, func(u User) string { return u.ID })
	return items, next, nil
}

// Get returns one user the caller manages. Forbidden, NotFound.
func (s *Service) Get(ctx context.Context, id string) (User, error) {
	if err := s.authz.Require(ctx, authz.ObjUser, authz.ActRead); err != nil {
		return User{}, err
	}
	return s.store.Get(ctx, s.scope(ctx), id)
}

// Create adds a user to the caller's organisation, or, for IOM admins, to the
// named one. Forbidden; NotFound for an organisation the caller cannot manage;
// Invalid; Conflict on a taken email.
func (s *Service) Create(ctx context.Context, in NewUser) (User, error) {
	if err := s.authz.Require(ctx, authz.ObjUser, authz.ActCreate); err != nil {
		return User{}, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	if in.OrganizationID == "" {
		in.OrganizationID = p.OrgID
	}
	return s.create(ctx, s.scope(ctx), in)
}

// Provision adds a user without a caller: for the first start and for
// operators on the command line, who hold the database anyway.
// NotFound, Invalid, Conflict.
func (s *Service) Provision(ctx context.Context, in NewUser) (User, error) {
	return s.create(ctx, tenant.All(), in)
}

func (s *Service) create(ctx context.Context, scope tenant.Scope, in NewUser) (User, error) {
	org, err := s.orgs.Get(ctx, scope, in.OrganizationID)
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return User{}, apperr.New(apperr.NotFound, "organization not found")
		}
		return User{}, err
	}
	if in.Locale == "" {
		in.Locale = "en"
	}
	in.Email = strings.ToLower(strings.TrimSpace(in.Email))
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	var v apperr.Validator
	v.Check(org.Active, "organization_id", "the organisation is not active")
	checkEmail(&v, in.Email)
	checkDisplayName(&v, in.DisplayName)
	checkRoles(&v, org.Kind, in.Roles)
	checkLocale(&v, in.Locale)
	if err := v.Err(); err != nil {
		return User{}, err
	}
	if err := auth.ValidatePassword("password", in.Password, in.Email, in.DisplayName); err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return User{}, err
	}
	now := s.now()
	u := User{
		ID: s.newID(), OrganizationID: org.ID, OrgKind: org.Kind, Email: in.Email,
		DisplayName: in.DisplayName, Roles: normaliseRoles(in.Roles), Active: true,
		Locale: in.Locale, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.Create(ctx, u, hash); err != nil {
		return User{}, err
	}
	return u, nil
}

// UserChanges is the input of Update; nil leaves a field alone.
type UserChanges struct {
	Email       *string
	DisplayName *string
	Password    *string
	Roles       *[]string
	Active      *bool
	Locale      *string
}

// Update changes a user the caller manages at version. Admins cannot
// deactivate themselves or drop their own admin role. Forbidden, NotFound,
// Invalid, PreconditionFailed, Conflict.
func (s *Service) Update(ctx context.Context, id string, version int64, in UserChanges) (User, error) {
	if err := s.authz.Require(ctx, authz.ObjUser, authz.ActUpdate); err != nil {
		return User{}, err
	}
	scope := s.scope(ctx)
	current, err := s.store.Get(ctx, scope, id)
	if err != nil {
		return User{}, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	var c Changes
	var v apperr.Validator
	if in.Email != nil {
		e := strings.ToLower(strings.TrimSpace(*in.Email))
		checkEmail(&v, e)
		c.Email = &e
	}
	if in.DisplayName != nil {
		d := strings.TrimSpace(*in.DisplayName)
		checkDisplayName(&v, d)
		c.DisplayName = &d
	}
	if in.Roles != nil {
		checkRoles(&v, current.OrgKind, *in.Roles)
		c.Roles = normaliseRoles(*in.Roles)
		if id == p.ID && !slices.Contains(c.Roles, authz.RoleAdmin) {
			v.Check(false, "roles", "you cannot take away your own admin role")
		}
	}
	if in.Active != nil {
		v.Check(!(id == p.ID && !*in.Active), "active", "you cannot deactivate yourself")
		c.Active = in.Active
	}
	if in.Locale != nil {
		checkLocale(&v, *in.Locale)
		c.Locale = in.Locale
	}
	if err := v.Err(); err != nil {
		return User{}, err
	}
	if in.Password != nil {
		email, name := current.Email, current.DisplayName
		if c.Email != nil {
			email = *c.Email
		}
		if err := auth.ValidatePassword("password", *in.Password, email, name); err != nil {
			return User{}, err
		}
		hash, err := s.hasher.Hash(ctx, *in.Password)
		if err != nil {
			return User{}, err
		}
		c.PasswordHash = &hash
	}
	return s.store.Update(ctx, scope, id, version, c)
}

func checkEmail(v *apperr.Validator, email string) {
	addr, err := mail.ParseAddress(email)
	v.Check(err == nil && addr.Address == email && len(email) <= 254, "email", "must be a plain email address")
}

func checkDisplayName(v *apperr.Validator, name string) {
	v.Check(name != "" && utf8.RuneCountInString(name) <= 200, "display_name", "must be 1 to 200 characters")
}

func checkLocale(v *apperr.Validator, locale string) {
	v.Check(locale == "en" || locale == "ru" || locale == "kk", "locale", "must be en, ru or kk")
}

func checkRoles(v *apperr.Validator, orgKind string, roles []string) {
	v.Check(len(roles) > 0, "roles", "must name at least one role")
	for i, r := range roles {
		v.Check(authz.ValidRole(orgKind, r), fmt.Sprintf("roles[%d]", i),
			fmt.Sprintf("must be one of %s in this organisation", strings.Join(authz.RolesFor(orgKind), ", ")))
	}
}

func normaliseRoles(roles []string) []string {
	out := slices.Clone(roles)
	slices.Sort(out)
	return slices.Compact(out)
}
