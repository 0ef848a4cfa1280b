package cases

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
)

// Filter narrows a case list; empty fields match everything.
type Filter struct {
	Status           string
	AssignedTo       string
	Sex              string
	AgeGroup         string
	ExploitationType string
	ServiceType      string
	OrganizationID   string
	OpenedFrom       *time.Time
	OpenedTo         *time.Time
	// ReferredTo adds the cases referred to this organisation (set by the
	// service from the caller, never by clients).
	ReferredTo string
}

// ChangeFunc changes a case loaded inside the store's transaction and
// returns the history entries the change makes.
type ChangeFunc func(c *Case) ([]Change, error)

// Store persists cases. Every method is bound to a tenant scope: a case
// outside it is NotFound. Changes write their history entries and audit
// event in the same transaction.
type Store interface {
	// Create stores c, giving it the next case number of its organisation
	// (code prefix, current year).
	Create(ctx context.Context, c Case, orgCode string, history []Change, ev audit.Event) (Case, error)
	// Get returns one case with its identifying fields decrypted.
	Get(ctx context.Context, scope tenant.Scope, id string) (Case, error)
	// Access returns the organisation that owns a case and whether an
	// accepted referral shares it with orgID, without reading identifying
	// data. NotFound when no such case exists.
	Access(ctx context.Context, id, orgID string) (owner string, referred bool, err error)
	// ReferredTo returns which of ids are shared with orgID by an accepted
	// referral.
	ReferredTo(ctx context.Context, ids []string, orgID string) (map[string]bool, error)
	// LostReferrals returns, in id order after r.After, the cases whose
	// referral to orgID ended (revoked or completed) at or after
	// r.UpdatedSince and that orgID no longer sees.
	LostReferrals(ctx context.Context, orgID string, r page.Request) ([]Tombstone, error)
	// List returns up to r.Limit+1 cases in id order: those in scope, and,
	// when f.ReferredTo is set, those shared with that organisation by an
	// accepted referral.
	List(ctx context.Context, scope tenant.Scope, f Filter, r page.Request) ([]Case, error)
	// Update loads the case, applies change, and stores it when the version
	// still is version (0: any). PreconditionFailed on another version.
	Update(ctx context.Context, scope tenant.Scope, id string, version int64, change ChangeFunc, ev audit.Event) (Case, error)
	// HasServices reports whether the case has any service recorded.
	HasServices(ctx context.Context, id string) (bool, error)
	// Duplicates returns the case numbers of other cases of org with the same
	// normalised name and date of birth, or a shared identity document.
	Duplicates(ctx context.Context, orgID string, c Case) ([]string, error)
}

// ConsentState is the current state of one consent type of a case (for
// referral consent, per recipient).
type ConsentState struct {
	Type                    string
	State                   string // given, refused or withdrawn
	ConsentID               string
	RecordedOn              time.Time
	RecipientOrganizationID string
}

// ConsentReader derives the current consent states of cases.
type ConsentReader interface {
	Current(ctx context.Context, caseIDs []string) (map[string][]ConsentState, error)
}

// OrgCodes looks up the code an organisation's case numbers start with.
type OrgCodes interface {
	Code(ctx context.Context, orgID string) (string, error)
}

// Members tells whether a user is an active member of an organisation (a
// case can only be assigned to one).
type Members interface {
	IsActiveMember(ctx context.Context, orgID, userID string) (bool, error)
}

// shareWith marks v as seen through a referral to orgID, and keeps only the
// consents that concern no recipient or that recipient: a recipient does not
// learn of referrals to other organisations.
func (v *View) shareWith(orgID string) {
	v.Referred = true
	kept := v.Consents[:0:0]
	for _, c := range v.Consents {
		if c.RecipientOrganizationID == "" || c.RecipientOrganizationID == orgID {
			kept = append(kept, c)
		}
	}
	v.Consents = kept
}

// Tombstone is a case the caller lost access to: sync clients drop it.
type Tombstone struct {
	ID        string
	UpdatedAt time.Time
}

// Item is one entry of a case feed: a case or a tombstone.
type Item struct {
	View      *View
	Tombstone *Tombstone
}

// ID is the case id of the entry.
func (i Item) ID() string {
	if i.Tombstone != nil {
		return i.Tombstone.ID
	}
	return i.View.ID
}

// View is a case as one caller may see it.
type View struct {
	Case
	Full     bool
	Referred bool
	Derived  Derived
	Consents []ConsentState
}

// Service enforces who may see and change cases.
type Service struct {
	store    Store
	consents ConsentReader
	orgs     OrgCodes
	members  Members
	authz    *authz.Authorizer
	audit    *audit.Service
	now      func() time.Time
	newID    func() string
}

