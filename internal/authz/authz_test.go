package authz_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
)

// fakeSource is an in-memory authz.Source whose assignments, version and
// failure the test changes between calls.
type fakeSource struct {
	mu          sync.Mutex
	assignments []authz.Assignment
	version     int64
	err         error
	loads       atomic.Int64
}

func (s *fakeSource) LoadAssignments(context.Context) ([]authz.Assignment, int64, error) {
	s.loads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, 0, s.err
	}
	return slices.Clone(s.assignments), s.version, nil
}

// set replaces the source's state in one step.
func (s *fakeSource) set(version int64, err error, assignments ...authz.Assignment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version, s.err, s.assignments = version, err, assignments
}

func newTestAuthorizer(t testing.TB, src authz.Source) *authz.Authorizer {
	t.Helper()
	a, err := authz.New(context.Background(), src)
	if err != nil {
		t.Fatalf("authz.New: %v", err)
	}
	return a
}

const (
	iomOrg = "0190a000-0000-7000-8000-000000000001"
	ngoA   = "0190a000-0000-7000-8000-0000000000a1"
	ngoB   = "0190a000-0000-7000-8000-0000000000b1"
)

// persona is one kind of caller of the role matrix in domain.md.
type persona struct {
	name    string
	id      string
	orgID   string
	orgKind string
	roles   []string
}

func (p persona) assignment() authz.Assignment {
	return authz.Assignment{Kind: auth.KindUser, ID: p.id, OrgID: p.orgID, OrgKind: p.orgKind, Roles: p.roles}
}

func (p persona) principal(version int64) auth.Principal {
	return auth.Principal{Kind: auth.KindUser, ID: p.id, OrgID: p.orgID, OrgKind: p.orgKind, Roles: p.roles, PolicyVersion: version}
}

var (
	ngoAdmin       = persona{"ngo admin", "u-ngo-admin", ngoA, auth.OrgKindNGO, []string{authz.RoleAdmin}}
	ngoCaseworker  = persona{"ngo caseworker", "u-ngo-caseworker", ngoA, auth.OrgKindNGO, []string{authz.RoleCaseworker}}
	ngoViewer      = persona{"ngo viewer", "u-ngo-viewer", ngoA, auth.OrgKindNGO, []string{authz.RoleViewer}}
	iomAdmin       = persona{"iom admin", "u-iom-admin", iomOrg, auth.OrgKindIOM, []string{authz.RoleAdmin}}
	iomCoordinator = persona{"iom coordinator", "u-iom-coordinator", iomOrg, auth.OrgKindIOM, []string{authz.RoleCoordinator}}
	iomCaseworker  = persona{"iom caseworker", "u-iom-caseworker", iomOrg, auth.OrgKindIOM, []string{authz.RoleCaseworker}}
	noRoles        = persona{"no roles", "u-no-roles", ngoA, auth.OrgKindNGO, []string{}}

	personas = []persona{ngoAdmin, ngoCaseworker, ngoViewer, iomAdmin, iomCoordinator, iomCaseworker, noRoles}
)

