package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/casework/casework/internal/crypt"
	"github.com/casework/casework/internal/idempotency"
)

type idempotencyRow struct {
	Principal   string `gorm:"primaryKey"`
	IdemKey     string `gorm:"primaryKey;column:idem_key"`
	RequestHash string
	State       string
	StatusCode  *int
	ContentType *string
	Location    *string
	ETag        *string `gorm:"column:etag"`
	Body        []byte
	CreatedAt   time.Time
}

func (idempotencyRow) TableName() string { return "idempotency_keys" }

// Idempotency implements idempotency.Store. Stored bodies may hold
// identifying data, so they are sealed, bound to caller and key.
type Idempotency struct {
	db   *DB
	keys *crypt.Keyring
}

// NewIdempotency returns the idempotency-key store.
func NewIdempotency(db *DB, keys *crypt.Keyring) *Idempotency {
	return &Idempotency{db: db, keys: keys}
}

func idemAAD(principal, key string) string { return "idempotency:" + principal + ":" + key }

// Begin implements idempotency.Store.
func (s *Idempotency) Begin(ctx context.Context, principal, key, hash string, now time.Time) (idempotency.Outcome, idempotency.Response, error) {
	var out idempotency.Outcome
	var resp idempotency.Response
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row idempotencyRow
		err := tx.Where("principal = ? AND idem_key = ?", principal, key).Take(&row).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
		case err != nil:
			return translate(err, "idempotency key")
		case row.CreatedAt.Before(now.Add(-idempotency.TTL)),
			row.State == "in_progress" && row.CreatedAt.Before(now.Add(-idempotency.Abandoned)):
			if err := tx.Delete(&row).Error; err != nil {
				return translate(err, "idempotency key")
			}
		case row.RequestHash != hash:
			out = idempotency.Mismatch
			return nil
		case row.State == "in_progress":
			out = idempotency.InFlight
			return nil
		default:
			body, err := s.keys.Open(string(row.Body), idemAAD(principal, key))
			if err != nil {
				return translate(err, "idempotency key")
			}
			out = idempotency.Replay
			resp = idempotency.Response{Status: derefInt(row.StatusCode), ContentType: value(row.ContentType),
				Location: value(row.Location), ETag: value(row.ETag), Body: body}
			return nil
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&idempotencyRow{Principal: principal, IdemKey: key, RequestHash: hash, State: "in_progress", CreatedAt: now})
		if res.Error != nil {
			return translate(res.Error, "idempotency key")
		}
		out = idempotency.Started
		if res.RowsAffected == 0 { // claimed by another request since our read
			out = idempotency.InFlight
		}
		return nil
	})
	return out, resp, err
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// Complete implements idempotency.Store.
func (s *Idempotency) Complete(ctx context.Context, principal, key string, r idempotency.Response) error {
	sealed := s.keys.Seal(r.Body, idemAAD(principal, key))
	return translate(s.db.gorm.WithContext(ctx).Model(&idempotencyRow{}).
		Where("principal = ? AND idem_key = ?", principal, key).
		Updates(map[string]any{"state": "done", "status_code": r.Status, "content_type": r.ContentType,
			"location": r.Location, "etag": r.ETag, "body": []byte(sealed)}).Error, "idempotency key")
}

// Release implements idempotency.Store.
func (s *Idempotency) Release(ctx context.Context, principal, key string) error {
	return translate(s.db.gorm.WithContext(ctx).
		Where("principal = ? AND idem_key = ? AND state = ?", principal, key, "in_progress").
		Delete(&idempotencyRow{}).Error, "idempotency key")
}
