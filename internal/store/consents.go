package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/consents"
	"github.com/casework/casework/internal/page"
)

type consentRow struct {
	ID                      string `gorm:"primaryKey"`
	CaseID                  string
	OrganizationID          string
	Type                    string
	Given                   bool
	RecordedOn              time.Time
	RecordedBy              string
	RecipientOrganizationID *string
	Scope                   *string
	CreatedAt               time.Time
}

func (consentRow) TableName() string { return "consents" }

// consentWithWithdrawal is a consent row joined with its withdrawal.
type consentWithWithdrawal struct {
	ID                      string
	CaseID                  string
	OrganizationID          string
	Type                    string
	Given                   bool
	RecordedOn              time.Time
	RecordedBy              string
	RecipientOrganizationID *string
	Scope                   *string
	CreatedAt               time.Time
	WithdrawnOn             *time.Time
	WithdrawnBy             *string
	WithdrawnAt             *time.Time
}

func (r consentWithWithdrawal) domain() consents.Consent {
	c := consents.Consent{
		ID: r.ID, CaseID: r.CaseID, OrganizationID: r.OrganizationID, Type: r.Type, Given: r.Given,
		RecordedOn: cases.Date(r.RecordedOn), RecordedBy: r.RecordedBy, RecipientOrganizationID: value(r.RecipientOrganizationID),
		Scope: value(r.Scope), WithdrawnOn: optionalDate(r.WithdrawnOn), WithdrawnBy: value(r.WithdrawnBy),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.CreatedAt.UTC(),
	}
	if r.WithdrawnAt != nil {
		c.UpdatedAt = r.WithdrawnAt.UTC()
	}
	return c
}

const consentSelect = `SELECT c.id, c.case_id, c.organization_id, c.type, c.given, c.recorded_on, c.recorded_by,
	c.recipient_organization_id, c.scope, c.created_at,
	w.withdrawn_on, w.withdrawn_by, w.created_at AS withdrawn_at
	FROM consents c LEFT JOIN consent_withdrawals w ON w.consent_id = c.id`

// Consents implements consents.Store.
type Consents struct{ db *DB }

// NewConsents returns the consent store.
func NewConsents(db *DB) *Consents { return &Consents{db: db} }

// List implements consents.Store.
func (s *Consents) List(ctx context.Context, caseID string, r page.Request) ([]consents.Consent, error) {
	sql := consentSelect + " WHERE c.case_id = ?"
	args := []any{caseID}
	if r.After != "" {
		sql += " AND c.id > ?"
		args = append(args, r.After)
	}
	if r.UpdatedSince != nil {
		sql += " AND (c.created_at >= ? OR w.created_at >= ?)"
		args = append(args, *r.UpdatedSince, *r.UpdatedSince)
	}
	sql += " ORDER BY c.id LIMIT ?"
	args = append(args, r.Limit+1)
	return s.query(ctx, sql, args...)
}

func (s *Consents) query(ctx context.Context, sql string, args ...any) ([]consents.Consent, error) {
	var rows []consentWithWithdrawal
	if err := s.db.gorm.WithContext(ctx).Raw(sql, args...).Scan(&rows).Error; err != nil {
		return nil, translate(err, "consent")
	}
	out := make([]consents.Consent, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// Get implements consents.Store.
func (s *Consents) Get(ctx context.Context, caseID, id string) (consents.Consent, error) {
	cs, err := s.query(ctx, consentSelect+" WHERE c.case_id = ? AND c.id = ?", caseID, id)
	if err != nil {
		return consents.Consent{}, err
	}
	if len(cs) == 0 {
		return consents.Consent{}, apperr.New(apperr.NotFound, "consent not found")
	}
	return cs[0], nil
}

// Create implements consents.Store.
func (s *Consents) Create(ctx context.Context, c consents.Consent, ev audit.Event) error {
	return s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row := consentRow{
			ID: c.ID, CaseID: c.CaseID, OrganizationID: c.OrganizationID, Type: c.Type, Given: c.Given,
			RecordedOn: c.RecordedOn, RecordedBy: c.RecordedBy, RecipientOrganizationID: optional(c.RecipientOrganizationID),
			Scope: optional(c.Scope), CreatedAt: c.CreatedAt,
		}
		if err := tx.Create(&row).Error; err != nil {
			return translate(err, "consent")
		}
		if c.Type == consents.TypeReferral && !c.Given {
			if err := endReferralsForConsent(tx, c.CaseID, c.RecipientOrganizationID, c.RecordedBy, ev); err != nil {
				return err
			}
		}
		if err := touchCase(tx, c.CaseID); err != nil {
			return err
		}
		return insertAudit(tx, ev)
	})
}

// Withdraw implements consents.Store.
func (s *Consents) Withdraw(ctx context.Context, caseID, id string, on time.Time, by string, ev audit.Event) (consents.Consent, error) {
	var out consents.Consent
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Table("consents").Where("id = ? AND case_id = ?", id, caseID).Count(&n).Error; err != nil {
			return translate(err, "consent")
		}
		if n == 0 {
			return apperr.New(apperr.NotFound, "consent not found")
		}
		err := tx.Exec("INSERT INTO consent_withdrawals (consent_id, withdrawn_on, withdrawn_by, created_at) VALUES (?, ?, ?, ?)",
			id, on, by, Now()).Error
		if apperr.Is(translate(err, ""), apperr.Conflict) {
			return apperr.New(apperr.Conflict, "the consent is already withdrawn")
		}
		if err != nil {
			return translate(err, "consent")
		}
		if err := touchCase(tx, caseID); err != nil {
			return err
		}
		if err := insertAudit(tx, ev); err != nil {
			return err
		}
		var rows []consentWithWithdrawal
		if err := tx.Raw(consentSelect+" WHERE c.id = ?", id).Scan(&rows).Error; err != nil || len(rows) == 0 {
			return translate(err, "consent")
		}
		out = rows[0].domain()
		if out.Type == consents.TypeReferral {
			// Withdrawing referral consent ends the referrals it allowed.
			return endReferralsForConsent(tx, caseID, out.RecipientOrganizationID, by, ev)
		}
		return nil
	})
	return out, err
}

// Current implements cases.ConsentReader.
func (s *Consents) Current(ctx context.Context, caseIDs []string) (map[string][]cases.ConsentState, error) {
	out := map[string][]cases.ConsentState{}
	if len(caseIDs) == 0 {
		return out, nil
	}
	all, err := s.query(ctx, consentSelect+" WHERE c.case_id IN ?", caseIDs)
	if err != nil {
		return nil, err
	}
	byCase := map[string][]consents.Consent{}
	for _, c := range all {
		byCase[c.CaseID] = append(byCase[c.CaseID], c)
	}
	for id, cs := range byCase {
		out[id] = consents.CurrentStates(cs)
	}
	return out, nil
}

// touchCase moves a case's updated_at on, so clients syncing with
// updated_since see that something of the case changed.
func touchCase(tx *gorm.DB, caseID string) error {
	return translate(tx.Exec("UPDATE cases SET updated_at = ? WHERE id = ?", Now(), caseID).Error, "case")
}
