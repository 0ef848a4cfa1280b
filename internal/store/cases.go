package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/crypt"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
	"github.com/casework/casework/internal/webhooks"
)

type caseRow struct {
	ID                    string `gorm:"primaryKey"`
	OrganizationID        string
	CaseNumber            string
	AssignedTo            *string
	Status                string
	OpenedOn              time.Time
	ClosedOn              *time.Time
	ClosureReason         *string
	GivenNameEnc          *string
	FamilyNameEnc         *string
	OtherNamesEnc         *string
	DateOfBirthEnc        *string
	PhoneEnc              *string
	AddressEnc            *string
	DocumentsEnc          *string
	DataKID               string `gorm:"column:data_kid"`
	NameDobHash           *string
	Sex                   string
	Gender                string
	BirthYear             *int
	Citizenships          string
	Languages             string
	TraffickingStatus     string
	ExploitationTypes     string
	LabourSector          *string
	MeansOfControl        string
	RecruiterRelationship string
	CountryOfExploitation *string
	IdentifiedOn          *time.Time
	IdentifiedBy          string
	AgeAtIdentification   *int
	AgeGroup              string
	Version               int64
	CreatedBy             string
	CreatedAt             time.Time
	UpdatedAt             time.Time `gorm:"autoUpdateTime:false"` // set by the service, stored as returned
}

func (caseRow) TableName() string { return "cases" }

type historyRow struct {
	ID             string `gorm:"primaryKey"`
	CaseID         string
	OrganizationID string
	ActorID        string
	Action         string
	Field          string
	Identifying    bool
	OldValue       *string
	NewValue       *string
	ChangedAt      time.Time
}

func (historyRow) TableName() string { return "case_history" }

// Cases implements cases.Store. Identifying fields are sealed with the
// keyring, bound to the case id and column.
type Cases struct {
	db   *DB
	keys *crypt.Keyring
}

// NewCases returns the case store.
func NewCases(db *DB, keys *crypt.Keyring) *Cases { return &Cases{db: db, keys: keys} }

func (s *Cases) seal(id, column, plain string) *string {
	if plain == "" {
		return nil
	}
	v := s.keys.Seal([]byte(plain), "cases:"+id+":"+column)
	return &v
}

func (s *Cases) open(id, column string, sealed *string) (string, error) {
	if sealed == nil {
		return "", nil
	}
	b, err := s.keys.Open(*sealed, "cases:"+id+":"+column)
	if err != nil {
		return "", apperr.Wrap(apperr.Internal, "decrypt case field "+column, err)
	}
	return string(b), nil
}

func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func parseList(s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	if v == nil {
		v = []string{}
	}
	return v, nil
}

func optionalDate(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	d := cases.Date(*t)
	return &d
}