// matrix is the role matrix of domain.md for every (object, action) that
// policy.csv names. allow lists the personas allowed; every other persona is
// denied, so every cell is asserted.
//
//   - The organisation directory is readable by every role (needed to address
//     referrals; policy.csv: "readable by everyone").
//   - NGO admins manage their own organisation's users ("manage the org's
//     users"); IOM admins manage organisations and users of every organisation.
//   - NGO admins may update (name and city of) their own organisation:
//     domain.md is silent here, policy.csv grants it explicitly.
//   - Caseworkers, viewers and coordinators manage nothing.
//   - Cases: admins and caseworkers (NGO or IOM) create, read, update, close
//     and reopen their own organisation's; viewers read them. IOM admins and
//     coordinators read every organisation's in pseudonymised form only; an
//     IOM admin has no identifying access unless also a caseworker.
//   - Consents, services and history follow the case; notes (identifying free
//     text) only for the owning organisation's admin, caseworker and viewer.
//   - Audit events: an NGO admin its own organisation's; IOM admins all.
//   - Referrals: admins and caseworkers send and answer them (the service
//     checks which side may do what); viewers read them. While accepted, the
//     recipient's admins and caseworkers read the case and its services and
//     record services (the *_referred actions); viewers and IOM-wide roles
//     get nothing from a referral.
//   - Reports: NGO admins and viewers their own organisation's (domain.md:
//     viewer "own-org reports"; admin "everything a caseworker can" does not
//     include reports, the issue grants them); coordinators and IOM admins
//     every organisation's; only IOM admins may turn suppression off. An NGO
//     caseworker and an IOM caseworker make no reports. The CTDC export is
//     for coordinators and IOM admins.
//   - Service accounts and webhooks: an organisation's admins manage their
//     own organisation's ("manage the org's users and service accounts").
var matrix = []struct {
	obj, act string
	allow    []persona
}{
	{authz.ObjOrganization, authz.ActRead, []persona{ngoAdmin, ngoCaseworker, ngoViewer, iomAdmin, iomCoordinator, iomCaseworker}},
	{authz.ObjOrganization, authz.ActUpdate, []persona{ngoAdmin, iomAdmin}},
	{authz.ObjOrganization, authz.ActCreate, []persona{iomAdmin}},
	{authz.ObjOrganization, authz.ActManageAny, []persona{iomAdmin}},
	{authz.ObjUser, authz.ActRead, []persona{ngoAdmin, iomAdmin}},
	{authz.ObjUser, authz.ActCreate, []persona{ngoAdmin, iomAdmin}},
	{authz.ObjUser, authz.ActUpdate, []persona{ngoAdmin, iomAdmin}},
	{authz.ObjUser, authz.ActManageAny, []persona{iomAdmin}},
	{authz.ObjCase, authz.ActRead, []persona{ngoAdmin, ngoCaseworker, ngoViewer, iomCaseworker}},
	{authz.ObjCase, authz.ActCreate, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjCase, authz.ActUpdate, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjCase, authz.ActClose, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjCase, authz.ActReopen, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjCase, authz.ActReadPseudonymised, []persona{iomAdmin, iomCoordinator}},
	{authz.ObjConsent, authz.ActRead, []persona{ngoAdmin, ngoCaseworker, ngoViewer, iomCaseworker}},
	{authz.ObjConsent, authz.ActCreate, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjConsent, authz.ActWithdraw, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjConsent, authz.ActReadPseudonymised, []persona{iomAdmin, iomCoordinator}},
	{authz.ObjService, authz.ActRead, []persona{ngoAdmin, ngoCaseworker, ngoViewer, iomCaseworker}},
	{authz.ObjService, authz.ActCreate, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjService, authz.ActUpdate, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjService, authz.ActReadPseudonymised, []persona{iomAdmin, iomCoordinator}},
	{authz.ObjCaseHistory, authz.ActRead, []persona{ngoAdmin, ngoCaseworker, ngoViewer, iomCaseworker}},
	{authz.ObjCaseHistory, authz.ActReadPseudonymised, []persona{iomAdmin, iomCoordinator}},
	{authz.ObjNote, authz.ActRead, []persona{ngoAdmin, ngoCaseworker, ngoViewer, iomCaseworker}},
	{authz.ObjNote, authz.ActCreate, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjCase, authz.ActReadReferred, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjService, authz.ActReadReferred, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjService, authz.ActCreateReferred, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjService, "update_referred", []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjReferral, authz.ActRead, []persona{ngoAdmin, ngoCaseworker, ngoViewer, iomCaseworker}},
	{authz.ObjReferral, authz.ActCreate, []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjReferral, "accept", []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjReferral, "decline", []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjReferral, "withdraw", []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjReferral, "revoke", []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjReferral, "complete", []persona{ngoAdmin, ngoCaseworker, iomCaseworker}},
	{authz.ObjAuditEvent, authz.ActRead, []persona{ngoAdmin, iomAdmin}},
	{authz.ObjAuditEvent, authz.ActManageAny, []persona{iomAdmin}},
	{authz.ObjReport, authz.ActRead, []persona{ngoAdmin, ngoViewer, iomAdmin, iomCoordinator}},
	{authz.ObjReport, authz.ActReadAny, []persona{iomAdmin, iomCoordinator}},
	{authz.ObjReport, authz.ActReadUnsuppressed, []persona{iomAdmin}},
	{authz.ObjCTDCExport, authz.ActCreate, []persona{iomAdmin, iomCoordinator}},
	{authz.ObjServiceAccount, authz.ActRead, []persona{ngoAdmin, iomAdmin}},
	{authz.ObjServiceAccount, authz.ActCreate, []persona{ngoAdmin, iomAdmin}},
	{authz.ObjServiceAccount, authz.ActUpdate, []persona{ngoAdmin, iomAdmin}},
	{authz.ObjServiceAccount, authz.ActDelete, []persona{ngoAdmin, iomAdmin}},
	{authz.ObjServiceAccount, authz.ActManageAny, []persona{iomAdmin}},
	{authz.ObjWebhook, authz.ActRead, []persona{ngoAdmin, iomAdmin}},
	{authz.ObjWebhook, authz.ActCreate, []persona{ngoAdmin, iomAdmin}},
	{authz.ObjWebhook, authz.ActDelete, []persona{ngoAdmin, iomAdmin}},
}

