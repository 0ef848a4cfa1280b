package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/store"
	"github.com/casework/casework/internal/tenant"
	"github.com/casework/casework/internal/users"
)

// stores are the stores under test on one database.
type stores struct {
	orgs     *store.Organizations
	users    *store.Users
	sessions *store.Sessions
}

func newTestStores(db *store.DB) stores {
	return stores{orgs: store.NewOrganizations(db), users: store.NewUsers(db), sessions: store.NewSessions(db)}
}

func ptr[T any](v T) *T { return &v }

func mustCode(t *testing.T, err error, want apperr.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %s", want)
	}
	if got := apperr.CodeOf(err); got != want {
		t.Fatalf("got %v (code %s), want code %s", err, got, want)
	}
}

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustOrg(t *testing.T, s stores, code, kind string) organizations.Organization {
	t.Helper()
	now := store.Now()
	o := organizations.Organization{
		ID: store.NewID(), Name: code + " Centre", Code: code, Kind: kind, City: "Almaty",
		Active: true, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.orgs.Create(context.Background(), o); err != nil {
		t.Fatalf("create organisation %s: %v", code, err)
	}
	return o
}

func mustUser(t *testing.T, s stores, org organizations.Organization, email string, roles ...string) users.User {
	t.Helper()
	now := store.Now()
	u := users.User{
		ID: store.NewID(), OrganizationID: org.ID, OrgKind: org.Kind, Email: email, DisplayName: "Test " + email,
		Roles: roles, Active: true, Locale: "ru", Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.users.Create(context.Background(), u, "hash-of-"+email); err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// session is a stored session and the plain refresh token issued with it.
type session struct {
	auth.Session
	refresh string
}

func mustSession(t *testing.T, s stores, userID string, maxAge time.Duration) session {
	t.Helper()
	now := store.Now()
	sess := auth.Session{ID: store.NewID(), UserID: userID, CreatedAt: now, ExpiresAt: now.Add(maxAge)}
	token, hash := auth.NewOpaqueToken(auth.RefreshTokenPrefix)
	rt := auth.RefreshToken{ID: store.NewID(), SessionID: sess.ID, Hash: hash, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.sessions.CreateSession(context.Background(), sess, rt); err != nil {
		t.Fatalf("create session: %v", err)
	}
	return session{Session: sess, refresh: token}
}

func verified(sess session) auth.Verified {
	return auth.Verified{Kind: auth.KindUser, ID: sess.UserID, SessionID: sess.ID}
}

// nextRefresh is a fresh refresh token to rotate into.
func nextRefresh(ttl time.Duration) (string, auth.RefreshToken) {
	now := store.Now()
	token, hash := auth.NewOpaqueToken(auth.RefreshTokenPrefix)
	return token, auth.RefreshToken{ID: store.NewID(), Hash: hash, CreatedAt: now, ExpiresAt: now.Add(ttl)}
}

func rotate(s stores, token string, now time.Time) (next string, userID, sessionID string, err error) {
	next, rt := nextRefresh(time.Hour)
	userID, sessionID, err = s.sessions.RotateRefresh(context.Background(), auth.HashOpaqueToken(token), rt, now)
	return next, userID, sessionID, err
}

func policyVersion(t *testing.T, s stores) int64 {
	t.Helper()
	_, v, err := s.sessions.LoadAssignments(context.Background())
	if err != nil {
		t.Fatalf("load assignments: %v", err)
	}
	return v
}

func assignmentOf(t *testing.T, s stores, userID string) (authz.Assignment, bool) {
	t.Helper()
	as, _, err := s.sessions.LoadAssignments(context.Background())
	if err != nil {
		t.Fatalf("load assignments: %v", err)
	}
	for _, a := range as {
		if a.ID == userID {
			return a, true
		}
	}
	return authz.Assignment{}, false
}

func sameOrg(t *testing.T, got, want organizations.Organization) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Code != want.Code || got.Kind != want.Kind ||
		got.City != want.City || got.Active != want.Active || got.Version != want.Version ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("organisation:\n got %+v\nwant %+v", got, want)
	}
}

func sameUser(t *testing.T, got, want users.User) {
	t.Helper()
	if got.ID != want.ID || got.OrganizationID != want.OrganizationID || got.OrgKind != want.OrgKind ||
		got.Email != want.Email || got.DisplayName != want.DisplayName || !slices.Equal(got.Roles, want.Roles) ||
		got.Active != want.Active || got.Locale != want.Locale || got.Version != want.Version ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("user:\n got %+v\nwant %+v", got, want)
	}
}

// mustOneWinner: of concurrent updates at one version exactly one succeeds and
// every other is PreconditionFailed (never a busy database or an internal error).
func mustOneWinner(t *testing.T, errs []error) {
	t.Helper()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case apperr.CodeOf(err) != apperr.PreconditionFailed:
			t.Errorf("concurrent update: %v, want code %s", err, apperr.PreconditionFailed)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent updates at one version succeeded, want exactly 1", won, len(errs))
	}
}

func orgIDs(items []organizations.Organization) []string {
	out := make([]string, len(items))
	for i, o := range items {
		out[i] = o.ID
	}
	return out
}

