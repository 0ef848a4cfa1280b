package store

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/crypt"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/referrals"
	"github.com/casework/casework/internal/webhooks"
)

type referralRow struct {
	ID                 string `gorm:"primaryKey"`
	CaseID             string
	FromOrganizationID string
	ToOrganizationID   string
	ServiceTypes       string
	ReasonEnc          *string
	DataKID            string `gorm:"column:data_kid"`
	Status             string
	EndedWhy           *string
	Version            int64
	CreatedBy          string
	RespondedBy        *string
	RespondedAt        *time.Time
	EndedBy            *string
	EndedAt            *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func (referralRow) TableName() string { return "referrals" }

// referralWithCase is a referral read with its case's number.
type referralWithCase struct {
	ID                 string
	CaseID             string
	CaseNumber         string
	FromOrganizationID string
	ToOrganizationID   string
	ServiceTypes       string
	ReasonEnc          *string
	Status             string
	EndedWhy           *string
	Version            int64
	CreatedBy          string
	RespondedBy        *string
	RespondedAt        *time.Time
	EndedBy            *string
	EndedAt            *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Referrals implements referrals.Store; reasons are sealed, bound to the
// referral id.
type Referrals struct {
	db   *DB
	keys *crypt.Keyring
}

// NewReferrals returns the referral store.
func NewReferrals(db *DB, keys *crypt.Keyring) *Referrals { return &Referrals{db: db, keys: keys} }

func (s *Referrals) aad(id string) string { return "referrals:" + id + ":reason" }

// Create implements referrals.Store.
func (s *Referrals) Create(ctx context.Context, r referrals.Referral, ev audit.Event) error {
	types, err := json.Marshal(r.ServiceTypes)
	if err != nil {
		return err
	}
	row := referralRow{
		ID: r.ID, CaseID: r.CaseID, FromOrganizationID: r.FromOrganizationID, ToOrganizationID: r.ToOrganizationID,
		ServiceTypes: string(types), DataKID: s.keys.ActiveKID(), Status: r.Status, Version: r.Version,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if r.Reason != "" {
		sealed := s.keys.Seal([]byte(r.Reason), s.aad(r.ID))
		row.ReasonEnc = &sealed
	}
	return s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return translate(err, "referral")
		}
		data := webhooks.Data{CaseID: r.CaseID, ReferralID: r.ID}
		if err := enqueueEvent(tx, r.ToOrganizationID, webhooks.ReferralReceived, data, r.CreatedAt); err != nil {
			return err
		}
		return insertAudit(tx, ev)
	})
}

const referralSelect = `SELECT r.id, r.case_id, c.case_number, r.from_organization_id, r.to_organization_id,
	r.service_types, r.reason_enc, r.status, r.ended_why, r.version, r.created_by, r.responded_by, r.responded_at,
	r.ended_by, r.ended_at, r.created_at, r.updated_at
	FROM referrals r JOIN cases c ON c.id = r.case_id`