// matrixSource holds every persona, plus users of another NGO with the same
// roles (so a decision cannot lean on there being only one organisation).
func matrixSource(version int64) *fakeSource {
	src := &fakeSource{version: version}
	for _, p := range personas {
		src.assignments = append(src.assignments, p.assignment())
		other := p
		if p.orgKind == auth.OrgKindNGO {
			other.id, other.orgID = p.id+"-b", ngoB
			src.assignments = append(src.assignments, other.assignment())
		}
	}
	return src
}

func TestRoleMatrix(t *testing.T) {
	ctx := context.Background()
	a := newTestAuthorizer(t, matrixSource(1))
	for _, row := range matrix {
		for _, p := range personas {
			want := slices.ContainsFunc(row.allow, func(q persona) bool { return q.id == p.id })
			name := fmt.Sprintf("%s/%s/%s", row.obj, row.act, p.name)
			t.Run(name, func(t *testing.T) {
				pctx := auth.WithPrincipal(ctx, p.principal(1))
				if got := a.Allowed(pctx, row.obj, row.act); got != want {
					t.Errorf("Allowed(%s, %s) as %s = %v, want %v", row.obj, row.act, p.name, got, want)
				}
				err := a.Require(pctx, row.obj, row.act)
				switch {
				case want && err != nil:
					t.Errorf("Require(%s, %s) as %s = %v, want nil", row.obj, row.act, p.name, err)
				case !want && apperr.CodeOf(err) != apperr.Forbidden:
					t.Errorf("Require(%s, %s) as %s = %v, want code %s", row.obj, row.act, p.name, err, apperr.Forbidden)
				}
			})
		}
	}
}