// NewService returns a Service.
func NewService(store Store, consents ConsentReader, orgs OrgCodes, members Members, az *authz.Authorizer, au *audit.Service, now func() time.Time, newID func() string) *Service {
	return &Service{store: store, consents: consents, orgs: orgs, members: members, authz: az, audit: au, now: now, newID: newID}
}

// checkPatch refuses a self-contradicting patch or an assignee who is not an
// active member of the case's organisation. Invalid.
func (s *Service) checkPatch(ctx context.Context, orgID string, p Patch) error {
	if err := p.Check(); err != nil {
		return err
	}
	if p.AssignedTo.Set && p.AssignedTo.Value != nil {
		ok, err := s.members.IsActiveMember(ctx, orgID, *p.AssignedTo.Value)
		if err != nil {
			return err
		}
		if !ok {
			return apperr.Field("assigned_to", "must be an active user of the case's organisation")
		}
	}
	return nil
}

// Access is how the caller may see one case: in full (its own
// organisation's, or shared with it by an accepted referral) or pseudonymised.
type Access struct {
	CaseID         string
	OrganizationID string
	Full           bool
	// Referred: the caller sees the case through an accepted referral.
	Referred bool
}

// Resolve returns the caller's read access to a case for obj (case,
// consent, service, note, case_history). Forbidden when the caller's roles
// cannot read obj at all; NotFound when the case is missing or not visible.
func (s *Service) Resolve(ctx context.Context, caseID, obj string) (Access, error) {
	own := s.authz.Allowed(ctx, obj, authz.ActRead)
	anyOrg := s.authz.Allowed(ctx, obj, authz.ActReadPseudonymised)
	referred := s.authz.Allowed(ctx, obj, authz.ActReadReferred)
	if !own && !anyOrg && !referred {
		return Access{}, s.authz.Require(ctx, obj, authz.ActRead)
	}
	p, _ := auth.PrincipalFrom(ctx)
	owner, isReferred, err := s.store.Access(ctx, caseID, p.OrgID)
	if err != nil {
		return Access{}, err
	}
	switch {
	case own && owner == p.OrgID:
		return Access{CaseID: caseID, OrganizationID: owner, Full: true}, nil
	case referred && isReferred:
		return Access{CaseID: caseID, OrganizationID: owner, Full: true, Referred: true}, nil
	case anyOrg:
		return Access{CaseID: caseID, OrganizationID: owner}, nil
	}
	return Access{}, notFound()
}

// ResolveWrite returns the caller's write access to a case for obj and act:
// its own organisation's cases, and, where the policy grants act+"_referred",
// cases referred to it. Forbidden without the function; NotFound for any
// other case.
func (s *Service) ResolveWrite(ctx context.Context, caseID, obj, act string) (Access, error) {
	own := s.authz.Allowed(ctx, obj, act)
	referred := s.authz.Allowed(ctx, obj, act+"_referred")
	if !own && !referred {
		return Access{}, s.authz.Require(ctx, obj, act)
	}
	p, _ := auth.PrincipalFrom(ctx)
	owner, isReferred, err := s.store.Access(ctx, caseID, p.OrgID)
	if err != nil {
		return Access{}, err
	}
	switch {
	case own && owner == p.OrgID:
		return Access{CaseID: caseID, OrganizationID: owner, Full: true}, nil
	case referred && isReferred:
		return Access{CaseID: caseID, OrganizationID: owner, Full: true, Referred: true}, nil
	}
	return Access{}, notFound()
}

func notFound() error { return apperr.New(apperr.NotFound, "case not found") }

// Create registers a case for the caller's organisation. Unless
// allowDuplicate, a case of the same organisation with the same name and
// date of birth or a shared identity document is a Conflict naming it.
// Forbidden, Invalid, Conflict.
func (s *Service) Create(ctx context.Context, patch Patch, allowDuplicate bool) (View, error) {
	v, _, err := s.CreateWithID(ctx, "", patch, allowDuplicate)
	return v, err
}

