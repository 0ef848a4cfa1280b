// Package audit records who did what to which record, when, from where, and
// with what outcome. Events are append-only: nothing in the service updates or
// deletes them.
package audit

import (
	"context"
	"time"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
)

// Outcome is how an audited request ended.
type Outcome string

// The outcomes.
const (
	Success Outcome = "success"
	Denied  Outcome = "denied"
	Failure Outcome = "failure"
)

// Actor types.
const (
	ActorUser           = "user"
	ActorServiceAccount = "service_account"
	ActorAnonymous      = "anonymous"
	ActorSystem         = "system"
)

// Event is one audit record.
type Event struct {
	ID             string
	OccurredAt     time.Time
	ActorType      string
	ActorID        string // "" for anonymous or system
	OrganizationID string // "" when unknown
	Action         string // e.g. "case.read", "auth.login"
	ObjectType     string // e.g. "case"
	ObjectID       string // "" when the event is about no one record
	Outcome        Outcome
	IP             string
	RequestID      string
}

// Request is where a request came from, carried in its context.
type Request struct {
	IP string
	ID string
}

type requestKey struct{}

// WithRequest returns a context that carries the request's origin.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the request origin carried by ctx.
func RequestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}

// New builds an event for the caller and request in ctx; the id and time are
// filled in when it is stored.
func New(ctx context.Context, action, objectType, objectID string, outcome Outcome) Event {
	r := RequestFrom(ctx)
	e := Event{
		ActorType: ActorAnonymous, Action: action, ObjectType: objectType, ObjectID: objectID,
		Outcome: outcome, IP: r.IP, RequestID: r.ID,
	}
	if p, ok := auth.PrincipalFrom(ctx); ok {
		e.ActorType, e.ActorID, e.OrganizationID = ActorUser, p.ID, p.OrgID
		if p.Kind == auth.KindServiceAccount {
			e.ActorType = ActorServiceAccount
		}
	}
	return e
}

// Filter narrows a list of events; empty fields match everything.
type Filter struct {
	OrganizationID string
	ActorID        string
	Action         string
	ObjectType     string
	ObjectID       string
	Outcome        Outcome
	From, To       *time.Time
}

// Store keeps audit events.
type Store interface {
	// Record appends e on its own (for reads and denials; changes record their
	// event in their own transaction).
	Record(ctx context.Context, e Event) error
	// List returns up to r.Limit+1 events in id order within scope.
	List(ctx context.Context, scope tenant.Scope, f Filter, r page.Request) ([]Event, error)
}

// Service writes and reads the audit trail.
type Service struct {
	store Store
	authz *authz.Authorizer
}

// NewService returns a Service over store.
func NewService(store Store, az *authz.Authorizer) *Service {
	return &Service{store: store, authz: az}
}

// Record appends an event for the caller in ctx. Failing to audit fails the
// request (Unavailable): an unaudited read of identifying data is not served.
func (s *Service) Record(ctx context.Context, action, objectType, objectID string, outcome Outcome) error {
	return s.RecordEvent(ctx, New(ctx, action, objectType, objectID, outcome))
}

// RecordEvent appends e as built by the caller (e.g. a sign-in, whose actor
// is known before any principal is). Unavailable when it cannot be written.
func (s *Service) RecordEvent(ctx context.Context, e Event) error {
	if err := s.store.Record(ctx, e); err != nil {
		return apperr.Wrap(apperr.Unavailable, "could not write the audit trail", err)
	}
	return nil
}

// List returns a page of events: every organisation's for IOM admins, the
// caller's own organisation's for NGO admins. Forbidden for other roles.
func (s *Service) List(ctx context.Context, f Filter, r page.Request) ([]Event, *string, error) {
	if err := s.authz.Require(ctx, authz.ObjAuditEvent, authz.ActRead); err != nil {
		return nil, nil, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	scope := tenant.Org(p.OrgID)
	if s.authz.Allowed(ctx, authz.ObjAuditEvent, authz.ActManageAny) {
		scope = tenant.All()
	}
	items, err := s.store.List(ctx, scope, f, r)
	if err != nil {
		return nil, nil, err
	}
	items, next := page.Trim(items, r.Limit, func(e Event) string { return e.ID })
	return items, next, nil
}