// TestRoleMatrixCoversPolicy fails when policy.csv names an (object, action)
// the matrix has no row for, or the matrix keeps a row policy.csv dropped.
func TestRoleMatrixCoversPolicy(t *testing.T) {
	f, err := os.Open("policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inPolicy := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ",")
		if len(fields) != 5 || strings.TrimSpace(fields[0]) != "p" {
			t.Fatalf("policy.csv: unexpected line %q", line)
		}
		inPolicy[strings.TrimSpace(fields[3])+"/"+strings.TrimSpace(fields[4])] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(inPolicy) == 0 {
		t.Fatal("policy.csv names no (object, action)")
	}
	inMatrix := map[string]bool{}
	for _, row := range matrix {
		k := row.obj + "/" + row.act
		if inMatrix[k] {
			t.Errorf("matrix has two rows for %s", k)
		}
		inMatrix[k] = true
	}
	for k := range inPolicy {
		if !inMatrix[k] {
			t.Errorf("policy.csv names %s, but the role matrix test has no row for it", k)
		}
	}
	for k := range inMatrix {
		if !inPolicy[k] {
			t.Errorf("the role matrix test has a row for %s, which policy.csv does not name", k)
		}
	}
}

// TestSubjectsCannotCollideWithRoles: a caller whose id is spelled like a
// role, or like another kind of caller, gains nothing from it.
func TestSubjectsCannotCollideWithRoles(t *testing.T) {
	ctx := context.Background()
	src := matrixSource(1)
	// An IOM user without roles whose ids look like role and subject names.
	for _, id := range []string{"role:admin", "role:iom_admin", "role:iom_coordinator", "role:caseworker"} {
		src.assignments = append(src.assignments,
			authz.Assignment{Kind: auth.KindUser, ID: id, OrgID: iomOrg, OrgKind: auth.OrgKindIOM, Roles: []string{}})
	}
	a := newTestAuthorizer(t, src)
	callers := []auth.Principal{
		{Kind: auth.KindUser, ID: "role:admin", OrgID: ngoA, OrgKind: auth.OrgKindNGO, PolicyVersion: 1},
		{Kind: auth.KindUser, ID: "role:admin", OrgID: iomOrg, OrgKind: auth.OrgKindIOM, PolicyVersion: 1},
		{Kind: auth.KindUser, ID: "role:iom_admin", OrgID: iomOrg, OrgKind: auth.OrgKindIOM, PolicyVersion: 1},
		{Kind: auth.KindUser, ID: "role:iom_coordinator", OrgID: iomOrg, OrgKind: auth.OrgKindIOM, PolicyVersion: 1},
		{Kind: auth.KindUser, ID: "role:caseworker", OrgID: iomOrg, OrgKind: auth.OrgKindIOM, PolicyVersion: 1},
		// Ids already carrying a subject prefix.
		{Kind: auth.KindUser, ID: "user:" + iomAdmin.id, OrgID: iomOrg, OrgKind: auth.OrgKindIOM, PolicyVersion: 1},
		{Kind: auth.KindServiceAccount, ID: "user:" + iomAdmin.id, OrgID: iomOrg, OrgKind: auth.OrgKindIOM, PolicyVersion: 1},
		// A service account sharing a user's id is not that user.
		{Kind: auth.KindServiceAccount, ID: iomAdmin.id, OrgID: iomOrg, OrgKind: auth.OrgKindIOM, PolicyVersion: 1},
		{Kind: auth.KindServiceAccount, ID: ngoAdmin.id, OrgID: ngoA, OrgKind: auth.OrgKindNGO, PolicyVersion: 1},
	}
	for _, p := range callers {
		for _, row := range matrix {
			if a.Allowed(auth.WithPrincipal(ctx, p), row.obj, row.act) {
				t.Errorf("%s %q in org %s allowed %s/%s", p.Kind, p.ID, p.OrgID, row.obj, row.act)
			}
		}
	}
	// The real admin is still an admin: the denials above are not a broken authorizer.
	if !a.Allowed(auth.WithPrincipal(ctx, iomAdmin.principal(1)), authz.ObjUser, authz.ActManageAny) {
		t.Error("the IOM admin lost its rights")
	}
}

// TestNGORoleStaysInItsOrganisation: an NGO role is bound to the domain of
// the organisation it was granted in.
func TestNGORoleStaysInItsOrganisation(t *testing.T) {
	ctx := context.Background()
	a := newTestAuthorizer(t, matrixSource(1))
	for _, p := range []persona{ngoAdmin, ngoCaseworker, ngoViewer} {
		home := p.principal(1)
		away := home
		away.OrgID = ngoB // the assignment is in ngoA
		var allowedAtHome int
		for _, row := range matrix {
			if a.Allowed(auth.WithPrincipal(ctx, home), row.obj, row.act) {
				allowedAtHome++
			}
			if a.Allowed(auth.WithPrincipal(ctx, away), row.obj, row.act) {
				t.Errorf("%s of %s allowed %s/%s in %s", p.name, ngoA, row.obj, row.act, ngoB)
			}
			if err := a.Require(auth.WithPrincipal(ctx, away), row.obj, row.act); apperr.CodeOf(err) != apperr.Forbidden {
				t.Errorf("%s in a foreign domain: Require(%s, %s) = %v, want forbidden", p.name, row.obj, row.act, err)
			}
		}
		if allowedAtHome == 0 {
			t.Errorf("%s is allowed nothing at home; the test proves nothing", p.name)
		}
	}
	// An IOM caseworker's role is bound to the IOM organisation too.
	away := iomCaseworker.principal(1)
	away.OrgID = ngoA
	if a.Allowed(auth.WithPrincipal(ctx, away), authz.ObjOrganization, authz.ActRead) {
		t.Error("an IOM caseworker's role applied in an NGO's domain")
	}
}

// TestRolesInvalidForOrgKindGrantNothing: a role the organisation kind does
// not have (however it got into the database) is ignored.
func TestRolesInvalidForOrgKindGrantNothing(t *testing.T) {
	ctx := context.Background()
	bad := []persona{
		{"coordinator in an NGO", "u-bad-1", ngoA, auth.OrgKindNGO, []string{authz.RoleCoordinator}},
		{"viewer in IOM", "u-bad-2", iomOrg, auth.OrgKindIOM, []string{authz.RoleViewer}},
		{"iom_admin spelled out in an NGO", "u-bad-3", ngoA, auth.OrgKindNGO, []string{"iom_admin"}},
		{"iom_admin spelled out in IOM", "u-bad-4", iomOrg, auth.OrgKindIOM, []string{"iom_admin"}},
		{"iom_coordinator spelled out in IOM", "u-bad-5", iomOrg, auth.OrgKindIOM, []string{"iom_coordinator"}},
		{"role: prefix in an NGO", "u-bad-6", ngoA, auth.OrgKindNGO, []string{"role:admin"}},
		{"unknown role", "u-bad-7", ngoA, auth.OrgKindNGO, []string{"superuser"}},
		{"upper-case admin", "u-bad-8", ngoA, auth.OrgKindNGO, []string{"Admin"}},
		{"unknown org kind", "u-bad-9", ngoA, "partner", []string{authz.RoleCoordinator}},
	}
	src := &fakeSource{version: 1}
	for _, p := range bad {
		src.assignments = append(src.assignments, p.assignment())
	}
	a := newTestAuthorizer(t, src)
	for _, p := range bad {
		for _, row := range matrix {
			if a.Allowed(auth.WithPrincipal(ctx, p.principal(1)), row.obj, row.act) {
				t.Errorf("%s: allowed %s/%s", p.name, row.obj, row.act)
			}
		}
	}
	if authz.ValidRole(auth.OrgKindNGO, authz.RoleCoordinator) || authz.ValidRole(auth.OrgKindIOM, authz.RoleViewer) {
		t.Error("ValidRole accepts a role the organisation kind does not have")
	}
}

// TestCatchUpWithoutReload: a principal loaded at a newer policy version is
// decided at that version on the very next call.
func TestCatchUpWithoutReload(t *testing.T) {
	ctx := context.Background()
	admin := iomAdmin.assignment()
	src := &fakeSource{}
	src.set(1, nil, admin)
	a := newTestAuthorizer(t, src)
	if got := a.Version(); got != 1 {
		t.Fatalf("Version() = %d, want 1", got)
	}
	if !a.Allowed(auth.WithPrincipal(ctx, iomAdmin.principal(1)), authz.ObjUser, authz.ActCreate) {
		t.Fatal("admin at version 1 denied")
	}

	// The role is removed in the database, which moves the version on.
	removed := admin
	removed.Roles = []string{}
	src.set(2, nil, removed)
	if a.Allowed(auth.WithPrincipal(ctx, iomAdmin.principal(2)), authz.ObjUser, authz.ActCreate) {
		t.Fatal("admin whose role was removed at version 2 still allowed at version 2")
	}
	if err := a.Require(auth.WithPrincipal(ctx, iomAdmin.principal(2)), authz.ObjUser, authz.ActCreate); apperr.CodeOf(err) != apperr.Forbidden {
		t.Fatalf("Require after role removal = %v, want forbidden", err)
	}
	if got := a.Version(); got != 2 {
		t.Errorf("Version() after catch-up = %d, want 2", got)
	}

	// And granted again.
	src.set(3, nil, admin)
	if err := a.Require(auth.WithPrincipal(ctx, iomAdmin.principal(3)), authz.ObjUser, authz.ActCreate); err != nil {
		t.Fatalf("Require after the role came back = %v, want nil", err)
	}
}

// TestVersionBeyondSourceDenied: a principal claiming a version the source
// never reaches is denied, and the authorizer keeps working for others.
func TestVersionBeyondSourceDenied(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{}
	src.set(1, nil, iomAdmin.assignment())
	a := newTestAuthorizer(t, src)
	if a.Allowed(auth.WithPrincipal(ctx, iomAdmin.principal(7)), authz.ObjUser, authz.ActRead) {
		t.Error("a principal at version 7 allowed while the source is at 1")
	}
	if err := a.Require(auth.WithPrincipal(ctx, iomAdmin.principal(7)), authz.ObjUser, authz.ActRead); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("Require at an unreachable version = %v, want forbidden", err)
	}
	if !a.Allowed(auth.WithPrincipal(ctx, iomAdmin.principal(1)), authz.ObjUser, authz.ActRead) {
		t.Error("a principal at the source's version denied after a failed catch-up")
	}
}

