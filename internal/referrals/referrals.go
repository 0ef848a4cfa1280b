// Package referrals is how one organisation's case becomes visible to
// another: the owner refers the person, with their consent, to a recipient
// for services. While the referral is accepted the recipient reads the case
// and records services on it; declining, withdrawing, revoking or completing
// ends that access on the very next request.
package referrals

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
	"github.com/casework/casework/internal/consents"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/services"
	"github.com/casework/casework/internal/tenant"
)

// Statuses of a referral.
const (
	StatusPending   = "pending"
	StatusAccepted  = "accepted"
	StatusDeclined  = "declined"
	StatusWithdrawn = "withdrawn"
	StatusRevoked   = "revoked"
	StatusCompleted = "completed"
)

// Actions on a referral, each allowed to one side from one status.
const (
	ActAccept   = "accept"
	ActDecline  = "decline"
	ActWithdraw = "withdraw"
	ActRevoke   = "revoke"
	ActComplete = "complete"
)

// move is one allowed transition: who may make it, from where, to what.
type move struct {
	byOwner bool
	from    string
	to      string
}

var moves = map[string]move{
	ActAccept:   {byOwner: false, from: StatusPending, to: StatusAccepted},
	ActDecline:  {byOwner: false, from: StatusPending, to: StatusDeclined},
	ActWithdraw: {byOwner: true, from: StatusPending, to: StatusWithdrawn},
	ActRevoke:   {byOwner: true, from: StatusAccepted, to: StatusRevoked},
	ActComplete: {byOwner: false, from: StatusAccepted, to: StatusCompleted},
}