func (s *Referrals) query(q *gorm.DB, sql string, args ...any) ([]referrals.Referral, error) {
	var rows []referralWithCase
	if err := q.Raw(sql, args...).Scan(&rows).Error; err != nil {
		return nil, translate(err, "referral")
	}
	out := make([]referrals.Referral, len(rows))
	for i, row := range rows {
		r := referrals.Referral{
			ID: row.ID, CaseID: row.CaseID, CaseNumber: row.CaseNumber, FromOrganizationID: row.FromOrganizationID,
			ToOrganizationID: row.ToOrganizationID, Status: row.Status, EndedWhy: value(row.EndedWhy), Version: row.Version,
			CreatedBy: row.CreatedBy, RespondedBy: value(row.RespondedBy), RespondedAt: utc(row.RespondedAt),
			EndedBy: value(row.EndedBy), EndedAt: utc(row.EndedAt), CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC(),
		}
		if err := json.Unmarshal([]byte(row.ServiceTypes), &r.ServiceTypes); err != nil {
			return nil, apperr.Wrap(apperr.Internal, "stored service types", err)
		}
		if row.ReasonEnc != nil {
			b, err := s.keys.Open(*row.ReasonEnc, s.aad(row.ID))
			if err != nil {
				return nil, apperr.Wrap(apperr.Internal, "decrypt referral reason", err)
			}
			r.Reason = string(b)
		}
		out[i] = r
	}
	return out, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Get implements referrals.Store.
func (s *Referrals) Get(ctx context.Context, orgID, id string) (referrals.Referral, error) {
	return s.get(s.db.gorm.WithContext(ctx), orgID, id)
}

func (s *Referrals) get(q *gorm.DB, orgID, id string) (referrals.Referral, error) {
	rs, err := s.query(q, referralSelect+" WHERE r.id = ? AND (r.from_organization_id = ? OR r.to_organization_id = ?)", id, orgID, orgID)
	if err != nil {
		return referrals.Referral{}, err
	}
	if len(rs) == 0 {
		return referrals.Referral{}, apperr.New(apperr.NotFound, "referral not found")
	}
	return rs[0], nil
}

// List implements referrals.Store.
func (s *Referrals) List(ctx context.Context, orgID string, f referrals.Filter, p page.Request) ([]referrals.Referral, error) {
	sql := referralSelect
	var args []any
	switch f.Direction {
	case "sent":
		sql += " WHERE r.from_organization_id = ?"
		args = append(args, orgID)
	case "received":
		sql += " WHERE r.to_organization_id = ?"
		args = append(args, orgID)
	default:
		sql += " WHERE (r.from_organization_id = ? OR r.to_organization_id = ?)"
		args = append(args, orgID, orgID)
	}
	if f.Status != "" {
		sql += " AND r.status = ?"
		args = append(args, f.Status)
	}
	if f.CaseID != "" {
		sql += " AND r.case_id = ?"
		args = append(args, f.CaseID)
	}
	if p.UpdatedSince != nil {
		sql += " AND r.updated_at >= ?"
		args = append(args, *p.UpdatedSince)
	}
	if p.After != "" {
		sql += " AND r.id > ?"
		args = append(args, p.After)
	}
	sql += " ORDER BY r.id LIMIT ?"
	args = append(args, p.Limit+1)
	return s.query(s.db.gorm.WithContext(ctx), sql, args...)
}

// Transition implements referrals.Store.
func (s *Referrals) Transition(ctx context.Context, orgID, id, from, to, by string, ev audit.Event) (referrals.Referral, error) {
	var out referrals.Referral
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := Now()
		set := map[string]any{"status": to, "version": gorm.Expr("version + 1"), "updated_at": now}
		if from == referrals.StatusPending && to == referrals.StatusAccepted {
			set["responded_by"], set["responded_at"] = by, now
		} else {
			set["ended_by"], set["ended_at"] = by, now
			if to == referrals.StatusDeclined {
				set["responded_by"], set["responded_at"] = by, now
			}
		}
		res := tx.Model(&referralRow{}).
			Where("id = ? AND status = ? AND (from_organization_id = ? OR to_organization_id = ?)", id, from, orgID, orgID).
			Updates(set)
		if res.Error != nil {
			return translate(res.Error, "referral")
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.Conflict, "the referral changed meanwhile; read it again")
		}
		r, err := s.get(tx, orgID, id)
		if err != nil {
			return err
		}
		// The case's sync feed moves on: the recipient gains or loses it.
		if err := touchCase(tx, r.CaseID); err != nil {
			return err
		}
		if err := referralEvent(tx, r.ID, r.CaseID, r.FromOrganizationID, r.ToOrganizationID, to, now); err != nil {
			return err
		}
		out = r
		return insertAudit(tx, ev)
	})
	return out, err
}

// referralEvent tells the organisations a referral moved to status: its
// sender that it was accepted; both sides that it ended.
func referralEvent(tx *gorm.DB, id, caseID, from, to, status string, at time.Time) error {
	data := webhooks.Data{CaseID: caseID, ReferralID: id}
	if status == referrals.StatusAccepted {
		return enqueueEvent(tx, from, webhooks.ReferralAccepted, data, at)
	}
	for _, org := range []string{from, to} {
		if err := enqueueEvent(tx, org, webhooks.ReferralEnded, data, at); err != nil {
			return err
		}
	}
	return nil
}

// endReferralsForConsent ends a case's referrals to recipient when the
// person withdraws or refuses referral consent to it: accepted ones are
// revoked, pending ones withdrawn, each with its own audit event, in the
// consent's transaction. ev is the consent's event (caller and origin).
func endReferralsForConsent(tx *gorm.DB, caseID, recipient, by string, ev audit.Event) error {
	var rows []struct {
		ID     string
		Status string
	}
	err := tx.Raw("SELECT id, status FROM referrals WHERE case_id = ? AND to_organization_id = ? AND status IN (?, ?)",
		caseID, recipient, referrals.StatusAccepted, referrals.StatusPending).Scan(&rows).Error
	if err != nil {
		return translate(err, "referral")
	}
	now := Now()
	for _, r := range rows {
		to, action := referrals.StatusRevoked, "referral.revoke"
		if r.Status == referrals.StatusPending {
			to, action = referrals.StatusWithdrawn, "referral.withdraw"
		}
		err := tx.Exec(`UPDATE referrals SET status = ?, ended_why = 'consent_withdrawn', ended_by = ?, ended_at = ?,
			version = version + 1, updated_at = ? WHERE id = ? AND status = ?`, to, by, now, now, r.ID, r.Status).Error
		if err != nil {
			return translate(err, "referral")
		}
		if err := referralEvent(tx, r.ID, caseID, ev.OrganizationID, recipient, to, now); err != nil {
			return err
		}
		e := ev
		e.Action, e.ObjectType, e.ObjectID = action, "referral", r.ID
		if err := insertAudit(tx, e); err != nil {
			return err
		}
	}
	return nil
}