// CreateWithID is Create with an id the client made (none when id is ""),
// so a create retried after a lost answer is recognised: when a case of the
// caller's organisation already has the id, it returns that case (as Get
// does) and created is false. An id taken by any other record is Conflict.
func (s *Service) CreateWithID(ctx context.Context, id string, patch Patch, allowDuplicate bool) (v View, created bool, err error) {
	if err := s.authz.Require(ctx, authz.ObjCase, authz.ActCreate); err != nil {
		return View{}, false, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	if id != "" {
		owner, _, err := s.store.Access(ctx, id, p.OrgID)
		switch {
		case err == nil && owner == p.OrgID:
			v, err := s.Get(ctx, id)
			return v, false, err
		case err == nil:
			return View{}, false, apperr.New(apperr.Conflict, "the id is already in use")
		case !apperr.Is(err, apperr.NotFound):
			return View{}, false, err
		}
	}
	v, err = s.create(ctx, p, id, patch, allowDuplicate)
	return v, err == nil, err
}

func (s *Service) create(ctx context.Context, p auth.Principal, id string, patch Patch, allowDuplicate bool) (View, error) {
	if err := s.checkPatch(ctx, p.OrgID, patch); err != nil {
		return View{}, err
	}
	now := s.now()
	c := New()
	if id == "" {
		id = s.newID()
	}
	c.ID, c.OrganizationID, c.CreatedBy = id, p.OrgID, p.ID
	c.OpenedOn = Date(now)
	if p.Kind == auth.KindUser {
		c.AssignedTo = &p.ID // a service account is no one to assign a case to
	}
	patch.Apply(&c)
	if err := Validate(c, now); err != nil {
		return View{}, err
	}
	if !allowDuplicate {
		dups, err := s.store.Duplicates(ctx, c.OrganizationID, c)
		if err != nil {
			return View{}, err
		}
		if len(dups) > 0 {
			return View{}, &apperr.Error{
				Code:    apperr.Conflict,
				Message: "possible duplicate of " + strings.Join(dups, ", ") + "; send allow_duplicate=true to register anyway",
				Reason:  "possible_duplicate",
			}
		}
	}
	code, err := s.orgs.Code(ctx, c.OrganizationID)
	if err != nil {
		return View{}, err
	}
	c.Version, c.CreatedAt, c.UpdatedAt = 1, now, now
	history := []Change{{Action: ActionCreated, Field: "case"}}
	created, err := s.store.Create(ctx, c, code, history, audit.New(ctx, "case.create", "case", c.ID, audit.Success))
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, created, true)
}

// Get returns one case as the caller may see it, and audits the read.
// Forbidden, NotFound.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	acc, err := s.Resolve(ctx, id, authz.ObjCase)
	if err != nil {
		return View{}, err
	}
	c, err := s.store.Get(ctx, tenant.Org(acc.OrganizationID), id)
	if err != nil {
		return View{}, err
	}
	if err := s.audit.Record(ctx, readAction(acc.Full), "case", id, audit.Success); err != nil {
		return View{}, err
	}
	v, err := s.view(ctx, c, acc.Full)
	if acc.Referred {
		p, _ := auth.PrincipalFrom(ctx)
		v.shareWith(p.OrgID)
	}
	return v, err
}

func readAction(full bool) string {
	if full {
		return "case.read"
	}
	return "case.read_pseudonymised"
}

// List returns a page of the cases the caller may see, each in full or
// pseudonymised form, and audits the read. With r.UpdatedSince, the page
// also holds tombstones for cases whose referral to the caller's
// organisation ended since. Forbidden.
func (s *Service) List(ctx context.Context, f Filter, r page.Request) ([]Item, *string, error) {
	own := s.authz.Allowed(ctx, authz.ObjCase, authz.ActRead)
	anyOrg := s.authz.Allowed(ctx, authz.ObjCase, authz.ActReadPseudonymised)
	referred := s.authz.Allowed(ctx, authz.ObjCase, authz.ActReadReferred)
	if !own && !anyOrg && !referred {
		return nil, nil, s.authz.Require(ctx, authz.ObjCase, authz.ActRead)
	}
	p, _ := auth.PrincipalFrom(ctx)
	scope := tenant.Org(p.OrgID)
	if !own {
		scope = tenant.Scope{} // no own-organisation rows without the right to read them
	}
	if anyOrg {
		scope = tenant.All()
	}
	f.ReferredTo = ""
	if referred {
		f.ReferredTo = p.OrgID
	}
	items, err := s.store.List(ctx, scope, f, r)
	if err != nil {
		return nil, nil, err
	}
	var lost []Tombstone
	if referred && r.UpdatedSince != nil && f == (Filter{ReferredTo: p.OrgID}) {
		if lost, err = s.store.LostReferrals(ctx, p.OrgID, r); err != nil {
			return nil, nil, err
		}
	}
	items, next := page.Trim(items, r.Limit, func(c Case) string { return c.ID })
	shared := map[string]bool{}
	if referred {
		ids := make([]string, len(items))
		for i, c := range items {
			ids[i] = c.ID
		}
		if shared, err = s.store.ReferredTo(ctx, ids, p.OrgID); err != nil {
			return nil, nil, err
		}
	}
	if err := s.audit.Record(ctx, "case.list", "case", "", audit.Success); err != nil {
		return nil, nil, err
	}
	views, err := s.views(ctx, items, func(c Case) bool { return (own && c.OrganizationID == p.OrgID) || shared[c.ID] })
	if err != nil {
		return nil, nil, err
	}
	feed := make([]Item, 0, len(views)+len(lost))
	for i := range views {
		if views[i].OrganizationID != p.OrgID && shared[views[i].ID] {
			views[i].shareWith(p.OrgID)
		}
		feed = append(feed, Item{View: &views[i]})
	}
	if len(lost) == 0 {
		return feed, next, nil
	}
	// Merge the tombstones into the id order; a full page of cases ends
	// where the next page will resume.
	for i := range lost {
		if next == nil || lost[i].ID <= items[len(items)-1].ID {
			feed = append(feed, Item{Tombstone: &lost[i]})
		}
	}
	slices.SortFunc(feed, func(a, b Item) int { return strings.Compare(a.ID(), b.ID()) })
	feed, more := page.Trim(feed, r.Limit, Item.ID)
	if more != nil {
		next = more
	}
	return feed, next, nil
}