// toRow seals c into its stored form, with the derived columns computed.
func (s *Cases) toRow(c cases.Case) (caseRow, error) {
	d := cases.Derive(c, Now())
	row := caseRow{
		ID: c.ID, OrganizationID: c.OrganizationID, CaseNumber: c.CaseNumber, AssignedTo: c.AssignedTo,
		Status: c.Status, OpenedOn: cases.Date(c.OpenedOn), ClosedOn: optionalDate(c.ClosedOn), ClosureReason: c.ClosureReason,
		DataKID: s.keys.ActiveKID(),
		Sex:     c.Person.Sex, Gender: c.Person.Gender, BirthYear: c.Person.BirthYear,
		Citizenships: jsonList(c.Person.Citizenships), Languages: jsonList(c.Person.Languages),
		TraffickingStatus: c.Trafficking.Status, ExploitationTypes: jsonList(c.Trafficking.ExploitationTypes),
		LabourSector: optional(c.Trafficking.LabourSector), MeansOfControl: jsonList(c.Trafficking.MeansOfControl),
		RecruiterRelationship: c.Trafficking.RecruiterRelationship, CountryOfExploitation: optional(c.Trafficking.CountryOfExploitation),
		IdentifiedOn: optionalDate(c.Trafficking.IdentifiedOn), IdentifiedBy: c.Trafficking.IdentifiedBy,
		AgeAtIdentification: d.AgeAtIdentification, AgeGroup: d.AgeGroup,
		Version: c.Version, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	p := c.Person
	row.GivenNameEnc = s.seal(c.ID, "given_name", p.GivenName)
	row.FamilyNameEnc = s.seal(c.ID, "family_name", p.FamilyName)
	row.OtherNamesEnc = s.seal(c.ID, "other_names", p.OtherNames)
	row.PhoneEnc = s.seal(c.ID, "phone", p.Phone)
	row.AddressEnc = s.seal(c.ID, "address", p.Address)
	if p.DateOfBirth != nil {
		row.DateOfBirthEnc = s.seal(c.ID, "date_of_birth", p.DateOfBirth.Format(time.DateOnly))
	}
	if len(p.IdentityDocuments) > 0 {
		b, err := json.Marshal(p.IdentityDocuments)
		if err != nil {
			return row, err
		}
		row.DocumentsEnc = s.seal(c.ID, "documents", string(b))
	}
	if h := s.nameDobHash(p); h != "" {
		row.NameDobHash = &h
	}
	return row, nil
}

// fromRow opens a stored case.
func (s *Cases) fromRow(r caseRow) (cases.Case, error) {
	c := cases.Case{
		ID: r.ID, OrganizationID: r.OrganizationID, CaseNumber: r.CaseNumber, AssignedTo: r.AssignedTo,
		Status: r.Status, OpenedOn: cases.Date(r.OpenedOn), ClosedOn: optionalDate(r.ClosedOn), ClosureReason: r.ClosureReason,
		CreatedBy: r.CreatedBy, Version: r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	p := &c.Person
	p.Sex, p.Gender, p.BirthYear = r.Sex, r.Gender, r.BirthYear
	t := &c.Trafficking
	t.Status, t.RecruiterRelationship, t.IdentifiedBy = r.TraffickingStatus, r.RecruiterRelationship, r.IdentifiedBy
	t.LabourSector, t.CountryOfExploitation = value(r.LabourSector), value(r.CountryOfExploitation)
	t.IdentifiedOn = optionalDate(r.IdentifiedOn)
	var err error
	for _, f := range []struct {
		dst *[]string
		src string
	}{{&p.Citizenships, r.Citizenships}, {&p.Languages, r.Languages}, {&t.ExploitationTypes, r.ExploitationTypes}, {&t.MeansOfControl, r.MeansOfControl}} {
		if *f.dst, err = parseList(f.src); err != nil {
			return c, apperr.Wrap(apperr.Internal, "stored case list", err)
		}
	}
	for _, f := range []struct {
		dst    *string
		column string
		src    *string
	}{{&p.GivenName, "given_name", r.GivenNameEnc}, {&p.FamilyName, "family_name", r.FamilyNameEnc},
		{&p.OtherNames, "other_names", r.OtherNamesEnc}, {&p.Phone, "phone", r.PhoneEnc}, {&p.Address, "address", r.AddressEnc}} {
		if *f.dst, err = s.open(r.ID, f.column, f.src); err != nil {
			return c, err
		}
	}
	dob, err := s.open(r.ID, "date_of_birth", r.DateOfBirthEnc)
	if err != nil {
		return c, err
	}
	if dob != "" {
		d, err := time.Parse(time.DateOnly, dob)
		if err != nil {
			return c, apperr.Wrap(apperr.Internal, "stored date of birth", err)
		}
		p.DateOfBirth = &d
	}
	docs, err := s.open(r.ID, "documents", r.DocumentsEnc)
	if err != nil {
		return c, err
	}
	if docs != "" {
		if err := json.Unmarshal([]byte(docs), &p.IdentityDocuments); err != nil {
			return c, apperr.Wrap(apperr.Internal, "stored documents", err)
		}
	}
	return c, nil
}

// normalise folds a name for duplicate checks: case, spacing and punctuation
// do not matter.
func normalise(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}), " ")
}