func userIDs(items []users.User) []string {
	out := make([]string, len(items))
	for i, u := range items {
		out[i] = u.ID
	}
	return out
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func all(limit int) page.Request { return page.Request{Limit: limit} }

func TestOrganizationsStore(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestStores(db)

		exists, err := s.orgs.IOMExists(ctx)
		mustNoErr(t, err)
		if exists {
			t.Fatal("IOMExists on an empty database = true")
		}
		iom := mustOrg(t, s, "IOM", auth.OrgKindIOM)
		exists, err = s.orgs.IOMExists(ctx)
		mustNoErr(t, err)
		if !exists {
			t.Fatal("IOMExists after creating it = false")
		}
		a := mustOrg(t, s, "RODNIK", auth.OrgKindNGO)
		b := mustOrg(t, s, "SANA", auth.OrgKindNGO)

		t.Run("Get", func(t *testing.T) {
			got, err := s.orgs.Get(ctx, tenant.Org(a.ID), a.ID)
			mustNoErr(t, err)
			sameOrg(t, got, a)
			got, err = s.orgs.Get(ctx, tenant.All(), b.ID)
			mustNoErr(t, err)
			sameOrg(t, got, b)
			_, err = s.orgs.Get(ctx, tenant.All(), store.NewID())
			mustCode(t, err, apperr.NotFound)
		})

		t.Run("Get/foreign organisation", func(t *testing.T) {
			_, foreign := s.orgs.Get(ctx, tenant.Org(a.ID), b.ID)
			mustCode(t, foreign, apperr.NotFound)
			_, missing := s.orgs.Get(ctx, tenant.Org(a.ID), store.NewID())
			mustCode(t, missing, apperr.NotFound)
			var fe, me *apperr.Error
			if errors.As(foreign, &fe) && errors.As(missing, &me) && fe.Message != me.Message {
				t.Errorf("foreign answers %q, missing %q: they must not differ", fe.Message, me.Message)
			}
			_, err := s.orgs.Get(ctx, tenant.Org(a.ID), iom.ID)
			mustCode(t, err, apperr.NotFound)
		})

		t.Run("Get/zero scope", func(t *testing.T) {
			_, err := s.orgs.Get(ctx, tenant.Scope{}, a.ID)
			mustCode(t, err, apperr.NotFound)
		})

		t.Run("Create/duplicate code", func(t *testing.T) {
			now := store.Now()
			dup := organizations.Organization{
				ID: store.NewID(), Name: "Another", Code: a.Code, Kind: auth.OrgKindNGO, City: "Aktau",
				Active: true, Version: 1, CreatedAt: now, UpdatedAt: now,
			}
			mustCode(t, s.orgs.Create(ctx, dup), apperr.Conflict)
			_, err := s.orgs.Get(ctx, tenant.All(), dup.ID)
			mustCode(t, err, apperr.NotFound)
			got, err := s.orgs.Get(ctx, tenant.All(), a.ID)
			mustNoErr(t, err)
			sameOrg(t, got, a)
		})

		t.Run("Create/second IOM", func(t *testing.T) {
			now := store.Now()
			second := organizations.Organization{
				ID: store.NewID(), Name: "IOM Two", Code: "IOMTWO", Kind: auth.OrgKindIOM, City: "Astana",
				Active: true, Version: 1, CreatedAt: now, UpdatedAt: now,
			}
			mustCode(t, s.orgs.Create(ctx, second), apperr.Conflict)
		})

		t.Run("ByCode", func(t *testing.T) {
			got, err := s.orgs.ByCode(ctx, "SANA")
			mustNoErr(t, err)
			sameOrg(t, got, b)
			_, err = s.orgs.ByCode(ctx, "NOPE")
			mustCode(t, err, apperr.NotFound)
		})

		t.Run("List", func(t *testing.T) {
			got, err := s.orgs.List(ctx, tenant.All(), all(50))
			mustNoErr(t, err)
			if want := sorted(iom.ID, a.ID, b.ID); !slices.Equal(orgIDs(got), want) {
				t.Fatalf("List(All) = %v, want %v in id order", orgIDs(got), want)
			}
			// Up to Limit+1 rows, so the caller can tell there is a next page.
			first, err := s.orgs.List(ctx, tenant.All(), all(1))
			mustNoErr(t, err)
			if want := sorted(iom.ID, a.ID, b.ID)[:2]; !slices.Equal(orgIDs(first), want) {
				t.Fatalf("List(limit 1) = %v, want %v", orgIDs(first), want)
			}
			rest, err := s.orgs.List(ctx, tenant.All(), page.Request{Limit: 50, After: first[0].ID})
			mustNoErr(t, err)
			if want := sorted(iom.ID, a.ID, b.ID)[1:]; !slices.Equal(orgIDs(rest), want) {
				t.Fatalf("List(after %s) = %v, want %v", first[0].ID, orgIDs(rest), want)
			}
			future := store.Now().Add(time.Hour)
			none, err := s.orgs.List(ctx, tenant.All(), page.Request{Limit: 50, UpdatedSince: &future})
			mustNoErr(t, err)
			if len(none) != 0 {
				t.Fatalf("List(updated since an hour ahead) = %v", orgIDs(none))
			}
			past := a.UpdatedAt.Add(-time.Second)
			some, err := s.orgs.List(ctx, tenant.All(), page.Request{Limit: 50, UpdatedSince: &past})
			mustNoErr(t, err)
			if !slices.Contains(orgIDs(some), a.ID) {
				t.Fatalf("List(updated since before A) = %v, lacks A", orgIDs(some))
			}
		})

		t.Run("List/foreign organisation", func(t *testing.T) {
			got, err := s.orgs.List(ctx, tenant.Org(a.ID), all(50))
			mustNoErr(t, err)
			if !slices.Equal(orgIDs(got), []string{a.ID}) {
				t.Fatalf("List(Org(A)) = %v, want only A", orgIDs(got))
			}
			got, err = s.orgs.List(ctx, tenant.Org(a.ID), page.Request{Limit: 50, After: "00000000-0000-0000-0000-000000000000"})
			mustNoErr(t, err)
			if !slices.Equal(orgIDs(got), []string{a.ID}) {
				t.Fatalf("List(Org(A), after 0) = %v, want only A", orgIDs(got))
			}
		})

		t.Run("List/zero scope", func(t *testing.T) {
			got, err := s.orgs.List(ctx, tenant.Scope{}, all(50))
			mustNoErr(t, err)
			if len(got) != 0 {
				t.Fatalf("List(zero scope) = %v, want nothing", orgIDs(got))
			}
		})

		t.Run("Update", func(t *testing.T) {
			o := mustOrg(t, s, "UPD", auth.OrgKindNGO)
			got, err := s.orgs.Update(ctx, tenant.Org(o.ID), o.ID, 1, organizations.Changes{Name: ptr("Renamed"), City: ptr("Aktau")})
			mustNoErr(t, err)
			if got.Name != "Renamed" || got.City != "Aktau" || got.Version != 2 || got.Code != "UPD" || !got.Active {
				t.Fatalf("after update: %+v", got)
			}
			if got.UpdatedAt.Before(o.UpdatedAt) || !got.CreatedAt.Equal(o.CreatedAt) {
				t.Fatalf("after update: created %v updated %v (was %v / %v)", got.CreatedAt, got.UpdatedAt, o.CreatedAt, o.UpdatedAt)
			}
			read, err := s.orgs.Get(ctx, tenant.All(), o.ID)
			mustNoErr(t, err)
			sameOrg(t, read, got)
		})

		t.Run("Update/stale version", func(t *testing.T) {
			o := mustOrg(t, s, "STALE", auth.OrgKindNGO)
			v2, err := s.orgs.Update(ctx, tenant.All(), o.ID, 1, organizations.Changes{Name: ptr("First")})
			mustNoErr(t, err)
			_, err = s.orgs.Update(ctx, tenant.All(), o.ID, 1, organizations.Changes{Name: ptr("Second"), Active: ptr(false)})
			mustCode(t, err, apperr.PreconditionFailed)
			read, err := s.orgs.Get(ctx, tenant.All(), o.ID)
			mustNoErr(t, err)
			sameOrg(t, read, v2)
		})

		t.Run("Update/foreign organisation", func(t *testing.T) {
			before, err := s.orgs.Get(ctx, tenant.All(), b.ID)
			mustNoErr(t, err)
			for _, version := range []int64{before.Version, before.Version + 7} {
				_, err := s.orgs.Update(ctx, tenant.Org(a.ID), b.ID, version, organizations.Changes{Name: ptr("Hijacked"), Active: ptr(false)})
				mustCode(t, err, apperr.NotFound)
			}
			after, err := s.orgs.Get(ctx, tenant.All(), b.ID)
			mustNoErr(t, err)
			sameOrg(t, after, before)
		})

		t.Run("Update/zero scope", func(t *testing.T) {
			before, err := s.orgs.Get(ctx, tenant.All(), a.ID)
			mustNoErr(t, err)
			_, err = s.orgs.Update(ctx, tenant.Scope{}, a.ID, before.Version, organizations.Changes{Name: ptr("Nobody's")})
			mustCode(t, err, apperr.NotFound)
			after, err := s.orgs.Get(ctx, tenant.All(), a.ID)
			mustNoErr(t, err)
			sameOrg(t, after, before)
		})

		t.Run("Update/concurrent same version", func(t *testing.T) {
			o := mustOrg(t, s, "RACE", auth.OrgKindNGO)
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = s.orgs.Update(ctx, tenant.All(), o.ID, 1, organizations.Changes{Name: ptr(fmt.Sprintf("Writer %d", i))})
				}()
			}
			wg.Wait()
			mustOneWinner(t, errs)
			read, err := s.orgs.Get(ctx, tenant.All(), o.ID)
			mustNoErr(t, err)
			if read.Version != 2 {
				t.Fatalf("version after %d concurrent updates at version 1 = %d, want 2", n, read.Version)
			}
		})

		t.Run("Update/active moves the policy version", func(t *testing.T) {
			o := mustOrg(t, s, "DEACT", auth.OrgKindNGO)
			u := mustUser(t, s, o, "worker@deact.example", authz.RoleCaseworker)
			sess := mustSession(t, s, u.ID, time.Hour)
			if _, ok := assignmentOf(t, s, u.ID); !ok {
				t.Fatal("user of an active organisation missing from the assignments")
			}
			v := policyVersion(t, s)
			_, err := s.orgs.Update(ctx, tenant.All(), o.ID, 1, organizations.Changes{Active: ptr(false)})
			mustNoErr(t, err)
			if got := policyVersion(t, s); got <= v {
				t.Fatalf("policy version %d after deactivating an organisation, was %d", got, v)
			}
			if _, ok := assignmentOf(t, s, u.ID); ok {
				t.Error("user of an inactive organisation still has role assignments")
			}
			_, err = s.sessions.LoadPrincipal(ctx, verified(sess), store.Now())
			mustCode(t, err, apperr.Unauthenticated)
			_, _, _, err = rotate(s, sess.refresh, store.Now())
			mustCode(t, err, apperr.Unauthenticated)
			creds, err := s.sessions.FindCredentials(ctx, u.Email)
			mustNoErr(t, err)
			if creds.Active {
				t.Error("credentials of a user of an inactive organisation are active")
			}
		})
	})
}