// Update changes the person, profile, assignment or opening date of one of
// the caller's organisation's cases at version. Forbidden, NotFound,
// Invalid, PreconditionFailed.
func (s *Service) Update(ctx context.Context, id string, version int64, patch Patch) (View, error) {
	acc, err := s.ResolveWrite(ctx, id, authz.ObjCase, authz.ActUpdate)
	if err != nil {
		return View{}, err
	}
	if err := s.checkPatch(ctx, acc.OrganizationID, patch); err != nil {
		return View{}, err
	}
	now := s.now()
	c, err := s.store.Update(ctx, tenant.Org(acc.OrganizationID), id, version, func(c *Case) ([]Change, error) {
		before := *c
		patch.Apply(c)
		if err := Validate(*c, now); err != nil {
			return nil, err
		}
		return Diff(ActionUpdated, before, *c), nil
	}, audit.New(ctx, "case.update", "case", id, audit.Success))
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, c, true)
}

// Close closes one of the caller's organisation's cases with reason, on
// closedOn (default today). Forbidden, NotFound, Invalid, Conflict.
func (s *Service) Close(ctx context.Context, id, reason string, closedOn *time.Time) (View, error) {
	acc, err := s.ResolveWrite(ctx, id, authz.ObjCase, authz.ActClose)
	if err != nil {
		return View{}, err
	}
	on := Date(s.now())
	if closedOn != nil {
		on = Date(*closedOn)
	}
	if on.After(Date(s.now()).AddDate(0, 0, 1)) {
		return View{}, apperr.Field("closed_on", "must not be in the future")
	}
	c, err := s.store.Update(ctx, tenant.Org(acc.OrganizationID), id, 0, func(c *Case) ([]Change, error) {
		before := *c
		if err := closeCase(c, reason, on); err != nil {
			return nil, err
		}
		return Diff(ActionClosed, before, *c), nil
	}, audit.New(ctx, "case.close", "case", id, audit.Success))
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, c, true)
}

// Reopen reopens one of the caller's organisation's closed cases.
// Forbidden, NotFound, Conflict.
func (s *Service) Reopen(ctx context.Context, id string) (View, error) {
	acc, err := s.ResolveWrite(ctx, id, authz.ObjCase, authz.ActReopen)
	if err != nil {
		return View{}, err
	}
	hasServices, err := s.store.HasServices(ctx, id)
	if err != nil {
		return View{}, err
	}
	c, err := s.store.Update(ctx, tenant.Org(acc.OrganizationID), id, 0, func(c *Case) ([]Change, error) {
		before := *c
		if err := reopen(c, hasServices); err != nil {
			return nil, err
		}
		return Diff(ActionReopened, before, *c), nil
	}, audit.New(ctx, "case.reopen", "case", id, audit.Success))
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, c, true)
}

func (s *Service) view(ctx context.Context, c Case, full bool) (View, error) {
	vs, err := s.views(ctx, []Case{c}, func(Case) bool { return full })
	if err != nil {
		return View{}, err
	}
	return vs[0], nil
}

// views builds the views of a page of cases with one consent query.
func (s *Service) views(ctx context.Context, cs []Case, full func(Case) bool) ([]View, error) {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	states, err := s.consents.Current(ctx, ids)
	if err != nil {
		return nil, err
	}
	today := s.now()
	out := make([]View, len(cs))
	for i, c := range cs {
		v := View{Case: c, Full: full(c), Derived: Derive(c, today), Consents: states[c.ID]}
		if !v.Full {
			v.Case = c.Pseudonymised()
		}
		if v.Consents == nil {
			v.Consents = []ConsentState{}
		}
		out[i] = v
	}
	return out, nil
}