func (s *Cases) nameDobHash(p cases.Person) string {
	name := normalise(p.GivenName + " " + p.FamilyName)
	if name == "" || p.DateOfBirth == nil {
		return ""
	}
	return s.keys.Hash("person-name-dob", name+"|"+p.DateOfBirth.Format(time.DateOnly))
}

func (s *Cases) documentHashes(p cases.Person) []string {
	out := make([]string, 0, len(p.IdentityDocuments))
	for _, d := range p.IdentityDocuments {
		number := strings.ToUpper(strings.Join(strings.Fields(d.Number), ""))
		out = append(out, s.keys.Hash("identity-document", d.Type+":"+d.IssuingCountry+":"+number))
	}
	return out
}

// writeIndexes replaces the exploitation and document rows of a case.
func (s *Cases) writeIndexes(tx *gorm.DB, c cases.Case) error {
	if err := tx.Exec("DELETE FROM case_exploitations WHERE case_id = ?", c.ID).Error; err != nil {
		return translate(err, "case")
	}
	for _, t := range c.Trafficking.ExploitationTypes {
		if err := tx.Exec("INSERT INTO case_exploitations (case_id, organization_id, type) VALUES (?, ?, ?)",
			c.ID, c.OrganizationID, t).Error; err != nil {
			return translate(err, "case")
		}
	}
	if err := tx.Exec("DELETE FROM case_documents WHERE case_id = ?", c.ID).Error; err != nil {
		return translate(err, "case")
	}
	seen := map[string]bool{}
	for _, h := range s.documentHashes(c.Person) {
		if seen[h] {
			continue
		}
		seen[h] = true
		if err := tx.Exec("INSERT INTO case_documents (case_id, organization_id, doc_hash) VALUES (?, ?, ?)",
			c.ID, c.OrganizationID, h).Error; err != nil {
			return translate(err, "case")
		}
	}
	return nil
}

func insertHistory(tx *gorm.DB, caseID, orgID, actorID string, changes []cases.Change) error {
	now := Now()
	for _, ch := range changes {
		row := historyRow{
			ID: NewID(), CaseID: caseID, OrganizationID: orgID, ActorID: actorID, Action: ch.Action,
			Field: ch.Field, Identifying: ch.Identifying, OldValue: ch.Old, NewValue: ch.New, ChangedAt: now,
		}
		if ch.Identifying {
			row.OldValue, row.NewValue = nil, nil // never store identifying values in history
		}
		if err := tx.Create(&row).Error; err != nil {
			return translate(err, "case history")
		}
	}
	return nil
}

// nextCaseNumber takes the next number of org for year, in tx.
func nextCaseNumber(tx *gorm.DB, orgID string, year int) (int, error) {
	var n int
	err := tx.Raw(`INSERT INTO case_counters (organization_id, year, last) VALUES (?, ?, 1)
		ON CONFLICT (organization_id, year) DO UPDATE SET last = case_counters.last + 1
		RETURNING last`, orgID, year).Scan(&n).Error
	return n, translate(err, "case number")
}

// Create implements cases.Store.
func (s *Cases) Create(ctx context.Context, c cases.Case, orgCode string, history []cases.Change, ev audit.Event) (cases.Case, error) {
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		year := c.CreatedAt.UTC().Year()
		n, err := nextCaseNumber(tx, c.OrganizationID, year)
		if err != nil {
			return err
		}
		c.CaseNumber = fmt.Sprintf("%s-%d-%05d", orgCode, year, n)
		row, err := s.toRow(c)
		if err != nil {
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			return translate(err, "case")
		}
		if err := s.writeIndexes(tx, c); err != nil {
			return err
		}
		if err := insertHistory(tx, c.ID, c.OrganizationID, ev.ActorID, history); err != nil {
			return err
		}
		if err := enqueueEvent(tx, c.OrganizationID, webhooks.CaseCreated, webhooks.Data{CaseID: c.ID}, c.CreatedAt); err != nil {
			return err
		}
		return insertAudit(tx, ev)
	})
	return c, err
}

