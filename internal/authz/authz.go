// Package authz decides which functions a caller may use: casbin RBAC with
// domains, where the domain is the caller's organisation. It never decides
// which rows a caller sees; the tenant-bound store does that.
package authz

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/auth"
)

// The roles a user can hold within its own organisation, as stored and on the wire.
const (
	RoleAdmin       = "admin"
	RoleCaseworker  = "caseworker"
	RoleViewer      = "viewer"
	RoleCoordinator = "coordinator"
)

// Objects and actions named in policy.csv.
const (
	ObjOrganization   = "organization"
	ObjUser           = "user"
	ObjCase           = "case"
	ObjConsent        = "consent"
	ObjService        = "service"
	ObjCaseHistory    = "case_history"
	ObjNote           = "note"
	ObjAuditEvent     = "audit_event"
	ObjReferral       = "referral"
	ObjReport         = "report"
	ObjCTDCExport     = "ctdc_export"
	ObjServiceAccount = "service_account"
	ObjWebhook        = "webhook"

	ActRead              = "read"
	ActCreate            = "create"
	ActUpdate            = "update"
	ActClose             = "close"
	ActReopen            = "reopen"
	ActWithdraw          = "withdraw"
	ActDelete            = "delete"
	ActReadPseudonymised = "read_pseudonymised"
	// ActReadReferred and ActCreateReferred act on another organisation's
	// case referred to (and accepted by) the caller's organisation.
	ActReadReferred   = "read_referred"
	ActCreateReferred = "create_referred"
	ActManageAny      = "manage_any"
	// ActReadAny reads reports across every organisation;
	// ActReadUnsuppressed turns small-cell suppression off.
	ActReadAny          = "read_any"
	ActReadUnsuppressed = "read_unsuppressed"
)

//go:embed model.conf
var modelText string

//go:embed policy.csv
var policyText string

// RolesFor returns the roles an organisation of the given kind may grant:
// IOM has admin, caseworker and coordinator; NGOs admin, caseworker and viewer.
func RolesFor(orgKind string) []string {
	if orgKind == auth.OrgKindIOM {
		return []string{RoleAdmin, RoleCaseworker, RoleCoordinator}
	}
	return []string{RoleAdmin, RoleCaseworker, RoleViewer}
}

// ValidRole reports whether role exists in organisations of orgKind.
func ValidRole(orgKind, role string) bool {
	for _, r := range RolesFor(orgKind) {
		if r == role {
			return true
		}
	}
	return false
}

// Assignment is one active subject's roles within its organisation.
type Assignment struct {
	Kind    auth.Kind
	ID      string
	OrgID   string
	OrgKind string
	Roles   []string
}

// Source loads every active subject's roles and the policy version they
// belong to. The version grows with every change to roles or activity.
type Source interface {
	LoadAssignments(ctx context.Context) ([]Assignment, int64, error)
}

// Authorizer answers "may the caller do this?" from casbin policy, catching up
// with the database's policy version before deciding, so that a role change
// made through any API instance is enforced on the very next request.
type Authorizer struct {
	src     Source
	current atomic.Pointer[snapshot]
	reload  sync.Mutex
}

type snapshot struct {
	enforcer *casbin.Enforcer
	version  int64
}

