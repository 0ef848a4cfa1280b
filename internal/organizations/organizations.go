// Package organizations holds the IOM mission and its NGO partners: the
// record, its validation, the service that enforces who may change what, and
// the Store it needs.
package organizations

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
)

// Organization is one organisation.
type Organization struct {
	ID        string
	Name      string
	Code      string
	Kind      string
	City      string
	Active    bool
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Changes are the fields an update sets; nil leaves a field alone.
type Changes struct {
	Name   *string
	City   *string
	Active *bool
}

// Store persists organisations. Every method is bound to a tenant scope: a
// row outside it is NotFound.
type Store interface {
	// List returns up to r.Limit+1 organisations in id order within scope.
	List(ctx context.Context, scope tenant.Scope, r page.Request) ([]Organization, error)
	// Get returns one organisation; NotFound outside scope.
	Get(ctx context.Context, scope tenant.Scope, id string) (Organization, error)
	// Create inserts o; Conflict when the code is taken.
	Create(ctx context.Context, o Organization) error
	// Update applies c when the stored version is version; NotFound outside
	// scope, PreconditionFailed on another version.
	Update(ctx context.Context, scope tenant.Scope, id string, version int64, c Changes) (Organization, error)
}

// Service enforces who may read and change organisations.
type Service struct {
	store Store
	authz *authz.Authorizer
	now   func() time.Time
	newID func() string
}

// NewService returns a Service over store.
func NewService(store Store, az *authz.Authorizer, now func() time.Time, newID func() string) *Service {
	return &Service{store: store, authz: az, now: now, newID: newID}
}

var codePattern = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,15}$`)

// List returns a page of the organisation directory. Forbidden without read rights.
func (s *Service) List(ctx context.Context, r page.Request) ([]Organization, *string, error) {
	if err := s.authz.Require(ctx, authz.ObjOrganization, authz.ActRead); err != nil {
		return nil, nil, err
	}
	items, err := s.store.List(ctx, tenant.All(), r)
	if err != nil {
		return nil, nil, err
	}
	items, next := page.Trim(items, r.Limit, func(o Organization) string { return o.ID })
	return items, next, nil
}

// Get returns one organisation. Forbidden without read rights; NotFound.
func (s *Service) Get(ctx context.Context, id string) (Organization, error) {
	if err := s.authz.Require(ctx, authz.ObjOrganization, authz.ActRead); err != nil {
		return Organization{}, err
	}
	return s.store.Get(ctx, tenant.All(), id)
}

// Create registers an NGO partner. Forbidden unless IOM admin; Invalid; Conflict on a taken code.
func (s *Service) Create(ctx context.Context, name, code, city string) (Organization, error) {
	if err := s.authz.Require(ctx, authz.ObjOrganization, authz.ActCreate); err != nil {
		return Organization{}, err
	}
	name, city = strings.TrimSpace(name), strings.TrimSpace(city)
	var v apperr.Validator
	checkText(&v, "name", name, 200)
	checkText(&v, "city", city, 100)
	v.Check(codePattern.MatchString(code), "code", "must be 2 to 16 upper-case letters and digits, starting with a letter")
	if err := v.Err(); err != nil {
		return Organization{}, err
	}
	now := s.now()
	o := Organization{
		ID: s.newID(), Name: name, Code: code, Kind: auth.OrgKindNGO, City: city,
		Active: true, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.Create(ctx, o); err != nil {
		return Organization{}, err
	}
	return o, nil
}

// Update changes an organisation at version. IOM admins change any; an NGO
// admin only its own organisation's name and city. Forbidden, NotFound,
// Invalid, PreconditionFailed.
func (s *Service) Update(ctx context.Context, id string, version int64, c Changes) (Organization, error) {
	if err := s.authz.Require(ctx, authz.ObjOrganization, authz.ActUpdate); err != nil {
		return Organization{}, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	scope := tenant.Org(p.OrgID)
	manageAny := s.authz.Allowed(ctx, authz.ObjOrganization, authz.ActManageAny)
	if manageAny {
		scope = tenant.All()
	}
	var v apperr.Validator
	if c.Name != nil {
		*c.Name = strings.TrimSpace(*c.Name)
		checkText(&v, "name", *c.Name, 200)
	}
	if c.City != nil {
		*c.City = strings.TrimSpace(*c.City)
		checkText(&v, "city", *c.City, 100)
	}
	if err := v.Err(); err != nil {
		return Organization{}, err
	}
	current, err := s.store.Get(ctx, scope, id)
	if err != nil {
		return Organization{}, err
	}
	if c.Active != nil {
		if !manageAny {
			return Organization{}, apperr.New(apperr.Forbidden, "only IOM admins activate or deactivate organisations")
		}
		if current.Kind == auth.OrgKindIOM && !*c.Active {
			return Organization{}, apperr.Field("active", "the IOM organisation cannot be deactivated")
		}
	}
	return s.store.Update(ctx, scope, id, version, c)
}

func checkText(v *apperr.Validator, field, s string, max int) {
	v.Check(s != "", field, "must not be empty")
	v.Check(utf8.RuneCountInString(s) <= max, field, "is too long")
}