func TestUsersStore(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestStores(db)
		iom := mustOrg(t, s, "IOM", auth.OrgKindIOM)
		a := mustOrg(t, s, "RODNIK", auth.OrgKindNGO)
		b := mustOrg(t, s, "SANA", auth.OrgKindNGO)
		a1 := mustUser(t, s, a, "admin@rodnik.example", authz.RoleAdmin)
		a2 := mustUser(t, s, a, "worker@rodnik.example", authz.RoleCaseworker, authz.RoleViewer)
		b1 := mustUser(t, s, b, "admin@sana.example", authz.RoleAdmin)
		i1 := mustUser(t, s, iom, "coordinator@iom.example", authz.RoleCoordinator)

		t.Run("Get", func(t *testing.T) {
			got, err := s.users.Get(ctx, tenant.Org(a.ID), a2.ID)
			mustNoErr(t, err)
			sameUser(t, got, a2)
			got, err = s.users.Get(ctx, tenant.All(), i1.ID)
			mustNoErr(t, err)
			sameUser(t, got, i1)
			_, err = s.users.Get(ctx, tenant.All(), store.NewID())
			mustCode(t, err, apperr.NotFound)
		})

		t.Run("Get/foreign organisation", func(t *testing.T) {
			_, foreign := s.users.Get(ctx, tenant.Org(a.ID), b1.ID)
			mustCode(t, foreign, apperr.NotFound)
			_, missing := s.users.Get(ctx, tenant.Org(a.ID), store.NewID())
			mustCode(t, missing, apperr.NotFound)
			var fe, me *apperr.Error
			if errors.As(foreign, &fe) && errors.As(missing, &me) && fe.Message != me.Message {
				t.Errorf("foreign answers %q, missing %q: they must not differ", fe.Message, me.Message)
			}
			_, err := s.users.Get(ctx, tenant.Org(b.ID), i1.ID)
			mustCode(t, err, apperr.NotFound)
		})

		t.Run("Get/zero scope", func(t *testing.T) {
			_, err := s.users.Get(ctx, tenant.Scope{}, a1.ID)
			mustCode(t, err, apperr.NotFound)
		})

		t.Run("Create/moves the policy version", func(t *testing.T) {
			v := policyVersion(t, s)
			u := mustUser(t, s, b, "new@sana.example", authz.RoleViewer)
			if got := policyVersion(t, s); got <= v {
				t.Fatalf("policy version %d after creating a user, was %d", got, v)
			}
			as, ok := assignmentOf(t, s, u.ID)
			if !ok || as.OrgID != b.ID || as.OrgKind != auth.OrgKindNGO || as.Kind != auth.KindUser ||
				!slices.Equal(as.Roles, []string{authz.RoleViewer}) {
				t.Fatalf("assignment of a new user = %+v (found %v)", as, ok)
			}
		})

		t.Run("Create/duplicate email", func(t *testing.T) {
			for _, org := range []organizations.Organization{a, b} {
				now := store.Now()
				dup := users.User{
					ID: store.NewID(), OrganizationID: org.ID, Email: a1.Email, DisplayName: "Impostor",
					Roles: []string{authz.RoleAdmin}, Active: true, Locale: "en", Version: 1, CreatedAt: now, UpdatedAt: now,
				}
				mustCode(t, s.users.Create(ctx, dup, "x"), apperr.Conflict)
				_, err := s.users.Get(ctx, tenant.All(), dup.ID)
				mustCode(t, err, apperr.NotFound)
			}
			got, err := s.users.Get(ctx, tenant.All(), a1.ID)
			mustNoErr(t, err)
			sameUser(t, got, a1)
		})

		t.Run("Create/unknown organisation", func(t *testing.T) {
			now := store.Now()
			u := users.User{
				ID: store.NewID(), OrganizationID: store.NewID(), Email: "orphan@nowhere.example", DisplayName: "Orphan",
				Roles: []string{authz.RoleAdmin}, Active: true, Locale: "en", Version: 1, CreatedAt: now, UpdatedAt: now,
			}
			mustCode(t, s.users.Create(ctx, u, "x"), apperr.Invalid)
		})

		t.Run("List", func(t *testing.T) {
			got, err := s.users.List(ctx, tenant.Org(a.ID), "", all(50))
			mustNoErr(t, err)
			if want := sorted(a1.ID, a2.ID); !slices.Equal(userIDs(got), want) {
				t.Fatalf("List(Org(A)) = %v, want %v", userIDs(got), want)
			}
			got, err = s.users.List(ctx, tenant.Org(a.ID), a.ID, all(50))
			mustNoErr(t, err)
			if want := sorted(a1.ID, a2.ID); !slices.Equal(userIDs(got), want) {
				t.Fatalf("List(Org(A), org A) = %v, want %v", userIDs(got), want)
			}
			got, err = s.users.List(ctx, tenant.All(), iom.ID, all(50))
			mustNoErr(t, err)
			if !slices.Equal(userIDs(got), []string{i1.ID}) || got[0].OrgKind != auth.OrgKindIOM {
				t.Fatalf("List(All, IOM) = %+v, want only %s", got, i1.ID)
			}
			everyone, err := s.users.List(ctx, tenant.All(), "", all(200))
			mustNoErr(t, err)
			for _, id := range []string{a1.ID, a2.ID, b1.ID, i1.ID} {
				if !slices.Contains(userIDs(everyone), id) {
					t.Errorf("List(All) lacks %s", id)
				}
			}
			if !slices.IsSorted(userIDs(everyone)) {
				t.Errorf("List(All) not in id order: %v", userIDs(everyone))
			}
			first, err := s.users.List(ctx, tenant.Org(a.ID), "", all(1))
			mustNoErr(t, err)
			if want := sorted(a1.ID, a2.ID); !slices.Equal(userIDs(first), want) {
				t.Fatalf("List(limit 1) = %v, want the limit+1 rows %v", userIDs(first), want)
			}
			rest, err := s.users.List(ctx, tenant.Org(a.ID), "", page.Request{Limit: 50, After: first[0].ID})
			mustNoErr(t, err)
			if !slices.Equal(userIDs(rest), userIDs(first)[1:]) {
				t.Fatalf("List(after %s) = %v", first[0].ID, userIDs(rest))
			}
			future := store.Now().Add(time.Hour)
			none, err := s.users.List(ctx, tenant.All(), "", page.Request{Limit: 50, UpdatedSince: &future})
			mustNoErr(t, err)
			if len(none) != 0 {
				t.Fatalf("List(updated since an hour ahead) = %v", userIDs(none))
			}
		})

		t.Run("List/foreign organisation", func(t *testing.T) {
			got, err := s.users.List(ctx, tenant.Org(a.ID), b.ID, all(50))
			mustNoErr(t, err)
			if len(got) != 0 {
				t.Fatalf("List(Org(A), org B) = %v, want nothing", userIDs(got))
			}
			got, err = s.users.List(ctx, tenant.Org(b.ID), "", all(50))
			mustNoErr(t, err)
			for _, u := range got {
				if u.OrganizationID != b.ID {
					t.Fatalf("List(Org(B)) returned %s of %s", u.ID, u.OrganizationID)
				}
			}
		})

		t.Run("List/zero scope", func(t *testing.T) {
			for _, orgID := range []string{"", a.ID} {
				got, err := s.users.List(ctx, tenant.Scope{}, orgID, all(50))
				mustNoErr(t, err)
				if len(got) != 0 {
					t.Fatalf("List(zero scope, %q) = %v, want nothing", orgID, userIDs(got))
				}
			}
		})

		t.Run("Update", func(t *testing.T) {
			u := mustUser(t, s, a, "update@rodnik.example", authz.RoleCaseworker)
			got, err := s.users.Update(ctx, tenant.Org(a.ID), u.ID, 1, users.Changes{
				Email: ptr("renamed@rodnik.example"), DisplayName: ptr("Renamed"), Locale: ptr("kk"),
			})
			mustNoErr(t, err)
			if got.Email != "renamed@rodnik.example" || got.DisplayName != "Renamed" || got.Locale != "kk" ||
				got.Version != 2 || !slices.Equal(got.Roles, u.Roles) || !got.Active || got.OrgKind != auth.OrgKindNGO {
				t.Fatalf("after update: %+v", got)
			}
			read, err := s.users.Get(ctx, tenant.All(), u.ID)
			mustNoErr(t, err)
			sameUser(t, read, got)
			creds, err := s.sessions.FindCredentials(ctx, "renamed@rodnik.example")
			mustNoErr(t, err)
			if creds.UserID != u.ID {
				t.Fatalf("credentials under the new email belong to %s", creds.UserID)
			}
		})

		t.Run("Update/stale version", func(t *testing.T) {
			u := mustUser(t, s, a, "stale@rodnik.example", authz.RoleCaseworker)
			v2, err := s.users.Update(ctx, tenant.Org(a.ID), u.ID, 1, users.Changes{DisplayName: ptr("First")})
			mustNoErr(t, err)
			pv := policyVersion(t, s)
			sess := mustSession(t, s, u.ID, time.Hour)
			_, err = s.users.Update(ctx, tenant.Org(a.ID), u.ID, 1, users.Changes{
				DisplayName: ptr("Second"), Roles: []string{authz.RoleAdmin}, Active: ptr(false), PasswordHash: ptr("other"),
			})
			mustCode(t, err, apperr.PreconditionFailed)
			read, err := s.users.Get(ctx, tenant.All(), u.ID)
			mustNoErr(t, err)
			sameUser(t, read, v2)
			if got := policyVersion(t, s); got != pv {
				t.Errorf("a refused update moved the policy version from %d to %d", pv, got)
			}
			if _, err := s.sessions.LoadPrincipal(ctx, verified(sess), store.Now()); err != nil {
				t.Errorf("a refused update ended the user's session: %v", err)
			}
		})

		t.Run("Update/duplicate email", func(t *testing.T) {
			before, err := s.users.Get(ctx, tenant.All(), a2.ID)
			mustNoErr(t, err)
			_, err = s.users.Update(ctx, tenant.Org(a.ID), a2.ID, before.Version, users.Changes{Email: ptr(b1.Email)})
			mustCode(t, err, apperr.Conflict)
			after, err := s.users.Get(ctx, tenant.All(), a2.ID)
			mustNoErr(t, err)
			sameUser(t, after, before)
		})

		t.Run("Update/foreign organisation", func(t *testing.T) {
			before, err := s.users.Get(ctx, tenant.All(), b1.ID)
			mustNoErr(t, err)
			sess := mustSession(t, s, b1.ID, time.Hour)
			pv := policyVersion(t, s)
			for _, version := range []int64{before.Version, before.Version + 7} {
				_, err := s.users.Update(ctx, tenant.Org(a.ID), b1.ID, version, users.Changes{
					DisplayName: ptr("Hijacked"), Roles: []string{authz.RoleViewer}, Active: ptr(false), PasswordHash: ptr("mine"),
				})
				mustCode(t, err, apperr.NotFound)
			}
			after, err := s.users.Get(ctx, tenant.All(), b1.ID)
			mustNoErr(t, err)
			sameUser(t, after, before)
			if got := policyVersion(t, s); got != pv {
				t.Errorf("a foreign update moved the policy version from %d to %d", pv, got)
			}
			if _, err := s.sessions.LoadPrincipal(ctx, verified(sess), store.Now()); err != nil {
				t.Errorf("a foreign update ended the user's session: %v", err)
			}
			creds, err := s.sessions.FindCredentials(ctx, b1.Email)
			mustNoErr(t, err)
			if creds.PasswordHash != "hash-of-"+b1.Email {
				t.Errorf("a foreign update changed the password hash to %q", creds.PasswordHash)
			}
		})

		t.Run("Update/zero scope", func(t *testing.T) {
			before, err := s.users.Get(ctx, tenant.All(), a1.ID)
			mustNoErr(t, err)
			_, err = s.users.Update(ctx, tenant.Scope{}, a1.ID, before.Version, users.Changes{DisplayName: ptr("Nobody's")})
			mustCode(t, err, apperr.NotFound)
			after, err := s.users.Get(ctx, tenant.All(), a1.ID)
			mustNoErr(t, err)
			sameUser(t, after, before)
		})

		t.Run("Update/concurrent same version", func(t *testing.T) {
			u := mustUser(t, s, a, "race@rodnik.example", authz.RoleCaseworker)
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = s.users.Update(ctx, tenant.Org(a.ID), u.ID, 1, users.Changes{DisplayName: ptr(fmt.Sprintf("Writer %d", i))})
				}()
			}
			wg.Wait()
			mustOneWinner(t, errs)
			read, err := s.users.Get(ctx, tenant.All(), u.ID)
			mustNoErr(t, err)
			if read.Version != 2 {
				t.Fatalf("version after %d concurrent updates at version 1 = %d, want 2", n, read.Version)
			}
		})

		t.Run("Update/roles move the policy version", func(t *testing.T) {
			u := mustUser(t, s, a, "roles@rodnik.example", authz.RoleViewer)
			v := policyVersion(t, s)
			sess := mustSession(t, s, u.ID, time.Hour)
			p, err := s.sessions.LoadPrincipal(ctx, verified(sess), store.Now())
			mustNoErr(t, err)
			if p.PolicyVersion != v {
				t.Fatalf("principal at policy version %d, assignments at %d", p.PolicyVersion, v)
			}
			_, err = s.users.Update(ctx, tenant.Org(a.ID), u.ID, 1, users.Changes{Roles: []string{authz.RoleAdmin, authz.RoleCaseworker}})
			mustNoErr(t, err)
			if got := policyVersion(t, s); got <= v {
				t.Fatalf("policy version %d after a role change, was %d", got, v)
			}
			as, ok := assignmentOf(t, s, u.ID)
			if !ok || !slices.Equal(as.Roles, []string{authz.RoleAdmin, authz.RoleCaseworker}) {
				t.Fatalf("assignment after a role change = %+v (found %v)", as, ok)
			}
			p, err = s.sessions.LoadPrincipal(ctx, verified(sess), store.Now())
			mustNoErr(t, err)
			if p.PolicyVersion <= v || !slices.Equal(p.Roles, []string{authz.RoleAdmin, authz.RoleCaseworker}) {
				t.Fatalf("principal after a role change: version %d (was %d), roles %v", p.PolicyVersion, v, p.Roles)
			}
		})

		t.Run("Update/deactivation moves the policy version and ends sessions", func(t *testing.T) {
			u := mustUser(t, s, a, "leaver@rodnik.example", authz.RoleCaseworker)
			s1 := mustSession(t, s, u.ID, time.Hour)
			s2 := mustSession(t, s, u.ID, time.Hour)
			for _, sess := range []session{s1, s2} {
				if _, err := s.sessions.LoadPrincipal(ctx, verified(sess), store.Now()); err != nil {
					t.Fatalf("session before deactivation: %v", err)
				}
			}
			v := policyVersion(t, s)
			_, err := s.users.Update(ctx, tenant.Org(a.ID), u.ID, 1, users.Changes{Active: ptr(false)})
			mustNoErr(t, err)
			if got := policyVersion(t, s); got <= v {
				t.Fatalf("policy version %d after deactivation, was %d", got, v)
			}
			if _, ok := assignmentOf(t, s, u.ID); ok {
				t.Error("a deactivated user still has role assignments")
			}
			for _, sess := range []session{s1, s2} {
				_, err := s.sessions.LoadPrincipal(ctx, verified(sess), store.Now())
				mustCode(t, err, apperr.Unauthenticated)
			}
			// The sessions are revoked, not merely hidden: reactivating does not revive them.
			v = policyVersion(t, s)
			_, err = s.users.Update(ctx, tenant.Org(a.ID), u.ID, 2, users.Changes{Active: ptr(true)})
			mustNoErr(t, err)
			if got := policyVersion(t, s); got <= v {
				t.Fatalf("policy version %d after reactivation, was %d", got, v)
			}
			for _, sess := range []session{s1, s2} {
				_, err := s.sessions.LoadPrincipal(ctx, verified(sess), store.Now())
				mustCode(t, err, apperr.Unauthenticated)
				_, _, _, err = rotate(s, sess.refresh, store.Now())
				mustCode(t, err, apperr.Unauthenticated)
			}
			if _, err := s.sessions.LoadPrincipal(ctx, verified(mustSession(t, s, u.ID, time.Hour)), store.Now()); err != nil {
				t.Errorf("a new session after reactivation: %v", err)
			}
		})

		t.Run("Update/password change ends sessions", func(t *testing.T) {
			u := mustUser(t, s, a, "password@rodnik.example", authz.RoleCaseworker)
			sess := mustSession(t, s, u.ID, time.Hour)
			_, err := s.users.Update(ctx, tenant.Org(a.ID), u.ID, 1, users.Changes{PasswordHash: ptr("new-hash")})
			mustNoErr(t, err)
			_, err = s.sessions.LoadPrincipal(ctx, verified(sess), store.Now())
			mustCode(t, err, apperr.Unauthenticated)
			creds, err := s.sessions.FindCredentials(ctx, u.Email)
			mustNoErr(t, err)
			if creds.PasswordHash != "new-hash" {
				t.Fatalf("password hash after change = %q", creds.PasswordHash)
			}
		})
	})
}