// Get implements cases.Store.
func (s *Cases) Get(ctx context.Context, scope tenant.Scope, id string) (cases.Case, error) {
	return s.get(s.db.gorm.WithContext(ctx), scope, id, false)
}

func (s *Cases) get(q *gorm.DB, scope tenant.Scope, id string, lock bool) (cases.Case, error) {
	q = scoped(q, scope, "organization_id").Where("id = ?", id)
	if lock && s.db.driver == config.Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var row caseRow
	if err := q.Take(&row).Error; err != nil {
		return cases.Case{}, translate(err, "case")
	}
	return s.fromRow(row)
}

// referredSQL matches cases shared with an organisation (the ? parameter)
// by an accepted referral.
const referredSQL = "EXISTS (SELECT 1 FROM referrals r WHERE r.case_id = cases.id AND r.to_organization_id = ? AND r.status = 'accepted')"

// Access implements cases.Store: one indexed query, on every request, so a
// referral's end is enforced on the very next request by every instance.
func (s *Cases) Access(ctx context.Context, id, orgID string) (string, bool, error) {
	var rows []struct {
		OrganizationID string
		Referred       bool
	}
	err := s.db.gorm.WithContext(ctx).Raw("SELECT organization_id, "+referredSQL+" AS referred FROM cases WHERE id = ?", orgID, id).Scan(&rows).Error
	if err != nil {
		return "", false, translate(err, "case")
	}
	if len(rows) == 0 {
		return "", false, apperr.New(apperr.NotFound, "case not found")
	}
	return rows[0].OrganizationID, rows[0].Referred, nil
}

// LostReferrals implements cases.Store.
func (s *Cases) LostReferrals(ctx context.Context, orgID string, r page.Request) ([]cases.Tombstone, error) {
	var rows []struct {
		CaseID  string
		EndedAt time.Time
	}
	sql := `SELECT r.case_id, r.ended_at FROM referrals r
		WHERE r.to_organization_id = ? AND r.status IN ('revoked', 'completed') AND r.ended_at >= ?
		  AND NOT EXISTS (SELECT 1 FROM referrals a WHERE a.case_id = r.case_id AND a.to_organization_id = ? AND a.status = 'accepted')
		  AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = r.case_id AND c.organization_id = ?)`
	args := []any{orgID, *r.UpdatedSince, orgID, orgID}
	if r.After != "" {
		sql += " AND r.case_id > ?"
		args = append(args, r.After)
	}
	err := s.db.gorm.WithContext(ctx).Raw(sql+" ORDER BY r.case_id", args...).Scan(&rows).Error
	if err != nil {
		return nil, translate(err, "referral")
	}
	var out []cases.Tombstone
	for _, row := range rows {
		t := cases.Tombstone{ID: row.CaseID, UpdatedAt: row.EndedAt.UTC()}
		switch {
		case len(out) > 0 && out[len(out)-1].ID == t.ID:
			if t.UpdatedAt.After(out[len(out)-1].UpdatedAt) {
				out[len(out)-1] = t
			}
		default:
			out = append(out, t)
		}
		if len(out) > r.Limit+1 {
			return out[:r.Limit+1], nil
		}
	}
	return out, nil
}

// ReferredTo implements cases.Store.
func (s *Cases) ReferredTo(ctx context.Context, ids []string, orgID string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	var shared []string
	err := s.db.gorm.WithContext(ctx).Table("referrals").
		Where("case_id IN ? AND to_organization_id = ? AND status = 'accepted'", ids, orgID).Pluck("case_id", &shared).Error
	for _, id := range shared {
		out[id] = true
	}
	return out, translate(err, "referral")
}