func TestRequireCodes(t *testing.T) {
	ctx := context.Background()
	a := newTestAuthorizer(t, matrixSource(1))
	if err := a.Require(ctx, authz.ObjOrganization, authz.ActRead); apperr.CodeOf(err) != apperr.Unauthenticated {
		t.Errorf("Require without a principal = %v, want code %s", err, apperr.Unauthenticated)
	}
	if a.Allowed(ctx, authz.ObjOrganization, authz.ActRead) {
		t.Error("Allowed without a principal = true")
	}
	err := a.Require(auth.WithPrincipal(ctx, ngoViewer.principal(1)), authz.ObjUser, authz.ActCreate)
	if apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("Require denied = %v, want code %s", err, apperr.Forbidden)
	}
	if err := a.Require(auth.WithPrincipal(ctx, ngoViewer.principal(1)), authz.ObjOrganization, authz.ActRead); err != nil {
		t.Errorf("Require allowed = %v, want nil", err)
	}
	// Unknown objects and actions are denied even to the IOM admin.
	for _, oa := range [][2]string{{"case", authz.ActRead}, {authz.ObjUser, "delete"}, {"*", "*"}, {"", ""}} {
		if a.Allowed(auth.WithPrincipal(ctx, iomAdmin.principal(1)), oa[0], oa[1]) {
			t.Errorf("IOM admin allowed unknown %q/%q", oa[0], oa[1])
		}
	}
}

