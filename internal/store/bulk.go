package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/crypt"
	"github.com/casework/casework/internal/services"
)

// Bulk writes whole data sets at once, for seeding benchmark data: the rows
// the case and service stores write one at a time (identifying fields sealed,
// derived columns, the exploitation index, case-number counters), in
// multi-row INSERTs, without history or audit events, since no one acted.
type Bulk struct {
	cases    *Cases
	services *Services
}

// NewBulk returns the bulk writer.
func NewBulk(db *DB, keys *crypt.Keyring) *Bulk {
	return &Bulk{cases: NewCases(db, keys), services: NewServices(db, keys)}
}

type exploitationRow struct {
	CaseID         string
	OrganizationID string
	Type           string
}

func (exploitationRow) TableName() string { return "case_exploitations" }

// Counter is the last case number handed out for an organisation and year.
type Counter struct {
	OrganizationID string
	Year, Last     int
}

// Insert writes cases and their services in one transaction, and raises the
// case-number counters to at least the given values so that later creates
// through the API continue the numbering.
func (b *Bulk) Insert(ctx context.Context, cs []cases.Case, svcs []services.Service, counters []Counter) error {
	caseRows := make([]caseRow, 0, len(cs))
	var expl []exploitationRow
	for _, c := range cs {
		row, err := b.cases.toRow(c)
		if err != nil {
			return err
		}
		caseRows = append(caseRows, row)
		for _, t := range c.Trafficking.ExploitationTypes {
			expl = append(expl, exploitationRow{CaseID: c.ID, OrganizationID: c.OrganizationID, Type: t})
		}
	}
	svcRows := make([]serviceRow, 0, len(svcs))
	for _, v := range svcs {
		row, err := b.services.toRow(v)
		if err != nil {
			return err
		}
		svcRows = append(svcRows, row)
	}
	// Statements carry up to maxParams bound parameters: PostgreSQL takes
	// 65,535; the SQLite driver binds each parameter by a linear search, so
	// smaller statements are faster there.
	maxParams := 2_000
	if b.cases.db.driver == config.Postgres {
		maxParams = 30_000
	}
	return b.cases.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if len(caseRows) > 0 {
			if err := tx.CreateInBatches(caseRows, maxParams/45).Error; err != nil {
				return translate(err, "case")
			}
		}
		if len(expl) > 0 {
			if err := tx.CreateInBatches(expl, maxParams/3).Error; err != nil {
				return translate(err, "case")
			}
		}
		if len(svcRows) > 0 {
			if err := tx.CreateInBatches(svcRows, maxParams/20).Error; err != nil {
				return translate(err, "service")
			}
		}
		// The cases' ids are UUIDv7s made in order, so one range covers them.
		if len(cs) > 0 {
			first, last := cs[0].ID, cs[0].ID
			for _, c := range cs {
				first, last = min(first, c.ID), max(last, c.ID)
			}
			if err := refreshActivity(tx, "id BETWEEN ? AND ?", first, last); err != nil {
				return translate(err, "case")
			}
		}
		for _, c := range counters {
			err := tx.Exec(`INSERT INTO case_counters (organization_id, year, last) VALUES (?, ?, ?)
				ON CONFLICT (organization_id, year) DO UPDATE SET last = CASE WHEN case_counters.last > excluded.last
				THEN case_counters.last ELSE excluded.last END`, c.OrganizationID, c.Year, c.Last).Error
			if err != nil {
				return translate(err, fmt.Sprintf("case counter %d", c.Year))
			}
		}
		return nil
	})
}

// Analyze refreshes the planner's statistics after a bulk load (and, on
// PostgreSQL, the visibility map that index-only scans rely on).
func (db *DB) Analyze(ctx context.Context) error {
	stmt := "ANALYZE"
	if db.driver == config.Postgres {
		stmt = "VACUUM ANALYZE"
	}
	return translate(db.gorm.WithContext(ctx).Exec(stmt).Error, "statistics")
}

// CaseCount is the number of cases in the database, of every organisation.
func (b *Bulk) CaseCount(ctx context.Context) (int64, error) {
	var n int64
	err := b.cases.db.gorm.WithContext(ctx).Table("cases").Count(&n).Error
	return n, translate(err, "case")
}

// UserID is the id of the user with this (lower-case) email.
func (b *Bulk) UserID(ctx context.Context, email string) (string, error) {
	var id string
	err := b.cases.db.gorm.WithContext(ctx).Raw("SELECT CAST(id AS text) FROM users WHERE email = ?", email).Scan(&id).Error
	if err == nil && id == "" {
		return "", fmt.Errorf("no user %s", email)
	}
	return id, translate(err, "user")
}