// List implements cases.Store.
func (s *Cases) List(ctx context.Context, scope tenant.Scope, f cases.Filter, r page.Request) ([]cases.Case, error) {
	q := s.db.gorm.WithContext(ctx)
	if f.ReferredTo != "" && !scope.IsAll() {
		q = q.Where(scoped(s.db.gorm.Session(&gorm.Session{NewDB: true}), scope, "organization_id").Or(referredSQL, f.ReferredTo))
	} else {
		q = scoped(q, scope, "organization_id")
	}
	eq := func(col, v string) {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	eq("organization_id", f.OrganizationID)
	eq("status", f.Status)
	eq("assigned_to", f.AssignedTo)
	eq("sex", f.Sex)
	eq("age_group", f.AgeGroup)
	if f.ExploitationType != "" {
		q = q.Where("EXISTS (SELECT 1 FROM case_exploitations e WHERE e.case_id = cases.id AND e.type = ?)", f.ExploitationType)
	}
	if f.ServiceType != "" {
		q = q.Where("EXISTS (SELECT 1 FROM services sv WHERE sv.case_id = cases.id AND sv.type = ?)", f.ServiceType)
	}
	if f.OpenedFrom != nil {
		q = q.Where("opened_on >= ?", cases.Date(*f.OpenedFrom))
	}
	if f.OpenedTo != nil {
		q = q.Where("opened_on <= ?", cases.Date(*f.OpenedTo))
	}
	var rows []caseRow
	if err := paged(q, r, "id", "updated_at").Find(&rows).Error; err != nil {
		return nil, translate(err, "case")
	}
	out := make([]cases.Case, len(rows))
	for i, row := range rows {
		c, err := s.fromRow(row)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// Update implements cases.Store.
func (s *Cases) Update(ctx context.Context, scope tenant.Scope, id string, version int64, change cases.ChangeFunc, ev audit.Event) (cases.Case, error) {
	var out cases.Case
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		c, err := s.get(tx, scope, id, true)
		if err != nil {
			return err
		}
		if version != 0 && c.Version != version {
			return apperr.New(apperr.PreconditionFailed, "the case was changed since you read it")
		}
		loaded := c.Version
		changes, err := change(&c)
		if err != nil {
			return err
		}
		c.Version, c.UpdatedAt = loaded+1, Now()
		row, err := s.toRow(c)
		if err != nil {
			return err
		}
		res := tx.Model(&caseRow{}).Where("id = ? AND version = ?", id, loaded).Select("*").Omit("id", "created_at", "created_by", "case_number", "organization_id").Updates(&row)
		if res.Error != nil {
			return translate(res.Error, "case")
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.PreconditionFailed, "the case was changed since you read it")
		}
		if err := s.writeIndexes(tx, c); err != nil {
			return err
		}
		if err := insertHistory(tx, c.ID, c.OrganizationID, ev.ActorID, changes); err != nil {
			return err
		}
		if err := enqueueEvent(tx, c.OrganizationID, webhooks.CaseUpdated, webhooks.Data{CaseID: c.ID}, c.UpdatedAt); err != nil {
			return err
		}
		out = c
		return insertAudit(tx, ev)
	})
	return out, err
}

// HasServices implements cases.Store.
func (s *Cases) HasServices(ctx context.Context, id string) (bool, error) {
	var n int64
	err := s.db.gorm.WithContext(ctx).Table("services").Where("case_id = ?", id).Limit(1).Count(&n).Error
	return n > 0, translate(err, "service")
}

// Duplicates implements cases.Store.
func (s *Cases) Duplicates(ctx context.Context, orgID string, c cases.Case) ([]string, error) {
	name := s.nameDobHash(c.Person)
	docs := s.documentHashes(c.Person)
	if name == "" && len(docs) == 0 {
		return nil, nil
	}
	q := s.db.gorm.WithContext(ctx).Table("cases").Where("organization_id = ? AND id <> ?", orgID, c.ID)
	switch {
	case name != "" && len(docs) > 0:
		q = q.Where("name_dob_hash = ? OR id IN (SELECT case_id FROM case_documents WHERE organization_id = ? AND doc_hash IN ?)", name, orgID, docs)
	case name != "":
		q = q.Where("name_dob_hash = ?", name)
	default:
		q = q.Where("id IN (SELECT case_id FROM case_documents WHERE organization_id = ? AND doc_hash IN ?)", orgID, docs)
	}
	var numbers []string
	err := q.Order("case_number").Limit(5).Pluck("case_number", &numbers).Error
	return numbers, translate(err, "case")
}