func TestSourceErrorDenies(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{}
	src.set(1, nil, iomAdmin.assignment())
	a := newTestAuthorizer(t, src)

	src.set(2, errors.New("database is down"), iomAdmin.assignment())
	if a.Allowed(auth.WithPrincipal(ctx, iomAdmin.principal(2)), authz.ObjUser, authz.ActRead) {
		t.Error("allowed although the reload failed")
	}
	if err := a.Require(auth.WithPrincipal(ctx, iomAdmin.principal(2)), authz.ObjUser, authz.ActRead); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("Require on a failed reload = %v, want forbidden", err)
	}
	if err := a.Reload(ctx); err == nil {
		t.Error("Reload with a failing source = nil, want an error")
	}

	// When the source answers again, so does the authorizer.
	src.set(2, nil, iomAdmin.assignment())
	if !a.Allowed(auth.WithPrincipal(ctx, iomAdmin.principal(2)), authz.ObjUser, authz.ActRead) {
		t.Error("denied after the source recovered")
	}

	failing := &fakeSource{}
	failing.set(1, errors.New("no database"))
	if _, err := authz.New(ctx, failing); err == nil {
		t.Error("New with a failing source = nil error")
	}
}

// TestConcurrentCatchUpReloadsOnce: many requests at a new version reload the
// policy once, not once each.
func TestConcurrentCatchUpReloadsOnce(t *testing.T) {
	ctx := context.Background()
	src := &fakeSource{}
	src.set(1, nil, iomAdmin.assignment())
	a := newTestAuthorizer(t, src)
	src.set(2, nil, iomAdmin.assignment())
	before := src.loads.Load()
	var wg sync.WaitGroup
	var denied atomic.Int64
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !a.Allowed(auth.WithPrincipal(ctx, iomAdmin.principal(2)), authz.ObjUser, authz.ActRead) {
				denied.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := denied.Load(); n != 0 {
		t.Errorf("%d of 64 concurrent decisions denied", n)
	}
	if n := src.loads.Load() - before; n != 1 {
		t.Errorf("64 concurrent requests at version 2 reloaded %d times, want 1", n)
	}
}

// BenchmarkAllowed measures one decision with 100 organisations of 50 users
// each (plus the IOM organisation).
func BenchmarkAllowed(b *testing.B) {
	const orgs, perOrg = 100, 50
	src := &fakeSource{version: 1}
	roles := [][]string{{authz.RoleAdmin}, {authz.RoleCaseworker}, {authz.RoleViewer}, {authz.RoleCaseworker, authz.RoleViewer}}
	for o := range orgs {
		for u := range perOrg {
			src.assignments = append(src.assignments, authz.Assignment{
				Kind: auth.KindUser, ID: fmt.Sprintf("user-%03d-%02d", o, u), OrgID: fmt.Sprintf("org-%03d", o),
				OrgKind: auth.OrgKindNGO, Roles: roles[u%len(roles)],
			})
		}
	}
	src.assignments = append(src.assignments, iomAdmin.assignment(), iomCoordinator.assignment())
	a := newTestAuthorizer(b, src)
	ngo := func(o, u int) auth.Principal {
		return auth.Principal{Kind: auth.KindUser, ID: fmt.Sprintf("user-%03d-%02d", o, u), OrgID: fmt.Sprintf("org-%03d", o),
			OrgKind: auth.OrgKindNGO, PolicyVersion: 1}
	}
	cases := []struct {
		name     string
		p        auth.Principal
		obj, act string
		want     bool
	}{
		{"ngo_admin_allowed", ngo(57, 0), authz.ObjUser, authz.ActUpdate, true},
		{"ngo_viewer_denied", ngo(57, 2), authz.ObjUser, authz.ActUpdate, false},
		{"iom_admin_allowed", iomAdmin.principal(1), authz.ObjUser, authz.ActManageAny, true},
		{"iom_coordinator_read", iomCoordinator.principal(1), authz.ObjOrganization, authz.ActRead, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := auth.WithPrincipal(context.Background(), c.p)
			if got := a.Allowed(ctx, c.obj, c.act); got != c.want {
				b.Fatalf("Allowed = %v, want %v", got, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				a.Allowed(ctx, c.obj, c.act)
			}
		})
	}
}
