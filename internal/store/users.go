package store

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
	"github.com/casework/casework/internal/users"
)

type userRow struct {
	ID             string `gorm:"primaryKey"`
	OrganizationID string
	Email          string
	DisplayName    string
	PasswordHash   string
	Roles          string // comma-separated, sorted
	Active         bool
	Locale         string
	Version        int64
	CreatedAt      time.Time
	UpdatedAt      time.Time `gorm:"autoUpdateTime:false"` // set by the service
}

func (userRow) TableName() string { return "users" }

// userWithOrg is a user row read together with its organisation's kind.
// (Flat: gorm does not fill embedded structs when scanning joined rows.)
type userWithOrg struct {
	ID             string
	OrganizationID string
	Email          string
	DisplayName    string
	Roles          string
	Active         bool
	Locale         string
	Version        int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	OrgKind        string
}

func (r userWithOrg) domain() users.User {
	return users.User{
		ID: r.ID, OrganizationID: r.OrganizationID, OrgKind: r.OrgKind, Email: r.Email,
		DisplayName: r.DisplayName, Roles: splitRoles(r.Roles), Active: r.Active, Locale: r.Locale,
		Version: r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func splitRoles(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// Users implements users.Store.
type Users struct{ db *DB }

// NewUsers returns the user store.
func NewUsers(db *DB) *Users { return &Users{db: db} }

func (s *Users) base(q *gorm.DB, scope tenant.Scope) *gorm.DB {
	q = q.Table("users").
		Select("users.id, users.organization_id, users.email, users.display_name, users.roles, users.active, " +
			"users.locale, users.version, users.created_at, users.updated_at, organizations.kind AS org_kind").
		Joins("JOIN organizations ON organizations.id = users.organization_id")
	return scoped(q, scope, "users.organization_id")
}

// List implements users.Store.
func (s *Users) List(ctx context.Context, scope tenant.Scope, orgID string, r page.Request) ([]users.User, error) {
	q := s.base(s.db.gorm.WithContext(ctx), scope)
	if orgID != "" {
		q = q.Where("users.organization_id = ?", orgID)
	}
	var rows []userWithOrg
	if err := paged(q, r, "users.id", "users.updated_at").Scan(&rows).Error; err != nil {
		return nil, translate(err, "user")
	}
	out := make([]users.User, len(rows))
	for i, row := range rows {
		out[i] = row.domain()
	}
	return out, nil
}

// Get implements users.Store.
func (s *Users) Get(ctx context.Context, scope tenant.Scope, id string) (users.User, error) {
	return s.get(s.db.gorm.WithContext(ctx), scope, id)
}

func (s *Users) get(q *gorm.DB, scope tenant.Scope, id string) (users.User, error) {
	var row userWithOrg
	res := s.base(q, scope).Where("users.id = ?", id).Limit(1).Scan(&row)
	if res.Error != nil {
		return users.User{}, translate(res.Error, "user")
	}
	if res.RowsAffected == 0 {
		return users.User{}, apperr.New(apperr.NotFound, "user not found")
	}
	return row.domain(), nil
}

// Create implements users.Store.
func (s *Users) Create(ctx context.Context, u users.User, passwordHash string) error {
	row := userRow{
		ID: u.ID, OrganizationID: u.OrganizationID, Email: u.Email, DisplayName: u.DisplayName,
		PasswordHash: passwordHash, Roles: strings.Join(u.Roles, ","), Active: u.Active,
		Locale: u.Locale, Version: u.Version, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
	return s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return emailConflict(translate(err, "user"))
		}
		return bumpPolicyVersion(tx)
	})
}

func emailConflict(err error) error {
	if apperr.Is(err, apperr.Conflict) {
		return apperr.Wrap(apperr.Conflict, "a user with this email already exists", err)
	}
	return err
}

// Update implements users.Store.
func (s *Users) Update(ctx context.Context, scope tenant.Scope, id string, version int64, c users.Changes) (users.User, error) {
	var out users.User
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Scope through the organisation column, then update by id.
		current, err := s.get(tx, scope, id)
		if err != nil {
			return err
		}
		now := Now()
		set := map[string]any{"version": gorm.Expr("version + 1"), "updated_at": now}
		if c.Email != nil {
			set["email"] = *c.Email
		}
		if c.DisplayName != nil {
			set["display_name"] = *c.DisplayName
		}
		if c.PasswordHash != nil {
			set["password_hash"] = *c.PasswordHash
		}
		if c.Roles != nil {
			set["roles"] = strings.Join(c.Roles, ",")
		}
		if c.Active != nil {
			set["active"] = *c.Active
		}
		if c.Locale != nil {
			set["locale"] = *c.Locale
		}
		res := tx.Model(&userRow{}).
			Where("id = ? AND organization_id = ? AND version = ?", id, current.OrganizationID, version).
			Updates(set)
		if res.Error != nil {
			return emailConflict(translate(res.Error, "user"))
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.PreconditionFailed, "the user was changed since you read it")
		}
		if c.Roles != nil || c.Active != nil {
			if err := bumpPolicyVersion(tx); err != nil {
				return err
			}
		}
		if (c.Active != nil && !*c.Active) || c.PasswordHash != nil {
			why := "password changed"
			if c.Active != nil && !*c.Active {
				why = "user deactivated"
			}
			if err := revokeUserSessions(tx, id, why, now); err != nil {
				return err
			}
		}
		out, err = s.get(tx, scope, id)
		return err
	})
	return out, err
}

// bumpPolicyVersion moves the authorization policy version on, in the
// transaction of the change that made the policy stale.
func bumpPolicyVersion(tx *gorm.DB) error {
	if err := tx.Exec("UPDATE authz_policy SET version = version + 1 WHERE id = 1").Error; err != nil {
		return translate(err, "policy")
	}
	if tx.Dialector.Name() == "postgres" {
		// Delivered to every listening instance when the transaction commits.
		return translate(tx.Exec("SELECT pg_notify('"+PolicyChannel+"', '')").Error, "policy")
	}
	return nil
}

func revokeUserSessions(tx *gorm.DB, userID, why string, now time.Time) error {
	return translate(tx.Exec("UPDATE sessions SET revoked_at = ?, revoked_why = ? WHERE user_id = ? AND revoked_at IS NULL",
		now, why, userID).Error, "session")
}

// IsActiveMember implements cases.Members.
func (s *Users) IsActiveMember(ctx context.Context, orgID, userID string) (bool, error) {
	var n int64
	err := s.db.gorm.WithContext(ctx).Table("users").
		Where("id = ? AND organization_id = ? AND active", userID, orgID).Count(&n).Error
	return n > 0, translate(err, "user")
}
