package store

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/serviceaccounts"
	"github.com/casework/casework/internal/tenant"
)

type serviceAccountRow struct {
	ID              string `gorm:"primaryKey"`
	OrganizationID  string
	Name            string
	Roles           string
	SecretID        string
	SecretHash      *string
	SecretRotatedAt time.Time
	CreatedBy       string
	CreatedAt       time.Time
	UpdatedAt       time.Time `gorm:"autoUpdateTime:false"`
	DeletedAt       *time.Time
}

func (serviceAccountRow) TableName() string { return "service_accounts" }

func (r serviceAccountRow) domain() serviceaccounts.Account {
	return serviceaccounts.Account{
		ID: r.ID, OrganizationID: r.OrganizationID, Name: r.Name, Roles: splitRoles(r.Roles), CreatedBy: r.CreatedBy,
		SecretID: r.SecretID, SecretRotatedAt: r.SecretRotatedAt.UTC(), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		DeletedAt: utc(r.DeletedAt),
	}
}

// ServiceAccounts implements serviceaccounts.Store.
type ServiceAccounts struct{ db *DB }

// NewServiceAccounts returns the service-account store.
func NewServiceAccounts(db *DB) *ServiceAccounts { return &ServiceAccounts{db: db} }

var _ serviceaccounts.Store = (*ServiceAccounts)(nil)

// List implements serviceaccounts.Store.
func (s *ServiceAccounts) List(ctx context.Context, scope tenant.Scope, r page.Request) ([]serviceaccounts.Account, error) {
	q := scoped(s.db.gorm.WithContext(ctx).Model(&serviceAccountRow{}), scope, "organization_id")
	if r.UpdatedSince == nil {
		q = q.Where("deleted_at IS NULL")
	}
	var rows []serviceAccountRow
	if err := paged(q, r, "id", "updated_at").Find(&rows).Error; err != nil {
		return nil, translate(err, "service account")
	}
	out := make([]serviceaccounts.Account, len(rows))
	for i, row := range rows {
		out[i] = row.domain()
	}
	return out, nil
}

func (s *ServiceAccounts) get(tx *gorm.DB, scope tenant.Scope, id string) (serviceAccountRow, error) {
	var row serviceAccountRow
	res := scoped(tx.Model(&serviceAccountRow{}), scope, "organization_id").
		Where("id = ? AND deleted_at IS NULL", id).Limit(1).Find(&row)
	if res.Error != nil {
		return row, translate(res.Error, "service account")
	}
	if res.RowsAffected == 0 {
		return row, apperr.New(apperr.NotFound, "service account not found")
	}
	return row, nil
}

// Get implements serviceaccounts.Store.
func (s *ServiceAccounts) Get(ctx context.Context, scope tenant.Scope, id string) (serviceaccounts.Account, error) {
	row, err := s.get(s.db.gorm.WithContext(ctx), scope, id)
	return row.domain(), err
}

// Create implements serviceaccounts.Store.
func (s *ServiceAccounts) Create(ctx context.Context, a serviceaccounts.Account, secretHash string, ev audit.Event) error {
	row := serviceAccountRow{
		ID: a.ID, OrganizationID: a.OrganizationID, Name: a.Name, Roles: strings.Join(a.Roles, ","), SecretID: a.SecretID,
		SecretHash: &secretHash, SecretRotatedAt: a.SecretRotatedAt, CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
	return s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return translate(err, "service account")
		}
		if err := bumpPolicyVersion(tx); err != nil {
			return err
		}
		return insertAudit(tx, ev)
	})
}

// Rotate implements serviceaccounts.Store.
func (s *ServiceAccounts) Rotate(ctx context.Context, scope tenant.Scope, id, secretID, secretHash string, at time.Time, ev audit.Event) error {
	return s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := s.get(tx, scope, id); err != nil {
			return err
		}
		err := tx.Model(&serviceAccountRow{}).Where("id = ? AND deleted_at IS NULL", id).Updates(map[string]any{
			"secret_id": secretID, "secret_hash": secretHash, "secret_rotated_at": at, "updated_at": at,
		}).Error
		if err != nil {
			return translate(err, "service account")
		}
		return insertAudit(tx, ev)
	})
}

// Delete implements serviceaccounts.Store: the row stays as a tombstone,
// without its secret.
func (s *ServiceAccounts) Delete(ctx context.Context, scope tenant.Scope, id string, at time.Time, ev audit.Event) error {
	return s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := s.get(tx, scope, id); err != nil {
			return err
		}
		err := tx.Model(&serviceAccountRow{}).Where("id = ? AND deleted_at IS NULL", id).Updates(map[string]any{
			"secret_hash": nil, "deleted_at": at, "updated_at": at,
		}).Error
		if err != nil {
			return translate(err, "service account")
		}
		if err := bumpPolicyVersion(tx); err != nil {
			return err
		}
		return insertAudit(tx, ev)
	})
}

// Credentials implements serviceaccounts.Store.
func (s *ServiceAccounts) Credentials(ctx context.Context, id string) (serviceaccounts.Account, string, error) {
	var row serviceAccountRow
	res := s.db.gorm.WithContext(ctx).Raw(`SELECT a.* FROM service_accounts a JOIN organizations o ON o.id = a.organization_id
		WHERE a.id = ? AND a.deleted_at IS NULL AND a.secret_hash IS NOT NULL AND o.active`, id).Scan(&row)
	if res.Error != nil {
		return serviceaccounts.Account{}, "", translate(res.Error, "service account")
	}
	if res.RowsAffected == 0 || row.SecretHash == nil {
		return serviceaccounts.Account{}, "", apperr.New(apperr.NotFound, "service account not found")
	}
	return row.domain(), *row.SecretHash, nil
}
