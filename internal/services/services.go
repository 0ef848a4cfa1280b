// Package services holds the services delivered to a case: shelter,
// medical, psychological, skills, reintegration, return, legal and other,
// each with type-specific details; their status machine; and the rules of
// who may record and read them.
package services

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/codes"
	"github.com/casework/casework/internal/page"
)

// Statuses of a service.
const (
	StatusPlanned    = "planned"
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusCancelled  = "cancelled"
)

// transitions lists where each status may move.
var transitions = map[string][]string{
	StatusPlanned:    {StatusInProgress, StatusCompleted, StatusCancelled},
	StatusInProgress: {StatusCompleted, StatusCancelled},
}

// Money is an amount in minor units of an ISO 4217 currency.
type Money struct {
	Amount   int64
	Currency string
}

// Service is one service delivered to a case.
type Service struct {
	ID                     string
	CaseID                 string
	OrganizationID         string // the case's owner
	ProviderOrganizationID string
	Type                   string
	Status                 string
	StartedOn              *time.Time
	EndedOn                *time.Time
	Cost                   *Money
	FundingProject         string
	Notes                  string // identifying
	Details                map[string]any
	RecordedBy             string
	Version                int64
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

// Finished reports whether the service is completed or cancelled.
func Finished(status string) bool { return status == StatusCompleted || status == StatusCancelled }

// Nights is the number of shelter nights: from admission to discharge, or to
// today while the person is still admitted; nil for other types or without
// an admission date.
func (s Service) Nights(today time.Time) *int {
	if s.Type != "shelter" {
		return nil
	}
	in := dateField(s.Details, "admitted_on")
	if in == nil {
		return nil
	}
	out := dateField(s.Details, "discharged_on")
	if out == nil {
		t := cases.Date(today)
		out = &t
	}
	n := int(out.Sub(*in).Hours() / 24)
	if n < 0 {
		n = 0
	}
	return &n
}

// Pseudonymised returns a copy without notes or identifying details.
func (s Service) Pseudonymised() Service {
	s.Notes = ""
	plain, _ := SplitDetails(s.Type, s.Details)
	s.Details = plain
	return s
}

// Store keeps services. Callers resolve access to the case first.
type Store interface {
	// List returns up to r.Limit+1 services of a case in id order.
	List(ctx context.Context, caseID string, r page.Request) ([]Service, error)
	// Get returns service id of caseID; NotFound otherwise.
	Get(ctx context.Context, caseID, id string) (Service, error)
	// Create stores s and moves the case's status on as the services now
	// require (reopening a closed case), with history and audit, in one
	// transaction.
	Create(ctx context.Context, s Service, ev audit.Event) error
	// Update loads service id of caseID, applies change and stores it at
	// version (PreconditionFailed on another), moving the case's status on.
	Update(ctx context.Context, caseID, id string, version int64, change func(*Service) error, ev audit.Event) (Service, error)
}

// ServiceLayer enforces who may read and record services.
type ServiceLayer struct {
	store Store
	cases *cases.Service
	audit *audit.Service
	now   func() time.Time
	newID func() string
}

// NewService returns the services' service layer.
func NewService(store Store, cs *cases.Service, au *audit.Service, now func() time.Time, newID func() string) *ServiceLayer {
	return &ServiceLayer{store: store, cases: cs, audit: au, now: now, newID: newID}
}

// readAction names an audited read: full reads carry identifying data.
func readAction(what string, full bool) string {
	if full {
		return what
	}
	return what + "_pseudonymised"
}

// View is a service as the caller may see it.
type View struct {
	Service
	Full   bool
	Nights *int
}

func (l *ServiceLayer) view(s Service, full bool) View {
	if !full {
		s = s.Pseudonymised()
	}
	return View{Service: s, Full: full, Nights: s.Nights(l.now())}
}

// List returns a page of a case's services. Forbidden, NotFound.
func (l *ServiceLayer) List(ctx context.Context, caseID string, r page.Request) ([]View, *string, error) {
	acc, err := l.cases.Resolve(ctx, caseID, authz.ObjService)
	if err != nil {
		return nil, nil, err
	}
	items, err := l.store.List(ctx, caseID, r)
	if err != nil {
		return nil, nil, err
	}
	items, next := page.Trim(items, r.Limit, func(s Service) string { return s.ID })
	if err := l.audit.Record(ctx, readAction("service.list", acc.Full), "case", caseID, audit.Success); err != nil {
		return nil, nil, err
	}
	out := make([]View, len(items))
	for i, s := range items {
		out[i] = l.view(s, acc.Full)
	}
	return out, next, nil
}

// Get returns one service of a case. Forbidden, NotFound (also for a
// service of another case).
func (l *ServiceLayer) Get(ctx context.Context, caseID, id string) (View, error) {
	acc, err := l.cases.Resolve(ctx, caseID, authz.ObjService)
	if err != nil {
		return View{}, err
	}
	s, err := l.store.Get(ctx, caseID, id)
	if err != nil {
		return View{}, err
	}
	if err := l.audit.Record(ctx, readAction("service.read", acc.Full), "service", id, audit.Success); err != nil {
		return View{}, err
	}
	return l.view(s, acc.Full), nil
}

// NewServiceInput is the input of Create.
type NewServiceInput struct {
	// ID is an id the client made, or "" (see Create).
	ID             string
	Type           string
	Status         string
	StartedOn      *time.Time
	EndedOn        *time.Time
	Cost           *Money
	FundingProject string
	Notes          string
	Details        map[string]any
}

var fundingPattern = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,64}$`)

// Create records a service for one of the caller's organisation's cases,
// provided by the caller's organisation. Forbidden, NotFound, Invalid.
//
// With in.ID (an id the client made) a retried create is recognised: when
// the case already has a service with that id, Create returns it (as Get
// does) and created is false; an id taken by any other record is Conflict.
func (l *ServiceLayer) Create(ctx context.Context, caseID string, in NewServiceInput) (v View, created bool, err error) {
	acc, err := l.cases.ResolveWrite(ctx, caseID, authz.ObjService, authz.ActCreate)
	if err != nil {
		return View{}, false, err
	}
	if in.ID != "" {
		v, err := l.Get(ctx, caseID, in.ID)
		if err == nil {
			return v, false, nil
		}
		if !apperr.Is(err, apperr.NotFound) {
			return View{}, false, err
		}
	}
	v, err = l.create(ctx, acc, caseID, in)
	if apperr.Is(err, apperr.Conflict) && in.ID != "" {
		return View{}, false, apperr.Wrap(apperr.Conflict, "the id is already in use", err)
	}
	return v, err == nil, err
}

func (l *ServiceLayer) create(ctx context.Context, acc cases.Access, caseID string, in NewServiceInput) (View, error) {
	if in.Status == "" {
		in.Status = StatusPlanned
	}
	details, err := normaliseDetails(in.Type, in.Details)
	if err != nil {
		return View{}, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	now := l.now()
	id := in.ID
	if id == "" {
		id = l.newID()
	}
	s := Service{
		ID: id, CaseID: caseID, OrganizationID: acc.OrganizationID, ProviderOrganizationID: p.OrgID,
		Type: in.Type, Status: in.Status, StartedOn: date(in.StartedOn), EndedOn: date(in.EndedOn), Cost: in.Cost,
		FundingProject: strings.TrimSpace(in.FundingProject), Notes: strings.TrimSpace(in.Notes),
		Details: mergeDetails(nil, details), RecordedBy: p.ID, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := validate(s, now); err != nil {
		return View{}, err
	}
	if err := l.store.Create(ctx, s, audit.New(ctx, "service.create", "service", s.ID, audit.Success)); err != nil {
		return View{}, err
	}
	return l.view(s, true), nil
}

// Changes is the input of Update; unset fields stay.
type Changes struct {
	Status         *string
	StartedOn      cases.Field[time.Time]
	EndedOn        cases.Field[time.Time]
	Cost           cases.Field[Money]
	FundingProject cases.Field[string]
	Notes          cases.Field[string]
	Details        map[string]any
}

// Update changes one service of one of the caller's organisation's cases at
// version. Status moves only forward (Conflict otherwise). Forbidden,
// NotFound, Invalid, Conflict, PreconditionFailed.
func (l *ServiceLayer) Update(ctx context.Context, caseID, id string, version int64, c Changes) (View, error) {
	acc, err := l.cases.ResolveWrite(ctx, caseID, authz.ObjService, authz.ActUpdate)
	if err != nil {
		return View{}, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	now := l.now()
	s, err := l.store.Update(ctx, caseID, id, version, func(s *Service) error {
		if acc.Referred && s.ProviderOrganizationID != p.OrgID {
			// A recipient changes only the services it provides.
			return apperr.New(apperr.NotFound, "service not found")
		}
		if c.Status != nil && *c.Status != s.Status {
			if !slices.Contains(transitions[s.Status], *c.Status) {
				return apperr.New(apperr.Conflict, "a "+s.Status+" service cannot become "+*c.Status)
			}
			s.Status = *c.Status
		}
		if c.StartedOn.Set {
			s.StartedOn = date(c.StartedOn.Value)
		}
		if c.EndedOn.Set {
			s.EndedOn = date(c.EndedOn.Value)
		}
		if c.Cost.Set {
			s.Cost = c.Cost.Value
		}
		if c.FundingProject.Set {
			s.FundingProject = ""
			if c.FundingProject.Value != nil {
				s.FundingProject = strings.TrimSpace(*c.FundingProject.Value)
			}
		}
		if c.Notes.Set {
			s.Notes = ""
			if c.Notes.Value != nil {
				s.Notes = strings.TrimSpace(*c.Notes.Value)
			}
		}
		if c.Details != nil {
			patch, err := normaliseDetails(s.Type, c.Details)
			if err != nil {
				return err
			}
			s.Details = mergeDetails(s.Details, patch)
		}
		s.UpdatedAt = now
		return validate(*s, now)
	}, audit.New(ctx, "service.update", "service", id, audit.Success))
	if err != nil {
		return View{}, err
	}
	return l.view(s, true), nil
}

// validate checks the fields every service has.
func validate(s Service, now time.Time) error {
	var v apperr.Validator
	v.Check(slices.Contains(Types, s.Type), "type", "is not a service type")
	_, known := transitions[s.Status]
	v.Check(known || Finished(s.Status), "status", "is not a service status")
	if s.StartedOn != nil && s.EndedOn != nil {
		v.Check(!s.EndedOn.Before(*s.StartedOn), "ended_on", "must not be before started_on")
	}
	if s.Cost != nil {
		v.Check(s.Cost.Amount >= 0, "cost.amount", "must not be negative")
		v.Check(codes.Currency(s.Cost.Currency), "cost.currency", "is not an ISO 4217 currency")
	}
	v.Check(s.FundingProject == "" || fundingPattern.MatchString(s.FundingProject), "funding_project", "must be 1 to 64 letters, digits and . _ / -")
	v.Check(utf8.RuneCountInString(s.Notes) <= 4000, "notes", "must be at most 4000 characters")
	if in, out := dateField(s.Details, "admitted_on"), dateField(s.Details, "discharged_on"); in != nil && out != nil {
		v.Check(!out.Before(*in), "details.discharged_on", "must not be before admitted_on")
	}
	if s.StartedOn != nil {
		v.Check(!s.StartedOn.After(cases.Date(now).AddDate(1, 0, 0)), "started_on", "is more than a year ahead")
	}
	return v.Err()
}

func date(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	d := cases.Date(*t)
	return &d
}