func TestSessionsStore(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestStores(db)
		iom := mustOrg(t, s, "IOM", auth.OrgKindIOM)
		a := mustOrg(t, s, "RODNIK", auth.OrgKindNGO)
		worker := mustUser(t, s, a, "worker@rodnik.example", authz.RoleCaseworker, authz.RoleViewer)
		boss := mustUser(t, s, iom, "admin@iom.example", authz.RoleAdmin)

		t.Run("FindCredentials", func(t *testing.T) {
			creds, err := s.sessions.FindCredentials(ctx, worker.Email)
			mustNoErr(t, err)
			if creds.UserID != worker.ID || creds.PasswordHash != "hash-of-"+worker.Email || !creds.Active {
				t.Fatalf("credentials = %+v", creds)
			}
			_, err = s.sessions.FindCredentials(ctx, "nobody@rodnik.example")
			mustCode(t, err, apperr.NotFound)
			u := mustUser(t, s, a, "inactive@rodnik.example", authz.RoleViewer)
			_, err = s.users.Update(ctx, tenant.All(), u.ID, 1, users.Changes{Active: ptr(false)})
			mustNoErr(t, err)
			creds, err = s.sessions.FindCredentials(ctx, u.Email)
			mustNoErr(t, err)
			if creds.Active {
				t.Fatal("credentials of a deactivated user are active")
			}
		})

		t.Run("LoadPrincipal", func(t *testing.T) {
			sess := mustSession(t, s, worker.ID, time.Hour)
			p, err := s.sessions.LoadPrincipal(ctx, verified(sess), store.Now())
			mustNoErr(t, err)
			want := auth.Principal{
				Kind: auth.KindUser, ID: worker.ID, SessionID: sess.ID, OrgID: a.ID, OrgKind: auth.OrgKindNGO,
				Roles: worker.Roles, Email: worker.Email, DisplayName: worker.DisplayName, Locale: worker.Locale,
				PolicyVersion: policyVersion(t, s),
			}
			if p.Kind != want.Kind || p.ID != want.ID || p.SessionID != want.SessionID || p.OrgID != want.OrgID ||
				p.OrgKind != want.OrgKind || !slices.Equal(p.Roles, want.Roles) || p.Email != want.Email ||
				p.DisplayName != want.DisplayName || p.Locale != want.Locale || p.PolicyVersion != want.PolicyVersion {
				t.Fatalf("principal:\n got %+v\nwant %+v", p, want)
			}
			bs := mustSession(t, s, boss.ID, time.Hour)
			p, err = s.sessions.LoadPrincipal(ctx, verified(bs), store.Now())
			mustNoErr(t, err)
			if p.OrgID != iom.ID || p.OrgKind != auth.OrgKindIOM || !p.IsIOM() {
				t.Fatalf("IOM principal = %+v", p)
			}
		})

		t.Run("LoadPrincipal/refuses", func(t *testing.T) {
			sess := mustSession(t, s, worker.ID, time.Hour)
			other := mustSession(t, s, boss.ID, time.Hour)
			refused := map[string]struct {
				v   auth.Verified
				now time.Time
			}{
				"expired session":        {verified(sess), sess.ExpiresAt.Add(time.Second)},
				"session at expiry":      {verified(sess), sess.ExpiresAt},
				"unknown session":        {auth.Verified{Kind: auth.KindUser, ID: worker.ID, SessionID: store.NewID()}, store.Now()},
				"another user's session": {auth.Verified{Kind: auth.KindUser, ID: worker.ID, SessionID: other.ID}, store.Now()},
				"service account kind":   {auth.Verified{Kind: auth.KindServiceAccount, ID: worker.ID, SessionID: sess.ID}, store.Now()},
			}
			for name, c := range refused {
				t.Run(name, func(t *testing.T) {
					_, err := s.sessions.LoadPrincipal(ctx, c.v, c.now)
					mustCode(t, err, apperr.Unauthenticated)
				})
			}
			// The session itself is fine a second before it ends.
			if _, err := s.sessions.LoadPrincipal(ctx, verified(sess), sess.ExpiresAt.Add(-time.Second)); err != nil {
				t.Fatalf("a session before its end refused: %v", err)
			}
		})

		t.Run("RevokeSession", func(t *testing.T) {
			sess := mustSession(t, s, worker.ID, time.Hour)
			keep := mustSession(t, s, worker.ID, time.Hour)
			mustNoErr(t, s.sessions.RevokeSession(ctx, sess.ID, "logout", store.Now()))
			_, err := s.sessions.LoadPrincipal(ctx, verified(sess), store.Now())
			mustCode(t, err, apperr.Unauthenticated)
			_, _, _, err = rotate(s, sess.refresh, store.Now())
			mustCode(t, err, apperr.Unauthenticated)
			if _, err := s.sessions.LoadPrincipal(ctx, verified(keep), store.Now()); err != nil {
				t.Fatalf("revoking one session ended another: %v", err)
			}
			// Revoking twice is harmless.
			mustNoErr(t, s.sessions.RevokeSession(ctx, sess.ID, "logout", store.Now()))
		})

		t.Run("RotateRefresh", func(t *testing.T) {
			sess := mustSession(t, s, worker.ID, time.Hour)
			rt2, userID, sessionID, err := rotate(s, sess.refresh, store.Now())
			mustNoErr(t, err)
			if userID != worker.ID || sessionID != sess.ID {
				t.Fatalf("rotate = user %s session %s, want %s %s", userID, sessionID, worker.ID, sess.ID)
			}
			rt3, _, _, err := rotate(s, rt2, store.Now())
			mustNoErr(t, err)
			if _, err := s.sessions.LoadPrincipal(ctx, verified(sess), store.Now()); err != nil {
				t.Fatalf("session after rotation: %v", err)
			}

			// Reusing a spent token ends the whole session: the newest token dies too.
			_, _, _, err = rotate(s, sess.refresh, store.Now())
			mustCode(t, err, apperr.Unauthenticated)
			_, err = s.sessions.LoadPrincipal(ctx, verified(sess), store.Now())
			mustCode(t, err, apperr.Unauthenticated)
			_, _, _, err = rotate(s, rt3, store.Now())
			mustCode(t, err, apperr.Unauthenticated)
		})

		t.Run("RotateRefresh/refuses", func(t *testing.T) {
			_, _, _, err := rotate(s, "cwr_unknown", store.Now())
			mustCode(t, err, apperr.Unauthenticated)

			// The first refresh token lives an hour (see mustSession).
			sess := mustSession(t, s, worker.ID, 24*time.Hour)
			_, _, _, err = rotate(s, sess.refresh, store.Now().Add(2*time.Hour))
			mustCode(t, err, apperr.Unauthenticated)

			short := mustSession(t, s, worker.ID, time.Minute)
			_, _, _, err = rotate(s, short.refresh, store.Now().Add(30*time.Minute))
			mustCode(t, err, apperr.Unauthenticated)
		})

		t.Run("RotateRefresh/concurrent reuse", func(t *testing.T) {
			sess := mustSession(t, s, worker.ID, time.Hour)
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, _, errs[i] = rotate(s, sess.refresh, store.Now())
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case apperr.CodeOf(err) != apperr.Unauthenticated:
					t.Errorf("concurrent rotation: %v", err)
				}
			}
			if ok > 1 {
				t.Fatalf("%d of %d concurrent uses of one refresh token succeeded", ok, n)
			}
			// Any reuse at all ends the session.
			_, err := s.sessions.LoadPrincipal(ctx, verified(sess), store.Now())
			mustCode(t, err, apperr.Unauthenticated)
		})

		t.Run("LoadAssignments", func(t *testing.T) {
			as, v, err := s.sessions.LoadAssignments(ctx)
			mustNoErr(t, err)
			if v < 1 {
				t.Fatalf("policy version %d", v)
			}
			byID := map[string]authz.Assignment{}
			for _, x := range as {
				byID[x.ID] = x
			}
			w, ok := byID[worker.ID]
			if !ok || w.Kind != auth.KindUser || w.OrgID != a.ID || w.OrgKind != auth.OrgKindNGO ||
				!slices.Equal(w.Roles, worker.Roles) {
				t.Fatalf("worker's assignment = %+v (found %v)", w, ok)
			}
			bo, ok := byID[boss.ID]
			if !ok || bo.OrgID != iom.ID || bo.OrgKind != auth.OrgKindIOM || !slices.Equal(bo.Roles, []string{authz.RoleAdmin}) {
				t.Fatalf("IOM admin's assignment = %+v (found %v)", bo, ok)
			}
		})
	})
}