// Referral is one request for services from a case's owner to a recipient.
type Referral struct {
	ID                 string
	CaseID             string
	CaseNumber         string
	FromOrganizationID string
	ToOrganizationID   string
	ServiceTypes       []string
	Reason             string // identifying free text, shared with the recipient
	Status             string
	EndedWhy           string
	Version            int64
	CreatedBy          string
	RespondedBy        string
	RespondedAt        *time.Time
	EndedBy            string
	EndedAt            *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Filter narrows a list of referrals.
type Filter struct {
	Direction string // "sent", "received" or "" for both
	Status    string
	CaseID    string
}

// Store keeps referrals; every method is bound to the caller's organisation
// as sender or recipient.
type Store interface {
	// Create stores r with its audit event.
	Create(ctx context.Context, r Referral, ev audit.Event) error
	// Get returns a referral sent or received by orgID; NotFound otherwise.
	Get(ctx context.Context, orgID, id string) (Referral, error)
	// List returns up to p.Limit+1 referrals sent or received by orgID.
	List(ctx context.Context, orgID string, f Filter, p page.Request) ([]Referral, error)
	// Transition moves a referral of orgID from status from to status to,
	// recording who and when, with its audit event. Conflict when the stored
	// status is no longer from.
	Transition(ctx context.Context, orgID, id, from, to, by string, ev audit.Event) (Referral, error)
}

// ConsentReader reads a case's consents.
type ConsentReader interface {
	Current(ctx context.Context, caseIDs []string) (map[string][]cases.ConsentState, error)
}

// Service enforces who may refer, and who may answer and end referrals.
type Service struct {
	store    Store
	cases    *cases.Service
	consents ConsentReader
	orgs     organizations.Store
	authz    *authz.Authorizer
	now      func() time.Time
	newID    func() string
}

// NewService returns a Service.
func NewService(store Store, cs *cases.Service, consentReader ConsentReader, orgs organizations.Store, az *authz.Authorizer, now func() time.Time, newID func() string) *Service {
	return &Service{store: store, cases: cs, consents: consentReader, orgs: orgs, authz: az, now: now, newID: newID}
}

// Reasons a referral is refused (problem `reason`).
const (
	ReasonNoConsent        = "referral_consent_missing"
	ReasonConsentWithdrawn = "referral_consent_withdrawn"
	ReasonConsentRefused   = "referral_consent_refused"
	ReasonSelf             = "referral_to_self"
	ReasonRecipient        = "recipient_not_active"
)

// NewReferral is the input of Create.
type NewReferral struct {
	CaseID           string
	ToOrganizationID string
	ServiceTypes     []string
	Reason           string
}

// Create refers one of the caller's organisation's cases to another active
// organisation, which the person has a current referral consent for.
// Forbidden, NotFound, Invalid (with a reason).
func (s *Service) Create(ctx context.Context, in NewReferral) (Referral, error) {
	acc, err := s.cases.ResolveWrite(ctx, in.CaseID, authz.ObjReferral, authz.ActCreate)
	if err != nil {
		return Referral{}, err
	}
	in.Reason = strings.TrimSpace(in.Reason)
	var v apperr.Validator
	v.Check(len(in.ServiceTypes) > 0, "service_types", "must name at least one service type")
	for _, t := range in.ServiceTypes {
		v.Check(slices.Contains(services.Types, t), "service_types", "names an unknown service type")
	}
	v.Check(utf8.RuneCountInString(in.Reason) <= 2000, "reason", "must be at most 2000 characters")
	if err := v.Err(); err != nil {
		return Referral{}, err
	}
	if in.ToOrganizationID == acc.OrganizationID {
		return Referral{}, refused(ReasonSelf, "an organisation cannot refer a case to itself")
	}
	to, err := s.orgs.Get(ctx, tenant.All(), in.ToOrganizationID)
	if apperr.Is(err, apperr.NotFound) || (err == nil && !to.Active) {
		return Referral{}, refused(ReasonRecipient, "the recipient is not an active organisation")
	}
	if err != nil {
		return Referral{}, err
	}
	if err := s.checkConsent(ctx, in.CaseID, in.ToOrganizationID); err != nil {
		return Referral{}, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	now := s.now()
	types := slices.Clone(in.ServiceTypes)
	slices.Sort(types)
	r := Referral{
		ID: s.newID(), CaseID: in.CaseID, FromOrganizationID: acc.OrganizationID, ToOrganizationID: in.ToOrganizationID,
		ServiceTypes: slices.Compact(types), Reason: in.Reason, Status: StatusPending, Version: 1,
		CreatedBy: p.ID, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.store.Create(ctx, r, audit.New(ctx, "referral.create", "referral", r.ID, audit.Success)); err != nil {
		return Referral{}, err
	}
	return s.store.Get(ctx, p.OrgID, r.ID)
}

func refused(reason, msg string) error {
	return &apperr.Error{Code: apperr.Invalid, Message: msg, Reason: reason,
		Fields: []apperr.FieldError{{Field: fieldOf(reason), Message: msg}}}
}

func fieldOf(reason string) string {
	if reason == ReasonSelf || reason == ReasonRecipient {
		return "to_organization_id"
	}
	return "case_id"
}

// checkConsent requires a current, given referral consent naming recipient.
func (s *Service) checkConsent(ctx context.Context, caseID, recipient string) error {
	states, err := s.consents.Current(ctx, []string{caseID})
	if err != nil {
		return err
	}
	for _, st := range states[caseID] {
		if st.Type != consents.TypeReferral || st.RecipientOrganizationID != recipient {
			continue
		}
		switch st.State {
		case "given":
			return nil
		case "withdrawn":
			return refused(ReasonConsentWithdrawn, "the person withdrew their consent to referral to this organisation")
		default:
			return refused(ReasonConsentRefused, "the person refused referral to this organisation")
		}
	}
	return refused(ReasonNoConsent, "the person has not consented to referral to this organisation")
}

// Get returns a referral the caller's organisation sent or received.
// Forbidden, NotFound.
func (s *Service) Get(ctx context.Context, id string) (Referral, error) {
	if err := s.authz.Require(ctx, authz.ObjReferral, authz.ActRead); err != nil {
		return Referral{}, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	return s.store.Get(ctx, p.OrgID, id)
}

// List returns a page of referrals the caller's organisation sent or
// received. Forbidden.
func (s *Service) List(ctx context.Context, f Filter, r page.Request) ([]Referral, *string, error) {
	if err := s.authz.Require(ctx, authz.ObjReferral, authz.ActRead); err != nil {
		return nil, nil, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	items, err := s.store.List(ctx, p.OrgID, f, r)
	if err != nil {
		return nil, nil, err
	}
	items, next := page.Trim(items, r.Limit, func(x Referral) string { return x.ID })
	return items, next, nil
}

// Act applies action (accept, decline, withdraw, revoke, complete) to a
// referral: the owner withdraws or revokes, the recipient accepts, declines
// or completes. Forbidden (role, or the other side's action), NotFound,
// Conflict (not from the status the action needs).
func (s *Service) Act(ctx context.Context, id, action string) (Referral, error) {
	m, ok := moves[action]
	if !ok {
		return Referral{}, apperr.New(apperr.NotFound, "no such action")
	}
	if err := s.authz.Require(ctx, authz.ObjReferral, action); err != nil {
		return Referral{}, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	r, err := s.store.Get(ctx, p.OrgID, id)
	if err != nil {
		return Referral{}, err
	}
	side := r.ToOrganizationID
	if m.byOwner {
		side = r.FromOrganizationID
	}
	if side != p.OrgID {
		return Referral{}, apperr.New(apperr.Forbidden, "only the "+sideName(m.byOwner)+" may "+action+" a referral")
	}
	if r.Status != m.from {
		return Referral{}, apperr.New(apperr.Conflict, "a "+r.Status+" referral cannot be "+past(action))
	}
	return s.store.Transition(ctx, p.OrgID, id, m.from, m.to, p.ID, audit.New(ctx, "referral."+action, "referral", id, audit.Success))
}

func sideName(owner bool) string {
	if owner {
		return "referring organisation"
	}
	return "receiving organisation"
}

var pastTense = map[string]string{ActAccept: "accepted", ActDecline: "declined", ActWithdraw: "withdrawn", ActRevoke: "revoked", ActComplete: "completed"}

func past(action string) string { return pastTense[action] }
