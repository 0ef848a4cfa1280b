package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/consents"
	"github.com/casework/casework/internal/crypt"
	"github.com/casework/casework/internal/idempotency"
	"github.com/casework/casework/internal/notes"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/services"
	"github.com/casework/casework/internal/store"
	"github.com/casework/casework/internal/tenant"
	"github.com/casework/casework/internal/users"
)

// caseStores are the case-related stores under test on one database, with
// the keyring they seal with.
type caseStores struct {
	stores
	db       *store.DB
	keys     *crypt.Keyring
	cases    *store.Cases
	consents *store.Consents
	services *store.Services
	notes    *store.Notes
	audit    *store.Audit
	idem     *store.Idempotency
}

func newTestKeyring(t *testing.T) *crypt.Keyring {
	t.Helper()
	data, err := crypt.GenerateKeyring()
	if err != nil {
		t.Fatalf("generate keyring: %v", err)
	}
	k, err := crypt.ParseKeyring(data)
	if err != nil {
		t.Fatalf("parse keyring: %v", err)
	}
	return k
}

func newTestCaseStores(t *testing.T, db *store.DB) caseStores {
	t.Helper()
	k := newTestKeyring(t)
	return caseStores{
		stores: newTestStores(db), db: db, keys: k,
		cases: store.NewCases(db, k), consents: store.NewConsents(db), services: store.NewServices(db, k),
		notes: store.NewNotes(db, k), audit: store.NewAudit(db), idem: store.NewIdempotency(db, k),
	}
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (s caseStores) rebind(q string) string {
	if s.db.Driver() != config.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s caseStores) mustExec(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	res, err := s.db.SQL().ExecContext(context.Background(), s.rebind(q), args...)
	if err != nil {
		t.Fatalf("exec %q: %v", q, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		t.Fatalf("rows affected: %v", err)
	}
	return n
}

// rawString reads one text column of one row, as stored.
func (s caseStores) rawString(t *testing.T, q string, args ...any) sql.NullString {
	t.Helper()
	var v sql.NullString
	if err := s.db.SQL().QueryRowContext(context.Background(), s.rebind(q), args...).Scan(&v); err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	return v
}

func (s caseStores) rawCount(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.db.SQL().QueryRowContext(context.Background(), s.rebind(q), args...).Scan(&n); err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	return n
}

// mustSealed checks a stored ciphertext: present, under the active key, and
// without any of the plaintexts in it.
func (s caseStores) mustSealed(t *testing.T, what string, v sql.NullString, plain ...string) {
	t.Helper()
	if !v.Valid || v.String == "" {
		t.Fatalf("%s is not stored", what)
	}
	if !strings.HasPrefix(v.String, s.keys.ActiveKID()+".") || crypt.KIDOf(v.String) != s.keys.ActiveKID() {
		t.Errorf("%s = %q, not sealed under the active key %q", what, v.String, s.keys.ActiveKID())
	}
	for _, p := range plain {
		if strings.Contains(strings.ToLower(v.String), strings.ToLower(p)) {
			t.Errorf("%s holds the plaintext %q: %q", what, p, v.String)
		}
	}
}

// sameJSON compares two values by their JSON form (pointers followed, times
// as instants in UTC, nil and empty lists apart).
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// mustSameNotFound: a foreign record and a missing one answer alike.
func mustSameNotFound(t *testing.T, foreign, missing error) {
	t.Helper()
	mustCode(t, foreign, apperr.NotFound)
	mustCode(t, missing, apperr.NotFound)
	var fe, me *apperr.Error
	if !errors.As(foreign, &fe) || !errors.As(missing, &me) {
		t.Fatalf("not apperr errors: %v / %v", foreign, missing)
	}
	if fe.Message != me.Message {
		t.Fatalf("foreign answers %q, missing %q: they must not differ", fe.Message, me.Message)
	}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// event is a successful audit event by u about one object.
func event(u users.User, action, objectType, objectID string) audit.Event {
	return audit.Event{
		ActorType: audit.ActorUser, ActorID: u.ID, OrganizationID: u.OrganizationID, Action: action,
		ObjectType: objectType, ObjectID: objectID, Outcome: audit.Success, IP: "192.0.2.10", RequestID: "req-" + store.NewID(),
	}
}

// broken is an event the database refuses (its outcome fails the CHECK), so
// the change it belongs to must roll back.
func broken(u users.User, action, objectType, objectID string) audit.Event {
	e := event(u, action, objectType, objectID)
	e.Outcome = "bogus"
	return e
}

// auditActions lists the actions of the events about objectID.
func auditActions(t *testing.T, s caseStores, objectID string) []string {
	t.Helper()
	evs, err := s.audit.List(context.Background(), tenant.All(), audit.Filter{ObjectID: objectID}, all(200))
	mustNoErr(t, err)
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Action
	}
	return out
}

// newTestCase is a case of org recorded by by, with every identifying field
// set and names unique to the case.
func newTestCase(org organizations.Organization, by users.User, at time.Time) cases.Case {
	c := cases.New()
	c.ID, c.OrganizationID, c.CreatedBy = store.NewID(), org.ID, by.ID
	c.AssignedTo = ptr(by.ID)
	c.OpenedOn = cases.Date(at)
	c.Version, c.CreatedAt, c.UpdatedAt = 1, at, at
	tag := c.ID[len(c.ID)-8:]
	c.Person = cases.Person{
		GivenName: "Aigerim" + tag, FamilyName: "Nurlanovna" + tag, OtherNames: "Aika" + tag,
		Sex: "female", Gender: "feminine", DateOfBirth: ptr(day(1994, 3, 17)),
		Citizenships: []string{"KZ"}, Languages: []string{"kk", "ru"},
		Phone: "+77015550" + tag, Address: "12 Abay Avenue " + tag + ", Almaty",
		IdentityDocuments: []cases.IdentityDocument{{Type: "passport", Number: "N" + strings.ToUpper(tag), IssuingCountry: "KZ"}},
	}
	c.Trafficking = cases.Trafficking{
		Status: "actual", ExploitationTypes: []string{"forced_labour"}, LabourSector: "construction",
		MeansOfControl: []string{"withholds_documents", "debt_bondage"}, RecruiterRelationship: "friend",
		CountryOfExploitation: "RU", IdentifiedOn: ptr(day(2024, 11, 5)), IdentifiedBy: "ngo",
	}
	return c
}

func mustCase(t *testing.T, s caseStores, org organizations.Organization, c cases.Case) cases.Case {
	t.Helper()
	by := users.User{ID: c.CreatedBy, OrganizationID: c.OrganizationID}
	got, err := s.cases.Create(context.Background(), c, org.Code,
		[]cases.Change{{Action: cases.ActionCreated, Field: "case"}}, event(by, "case.create", "case", c.ID))
	if err != nil {
		t.Fatalf("create case: %v", err)
	}
	return got
}

func mustGetCase(t *testing.T, s caseStores, id string) cases.Case {
	t.Helper()
	c, err := s.cases.Get(context.Background(), tenant.All(), id)
	if err != nil {
		t.Fatalf("get case %s: %v", id, err)
	}
	return c
}

func mustHistory(t *testing.T, s caseStores, caseID string) []cases.HistoryEntry {
	t.Helper()
	h, err := s.cases.History(context.Background(), caseID, all(200))
	mustNoErr(t, err)
	return h
}

func caseIDs(items []cases.Case) []string {
	out := make([]string, len(items))
	for i, c := range items {
		out[i] = c.ID
	}
	return out
}

// mustReferral stores a referral of c to another organisation directly.
func mustReferral(t *testing.T, s caseStores, c cases.Case, to organizations.Organization, status string) {
	t.Helper()
	now := store.Now()
	s.mustExec(t, `INSERT INTO referrals (id, case_id, from_organization_id, to_organization_id, service_types, data_kid,
		status, version, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
		store.NewID(), c.ID, c.OrganizationID, to.ID, `["shelter"]`, s.keys.ActiveKID(), status, c.CreatedBy, now, now)
}

// change is one history entry as the tests compare them.
type change struct {
	Action, Field string
	Identifying   bool
	Old, New      *string
}

func changesOf(h []cases.HistoryEntry) []change {
	out := make([]change, len(h))
	for i, e := range h {
		out[i] = change{e.Action, e.Field, e.Identifying, e.Old, e.New}
	}
	return out
}

func TestCasesStore(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestCaseStores(t, db)
		a := mustOrg(t, s.stores, "RODNIK", auth.OrgKindNGO)
		b := mustOrg(t, s.stores, "SANA", auth.OrgKindNGO)
		ua := mustUser(t, s.stores, a, "worker@rodnik.example", authz.RoleCaseworker)
		ub := mustUser(t, s.stores, b, "worker@sana.example", authz.RoleCaseworker)
		year := store.Now().Year()

		t.Run("Create", func(t *testing.T) {
			now := store.Now()
			c := newTestCase(a, ua, now)
			ev := event(ua, "case.create", "case", c.ID)
			got, err := s.cases.Create(ctx, c, a.Code, []cases.Change{{Action: cases.ActionCreated, Field: "case"}}, ev)
			mustNoErr(t, err)
			if !strings.HasPrefix(got.CaseNumber, fmt.Sprintf("RODNIK-%d-", year)) || len(got.CaseNumber) != len("RODNIK-2025-00001") {
				t.Fatalf("case number %q", got.CaseNumber)
			}
			want := c
			want.CaseNumber = got.CaseNumber
			sameJSON(t, "created case", got, want)
			sameJSON(t, "stored case", mustGetCase(t, s, c.ID), want)
			read, err := s.cases.Get(ctx, tenant.Org(a.ID), c.ID)
			mustNoErr(t, err)
			sameJSON(t, "case read in its organisation's scope", read, want)

			h := mustHistory(t, s, c.ID)
			if len(h) != 1 || h[0].Action != cases.ActionCreated || h[0].Field != "case" || h[0].ActorID != ua.ID || h[0].ChangedAt.Before(now) {
				t.Fatalf("history after create = %+v", h)
			}
			evs, err := s.audit.List(ctx, tenant.All(), audit.Filter{ObjectID: c.ID}, all(50))
			mustNoErr(t, err)
			if len(evs) != 1 || evs[0].Action != "case.create" || evs[0].ActorID != ua.ID || evs[0].OrganizationID != a.ID ||
				evs[0].ObjectType != "case" || evs[0].Outcome != audit.Success || evs[0].RequestID != ev.RequestID {
				t.Fatalf("audit after create = %+v", evs)
			}
		})

		t.Run("Create/case numbers per organisation and year", func(t *testing.T) {
			na := mustOrg(t, s.stores, "NUMA", auth.OrgKindNGO)
			nb := mustOrg(t, s.stores, "NUMB", auth.OrgKindNGO)
			una := mustUser(t, s.stores, na, "worker@numa.example", authz.RoleCaseworker)
			unb := mustUser(t, s.stores, nb, "worker@numb.example", authz.RoleCaseworker)
			now := store.Now()
			lastYear := time.Date(year-1, 12, 31, 23, 30, 0, 0, time.UTC)
			steps := []struct {
				org  organizations.Organization
				by   users.User
				at   time.Time
				want string
			}{
				{na, una, now, fmt.Sprintf("NUMA-%d-00001", year)},
				{na, una, now, fmt.Sprintf("NUMA-%d-00002", year)},
				{nb, unb, now, fmt.Sprintf("NUMB-%d-00001", year)},
				{na, una, lastYear, fmt.Sprintf("NUMA-%d-00001", year-1)},
				{na, una, now, fmt.Sprintf("NUMA-%d-00003", year)},
				{nb, unb, lastYear, fmt.Sprintf("NUMB-%d-00001", year-1)},
				{nb, unb, now, fmt.Sprintf("NUMB-%d-00002", year)},
			}
			for i, st := range steps {
				got := mustCase(t, s, st.org, newTestCase(st.org, st.by, st.at))
				if got.CaseNumber != st.want {
					t.Fatalf("step %d: case number %q, want %q", i, got.CaseNumber, st.want)
				}
				if read := mustGetCase(t, s, got.ID); read.CaseNumber != st.want {
					t.Fatalf("step %d: stored case number %q, want %q", i, read.CaseNumber, st.want)
				}
			}

			// Concurrent creates never share a number.
			const n = 6
			numbers := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := newTestCase(na, una, store.Now())
					got, err := s.cases.Create(ctx, c, na.Code, nil, event(una, "case.create", "case", c.ID))
					numbers[i], errs[i] = got.CaseNumber, err
				}()
			}
			wg.Wait()
			for _, err := range errs {
				mustNoErr(t, err)
			}
			slices.Sort(numbers)
			for i, got := range numbers {
				if want := fmt.Sprintf("NUMA-%d-%05d", year, i+4); got != want {
					t.Fatalf("concurrent case numbers %v, want NUMA-%d-00004 to -%05d", numbers, year, n+3)
				}
			}
		})

		t.Run("Create/identifying fields sealed at rest", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			p := c.Person
			doc := p.IdentityDocuments[0].Number
			for col, plain := range map[string][]string{
				"given_name_enc":    {p.GivenName},
				"family_name_enc":   {p.FamilyName},
				"other_names_enc":   {p.OtherNames},
				"date_of_birth_enc": {"1994-03-17"},
				"phone_enc":         {p.Phone},
				"address_enc":       {p.Address, "Abay Avenue"},
				"documents_enc":     {doc},
			} {
				s.mustSealed(t, col, s.rawString(t, "SELECT "+col+" FROM cases WHERE id = ?", c.ID), plain...)
			}
			if kid := s.rawString(t, "SELECT data_kid FROM cases WHERE id = ?", c.ID); kid.String != s.keys.ActiveKID() {
				t.Errorf("data_kid = %q, want %q", kid.String, s.keys.ActiveKID())
			}
			for _, q := range []string{
				"SELECT name_dob_hash FROM cases WHERE id = ?",
				"SELECT doc_hash FROM case_documents WHERE case_id = ?",
			} {
				h := s.rawString(t, q, c.ID)
				if !h.Valid || strings.Contains(strings.ToLower(h.String), strings.ToLower(p.GivenName)) ||
					strings.Contains(strings.ToLower(h.String), strings.ToLower(doc)) || strings.Contains(h.String, "1994") {
					t.Errorf("%s = %+v: missing or holding plaintext", q, h)
				}
			}
			// Every row the case wrote: no identifying plaintext anywhere.
			rows, err := db.SQL().QueryContext(ctx, s.rebind("SELECT * FROM cases WHERE id = ?"), c.ID)
			mustNoErr(t, err)
			defer rows.Close()
			cols, err := rows.Columns()
			mustNoErr(t, err)
			if !rows.Next() {
				t.Fatal("no stored row")
			}
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			mustNoErr(t, rows.Scan(ptrs...))
			whole := strings.ToLower(fmt.Sprint(vals...))
			for _, plain := range []string{p.GivenName, p.FamilyName, p.OtherNames, p.Phone, p.Address, doc, "1994-03-17"} {
				if strings.Contains(whole, strings.ToLower(plain)) {
					t.Errorf("stored case row holds %q", plain)
				}
			}

			// Absent identifying fields are stored as NULL, and read back empty.
			bare := newTestCase(a, ua, store.Now())
			bare.Person = cases.New().Person
			bare = mustCase(t, s, a, bare)
			for _, col := range []string{"given_name_enc", "family_name_enc", "other_names_enc", "date_of_birth_enc", "phone_enc", "address_enc", "documents_enc", "name_dob_hash"} {
				if v := s.rawString(t, "SELECT "+col+" FROM cases WHERE id = ?", bare.ID); v.Valid {
					t.Errorf("%s of a case without it = %q, want NULL", col, v.String)
				}
			}
			sameJSON(t, "case without identifying fields", mustGetCase(t, s, bare.ID), bare)
		})

		t.Run("Create/rolls back with its audit event", func(t *testing.T) {
			c := newTestCase(a, ua, store.Now())
			_, err := s.cases.Create(ctx, c, a.Code, []cases.Change{{Action: cases.ActionCreated, Field: "case"}}, broken(ua, "case.create", "case", c.ID))
			if err == nil {
				t.Fatal("create with an unstorable audit event succeeded")
			}
			_, err = s.cases.Get(ctx, tenant.All(), c.ID)
			mustCode(t, err, apperr.NotFound)
			if h := mustHistory(t, s, c.ID); len(h) != 0 {
				t.Errorf("history of a rolled-back case: %+v", h)
			}
			for _, tbl := range []string{"case_exploitations", "case_documents"} {
				if n := s.rawCount(t, "SELECT COUNT(*) FROM "+tbl+" WHERE case_id = ?", c.ID); n != 0 {
					t.Errorf("%d %s rows of a rolled-back case", n, tbl)
				}
			}
		})

		t.Run("Create/duplicate id", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			dup := newTestCase(a, ua, store.Now())
			dup.ID = c.ID
			_, err := s.cases.Create(ctx, dup, a.Code, nil, event(ua, "case.create.dup", "case", c.ID))
			mustCode(t, err, apperr.Conflict)
			sameJSON(t, "case after a duplicate create", mustGetCase(t, s, c.ID), c)
			if got := auditActions(t, s, c.ID); slices.Contains(got, "case.create.dup") {
				t.Errorf("audit of a failed create: %v", got)
			}
		})

		ca := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
		cb := mustCase(t, s, b, newTestCase(b, ub, store.Now()))

		t.Run("Get", func(t *testing.T) {
			got, err := s.cases.Get(ctx, tenant.Org(b.ID), cb.ID)
			mustNoErr(t, err)
			sameJSON(t, "case of B in B's scope", got, cb)
			got, err = s.cases.Get(ctx, tenant.All(), ca.ID)
			mustNoErr(t, err)
			sameJSON(t, "case of A in the all scope", got, ca)
			_, err = s.cases.Get(ctx, tenant.All(), store.NewID())
			mustCode(t, err, apperr.NotFound)
		})

		t.Run("Get/foreign organisation", func(t *testing.T) {
			got, foreign := s.cases.Get(ctx, tenant.Org(a.ID), cb.ID)
			_, missing := s.cases.Get(ctx, tenant.Org(a.ID), store.NewID())
			mustSameNotFound(t, foreign, missing)
			if got.Person.GivenName != "" || got.ID != "" {
				t.Fatalf("a foreign Get returned data: %+v", got)
			}
			_, foreign = s.cases.Get(ctx, tenant.Org(b.ID), ca.ID)
			mustCode(t, foreign, apperr.NotFound)
		})

		t.Run("Get/zero scope", func(t *testing.T) {
			for _, id := range []string{ca.ID, cb.ID} {
				_, err := s.cases.Get(ctx, tenant.Scope{}, id)
				mustCode(t, err, apperr.NotFound)
			}
		})

		// The tampering tests spoil their cases: an organisation of their own.
		m := mustOrg(t, s.stores, "MOVED", auth.OrgKindNGO)
		um := mustUser(t, s.stores, m, "worker@moved.example", authz.RoleCaseworker)

		t.Run("Get/ciphertext moved to another case", func(t *testing.T) {
			x := mustCase(t, s, m, newTestCase(m, um, store.Now()))
			y := mustCase(t, s, m, newTestCase(m, um, store.Now()))
			sealed := s.rawString(t, "SELECT given_name_enc FROM cases WHERE id = ?", x.ID)
			if n := s.mustExec(t, "UPDATE cases SET given_name_enc = ? WHERE id = ?", sealed.String, y.ID); n != 1 {
				t.Fatalf("moved the ciphertext into %d rows", n)
			}
			got, err := s.cases.Get(ctx, tenant.All(), y.ID)
			mustCode(t, err, apperr.Internal)
			if strings.Contains(err.Error(), x.Person.GivenName) || got.Person.GivenName == x.Person.GivenName {
				t.Fatalf("a moved ciphertext was opened: %v / %+v", err, got.Person)
			}
			_, err = s.cases.List(ctx, tenant.Org(m.ID), cases.Filter{}, all(200))
			mustCode(t, err, apperr.Internal)
			// x itself is untouched.
			sameJSON(t, "case the ciphertext was copied from", mustGetCase(t, s, x.ID), x)
		})

		t.Run("Get/ciphertext moved to another column", func(t *testing.T) {
			x := mustCase(t, s, m, newTestCase(m, um, store.Now()))
			s.mustExec(t, "UPDATE cases SET family_name_enc = given_name_enc WHERE id = ?", x.ID)
			got, err := s.cases.Get(ctx, tenant.All(), x.ID)
			mustCode(t, err, apperr.Internal)
			if got.Person.FamilyName == x.Person.GivenName {
				t.Fatal("a ciphertext moved to another column was opened")
			}
		})

		t.Run("Access", func(t *testing.T) {
			owner, referred, err := s.cases.Access(ctx, ca.ID, a.ID)
			mustNoErr(t, err)
			if owner != a.ID || referred {
				t.Fatalf("Access(own case) = %s, %v; want %s, false", owner, referred, a.ID)
			}
			_, _, missing := s.cases.Access(ctx, store.NewID(), a.ID)
			_, getMissing := s.cases.Get(ctx, tenant.Org(a.ID), store.NewID())
			mustSameNotFound(t, missing, getMissing)
		})

		t.Run("Access/foreign organisation", func(t *testing.T) {
			// Access names the owner (never identifying data) so callers can
			// decide; an unrelated organisation is not referred.
			owner, referred, err := s.cases.Access(ctx, cb.ID, a.ID)
			mustNoErr(t, err)
			if owner != b.ID || referred {
				t.Fatalf("Access(B's case, A) = %s, %v; want %s, false", owner, referred, b.ID)
			}
			c := mustCase(t, s, b, newTestCase(b, ub, store.Now()))
			mustReferral(t, s, c, a, "pending")
			if _, referred, err := s.cases.Access(ctx, c.ID, a.ID); err != nil || referred {
				t.Fatalf("Access with a pending referral = %v, %v; want not referred", referred, err)
			}
			mustReferral(t, s, c, a, "accepted")
			if owner, referred, err := s.cases.Access(ctx, c.ID, a.ID); err != nil || owner != b.ID || !referred {
				t.Fatalf("Access with an accepted referral = %s, %v, %v; want %s, true", owner, referred, err, b.ID)
			}
			other := mustOrg(t, s.stores, "THIRD", auth.OrgKindNGO)
			if _, referred, err := s.cases.Access(ctx, c.ID, other.ID); err != nil || referred {
				t.Fatalf("Access for a third organisation = %v, %v; want not referred", referred, err)
			}
		})

		t.Run("List", func(t *testing.T) {
			l := mustOrg(t, s.stores, "LIST", auth.OrgKindNGO)
			u1 := mustUser(t, s.stores, l, "one@list.example", authz.RoleCaseworker)
			u2 := mustUser(t, s.stores, l, "two@list.example", authz.RoleCaseworker)

			c1 := newTestCase(l, u1, store.Now())
			c1.OpenedOn = day(2025, 1, 10)
			c1 = mustCase(t, s, l, c1)
			c2 := newTestCase(l, u1, store.Now())
			c2.OpenedOn, c2.AssignedTo = day(2025, 2, 10), ptr(u2.ID)
			c2.Person.Sex, c2.Person.DateOfBirth = "male", ptr(day(2012, 6, 1))
			c2.Trafficking.ExploitationTypes = []string{"sexual_exploitation", "forced_begging"}
			c2 = mustCase(t, s, l, c2)
			c3 := newTestCase(l, u1, store.Now())
			c3.OpenedOn = day(2025, 3, 10)
			c3 = mustCase(t, s, l, c3)
			sv := newTestService(c3, l, u1, "medical", services.StatusPlanned)
			mustNoErr(t, s.services.Create(ctx, sv, event(u1, "service.create", "service", sv.ID)))

			list := func(scope tenant.Scope, f cases.Filter, r page.Request) []string {
				t.Helper()
				got, err := s.cases.List(ctx, scope, f, r)
				mustNoErr(t, err)
				return caseIDs(got)
			}
			only := cases.Filter{OrganizationID: l.ID}
			with := func(f func(*cases.Filter)) cases.Filter {
				g := only
				f(&g)
				return g
			}
			for name, c := range map[string]struct {
				f    cases.Filter
				want []string
			}{
				"organisation":     {only, sorted(c1.ID, c2.ID, c3.ID)},
				"status open":      {with(func(f *cases.Filter) { f.Status = cases.StatusOpen }), sorted(c1.ID, c2.ID)},
				"status active":    {with(func(f *cases.Filter) { f.Status = cases.StatusActive }), []string{c3.ID}},
				"assigned to":      {with(func(f *cases.Filter) { f.AssignedTo = u2.ID }), []string{c2.ID}},
				"sex":              {with(func(f *cases.Filter) { f.Sex = "male" }), []string{c2.ID}},
				"age group child":  {with(func(f *cases.Filter) { f.AgeGroup = cases.AgeGroupChild }), []string{c2.ID}},
				"age group adult":  {with(func(f *cases.Filter) { f.AgeGroup = cases.AgeGroupAdult }), sorted(c1.ID, c3.ID)},
				"exploitation":     {with(func(f *cases.Filter) { f.ExploitationType = "forced_begging" }), []string{c2.ID}},
				"service type":     {with(func(f *cases.Filter) { f.ServiceType = "medical" }), []string{c3.ID}},
				"no such service":  {with(func(f *cases.Filter) { f.ServiceType = "legal" }), nil},
				"opened from":      {with(func(f *cases.Filter) { f.OpenedFrom = ptr(day(2025, 2, 10)) }), sorted(c2.ID, c3.ID)},
				"opened to":        {with(func(f *cases.Filter) { f.OpenedTo = ptr(day(2025, 2, 10)) }), sorted(c1.ID, c2.ID)},
				"opened in a span": {with(func(f *cases.Filter) { f.OpenedFrom, f.OpenedTo = ptr(day(2025, 2, 1)), ptr(day(2025, 2, 28)) }), []string{c2.ID}},
			} {
				t.Run(name, func(t *testing.T) {
					if got := list(tenant.Org(l.ID), c.f, all(50)); !slices.Equal(got, c.want) {
						t.Fatalf("List(Org(L), %s) = %v, want %v", name, got, c.want)
					}
					if got := list(tenant.All(), c.f, all(50)); !slices.Equal(got, c.want) {
						t.Fatalf("List(All, %s) = %v, want %v", name, got, c.want)
					}
				})
			}

			got, err := s.cases.List(ctx, tenant.Org(l.ID), cases.Filter{Sex: "male"}, all(50))
			mustNoErr(t, err)
			if len(got) != 1 {
				t.Fatalf("List(male) = %v", caseIDs(got))
			}
			sameJSON(t, "listed case", got[0], c2)

			ids := sorted(c1.ID, c2.ID, c3.ID)
			if got := list(tenant.Org(l.ID), cases.Filter{}, all(1)); !slices.Equal(got, ids[:2]) {
				t.Fatalf("List(limit 1) = %v, want %v", got, ids[:2])
			}
			if got := list(tenant.Org(l.ID), cases.Filter{}, page.Request{Limit: 50, After: ids[0]}); !slices.Equal(got, ids[1:]) {
				t.Fatalf("List(after first) = %v, want %v", got, ids[1:])
			}

			mark := store.Now()
			time.Sleep(2 * time.Millisecond)
			_, err = s.cases.Update(ctx, tenant.Org(l.ID), c1.ID, 0, func(c *cases.Case) ([]cases.Change, error) {
				c.Status = cases.StatusActive
				return nil, nil
			}, event(u1, "case.update", "case", c1.ID))
			mustNoErr(t, err)
			if got := list(tenant.Org(l.ID), cases.Filter{}, page.Request{Limit: 50, UpdatedSince: &mark}); !slices.Equal(got, []string{c1.ID}) {
				t.Fatalf("List(updated since) = %v, want only %s", got, c1.ID)
			}
		})

		t.Run("List/foreign organisation", func(t *testing.T) {
			for _, c := range []struct {
				name  string
				scope tenant.Scope
				f     cases.Filter
				not   string
			}{
				{"A's scope", tenant.Org(a.ID), cases.Filter{}, b.ID},
				{"A's scope, filter B", tenant.Org(a.ID), cases.Filter{OrganizationID: b.ID}, b.ID},
				{"B's scope", tenant.Org(b.ID), cases.Filter{}, a.ID},
				{"B's scope, referred to B", tenant.Org(b.ID), cases.Filter{ReferredTo: b.ID}, a.ID},
			} {
				got, err := s.cases.List(ctx, c.scope, c.f, all(200))
				mustNoErr(t, err)
				for _, x := range got {
					if x.OrganizationID == c.not {
						t.Fatalf("List(%s) holds case %s of another organisation", c.name, x.ID)
					}
				}
			}
			got, err := s.cases.List(ctx, tenant.Org(a.ID), cases.Filter{OrganizationID: b.ID}, all(200))
			mustNoErr(t, err)
			if len(got) != 0 {
				t.Fatalf("List(Org(A), organisation B) = %v", caseIDs(got))
			}
			got, err = s.cases.List(ctx, tenant.Org(a.ID), cases.Filter{}, all(200))
			mustNoErr(t, err)
			if !slices.Contains(caseIDs(got), ca.ID) || slices.Contains(caseIDs(got), cb.ID) {
				t.Fatalf("List(Org(A)) = %v: want A's case %s, not B's %s", caseIDs(got), ca.ID, cb.ID)
			}
		})

		t.Run("List/referred", func(t *testing.T) {
			from := mustOrg(t, s.stores, "OWNER", auth.OrgKindNGO)
			to := mustOrg(t, s.stores, "RECIP", auth.OrgKindNGO)
			third := mustOrg(t, s.stores, "OTHER", auth.OrgKindNGO)
			uf := mustUser(t, s.stores, from, "worker@owner.example", authz.RoleCaseworker)
			ut := mustUser(t, s.stores, to, "worker@recip.example", authz.RoleCaseworker)
			shared := mustCase(t, s, from, newTestCase(from, uf, store.Now()))
			pending := mustCase(t, s, from, newTestCase(from, uf, store.Now()))
			mine := mustCase(t, s, to, newTestCase(to, ut, store.Now()))
			mustReferral(t, s, shared, to, "accepted")
			mustReferral(t, s, pending, to, "pending")
			mustReferral(t, s, pending, third, "accepted")

			list := func(scope tenant.Scope, f cases.Filter) []string {
				t.Helper()
				got, err := s.cases.List(ctx, scope, f, all(200))
				mustNoErr(t, err)
				return caseIDs(got)
			}
			if got, want := list(tenant.Org(to.ID), cases.Filter{ReferredTo: to.ID}), sorted(shared.ID, mine.ID); !slices.Equal(got, want) {
				t.Fatalf("List(Org(to), referred to it) = %v, want %v", got, want)
			}
			// No own-organisation rows: only what is shared by an accepted referral.
			if got := list(tenant.Scope{}, cases.Filter{ReferredTo: to.ID}); !slices.Equal(got, []string{shared.ID}) {
				t.Fatalf("List(zero scope, referred to it) = %v, want only %s", got, shared.ID)
			}
			if got := list(tenant.Org(to.ID), cases.Filter{}); !slices.Equal(got, []string{mine.ID}) {
				t.Fatalf("List(Org(to)) without referrals = %v, want only %s", got, mine.ID)
			}
			if got := list(tenant.Scope{}, cases.Filter{ReferredTo: third.ID}); !slices.Equal(got, []string{pending.ID}) {
				t.Fatalf("List(zero scope, referred to third) = %v, want only %s", got, pending.ID)
			}
			shares, err := s.cases.ReferredTo(ctx, []string{shared.ID, pending.ID, mine.ID}, to.ID)
			mustNoErr(t, err)
			if len(shares) != 1 || !shares[shared.ID] {
				t.Fatalf("ReferredTo = %v, want only %s", shares, shared.ID)
			}
		})

		t.Run("List/zero scope", func(t *testing.T) {
			for _, f := range []cases.Filter{{}, {OrganizationID: a.ID}, {Status: cases.StatusOpen}} {
				got, err := s.cases.List(ctx, tenant.Scope{}, f, all(200))
				mustNoErr(t, err)
				if len(got) != 0 {
					t.Fatalf("List(zero scope, %+v) = %v, want nothing", f, caseIDs(got))
				}
			}
		})

		t.Run("Update", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			ev := event(ua, "case.update", "case", c.ID)
			got, err := s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 1, func(x *cases.Case) ([]cases.Change, error) {
				before := *x
				x.Status = cases.StatusActive
				x.Person.Phone = "+77770000000"
				x.Person.Languages = []string{"ru"}
				x.Person.IdentityDocuments = []cases.IdentityDocument{{Type: "national_id", Number: "ID 777 000", IssuingCountry: "KZ"}}
				x.Trafficking.ExploitationTypes = []string{"forced_labour", "forced_criminality"}
				return cases.Diff(cases.ActionUpdated, before, *x), nil
			}, ev)
			mustNoErr(t, err)
			want := c
			want.Status = cases.StatusActive
			want.Person.Phone = "+77770000000"
			want.Person.Languages = []string{"ru"}
			want.Person.IdentityDocuments = []cases.IdentityDocument{{Type: "national_id", Number: "ID 777 000", IssuingCountry: "KZ"}}
			want.Trafficking.ExploitationTypes = []string{"forced_labour", "forced_criminality"}
			want.Version = 2
			if !got.UpdatedAt.After(c.UpdatedAt) {
				t.Fatalf("updated_at %v after an update, was %v", got.UpdatedAt, c.UpdatedAt)
			}
			want.UpdatedAt = got.UpdatedAt
			sameJSON(t, "updated case", got, want)
			read := mustGetCase(t, s, c.ID)
			if !read.UpdatedAt.Equal(got.UpdatedAt) {
				t.Errorf("Update returned updated_at %v, but stored %v: the returned case is not the stored one",
					got.UpdatedAt.Format(time.RFC3339Nano), read.UpdatedAt.Format(time.RFC3339Nano))
			}
			read.UpdatedAt = got.UpdatedAt // compared above
			sameJSON(t, "stored updated case", read, want)

			h := changesOf(mustHistory(t, s, c.ID))
			wantH := []change{
				{cases.ActionCreated, "case", false, nil, nil},
				{cases.ActionUpdated, "status", false, ptr("open"), ptr("active")},
				{cases.ActionUpdated, "person.languages", false, ptr("kk,ru"), ptr("ru")},
				{cases.ActionUpdated, "person.phone", true, nil, nil},
				{cases.ActionUpdated, "person.identity_documents", true, nil, nil},
				{cases.ActionUpdated, "trafficking.exploitation_types", false, ptr("forced_labour"), ptr("forced_labour,forced_criminality")},
			}
			sameJSON(t, "history after update", h, wantH)
			if got := auditActions(t, s, c.ID); !slices.Equal(got, []string{"case.create", "case.update"}) {
				t.Fatalf("audit after update = %v", got)
			}

			// The indexes follow: the new exploitation type and document match, the old document does not.
			found, err := s.cases.List(ctx, tenant.Org(a.ID), cases.Filter{ExploitationType: "forced_criminality"}, all(200))
			mustNoErr(t, err)
			if !slices.Contains(caseIDs(found), c.ID) {
				t.Fatalf("List(forced_criminality) = %v, lacks the updated case", caseIDs(found))
			}
			probe := cases.New()
			probe.ID = store.NewID()
			probe.Person.IdentityDocuments = []cases.IdentityDocument{{Type: "national_id", Number: "id777000", IssuingCountry: "KZ"}}
			dups, err := s.cases.Duplicates(ctx, a.ID, probe)
			mustNoErr(t, err)
			if !slices.Equal(dups, []string{c.CaseNumber}) {
				t.Fatalf("Duplicates(new document) = %v, want [%s]", dups, c.CaseNumber)
			}
			probe.Person.IdentityDocuments = c.Person.IdentityDocuments
			dups, err = s.cases.Duplicates(ctx, a.ID, probe)
			mustNoErr(t, err)
			if len(dups) != 0 {
				t.Fatalf("Duplicates(replaced document) = %v, want none", dups)
			}

			// Version 0 updates whatever version is stored.
			got, err = s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 0, func(x *cases.Case) ([]cases.Change, error) {
				x.Status = cases.StatusFollowUp
				return nil, nil
			}, event(ua, "case.update", "case", c.ID))
			mustNoErr(t, err)
			if got.Version != 3 || got.Status != cases.StatusFollowUp || !got.CreatedAt.Equal(c.CreatedAt) || got.CaseNumber != c.CaseNumber {
				t.Fatalf("after an update at version 0: %+v", got)
			}
		})

		t.Run("Update/immutable columns", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			_, err := s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 1, func(x *cases.Case) ([]cases.Change, error) {
				x.OrganizationID, x.CaseNumber, x.CreatedBy = b.ID, "SANA-1999-00001", ub.ID
				x.CreatedAt = x.CreatedAt.Add(-time.Hour)
				return nil, nil
			}, event(ua, "case.update", "case", c.ID))
			mustNoErr(t, err)
			read := mustGetCase(t, s, c.ID)
			if read.OrganizationID != a.ID || read.CaseNumber != c.CaseNumber || read.CreatedBy != ua.ID || !read.CreatedAt.Equal(c.CreatedAt) {
				t.Fatalf("an update moved immutable columns: %+v", read)
			}
			if _, err := s.cases.Get(ctx, tenant.Org(b.ID), c.ID); apperr.CodeOf(err) != apperr.NotFound {
				t.Fatalf("the case moved to B: %v", err)
			}
		})

		t.Run("Update/stale version", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			_, err := s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 1, func(x *cases.Case) ([]cases.Change, error) {
				x.Person.Gender = "not_specified"
				return []cases.Change{{Action: cases.ActionUpdated, Field: "person.gender"}}, nil
			}, event(ua, "case.update", "case", c.ID))
			mustNoErr(t, err)
			v2 := mustGetCase(t, s, c.ID)
			if v2.Version != 2 || v2.Person.Gender != "not_specified" {
				t.Fatalf("after the first update: %+v", v2)
			}
			called := false
			_, err = s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 1, func(x *cases.Case) ([]cases.Change, error) {
				called = true
				x.Status = cases.StatusClosed
				return []cases.Change{{Action: cases.ActionClosed, Field: "status"}}, nil
			}, event(ua, "case.update.stale", "case", c.ID))
			mustCode(t, err, apperr.PreconditionFailed)
			if called {
				t.Error("the change was applied to a case at another version")
			}
			sameJSON(t, "case after a stale update", mustGetCase(t, s, c.ID), v2)
			if h := mustHistory(t, s, c.ID); len(h) != 2 {
				t.Fatalf("history after a stale update: %+v", changesOf(h))
			}
			if got := auditActions(t, s, c.ID); slices.Contains(got, "case.update.stale") {
				t.Fatalf("audit of a stale update: %v", got)
			}
			_, err = s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 3, func(x *cases.Case) ([]cases.Change, error) { return nil, nil }, event(ua, "case.update", "case", c.ID))
			mustCode(t, err, apperr.PreconditionFailed)
		})

		t.Run("Update/foreign organisation", func(t *testing.T) {
			before := mustGetCase(t, s, cb.ID)
			hist := len(mustHistory(t, s, cb.ID))
			for _, version := range []int64{before.Version, 0, before.Version + 5} {
				called := false
				_, foreign := s.cases.Update(ctx, tenant.Org(a.ID), cb.ID, version, func(x *cases.Case) ([]cases.Change, error) {
					called = true
					x.Person.GivenName = "Hijacked"
					return []cases.Change{{Action: cases.ActionUpdated, Field: "person.given_name", Identifying: true}}, nil
				}, event(ua, "case.update.foreign", "case", cb.ID))
				_, missing := s.cases.Update(ctx, tenant.Org(a.ID), store.NewID(), version, func(x *cases.Case) ([]cases.Change, error) { return nil, nil },
					event(ua, "case.update.foreign", "case", store.NewID()))
				mustSameNotFound(t, foreign, missing)
				if called {
					t.Fatal("a change was applied to another organisation's case")
				}
			}
			sameJSON(t, "foreign case after updates from A", mustGetCase(t, s, cb.ID), before)
			if h := mustHistory(t, s, cb.ID); len(h) != hist {
				t.Fatalf("history of B's case grew: %+v", changesOf(h))
			}
			if got := auditActions(t, s, cb.ID); slices.Contains(got, "case.update.foreign") {
				t.Fatalf("audit of refused updates: %v", got)
			}
		})

		t.Run("Update/zero scope", func(t *testing.T) {
			before := mustGetCase(t, s, ca.ID)
			called := false
			_, err := s.cases.Update(ctx, tenant.Scope{}, ca.ID, before.Version, func(x *cases.Case) ([]cases.Change, error) {
				called = true
				x.Status = cases.StatusClosed
				return nil, nil
			}, event(ua, "case.update", "case", ca.ID))
			mustCode(t, err, apperr.NotFound)
			if called {
				t.Fatal("a change was applied under the zero scope")
			}
			sameJSON(t, "case after an update under the zero scope", mustGetCase(t, s, ca.ID), before)
		})

		t.Run("Update/change error rolls back", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			_, err := s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 1, func(x *cases.Case) ([]cases.Change, error) {
				x.Status = cases.StatusClosed
				x.Person.GivenName = "Changed"
				x.Trafficking.ExploitationTypes = []string{"organ_removal"}
				return []cases.Change{{Action: cases.ActionClosed, Field: "status", Old: ptr("open"), New: ptr("closed")}},
					apperr.New(apperr.Conflict, "refused by the change")
			}, event(ua, "case.update.refused", "case", c.ID))
			mustCode(t, err, apperr.Conflict)
			sameJSON(t, "case after a refused change", mustGetCase(t, s, c.ID), c)
			if h := mustHistory(t, s, c.ID); len(h) != 1 {
				t.Fatalf("history after a refused change: %+v", changesOf(h))
			}
			if got := auditActions(t, s, c.ID); !slices.Equal(got, []string{"case.create"}) {
				t.Fatalf("audit after a refused change = %v", got)
			}
			if n := s.rawCount(t, "SELECT COUNT(*) FROM case_exploitations WHERE case_id = ? AND type = ?", c.ID, "organ_removal"); n != 0 {
				t.Fatal("the exploitation index of a refused change was written")
			}
		})

		t.Run("Update/audit failure rolls back", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			_, err := s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 1, func(x *cases.Case) ([]cases.Change, error) {
				before := *x
				x.Status = cases.StatusActive
				x.Person.IdentityDocuments = nil
				x.Trafficking.ExploitationTypes = []string{"organ_removal"}
				return cases.Diff(cases.ActionUpdated, before, *x), nil
			}, broken(ua, "case.update", "case", c.ID))
			if err == nil {
				t.Fatal("an update with an unstorable audit event succeeded")
			}
			sameJSON(t, "case after a rolled-back update", mustGetCase(t, s, c.ID), c)
			if h := mustHistory(t, s, c.ID); len(h) != 1 {
				t.Fatalf("history after a rolled-back update: %+v", changesOf(h))
			}
			if n := s.rawCount(t, "SELECT COUNT(*) FROM case_exploitations WHERE case_id = ? AND type = ?", c.ID, "organ_removal"); n != 0 {
				t.Fatal("the exploitation index of a rolled-back update was written")
			}
			probe := cases.New()
			probe.ID = store.NewID()
			probe.Person.IdentityDocuments = c.Person.IdentityDocuments
			dups, err := s.cases.Duplicates(ctx, a.ID, probe)
			mustNoErr(t, err)
			if !slices.Equal(dups, []string{c.CaseNumber}) {
				t.Fatalf("document index after a rolled-back update: Duplicates = %v, want [%s]", dups, c.CaseNumber)
			}
		})

		t.Run("Update/concurrent same version", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 1, func(x *cases.Case) ([]cases.Change, error) {
						x.Person.OtherNames = fmt.Sprintf("Writer %d", i)
						return []cases.Change{{Action: cases.ActionUpdated, Field: "person.other_names", Identifying: true}}, nil
					}, event(ua, "case.update", "case", c.ID))
				}()
			}
			wg.Wait()
			mustOneWinner(t, errs)
			if got := mustGetCase(t, s, c.ID); got.Version != 2 {
				t.Fatalf("version after %d concurrent updates at version 1 = %d, want 2", n, got.Version)
			}
			if h := mustHistory(t, s, c.ID); len(h) != 2 {
				t.Fatalf("history after concurrent updates: %+v", changesOf(h))
			}
		})

		t.Run("History/identifying values never stored", func(t *testing.T) {
			c := newTestCase(a, ua, store.Now())
			c, err := s.cases.Create(ctx, c, a.Code, []cases.Change{
				{Action: cases.ActionCreated, Field: "case"},
				{Action: cases.ActionCreated, Field: "person.given_name", Identifying: true, New: ptr(c.Person.GivenName)},
			}, event(ua, "case.create", "case", c.ID))
			mustNoErr(t, err)
			old := c.Person.GivenName
			_, err = s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 1, func(x *cases.Case) ([]cases.Change, error) {
				x.Person.GivenName, x.Person.Address = "Aisha", "5 Dostyk Street"
				x.Person.Sex = "male"
				return []cases.Change{
					{Action: cases.ActionUpdated, Field: "person.given_name", Identifying: true, Old: ptr(old), New: ptr("Aisha")},
					{Action: cases.ActionUpdated, Field: "person.address", Identifying: true, Old: ptr(c.Person.Address), New: ptr("5 Dostyk Street")},
					{Action: cases.ActionUpdated, Field: "person.sex", Old: ptr("female"), New: ptr("male")},
				}, nil
			}, event(ua, "case.update", "case", c.ID))
			mustNoErr(t, err)
			want := []change{
				{cases.ActionCreated, "case", false, nil, nil},
				{cases.ActionCreated, "person.given_name", true, nil, nil},
				{cases.ActionUpdated, "person.given_name", true, nil, nil},
				{cases.ActionUpdated, "person.address", true, nil, nil},
				{cases.ActionUpdated, "person.sex", false, ptr("female"), ptr("male")},
			}
			sameJSON(t, "history", changesOf(mustHistory(t, s, c.ID)), want)
			for _, plain := range []string{old, "Aisha", "Dostyk", "Abay"} {
				if n := s.rawCount(t, "SELECT COUNT(*) FROM case_history WHERE old_value LIKE ? OR new_value LIKE ?", "%"+plain+"%", "%"+plain+"%"); n != 0 {
					t.Errorf("%d history rows hold %q", n, plain)
				}
			}
			if n := s.rawCount(t, "SELECT COUNT(*) FROM case_history WHERE identifying = ? AND (old_value IS NOT NULL OR new_value IS NOT NULL)", true); n != 0 {
				t.Errorf("%d identifying history rows carry values", n)
			}
		})

		t.Run("History", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			other := mustCase(t, s, b, newTestCase(b, ub, store.Now()))
			start := store.Now()
			for i, st := range []string{cases.StatusActive, cases.StatusFollowUp} {
				_, err := s.cases.Update(ctx, tenant.Org(a.ID), c.ID, int64(i+1), func(x *cases.Case) ([]cases.Change, error) {
					before := *x
					x.Status = st
					return cases.Diff(cases.ActionStatusChanged, before, *x), nil
				}, event(ua, "case.update", "case", c.ID))
				mustNoErr(t, err)
			}
			h := mustHistory(t, s, c.ID)
			sameJSON(t, "history", changesOf(h), []change{
				{cases.ActionCreated, "case", false, nil, nil},
				{cases.ActionStatusChanged, "status", false, ptr("open"), ptr("active")},
				{cases.ActionStatusChanged, "status", false, ptr("active"), ptr("follow_up")},
			})
			for _, e := range h {
				if e.ActorID != ua.ID || e.ID == "" {
					t.Fatalf("history entry %+v", e)
				}
			}
			if h[1].ChangedAt.Before(start) || h[2].ChangedAt.Before(h[1].ChangedAt) {
				t.Fatalf("history times %v, %v (start %v)", h[1].ChangedAt, h[2].ChangedAt, start)
			}
			first, err := s.cases.History(ctx, c.ID, all(1))
			mustNoErr(t, err)
			if len(first) != 2 || first[0].ID != h[0].ID || first[1].ID != h[1].ID {
				t.Fatalf("History(limit 1) = %+v", changesOf(first))
			}
			rest, err := s.cases.History(ctx, c.ID, page.Request{Limit: 50, After: h[1].ID})
			mustNoErr(t, err)
			if len(rest) != 1 || rest[0].ID != h[2].ID {
				t.Fatalf("History(after second) = %+v", changesOf(rest))
			}
			// Bound to its case: another case's entries never appear.
			oh := mustHistory(t, s, other.ID)
			if len(oh) != 1 || oh[0].ActorID != ub.ID {
				t.Fatalf("history of another case = %+v", oh)
			}
			none, err := s.cases.History(ctx, store.NewID(), all(50))
			mustNoErr(t, err)
			if len(none) != 0 {
				t.Fatalf("history of a missing case = %+v", none)
			}
		})

		t.Run("HasServices", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			other := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			has, err := s.cases.HasServices(ctx, c.ID)
			mustNoErr(t, err)
			if has {
				t.Fatal("HasServices of a new case = true")
			}
			sv := newTestService(c, a, ua, "legal", services.StatusCancelled)
			mustNoErr(t, s.services.Create(ctx, sv, event(ua, "service.create", "service", sv.ID)))
			if has, err = s.cases.HasServices(ctx, c.ID); err != nil || !has {
				t.Fatalf("HasServices after a service = %v, %v", has, err)
			}
			if has, err = s.cases.HasServices(ctx, other.ID); err != nil || has {
				t.Fatalf("HasServices of another case = %v, %v", has, err)
			}
		})

		t.Run("Duplicates", func(t *testing.T) {
			d := mustOrg(t, s.stores, "DUPS", auth.OrgKindNGO)
			e := mustOrg(t, s.stores, "ELSE", auth.OrgKindNGO)
			ud := mustUser(t, s.stores, d, "worker@dups.example", authz.RoleCaseworker)
			ue := mustUser(t, s.stores, e, "worker@else.example", authz.RoleCaseworker)
			person := func(c cases.Case) cases.Case {
				c.Person.GivenName, c.Person.FamilyName, c.Person.DateOfBirth = "Gulnara", "Seitkali", ptr(day(1988, 8, 8))
				c.Person.IdentityDocuments = []cases.IdentityDocument{{Type: "passport", Number: "N 0987 654", IssuingCountry: "KZ"}}
				return c
			}
			d1 := mustCase(t, s, d, person(newTestCase(d, ud, store.Now())))
			e1 := mustCase(t, s, e, person(newTestCase(e, ue, store.Now())))

			probe := func(f func(*cases.Person)) cases.Case {
				c := cases.New()
				c.ID, c.OrganizationID = store.NewID(), d.ID
				f(&c.Person)
				return c
			}
			dups := func(orgID string, c cases.Case) []string {
				t.Helper()
				got, err := s.cases.Duplicates(ctx, orgID, c)
				mustNoErr(t, err)
				return got
			}
			sameName := probe(func(p *cases.Person) {
				p.GivenName, p.FamilyName, p.DateOfBirth = "  gulnara", "SEITKALI. ", ptr(day(1988, 8, 8))
			})
			sameDoc := probe(func(p *cases.Person) {
				p.IdentityDocuments = []cases.IdentityDocument{{Type: "passport", Number: "n0987654", IssuingCountry: "KZ"}}
			})
			for name, c := range map[string]struct {
				org  string
				c    cases.Case
				want []string
			}{
				"same name and date of birth": {d.ID, sameName, []string{d1.CaseNumber}},
				"same document":               {d.ID, sameDoc, []string{d1.CaseNumber}},
				"name, other date of birth": {d.ID, probe(func(p *cases.Person) {
					p.GivenName, p.FamilyName, p.DateOfBirth = "Gulnara", "Seitkali", ptr(day(1988, 8, 9))
				}), nil},
				"name without date of birth": {d.ID, probe(func(p *cases.Person) { p.GivenName, p.FamilyName = "Gulnara", "Seitkali" }), nil},
				"document of another country": {d.ID, probe(func(p *cases.Person) {
					p.IdentityDocuments = []cases.IdentityDocument{{Type: "passport", Number: "N0987654", IssuingCountry: "UZ"}}
				}), nil},
				"same name, other document": {d.ID, probe(func(p *cases.Person) {
					p.GivenName, p.FamilyName, p.DateOfBirth = "Gulnara", "Seitkali", ptr(day(1988, 8, 8))
					p.IdentityDocuments = []cases.IdentityDocument{{Type: "passport", Number: "N1111111", IssuingCountry: "KZ"}}
				}), []string{d1.CaseNumber}},
				"other name, same document": {d.ID, probe(func(p *cases.Person) {
					p.GivenName, p.FamilyName, p.DateOfBirth = "Madina", "Seitkali", ptr(day(1988, 8, 8))
					p.IdentityDocuments = []cases.IdentityDocument{{Type: "passport", Number: "N0987654", IssuingCountry: "KZ"}}
				}), []string{d1.CaseNumber}},
				"nothing identifying":      {d.ID, probe(func(p *cases.Person) {}), nil},
				"the case itself":          {d.ID, d1, nil},
				"another organisation's":   {e.ID, sameName, []string{e1.CaseNumber}},
				"organisation without any": {a.ID, sameDoc, nil},
			} {
				t.Run(name, func(t *testing.T) {
					if got := dups(c.org, c.c); !slices.Equal(got, c.want) {
						t.Fatalf("Duplicates = %v, want %v", got, c.want)
					}
				})
			}
			d2 := mustCase(t, s, d, person(newTestCase(d, ud, store.Now())))
			if got, want := dups(d.ID, sameName), []string{d1.CaseNumber, d2.CaseNumber}; !slices.Equal(got, want) {
				t.Fatalf("Duplicates with two matches = %v, want %v", got, want)
			}
			if got := dups(d.ID, d1); !slices.Equal(got, []string{d2.CaseNumber}) {
				t.Fatalf("Duplicates of d1 = %v, want [%s]", got, d2.CaseNumber)
			}
		})
	})
}

// newTestService is a service on c, recorded by by of provider.
func newTestService(c cases.Case, provider organizations.Organization, by users.User, typ, status string) services.Service {
	now := store.Now()
	return services.Service{
		ID: store.NewID(), CaseID: c.ID, OrganizationID: c.OrganizationID, ProviderOrganizationID: provider.ID,
		Type: typ, Status: status, StartedOn: ptr(day(2025, 3, 1)), Details: map[string]any{},
		RecordedBy: by.ID, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
}

func serviceIDs(items []services.Service) []string {
	out := make([]string, len(items))
	for i, v := range items {
		out[i] = v.ID
	}
	return out
}

func TestServicesStore(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestCaseStores(t, db)
		a := mustOrg(t, s.stores, "RODNIK", auth.OrgKindNGO)
		b := mustOrg(t, s.stores, "SANA", auth.OrgKindNGO)
		ua := mustUser(t, s.stores, a, "worker@rodnik.example", authz.RoleCaseworker)
		ub := mustUser(t, s.stores, b, "worker@sana.example", authz.RoleCaseworker)

		create := func(t *testing.T, v services.Service, by users.User) {
			t.Helper()
			mustNoErr(t, s.services.Create(ctx, v, event(by, "service.create", "service", v.ID)))
		}
		update := func(t *testing.T, c cases.Case, v services.Service, status string, by users.User) services.Service {
			t.Helper()
			got, err := s.services.Update(ctx, c.ID, v.ID, v.Version, func(x *services.Service) error {
				x.Status, x.UpdatedAt = status, store.Now()
				return nil
			}, event(by, "service.update", "service", v.ID))
			mustNoErr(t, err)
			return got
		}
		status := func(t *testing.T, c cases.Case, want string, version int64) cases.Case {
			t.Helper()
			got := mustGetCase(t, s, c.ID)
			if got.Status != want || got.Version != version {
				t.Fatalf("case status %s version %d, want %s version %d", got.Status, got.Version, want, version)
			}
			return got
		}

		t.Run("Create and Get", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			v := newTestService(c, b, ub, "shelter", services.StatusInProgress)
			v.Cost = &services.Money{Amount: 1500000, Currency: "KZT"}
			v.FundingProject = "J/TIP 2025"
			v.Notes = "Night staff: she asked for her sister in Shymkent"
			v.Details = map[string]any{"facility": "Safe House Almaty Three", "admitted_on": "2025-03-01"}
			create(t, v, ub)
			got, err := s.services.Get(ctx, c.ID, v.ID)
			mustNoErr(t, err)
			sameJSON(t, "stored service", got, v)
			s.mustSealed(t, "notes_enc", s.rawString(t, "SELECT notes_enc FROM services WHERE id = ?", v.ID), "sister", "Shymkent")
			s.mustSealed(t, "details_enc", s.rawString(t, "SELECT details_enc FROM services WHERE id = ?", v.ID), "Safe House")
			if d := s.rawString(t, "SELECT details FROM services WHERE id = ?", v.ID); strings.Contains(d.String, "Safe House") || !strings.Contains(d.String, "2025-03-01") {
				t.Errorf("plain details = %q", d.String)
			}
			if got := auditActions(t, s, v.ID); !slices.Equal(got, []string{"service.create"}) {
				t.Errorf("audit of a service create = %v", got)
			}

			// Sealed to its own row.
			w := newTestService(c, a, ua, "other", services.StatusPlanned)
			w.Notes = "unrelated"
			create(t, w, ua)
			s.mustExec(t, "UPDATE services SET notes_enc = (SELECT notes_enc FROM services WHERE id = ?) WHERE id = ?", v.ID, w.ID)
			got, err = s.services.Get(ctx, c.ID, w.ID)
			mustCode(t, err, apperr.Internal)
			if strings.Contains(got.Notes, "sister") {
				t.Fatal("moved service notes were opened")
			}
		})

		t.Run("Create/rolls back with its audit event", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			v := newTestService(c, a, ua, "legal", services.StatusPlanned)
			if err := s.services.Create(ctx, v, broken(ua, "service.create", "service", v.ID)); err == nil {
				t.Fatal("a create with an unstorable audit event succeeded")
			}
			_, err := s.services.Get(ctx, c.ID, v.ID)
			mustCode(t, err, apperr.NotFound)
			sameJSON(t, "case after a rolled-back service", mustGetCase(t, s, c.ID), c)
			if h := mustHistory(t, s, c.ID); len(h) != 1 {
				t.Fatalf("history after a rolled-back service: %+v", changesOf(h))
			}
		})

		t.Run("case status follows services", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			v1 := newTestService(c, a, ua, "medical", services.StatusPlanned)
			create(t, v1, ua)
			status(t, c, cases.StatusActive, 2)
			v1 = update(t, c, v1, services.StatusCompleted, ua)
			if v1.Version != 2 {
				t.Fatalf("service version after an update = %d", v1.Version)
			}
			status(t, c, cases.StatusFollowUp, 3)
			v2 := newTestService(c, b, ub, "legal", services.StatusPlanned)
			create(t, v2, ub)
			status(t, c, cases.StatusActive, 4)
			update(t, c, v2, services.StatusCancelled, ub)
			status(t, c, cases.StatusFollowUp, 5)
			sameJSON(t, "history", changesOf(mustHistory(t, s, c.ID)), []change{
				{cases.ActionCreated, "case", false, nil, nil},
				{cases.ActionStatusChanged, "status", false, ptr("open"), ptr("active")},
				{cases.ActionStatusChanged, "status", false, ptr("active"), ptr("follow_up")},
				{cases.ActionStatusChanged, "status", false, ptr("follow_up"), ptr("active")},
				{cases.ActionStatusChanged, "status", false, ptr("active"), ptr("follow_up")},
			})
			h := mustHistory(t, s, c.ID)
			if h[3].ActorID != ub.ID {
				t.Errorf("status change by B's service recorded as %s, want %s", h[3].ActorID, ub.ID)
			}
		})

		t.Run("case status: only cancelled services leave an open case open", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			v := newTestService(c, a, ua, "legal", services.StatusCancelled)
			create(t, v, ua)
			got := status(t, c, cases.StatusOpen, 1)
			if !got.UpdatedAt.After(c.UpdatedAt) {
				t.Fatalf("case updated_at %v after a service, was %v", got.UpdatedAt, c.UpdatedAt)
			}
			if h := mustHistory(t, s, c.ID); len(h) != 1 {
				t.Fatalf("history: %+v", changesOf(h))
			}
		})

		t.Run("case status: a new service reopens a closed case", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			closed, err := s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 1, func(x *cases.Case) ([]cases.Change, error) {
				before := *x
				x.Status, x.ClosedOn, x.ClosureReason = cases.StatusClosed, ptr(cases.Date(store.Now())), ptr("goals_achieved")
				return cases.Diff(cases.ActionClosed, before, *x), nil
			}, event(ua, "case.close", "case", c.ID))
			mustNoErr(t, err)
			v := newTestService(c, a, ua, "psychological", services.StatusPlanned)
			v.Details = map[string]any{"modality": "group", "sessions": int64(4)}
			create(t, v, ua)
			got := status(t, c, cases.StatusActive, closed.Version+1)
			if got.ClosedOn != nil || got.ClosureReason != nil {
				t.Fatalf("reopened case keeps closed_on %v reason %v", got.ClosedOn, got.ClosureReason)
			}
			h := changesOf(mustHistory(t, s, c.ID))
			sameJSON(t, "history of the reopening", h[len(h)-3:], []change{
				{cases.ActionReopenedByService, "status", false, ptr("closed"), ptr("active")},
				{cases.ActionReopenedByService, "closed_on", false, nil, nil},
				{cases.ActionReopenedByService, "closure_reason", false, nil, nil},
			})
			sv, err := s.services.Get(ctx, c.ID, v.ID)
			mustNoErr(t, err)
			sameJSON(t, "psychological service", sv, v)

			// Closed again: changing a service does not reopen it.
			closed, err = s.cases.Update(ctx, tenant.Org(a.ID), c.ID, 0, func(x *cases.Case) ([]cases.Change, error) {
				x.Status, x.ClosedOn, x.ClosureReason = cases.StatusClosed, ptr(cases.Date(store.Now())), ptr("relocated")
				return nil, nil
			}, event(ua, "case.close", "case", c.ID))
			mustNoErr(t, err)
			update(t, c, sv, services.StatusCompleted, ua)
			got = status(t, c, cases.StatusClosed, closed.Version)
			if got.ClosureReason == nil || *got.ClosureReason != "relocated" {
				t.Fatalf("closure reason after a service update = %v", got.ClosureReason)
			}
		})

		t.Run("List", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			other := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			v1 := newTestService(c, a, ua, "medical", services.StatusPlanned)
			v1.Details = map[string]any{"kind": "dental", "provider": "Clinic Seven"}
			v2 := newTestService(c, b, ub, "return", services.StatusPlanned)
			v2.Details = map[string]any{"destination_country": "UZ", "escorted": true}
			v3 := newTestService(other, a, ua, "skills", services.StatusPlanned)
			for _, v := range []services.Service{v1, v2, v3} {
				create(t, v, ua)
			}
			got, err := s.services.List(ctx, c.ID, all(50))
			mustNoErr(t, err)
			if want := sorted(v1.ID, v2.ID); !slices.Equal(serviceIDs(got), want) {
				t.Fatalf("List = %v, want %v", serviceIDs(got), want)
			}
			byID := map[string]services.Service{got[0].ID: got[0], got[1].ID: got[1]}
			sameJSON(t, "listed medical service", byID[v1.ID], v1)
			sameJSON(t, "listed return service", byID[v2.ID], v2)
			if got, err := s.services.List(ctx, c.ID, all(1)); err != nil || len(got) != 2 {
				t.Fatalf("List(limit 1) = %v, %v; want limit+1", serviceIDs(got), err)
			}
			if got, err := s.services.List(ctx, c.ID, page.Request{Limit: 50, After: sorted(v1.ID, v2.ID)[0]}); err != nil ||
				!slices.Equal(serviceIDs(got), sorted(v1.ID, v2.ID)[1:]) {
				t.Fatalf("List(after) = %v, %v", serviceIDs(got), err)
			}
			mark := store.Now()
			time.Sleep(2 * time.Millisecond)
			update(t, c, v2, services.StatusInProgress, ub)
			if got, err := s.services.List(ctx, c.ID, page.Request{Limit: 50, UpdatedSince: &mark}); err != nil || !slices.Equal(serviceIDs(got), []string{v2.ID}) {
				t.Fatalf("List(updated since) = %v, %v; want [%s]", serviceIDs(got), err, v2.ID)
			}
		})

		t.Run("List/other case", func(t *testing.T) {
			c := mustCase(t, s, b, newTestCase(b, ub, store.Now()))
			create(t, newTestService(c, b, ub, "legal", services.StatusPlanned), ub)
			for _, id := range []string{mustCase(t, s, a, newTestCase(a, ua, store.Now())).ID, store.NewID()} {
				got, err := s.services.List(ctx, id, all(50))
				mustNoErr(t, err)
				if len(got) != 0 {
					t.Fatalf("List(case %s) = %v", id, serviceIDs(got))
				}
			}
		})

		t.Run("Get/other case", func(t *testing.T) {
			cb := mustCase(t, s, b, newTestCase(b, ub, store.Now()))
			ca := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			v := newTestService(cb, b, ub, "legal", services.StatusPlanned)
			create(t, v, ub)
			_, foreign := s.services.Get(ctx, ca.ID, v.ID)
			_, missing := s.services.Get(ctx, ca.ID, store.NewID())
			mustSameNotFound(t, foreign, missing)
		})

		t.Run("Update", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			v := newTestService(c, a, ua, "shelter", services.StatusInProgress)
			v.Details = map[string]any{"facility": "Safe House One", "admitted_on": "2025-03-01"}
			create(t, v, ua)
			if n := s.rawString(t, "SELECT CAST(nights AS TEXT) FROM services WHERE id = ?", v.ID); n.Valid {
				t.Fatalf("nights of a stay not yet ended = %q", n.String)
			}
			now := store.Now()
			got, err := s.services.Update(ctx, c.ID, v.ID, 1, func(x *services.Service) error {
				x.Status, x.EndedOn, x.UpdatedAt = services.StatusCompleted, ptr(day(2025, 3, 11)), now
				x.Details["discharged_on"] = "2025-03-11"
				x.Notes = "Discharged to her family"
				return nil
			}, event(ua, "service.update", "service", v.ID))
			mustNoErr(t, err)
			want := v
			want.Status, want.EndedOn, want.UpdatedAt, want.Version = services.StatusCompleted, ptr(day(2025, 3, 11)), now, 2
			want.Details = map[string]any{"facility": "Safe House One", "admitted_on": "2025-03-01", "discharged_on": "2025-03-11"}
			want.Notes = "Discharged to her family"
			read, err := s.services.Get(ctx, c.ID, v.ID)
			mustNoErr(t, err)
			if !got.UpdatedAt.Equal(now) || !read.UpdatedAt.Equal(now) {
				t.Errorf("updated_at set by the change %v; Update returned %v, stored %v",
					now.Format(time.RFC3339Nano), got.UpdatedAt.Format(time.RFC3339Nano), read.UpdatedAt.Format(time.RFC3339Nano))
			}
			read.UpdatedAt = now // compared above
			sameJSON(t, "stored updated service", read, want)
			if got.Version != 2 || got.Status != services.StatusCompleted {
				t.Fatalf("returned service %+v", got)
			}
			if n := s.rawString(t, "SELECT CAST(nights AS TEXT) FROM services WHERE id = ?", v.ID); n.String != "10" {
				t.Fatalf("nights of a 10-night stay = %+v", n)
			}
			s.mustSealed(t, "notes_enc", s.rawString(t, "SELECT notes_enc FROM services WHERE id = ?", v.ID), "family")
			if got := auditActions(t, s, v.ID); !slices.Equal(got, []string{"service.create", "service.update"}) {
				t.Fatalf("audit = %v", got)
			}
		})

		t.Run("Update/immutable columns", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			v := newTestService(c, a, ua, "shelter", services.StatusPlanned)
			create(t, v, ua)
			_, err := s.services.Update(ctx, c.ID, v.ID, 1, func(x *services.Service) error {
				x.Type, x.OrganizationID, x.ProviderOrganizationID, x.RecordedBy = "legal", b.ID, b.ID, ub.ID
				x.CreatedAt = x.CreatedAt.Add(-time.Hour)
				return nil
			}, event(ua, "service.update", "service", v.ID))
			mustNoErr(t, err)
			read, err := s.services.Get(ctx, c.ID, v.ID)
			mustNoErr(t, err)
			if read.Type != "shelter" || read.OrganizationID != a.ID || read.ProviderOrganizationID != a.ID ||
				read.RecordedBy != ua.ID || !read.CreatedAt.Equal(v.CreatedAt) || read.Version != 2 {
				t.Fatalf("an update moved immutable columns: %+v", read)
			}
		})

		t.Run("Update/stale version", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			v := newTestService(c, a, ua, "legal", services.StatusPlanned)
			create(t, v, ua)
			update(t, c, v, services.StatusInProgress, ua)
			v2, err := s.services.Get(ctx, c.ID, v.ID)
			mustNoErr(t, err)
			before := mustGetCase(t, s, c.ID)
			called := false
			_, err = s.services.Update(ctx, c.ID, v.ID, 1, func(x *services.Service) error {
				called = true
				x.Status = services.StatusCancelled
				return nil
			}, event(ua, "service.update.stale", "service", v.ID))
			mustCode(t, err, apperr.PreconditionFailed)
			if called {
				t.Error("the change was applied at another version")
			}
			read, err := s.services.Get(ctx, c.ID, v.ID)
			mustNoErr(t, err)
			sameJSON(t, "service after a stale update", read, v2)
			sameJSON(t, "case after a stale service update", mustGetCase(t, s, c.ID), before)
			if got := auditActions(t, s, v.ID); slices.Contains(got, "service.update.stale") {
				t.Fatalf("audit of a stale update: %v", got)
			}
		})

		t.Run("Update/other case", func(t *testing.T) {
			cb := mustCase(t, s, b, newTestCase(b, ub, store.Now()))
			ca := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			v := newTestService(cb, b, ub, "legal", services.StatusPlanned)
			create(t, v, ub)
			beforeCase := mustGetCase(t, s, cb.ID)
			called := false
			_, foreign := s.services.Update(ctx, ca.ID, v.ID, 1, func(x *services.Service) error {
				called = true
				x.Status = services.StatusCancelled
				return nil
			}, event(ua, "service.update.foreign", "service", v.ID))
			_, missing := s.services.Update(ctx, ca.ID, store.NewID(), 1, func(x *services.Service) error { return nil },
				event(ua, "service.update.foreign", "service", store.NewID()))
			mustSameNotFound(t, foreign, missing)
			if called {
				t.Fatal("a change was applied through another case")
			}
			read, err := s.services.Get(ctx, cb.ID, v.ID)
			mustNoErr(t, err)
			sameJSON(t, "service after a foreign update", read, v)
			sameJSON(t, "its case", mustGetCase(t, s, cb.ID), beforeCase)
			sameJSON(t, "the other case", mustGetCase(t, s, ca.ID), ca)
		})

		t.Run("Update/change error rolls back", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			v := newTestService(c, a, ua, "legal", services.StatusPlanned)
			create(t, v, ua)
			before := mustGetCase(t, s, c.ID)
			_, err := s.services.Update(ctx, c.ID, v.ID, 1, func(x *services.Service) error {
				x.Status = services.StatusCompleted
				return apperr.New(apperr.Conflict, "refused by the change")
			}, event(ua, "service.update.refused", "service", v.ID))
			mustCode(t, err, apperr.Conflict)
			read, err := s.services.Get(ctx, c.ID, v.ID)
			mustNoErr(t, err)
			sameJSON(t, "service after a refused change", read, v)
			sameJSON(t, "case after a refused service change", mustGetCase(t, s, c.ID), before)

			_, err = s.services.Update(ctx, c.ID, v.ID, 1, func(x *services.Service) error {
				x.Status = services.StatusCompleted
				return nil
			}, broken(ua, "service.update", "service", v.ID))
			if err == nil {
				t.Fatal("an update with an unstorable audit event succeeded")
			}
			read, err = s.services.Get(ctx, c.ID, v.ID)
			mustNoErr(t, err)
			sameJSON(t, "service after a rolled-back update", read, v)
			sameJSON(t, "case after a rolled-back service update", mustGetCase(t, s, c.ID), before)
		})
	})
}

func newTestConsent(c cases.Case, by users.User, typ string, given bool, on time.Time, recipient string) consents.Consent {
	now := store.Now()
	return consents.Consent{
		ID: store.NewID(), CaseID: c.ID, OrganizationID: c.OrganizationID, Type: typ, Given: given,
		RecordedOn: on, RecordedBy: by.ID, RecipientOrganizationID: recipient, CreatedAt: now, UpdatedAt: now,
	}
}

func consentIDs(items []consents.Consent) []string {
	out := make([]string, len(items))
	for i, c := range items {
		out[i] = c.ID
	}
	return out
}

func TestConsentsStore(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestCaseStores(t, db)
		a := mustOrg(t, s.stores, "RODNIK", auth.OrgKindNGO)
		b := mustOrg(t, s.stores, "SANA", auth.OrgKindNGO)
		r1 := mustOrg(t, s.stores, "RECIPONE", auth.OrgKindNGO)
		r2 := mustOrg(t, s.stores, "RECIPTWO", auth.OrgKindNGO)
		ua := mustUser(t, s.stores, a, "worker@rodnik.example", authz.RoleCaseworker)
		ub := mustUser(t, s.stores, b, "worker@sana.example", authz.RoleCaseworker)

		record := func(t *testing.T, k consents.Consent, by users.User) consents.Consent {
			t.Helper()
			mustNoErr(t, s.consents.Create(ctx, k, event(by, "consent.create", "consent", k.ID)))
			return k
		}
		withdraw := func(t *testing.T, k consents.Consent, on time.Time, by users.User) consents.Consent {
			t.Helper()
			got, err := s.consents.Withdraw(ctx, k.CaseID, k.ID, on, by.ID, event(by, "consent.withdraw", "consent", k.ID))
			mustNoErr(t, err)
			return got
		}

		t.Run("Create and Get", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			k := newTestConsent(c, ua, consents.TypeReferral, true, day(2025, 4, 2), r1.ID)
			k.Scope = "Shelter and medical care only"
			record(t, k, ua)
			got, err := s.consents.Get(ctx, c.ID, k.ID)
			mustNoErr(t, err)
			sameJSON(t, "stored consent", got, k)
			if after := mustGetCase(t, s, c.ID); !after.UpdatedAt.After(c.UpdatedAt) || after.Version != c.Version {
				t.Fatalf("case after a consent: updated %v (was %v), version %d (was %d)", after.UpdatedAt, c.UpdatedAt, after.Version, c.Version)
			}
			if got := auditActions(t, s, k.ID); !slices.Equal(got, []string{"consent.create"}) {
				t.Fatalf("audit = %v", got)
			}
			dup := k
			dup.Type = "medical"
			mustCode(t, s.consents.Create(ctx, dup, event(ua, "consent.create", "consent", k.ID)), apperr.Conflict)
		})

		t.Run("Create/rolls back with its audit event", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			k := newTestConsent(c, ua, "medical", true, day(2025, 4, 2), "")
			if err := s.consents.Create(ctx, k, broken(ua, "consent.create", "consent", k.ID)); err == nil {
				t.Fatal("a create with an unstorable audit event succeeded")
			}
			_, err := s.consents.Get(ctx, c.ID, k.ID)
			mustCode(t, err, apperr.NotFound)
			sameJSON(t, "case after a rolled-back consent", mustGetCase(t, s, c.ID), c)
		})

		t.Run("Get/other case", func(t *testing.T) {
			ca := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			cb := mustCase(t, s, b, newTestCase(b, ub, store.Now()))
			k := record(t, newTestConsent(cb, ub, "assistance", true, day(2025, 4, 2), ""), ub)
			_, foreign := s.consents.Get(ctx, ca.ID, k.ID)
			_, missing := s.consents.Get(ctx, ca.ID, store.NewID())
			mustSameNotFound(t, foreign, missing)
		})

		t.Run("List", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			other := mustCase(t, s, b, newTestCase(b, ub, store.Now()))
			k1 := record(t, newTestConsent(c, ua, "assistance", true, day(2025, 4, 1), ""), ua)
			k2 := record(t, newTestConsent(c, ua, consents.TypeReferral, false, day(2025, 4, 1), r2.ID), ua)
			k3 := record(t, newTestConsent(c, ua, "medical", true, day(2025, 4, 2), ""), ua)
			record(t, newTestConsent(other, ub, "assistance", true, day(2025, 4, 1), ""), ub)
			got, err := s.consents.List(ctx, c.ID, all(50))
			mustNoErr(t, err)
			sameJSON(t, "consents of the case", got, []consents.Consent{k1, k2, k3})
			if got, err := s.consents.List(ctx, c.ID, all(1)); err != nil || !slices.Equal(consentIDs(got), []string{k1.ID, k2.ID}) {
				t.Fatalf("List(limit 1) = %v, %v", consentIDs(got), err)
			}
			if got, err := s.consents.List(ctx, c.ID, page.Request{Limit: 50, After: k1.ID}); err != nil || !slices.Equal(consentIDs(got), []string{k2.ID, k3.ID}) {
				t.Fatalf("List(after k1) = %v, %v", consentIDs(got), err)
			}
			mark := store.Now()
			time.Sleep(2 * time.Millisecond)
			withdraw(t, k1, day(2025, 4, 5), ua)
			if got, err := s.consents.List(ctx, c.ID, page.Request{Limit: 50, UpdatedSince: &mark}); err != nil || !slices.Equal(consentIDs(got), []string{k1.ID}) {
				t.Fatalf("List(updated since) = %v, %v; want the withdrawn %s", consentIDs(got), err, k1.ID)
			}
			for _, id := range []string{mustCase(t, s, a, newTestCase(a, ua, store.Now())).ID, store.NewID()} {
				if got, err := s.consents.List(ctx, id, all(50)); err != nil || len(got) != 0 {
					t.Fatalf("List(case %s) = %v, %v", id, consentIDs(got), err)
				}
			}
		})

		t.Run("Withdraw", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			k := record(t, newTestConsent(c, ua, "data_processing", true, day(2025, 4, 1), ""), ua)
			before := mustGetCase(t, s, c.ID)
			got := withdraw(t, k, day(2025, 4, 9), ua)
			want := k
			want.WithdrawnOn, want.WithdrawnBy = ptr(day(2025, 4, 9)), ua.ID
			if !got.UpdatedAt.After(k.CreatedAt) {
				t.Fatalf("withdrawn consent updated %v, created %v", got.UpdatedAt, k.CreatedAt)
			}
			want.UpdatedAt = got.UpdatedAt
			sameJSON(t, "withdrawn consent", got, want)
			read, err := s.consents.Get(ctx, c.ID, k.ID)
			mustNoErr(t, err)
			sameJSON(t, "stored withdrawn consent", read, want)
			if after := mustGetCase(t, s, c.ID); !after.UpdatedAt.After(before.UpdatedAt) {
				t.Fatalf("case updated_at %v after a withdrawal, was %v", after.UpdatedAt, before.UpdatedAt)
			}
			if got := auditActions(t, s, k.ID); !slices.Equal(got, []string{"consent.create", "consent.withdraw"}) {
				t.Fatalf("audit = %v", got)
			}
			_, err = s.consents.Withdraw(ctx, c.ID, k.ID, day(2025, 4, 10), ua.ID, event(ua, "consent.withdraw.again", "consent", k.ID))
			mustCode(t, err, apperr.Conflict)
			read, err = s.consents.Get(ctx, c.ID, k.ID)
			mustNoErr(t, err)
			sameJSON(t, "consent after a second withdrawal", read, want)
			if got := auditActions(t, s, k.ID); slices.Contains(got, "consent.withdraw.again") {
				t.Fatalf("audit of a refused withdrawal: %v", got)
			}
		})

		t.Run("Withdraw/other case", func(t *testing.T) {
			ca := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			cb := mustCase(t, s, b, newTestCase(b, ub, store.Now()))
			k := record(t, newTestConsent(cb, ub, "assistance", true, day(2025, 4, 1), ""), ub)
			_, foreign := s.consents.Withdraw(ctx, ca.ID, k.ID, day(2025, 4, 3), ua.ID, event(ua, "consent.withdraw.foreign", "consent", k.ID))
			_, missing := s.consents.Withdraw(ctx, ca.ID, store.NewID(), day(2025, 4, 3), ua.ID, event(ua, "consent.withdraw.foreign", "consent", store.NewID()))
			mustSameNotFound(t, foreign, missing)
			read, err := s.consents.Get(ctx, cb.ID, k.ID)
			mustNoErr(t, err)
			sameJSON(t, "consent after a withdrawal through another case", read, k)
			if got := auditActions(t, s, k.ID); slices.Contains(got, "consent.withdraw.foreign") {
				t.Fatalf("audit of a refused withdrawal: %v", got)
			}
			sameJSON(t, "the other case", mustGetCase(t, s, ca.ID), ca)
		})

		t.Run("Withdraw/rolls back with its audit event", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			k := record(t, newTestConsent(c, ua, "assistance", true, day(2025, 4, 1), ""), ua)
			if _, err := s.consents.Withdraw(ctx, c.ID, k.ID, day(2025, 4, 3), ua.ID, broken(ua, "consent.withdraw", "consent", k.ID)); err == nil {
				t.Fatal("a withdrawal with an unstorable audit event succeeded")
			}
			read, err := s.consents.Get(ctx, c.ID, k.ID)
			mustNoErr(t, err)
			sameJSON(t, "consent after a rolled-back withdrawal", read, k)
			withdraw(t, k, day(2025, 4, 3), ua)
		})

		t.Run("Current", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			d1, d2, d3 := day(2025, 5, 1), day(2025, 5, 2), day(2025, 5, 3)
			k1 := record(t, newTestConsent(c, ua, "data_processing", true, d1, ""), ua)
			k2 := record(t, newTestConsent(c, ua, consents.TypeResearchAnonymised, false, d1, ""), ua)
			k3 := record(t, newTestConsent(c, ua, "assistance", true, d1, ""), ua)
			withdraw(t, k3, d2, ua)
			withdraw(t, record(t, newTestConsent(c, ua, "medical", true, d1, ""), ua), d2, ua)
			k5 := record(t, newTestConsent(c, ua, "medical", true, d3, ""), ua)
			k6 := record(t, newTestConsent(c, ua, consents.TypeReferral, true, d1, r1.ID), ua)
			k7 := record(t, newTestConsent(c, ua, consents.TypeReferral, false, d1, r2.ID), ua)
			record(t, newTestConsent(c, ua, "guardian", false, d1, ""), ua)
			k9 := record(t, newTestConsent(c, ua, "guardian", true, d2, ""), ua)
			k10 := record(t, newTestConsent(c, ua, "voluntary_return", true, d2, ""), ua)
			record(t, newTestConsent(c, ua, "voluntary_return", false, d1, ""), ua) // recorded later, dated earlier

			other := mustCase(t, s, b, newTestCase(b, ub, store.Now()))
			ko := record(t, newTestConsent(other, ub, consents.TypeReferral, true, d1, r1.ID), ub)
			withdraw(t, ko, d2, ub)
			none := mustCase(t, s, a, newTestCase(a, ua, store.Now()))

			st := func(k consents.Consent, state string) cases.ConsentState {
				return cases.ConsentState{Type: k.Type, State: state, ConsentID: k.ID, RecordedOn: k.RecordedOn, RecipientOrganizationID: k.RecipientOrganizationID}
			}
			want := []cases.ConsentState{
				st(k3, "withdrawn"), st(k1, "given"), st(k9, "given"), st(k5, "given"),
			}
			referral := []cases.ConsentState{st(k6, "given"), st(k7, "refused")}
			if r2.ID < r1.ID {
				referral[0], referral[1] = referral[1], referral[0]
			}
			want = append(want, referral...)
			want = append(want, st(k2, "refused"), st(k10, "given"))

			got, err := s.consents.Current(ctx, []string{c.ID, other.ID, none.ID, store.NewID()})
			mustNoErr(t, err)
			sameJSON(t, "current consents", got[c.ID], want)
			sameJSON(t, "current consents of the other case", got[other.ID], []cases.ConsentState{st(ko, "withdrawn")})
			if len(got[none.ID]) != 0 || len(got) != 2 {
				t.Fatalf("Current answers for %d cases: %v", len(got), got)
			}
			// Each case only sees its own consents.
			only, err := s.consents.Current(ctx, []string{other.ID})
			mustNoErr(t, err)
			if len(only) != 1 || len(only[other.ID]) != 1 {
				t.Fatalf("Current(other) = %v", only)
			}
			empty, err := s.consents.Current(ctx, nil)
			mustNoErr(t, err)
			if len(empty) != 0 {
				t.Fatalf("Current(nil) = %v", empty)
			}
		})
	})
}

func TestNotesStore(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestCaseStores(t, db)
		a := mustOrg(t, s.stores, "RODNIK", auth.OrgKindNGO)
		b := mustOrg(t, s.stores, "SANA", auth.OrgKindNGO)
		ua := mustUser(t, s.stores, a, "worker@rodnik.example", authz.RoleCaseworker)
		ub := mustUser(t, s.stores, b, "worker@sana.example", authz.RoleCaseworker)
		ca := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
		cb := mustCase(t, s, b, newTestCase(b, ub, store.Now()))

		note := func(t *testing.T, c cases.Case, by users.User, text string) notes.Note {
			t.Helper()
			n := notes.Note{ID: store.NewID(), CaseID: c.ID, OrganizationID: c.OrganizationID, AuthorID: by.ID, Text: text, CreatedAt: store.Now()}
			mustNoErr(t, s.notes.Create(ctx, n, event(by, "note.create", "note", n.ID)))
			return n
		}
		n1 := note(t, ca, ua, "She fears her employer in Moscow; do not call the listed phone")
		time.Sleep(2 * time.Millisecond)
		mark := store.Now()
		time.Sleep(2 * time.Millisecond)
		n2 := note(t, ca, ua, "Передала документы юристу")
		n3 := note(t, cb, ub, "Note of another organisation's case")

		t.Run("Create and List", func(t *testing.T) {
			got, err := s.notes.List(ctx, ca.ID, all(50))
			mustNoErr(t, err)
			sameJSON(t, "notes of the case", got, []notes.Note{n1, n2})
			if got := auditActions(t, s, n1.ID); !slices.Equal(got, []string{"note.create"}) {
				t.Fatalf("audit = %v", got)
			}
			if after := mustGetCase(t, s, ca.ID); !after.UpdatedAt.After(ca.UpdatedAt) || after.Version != ca.Version {
				t.Fatalf("case after a note: updated %v (was %v), version %d", after.UpdatedAt, ca.UpdatedAt, after.Version)
			}
		})

		t.Run("Create/sealed at rest", func(t *testing.T) {
			s.mustSealed(t, "text_enc", s.rawString(t, "SELECT text_enc FROM notes WHERE id = ?", n1.ID), "employer", "Moscow")
			s.mustSealed(t, "text_enc", s.rawString(t, "SELECT text_enc FROM notes WHERE id = ?", n2.ID), "документы")
			if kid := s.rawString(t, "SELECT data_kid FROM notes WHERE id = ?", n1.ID); kid.String != s.keys.ActiveKID() {
				t.Fatalf("data_kid = %q", kid.String)
			}
		})

		t.Run("Create/rolls back with its audit event", func(t *testing.T) {
			c := mustCase(t, s, a, newTestCase(a, ua, store.Now()))
			n := notes.Note{ID: store.NewID(), CaseID: c.ID, OrganizationID: a.ID, AuthorID: ua.ID, Text: "lost", CreatedAt: store.Now()}
			if err := s.notes.Create(ctx, n, broken(ua, "note.create", "note", n.ID)); err == nil {
				t.Fatal("a note with an unstorable audit event was stored")
			}
			got, err := s.notes.List(ctx, c.ID, all(50))
			mustNoErr(t, err)
			if len(got) != 0 {
				t.Fatalf("notes after a rolled-back create: %+v", got)
			}
			sameJSON(t, "case after a rolled-back note", mustGetCase(t, s, c.ID), c)
		})

		t.Run("List/pages", func(t *testing.T) {
			got, err := s.notes.List(ctx, ca.ID, all(1))
			mustNoErr(t, err)
			if len(got) != 2 || got[0].ID != n1.ID {
				t.Fatalf("List(limit 1) = %+v", got)
			}
			got, err = s.notes.List(ctx, ca.ID, page.Request{Limit: 50, After: n1.ID})
			mustNoErr(t, err)
			sameJSON(t, "notes after the first", got, []notes.Note{n2})
			got, err = s.notes.List(ctx, ca.ID, page.Request{Limit: 50, UpdatedSince: &mark})
			mustNoErr(t, err)
			sameJSON(t, "notes since the mark", got, []notes.Note{n2})
		})

		t.Run("List/other case", func(t *testing.T) {
			got, err := s.notes.List(ctx, cb.ID, all(50))
			mustNoErr(t, err)
			sameJSON(t, "notes of B's case", got, []notes.Note{n3})
			for _, id := range []string{mustCase(t, s, a, newTestCase(a, ua, store.Now())).ID, store.NewID()} {
				got, err := s.notes.List(ctx, id, all(50))
				mustNoErr(t, err)
				if len(got) != 0 {
					t.Fatalf("List(case %s) = %+v", id, got)
				}
			}
		})

		t.Run("List/ciphertext moved to another note", func(t *testing.T) {
			c := mustCase(t, s, b, newTestCase(b, ub, store.Now()))
			victim := note(t, c, ub, "harmless")
			s.mustExec(t, "UPDATE notes SET text_enc = (SELECT text_enc FROM notes WHERE id = ?) WHERE id = ?", n1.ID, victim.ID)
			got, err := s.notes.List(ctx, c.ID, all(50))
			mustCode(t, err, apperr.Internal)
			for _, n := range got {
				if strings.Contains(n.Text, "employer") {
					t.Fatal("a moved note was opened")
				}
			}
		})
	})
}

func TestAuditStore(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestCaseStores(t, db)
		a := mustOrg(t, s.stores, "RODNIK", auth.OrgKindNGO)
		b := mustOrg(t, s.stores, "SANA", auth.OrgKindNGO)
		ua := mustUser(t, s.stores, a, "worker@rodnik.example", authz.RoleCaseworker)
		ua2 := mustUser(t, s.stores, a, "admin@rodnik.example", authz.RoleAdmin)
		ub := mustUser(t, s.stores, b, "worker@sana.example", authz.RoleCaseworker)
		objA, objB := store.NewID(), store.NewID()

		e1 := event(ua, "case.read", "case", objA)
		e2 := event(ua2, "case.update", "case", objA)
		e2.Outcome = audit.Denied
		e3 := event(ub, "case.read", "case", objB)
		e4 := audit.Event{ActorType: audit.ActorAnonymous, Action: "auth.login", ObjectType: "session", Outcome: audit.Failure, IP: "198.51.100.7", RequestID: "req-anon"}

		start := store.Now()
		mustNoErr(t, s.audit.Record(ctx, e1))
		mustNoErr(t, s.audit.Record(ctx, e2))
		time.Sleep(2 * time.Millisecond)
		mark := store.Now()
		time.Sleep(2 * time.Millisecond)
		mustNoErr(t, s.audit.Record(ctx, e3))
		mustNoErr(t, s.audit.Record(ctx, e4))
		end := store.Now()

		list := func(t *testing.T, scope tenant.Scope, f audit.Filter, r page.Request) []audit.Event {
			t.Helper()
			got, err := s.audit.List(ctx, scope, f, r)
			mustNoErr(t, err)
			return got
		}
		requests := func(evs []audit.Event) []string {
			out := make([]string, len(evs))
			for i, e := range evs {
				out[i] = e.RequestID
			}
			return out
		}
		ids := func(evs ...audit.Event) []string { return requests(evs) }

		t.Run("Record and List", func(t *testing.T) {
			got := list(t, tenant.All(), audit.Filter{}, all(50))
			if len(got) != 4 {
				t.Fatalf("List(All) = %v", requests(got))
			}
			for i, want := range []audit.Event{e1, e2, e3, e4} {
				g := got[i]
				if g.ID == "" || g.OccurredAt.Before(start) || g.OccurredAt.After(end) {
					t.Fatalf("event %d: id %q at %v (between %v and %v)", i, g.ID, g.OccurredAt, start, end)
				}
				want.ID, want.OccurredAt = g.ID, g.OccurredAt
				sameJSON(t, fmt.Sprintf("event %d", i), g, want)
			}
			if got[0].ID >= got[1].ID || got[1].ID >= got[2].ID || got[2].ID >= got[3].ID {
				t.Fatalf("events not in id order: %v", got)
			}
		})

		t.Run("List/filters", func(t *testing.T) {
			for name, c := range map[string]struct {
				f    audit.Filter
				want []string
			}{
				"organisation": {audit.Filter{OrganizationID: a.ID}, ids(e1, e2)},
				"actor":        {audit.Filter{ActorID: ua2.ID}, ids(e2)},
				"action":       {audit.Filter{Action: "case.read"}, ids(e1, e3)},
				"object type":  {audit.Filter{ObjectType: "session"}, ids(e4)},
				"object":       {audit.Filter{ObjectID: objA}, ids(e1, e2)},
				"outcome":      {audit.Filter{Outcome: audit.Denied}, ids(e2)},
				"from":         {audit.Filter{From: &mark}, ids(e3, e4)},
				"to":           {audit.Filter{To: &mark}, ids(e1, e2)},
				"from and to":  {audit.Filter{From: &start, To: &mark}, ids(e1, e2)},
				"combined":     {audit.Filter{Action: "case.read", OrganizationID: b.ID}, ids(e3)},
				"nothing":      {audit.Filter{Action: "case.read", Outcome: audit.Failure}, ids()},
			} {
				t.Run(name, func(t *testing.T) {
					if got := requests(list(t, tenant.All(), c.f, all(50))); !slices.Equal(got, c.want) {
						t.Fatalf("List(%s) = %v, want %v", name, got, c.want)
					}
				})
			}
		})

		t.Run("List/pages", func(t *testing.T) {
			first := list(t, tenant.All(), audit.Filter{}, all(1))
			if got := requests(first); !slices.Equal(got, ids(e1, e2)) {
				t.Fatalf("List(limit 1) = %v", got)
			}
			if got := requests(list(t, tenant.All(), audit.Filter{}, page.Request{Limit: 50, After: first[1].ID})); !slices.Equal(got, ids(e3, e4)) {
				t.Fatalf("List(after second) = %v", got)
			}
		})

		t.Run("List/foreign organisation", func(t *testing.T) {
			if got := requests(list(t, tenant.Org(a.ID), audit.Filter{}, all(50))); !slices.Equal(got, ids(e1, e2)) {
				t.Fatalf("List(Org(A)) = %v, want only A's events", got)
			}
			if got := requests(list(t, tenant.Org(b.ID), audit.Filter{}, all(50))); !slices.Equal(got, ids(e3)) {
				t.Fatalf("List(Org(B)) = %v, want only B's event", got)
			}
			for name, f := range map[string]audit.Filter{
				"organisation B":  {OrganizationID: b.ID},
				"B's object":      {ObjectID: objB},
				"B's actor":       {ActorID: ub.ID},
				"anonymous login": {Action: "auth.login"},
			} {
				if got := list(t, tenant.Org(a.ID), f, all(50)); len(got) != 0 {
					t.Fatalf("List(Org(A), %s) = %v", name, requests(got))
				}
			}
		})

		t.Run("List/zero scope", func(t *testing.T) {
			for _, f := range []audit.Filter{{}, {OrganizationID: a.ID}, {Action: "auth.login"}} {
				if got := list(t, tenant.Scope{}, f, all(50)); len(got) != 0 {
					t.Fatalf("List(zero scope, %+v) = %v", f, requests(got))
				}
			}
		})
	})
}

func TestIdempotencyStore(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestCaseStores(t, db)
		t0 := store.Now()
		resp := idempotency.Response{
			Status: 201, ContentType: "application/json", Location: "/api/v1/cases/" + store.NewID(), ETag: `"1"`,
			Body: []byte(`{"person":{"given_name":"Aigerim","family_name":"Nurlanovna"}}`),
		}

		begin := func(t *testing.T, principal, key, hash string, now time.Time, want idempotency.Outcome) idempotency.Response {
			t.Helper()
			got, r, err := s.idem.Begin(ctx, principal, key, hash, now)
			mustNoErr(t, err)
			if got != want {
				t.Fatalf("Begin(%s, %s, %s) = outcome %d, want %d", principal, key, hash, got, want)
			}
			if want != idempotency.Replay && (r.Status != 0 || r.Body != nil || r.Location != "") {
				t.Fatalf("Begin outcome %d carries a response %+v", got, r)
			}
			return r
		}
		principal := func() string { return "user:" + store.NewID() }

		t.Run("Started, InFlight, Replay, Mismatch", func(t *testing.T) {
			p := principal()
			begin(t, p, "k1", "h1", t0, idempotency.Started)
			begin(t, p, "k1", "h1", t0.Add(10*time.Second), idempotency.InFlight)
			begin(t, p, "k1", "h2", t0.Add(10*time.Second), idempotency.Mismatch)
			mustNoErr(t, s.idem.Complete(ctx, p, "k1", resp))
			got := begin(t, p, "k1", "h1", t0.Add(time.Hour), idempotency.Replay)
			sameJSON(t, "replayed response", got, resp)
			begin(t, p, "k1", "h2", t0.Add(time.Hour), idempotency.Mismatch)
			got = begin(t, p, "k1", "h1", t0.Add(idempotency.TTL), idempotency.Replay)
			sameJSON(t, "response replayed at the end of its TTL", got, resp)

			var body []byte
			var state string
			err := db.SQL().QueryRowContext(ctx, s.rebind("SELECT body, state FROM idempotency_keys WHERE principal = ? AND idem_key = ?"), p, "k1").Scan(&body, &state)
			mustNoErr(t, err)
			if state != "done" || bytes.Contains(body, []byte("Aigerim")) || !strings.HasPrefix(string(body), s.keys.ActiveKID()+".") {
				t.Fatalf("stored key: state %q body %q", state, body)
			}
		})

		t.Run("Replay is bound to its principal and key", func(t *testing.T) {
			p := principal()
			begin(t, p, "k1", "h1", t0, idempotency.Started)
			mustNoErr(t, s.idem.Complete(ctx, p, "k1", resp))
			begin(t, p, "k2", "h1", t0, idempotency.Started)
			mustNoErr(t, s.idem.Complete(ctx, p, "k2", idempotency.Response{Status: 201, Body: []byte(`{}`)}))
			// A body sealed for another key does not open on this one.
			s.mustExec(t, `UPDATE idempotency_keys SET body = (SELECT body FROM idempotency_keys WHERE principal = ? AND idem_key = ?)
				WHERE principal = ? AND idem_key = ?`, p, "k1", p, "k2")
			_, r, err := s.idem.Begin(ctx, p, "k2", "h1", t0.Add(time.Minute))
			mustCode(t, err, apperr.Internal)
			if bytes.Contains(r.Body, []byte("Aigerim")) {
				t.Fatal("a body moved to another key was opened")
			}
		})

		t.Run("foreign principal", func(t *testing.T) {
			p, q := principal(), principal()
			begin(t, p, "shared", "h1", t0, idempotency.Started)
			mustNoErr(t, s.idem.Complete(ctx, p, "shared", resp))
			// The same key of another caller is a key of its own: never a replay of p's response.
			begin(t, q, "shared", "h1", t0.Add(time.Second), idempotency.Started)
			begin(t, q, "shared", "h1", t0.Add(2*time.Second), idempotency.InFlight)
			// q completing or releasing its key leaves p's alone.
			other := idempotency.Response{Status: 200, Body: []byte(`{"q":true}`)}
			mustNoErr(t, s.idem.Complete(ctx, q, "shared", other))
			mustNoErr(t, s.idem.Release(ctx, q, "shared"))
			got := begin(t, p, "shared", "h1", t0.Add(time.Hour), idempotency.Replay)
			sameJSON(t, "p's response", got, resp)
			got = begin(t, q, "shared", "h1", t0.Add(time.Hour), idempotency.Replay)
			sameJSON(t, "q's response", got, other)

			begin(t, p, "held", "h1", t0, idempotency.Started)
			mustNoErr(t, s.idem.Release(ctx, q, "held"))
			begin(t, p, "held", "h1", t0.Add(time.Second), idempotency.InFlight)
		})

		t.Run("expired key is started again", func(t *testing.T) {
			p := principal()
			begin(t, p, "old", "h1", t0, idempotency.Started)
			mustNoErr(t, s.idem.Complete(ctx, p, "old", resp))
			later := t0.Add(idempotency.TTL + time.Second)
			begin(t, p, "old", "h1", later, idempotency.Started)
			begin(t, p, "old", "h1", later.Add(time.Second), idempotency.InFlight)
			fresh := idempotency.Response{Status: 201, Location: "/api/v1/cases/" + store.NewID(), Body: []byte(`{"fresh":true}`)}
			mustNoErr(t, s.idem.Complete(ctx, p, "old", fresh))
			got := begin(t, p, "old", "h1", later.Add(time.Hour), idempotency.Replay)
			sameJSON(t, "response after the key expired", got, fresh)

			// An expired key is free for another request too.
			begin(t, p, "old2", "h1", t0, idempotency.Started)
			mustNoErr(t, s.idem.Complete(ctx, p, "old2", resp))
			begin(t, p, "old2", "h2", later, idempotency.Started)
			begin(t, p, "old2", "h1", later, idempotency.Mismatch)
		})

		t.Run("abandoned key is taken over", func(t *testing.T) {
			p := principal()
			begin(t, p, "crash", "h1", t0, idempotency.Started)
			begin(t, p, "crash", "h1", t0.Add(idempotency.Abandoned-time.Second), idempotency.InFlight)
			taken := t0.Add(idempotency.Abandoned + time.Second)
			begin(t, p, "crash", "h1", taken, idempotency.Started)
			// The new claim is held from its own start.
			begin(t, p, "crash", "h1", taken.Add(idempotency.Abandoned-time.Second), idempotency.InFlight)
			mustNoErr(t, s.idem.Complete(ctx, p, "crash", resp))
			got := begin(t, p, "crash", "h1", taken.Add(2*idempotency.Abandoned), idempotency.Replay)
			sameJSON(t, "response after a takeover", got, resp)

			// A completed key is never "abandoned".
			begin(t, p, "done", "h1", t0, idempotency.Started)
			mustNoErr(t, s.idem.Complete(ctx, p, "done", resp))
			begin(t, p, "done", "h1", t0.Add(time.Hour), idempotency.Replay)
		})

		t.Run("Release frees a key", func(t *testing.T) {
			p := principal()
			begin(t, p, "failed", "h1", t0, idempotency.Started)
			mustNoErr(t, s.idem.Release(ctx, p, "failed"))
			begin(t, p, "failed", "h2", t0.Add(time.Second), idempotency.Started)
			begin(t, p, "failed", "h2", t0.Add(2*time.Second), idempotency.InFlight)
			if n := s.rawCount(t, "SELECT COUNT(*) FROM idempotency_keys WHERE principal = ?", p); n != 1 {
				t.Fatalf("%d keys stored", n)
			}

			// A completed response is not released.
			begin(t, p, "kept", "h1", t0, idempotency.Started)
			mustNoErr(t, s.idem.Complete(ctx, p, "kept", resp))
			mustNoErr(t, s.idem.Release(ctx, p, "kept"))
			got := begin(t, p, "kept", "h1", t0.Add(time.Minute), idempotency.Replay)
			sameJSON(t, "response after a release", got, resp)
			// Releasing an unknown key is harmless.
			mustNoErr(t, s.idem.Release(ctx, p, "never"))
		})

		t.Run("concurrent Begin", func(t *testing.T) {
			p := principal()
			const n = 8
			outs := make([]idempotency.Outcome, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					outs[i], _, errs[i] = s.idem.Begin(ctx, p, "race", "h1", t0)
				}()
			}
			wg.Wait()
			started := 0
			for i := range n {
				mustNoErr(t, errs[i])
				switch outs[i] {
				case idempotency.Started:
					started++
				case idempotency.InFlight:
				default:
					t.Fatalf("concurrent Begin outcome %d", outs[i])
				}
			}
			if started != 1 {
				t.Fatalf("%d of %d concurrent Begins started, want exactly 1", started, n)
			}
		})
	})
}