// New loads the policy and the current role assignments.
func New(ctx context.Context, src Source) (*Authorizer, error) {
	a := &Authorizer{src: src}
	if err := a.Reload(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload rebuilds the decision state from the source.
func (a *Authorizer) Reload(ctx context.Context) error {
	a.reload.Lock()
	defer a.reload.Unlock()
	return a.reloadLocked(ctx)
}

func (a *Authorizer) reloadLocked(ctx context.Context) error {
	assignments, version, err := a.src.LoadAssignments(ctx)
	if err != nil {
		return fmt.Errorf("load role assignments: %w", err)
	}
	e, err := newEnforcer(assignments)
	if err != nil {
		return err
	}
	a.current.Store(&snapshot{enforcer: e, version: version})
	return nil
}

// Version is the policy version decisions are currently made at.
func (a *Authorizer) Version() int64 { return a.current.Load().version }

func newEnforcer(assignments []Assignment) (*casbin.Enforcer, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("casbin model: %w", err)
	}
	e, err := casbin.NewEnforcer(m)
	if err != nil {
		return nil, fmt.Errorf("casbin enforcer: %w", err)
	}
	e.EnableAutoSave(false)
	var policies [][]string
	for _, line := range strings.Split(policyText, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if len(f) != 5 || f[0] != "p" {
			return nil, fmt.Errorf("policy.csv: bad line %q", line)
		}
		policies = append(policies, f[1:])
	}
	if _, err := e.AddPolicies(policies); err != nil {
		return nil, fmt.Errorf("casbin policies: %w", err)
	}
	var g, g2 [][]string
	for _, as := range assignments {
		sub := Subject(as.Kind, as.ID)
		for _, role := range as.Roles {
			if !ValidRole(as.OrgKind, role) {
				continue // never grant what the organisation kind does not have
			}
			switch {
			case as.OrgKind == auth.OrgKindIOM && role == RoleAdmin:
				g2 = append(g2, []string{sub, "role:iom_admin"})
			case as.OrgKind == auth.OrgKindIOM && role == RoleCoordinator:
				g2 = append(g2, []string{sub, "role:iom_coordinator"})
			default:
				g = append(g, []string{sub, "role:" + role, Domain(as.OrgID)})
			}
		}
	}
	if len(g) > 0 {
		if _, err := e.AddNamedGroupingPolicies("g", g); err != nil {
			return nil, fmt.Errorf("casbin roles: %w", err)
		}
	}
	if len(g2) > 0 {
		if _, err := e.AddNamedGroupingPolicies("g2", g2); err != nil {
			return nil, fmt.Errorf("casbin IOM roles: %w", err)
		}
	}
	return e, nil
}

// Subject is the casbin subject of a caller; prefixes keep subjects apart
// from role names ("role:...") and from each other.
func Subject(kind auth.Kind, id string) string {
	if kind == auth.KindServiceAccount {
		return "sa:" + id
	}
	return "user:" + id
}

// Domain is the casbin domain of an organisation.
func Domain(orgID string) string { return "org:" + orgID }

// Allowed reports whether the caller in ctx may perform act on obj. It denies
// on any error: no caller, a failed reload, a failed decision.
func (a *Authorizer) Allowed(ctx context.Context, obj, act string) bool {
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return false
	}
	snap := a.current.Load()
	if p.PolicyVersion > snap.version {
		if err := a.catchUp(ctx, p.PolicyVersion); err != nil {
			return false
		}
		snap = a.current.Load()
	}
	allowed, err := snap.enforcer.Enforce(Subject(p.Kind, p.ID), Domain(p.OrgID), obj, act)
	return err == nil && allowed
}

func (a *Authorizer) catchUp(ctx context.Context, version int64) error {
	a.reload.Lock()
	defer a.reload.Unlock()
	if a.current.Load().version >= version {
		return nil // another request reloaded while this one waited
	}
	if err := a.reloadLocked(ctx); err != nil {
		return err
	}
	if a.current.Load().version < version {
		return fmt.Errorf("policy version %d not reached", version)
	}
	return nil
}

// Require returns nil when the caller may perform act on obj; Unauthenticated
// without a caller, Forbidden otherwise.
func (a *Authorizer) Require(ctx context.Context, obj, act string) error {
	if _, ok := auth.PrincipalFrom(ctx); !ok {
		return apperr.New(apperr.Unauthenticated, "authentication required")
	}
	if !a.Allowed(ctx, obj, act) {
		return apperr.New(apperr.Forbidden, "your roles do not allow this")
	}
	return nil
}
