// Package consents holds a person's consents as append-only events: a
// consent is recorded (given or refused) and may later be withdrawn; the
// latest record of each type (per recipient, for referral consent) is the
// current state.
package consents

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
)

// Consent types.
const (
	TypeReferral           = "referral"
	TypeResearchAnonymised = "research_anonymised"
)

// Types are every consent type.
var Types = []string{"assistance", "data_processing", TypeReferral, TypeResearchAnonymised, "medical", "voluntary_return", "guardian"}

// Consent is one recorded consent and its withdrawal, if any.
type Consent struct {
	ID                      string
	CaseID                  string
	OrganizationID          string
	Type                    string
	Given                   bool
	RecordedOn              time.Time
	RecordedBy              string
	RecipientOrganizationID string
	Scope                   string
	WithdrawnOn             *time.Time
	WithdrawnBy             string
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// Store keeps consents. Callers resolve access to the case first; the store
// binds every consent to its case.
type Store interface {
	// List returns up to r.Limit+1 consents of a case in id order.
	List(ctx context.Context, caseID string, r page.Request) ([]Consent, error)
	// Create records c with its audit event.
	Create(ctx context.Context, c Consent, ev audit.Event) error
	// Withdraw records the withdrawal of consent id of caseID. NotFound when
	// the consent is not the case's; Conflict when already withdrawn.
	Withdraw(ctx context.Context, caseID, id string, on time.Time, by string, ev audit.Event) (Consent, error)
	// Get returns consent id of caseID; NotFound otherwise.
	Get(ctx context.Context, caseID, id string) (Consent, error)
	cases.ConsentReader
}

// Service enforces who may read and record consents.
type Service struct {
	store Store
	cases *cases.Service
	orgs  organizations.Store
	now   func() time.Time
	newID func() string
}

// NewService returns a Service.
func NewService(store Store, cs *cases.Service, orgs organizations.Store, now func() time.Time, newID func() string) *Service {
	return &Service{store: store, cases: cs, orgs: orgs, now: now, newID: newID}
}

// View is a consent as the caller may see it: pseudonymised views leave out
// the free-text scope.
type View struct {
	Consent
	Full bool
}

// List returns a page of a case's consents. Forbidden, NotFound.
func (s *Service) List(ctx context.Context, caseID string, r page.Request) ([]View, *string, error) {
	acc, err := s.cases.Resolve(ctx, caseID, authz.ObjConsent)
	if err != nil {
		return nil, nil, err
	}
	items, err := s.store.List(ctx, caseID, r)
	if err != nil {
		return nil, nil, err
	}
	items, next := page.Trim(items, r.Limit, func(c Consent) string { return c.ID })
	out := make([]View, len(items))
	for i, c := range items {
		out[i] = view(c, acc.Full)
	}
	return out, next, nil
}

func view(c Consent, full bool) View {
	if !full {
		c.Scope = ""
	}
	return View{Consent: c, Full: full}
}

// NewConsent is the input of Create.
type NewConsent struct {
	Type                    string
	Given                   bool
	RecordedOn              *time.Time
	RecipientOrganizationID string
	Scope                   string
}

// Create records a consent for one of the caller's organisation's cases.
// Referral consent names an active organisation other than the owner.
// Forbidden, NotFound, Invalid.
func (s *Service) Create(ctx context.Context, caseID string, in NewConsent) (View, error) {
	acc, err := s.cases.ResolveWrite(ctx, caseID, authz.ObjConsent, authz.ActCreate)
	if err != nil {
		return View{}, err
	}
	now := s.now()
	on := cases.Date(now)
	if in.RecordedOn != nil {
		on = cases.Date(*in.RecordedOn)
	}
	in.Scope = strings.TrimSpace(in.Scope)
	var v apperr.Validator
	v.Check(slices.Contains(Types, in.Type), "type", "is not a consent type")
	v.Check(!on.After(cases.Date(now).AddDate(0, 0, 1)), "recorded_on", "must not be in the future")
	v.Check(utf8.RuneCountInString(in.Scope) <= 500, "scope", "must be at most 500 characters")
	if in.Type == TypeReferral {
		v.Check(in.RecipientOrganizationID != "", "recipient_organization_id", "is required for referral consent")
		v.Check(in.RecipientOrganizationID != acc.OrganizationID, "recipient_organization_id", "must be another organisation")
	} else {
		v.Check(in.RecipientOrganizationID == "", "recipient_organization_id", "is allowed only for referral consent")
	}
	if err := v.Err(); err != nil {
		return View{}, err
	}
	if in.RecipientOrganizationID != "" {
		org, err := s.orgs.Get(ctx, tenant.All(), in.RecipientOrganizationID)
		if apperr.Is(err, apperr.NotFound) || (err == nil && !org.Active) {
			return View{}, apperr.Field("recipient_organization_id", "is not an active organisation")
		}
		if err != nil {
			return View{}, err
		}
	}
	p, _ := auth.PrincipalFrom(ctx)
	c := Consent{
		ID: s.newID(), CaseID: caseID, OrganizationID: acc.OrganizationID, Type: in.Type, Given: in.Given,
		RecordedOn: on, RecordedBy: p.ID, RecipientOrganizationID: in.RecipientOrganizationID, Scope: in.Scope,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.Create(ctx, c, audit.New(ctx, "consent.create", "consent", c.ID, audit.Success)); err != nil {
		return View{}, err
	}
	return view(c, true), nil
}

// Withdraw records that a given consent was withdrawn on (default today).
// Forbidden, NotFound, Invalid, Conflict (refused or already withdrawn).
func (s *Service) Withdraw(ctx context.Context, caseID, id string, on *time.Time) (View, error) {
	if _, err := s.cases.ResolveWrite(ctx, caseID, authz.ObjConsent, authz.ActWithdraw); err != nil {
		return View{}, err
	}
	current, err := s.store.Get(ctx, caseID, id)
	if err != nil {
		return View{}, err
	}
	now := s.now()
	day := cases.Date(now)
	if on != nil {
		day = cases.Date(*on)
	}
	var v apperr.Validator
	v.Check(!day.Before(current.RecordedOn), "withdrawn_on", "must not be before the consent was recorded")
	v.Check(!day.After(cases.Date(now).AddDate(0, 0, 1)), "withdrawn_on", "must not be in the future")
	if err := v.Err(); err != nil {
		return View{}, err
	}
	if !current.Given {
		return View{}, apperr.New(apperr.Conflict, "a refused consent cannot be withdrawn")
	}
	p, _ := auth.PrincipalFrom(ctx)
	c, err := s.store.Withdraw(ctx, caseID, id, day, p.ID, audit.New(ctx, "consent.withdraw", "consent", id, audit.Success))
	if err != nil {
		return View{}, err
	}
	return view(c, true), nil
}

// CurrentStates derives the current state of each consent type from a
// case's consents, given in any order: the latest record of each type (and
// recipient) wins.
func CurrentStates(all []Consent) []cases.ConsentState {
	latest := map[string]Consent{}
	var order []string
	for _, c := range all {
		key := c.Type + "|" + c.RecipientOrganizationID
		prev, ok := latest[key]
		if !ok {
			order = append(order, key)
		}
		if !ok || c.RecordedOn.After(prev.RecordedOn) || (c.RecordedOn.Equal(prev.RecordedOn) && c.ID > prev.ID) {
			latest[key] = c
		}
	}
	slices.Sort(order)
	out := make([]cases.ConsentState, 0, len(order))
	for _, key := range order {
		c := latest[key]
		state := "refused"
		switch {
		case c.WithdrawnOn != nil:
			state = "withdrawn"
		case c.Given:
			state = "given"
		}
		out = append(out, cases.ConsentState{
			Type: c.Type, State: state, ConsentID: c.ID, RecordedOn: c.RecordedOn, RecipientOrganizationID: c.RecipientOrganizationID,
		})
	}
	return out
}
