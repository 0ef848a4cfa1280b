package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
)

type sessionRow struct {
	ID         string `gorm:"primaryKey"`
	UserID     string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	RevokedWhy *string
}

func (sessionRow) TableName() string { return "sessions" }

type refreshTokenRow struct {
	ID        string `gorm:"primaryKey"`
	SessionID string
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

func (refreshTokenRow) TableName() string { return "refresh_tokens" }

// Sessions implements auth.Store and authz.Source.
type Sessions struct{ db *DB }

// NewSessions returns the session store.
func NewSessions(db *DB) *Sessions { return &Sessions{db: db} }

// FindCredentials implements auth.Store. An account whose organisation is
// inactive is reported inactive.
func (s *Sessions) FindCredentials(ctx context.Context, email string) (auth.Credentials, error) {
	var row struct {
		ID             string
		OrganizationID string
		PasswordHash   string
		Active         bool
		OrgActive      bool
	}
	res := s.db.gorm.WithContext(ctx).Raw(`
		SELECT users.id, users.organization_id, users.password_hash, users.active, organizations.active AS org_active
		FROM users JOIN organizations ON organizations.id = users.organization_id
		WHERE users.email = ?`, email).Scan(&row)
	if res.Error != nil {
		return auth.Credentials{}, translate(res.Error, "user")
	}
	if res.RowsAffected == 0 {
		return auth.Credentials{}, apperr.New(apperr.NotFound, "user not found")
	}
	return auth.Credentials{UserID: row.ID, OrgID: row.OrganizationID, PasswordHash: row.PasswordHash, Active: row.Active && row.OrgActive}, nil
}

// CreateSession implements auth.Store.
func (s *Sessions) CreateSession(ctx context.Context, sess auth.Session, first auth.RefreshToken) error {
	return s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&sessionRow{ID: sess.ID, UserID: sess.UserID, CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt}).Error; err != nil {
			return translate(err, "session")
		}
		return translate(tx.Create(refreshRow(first, sess.ID)).Error, "refresh token")
	})
}

func refreshRow(t auth.RefreshToken, sessionID string) *refreshTokenRow {
	return &refreshTokenRow{ID: t.ID, SessionID: sessionID, TokenHash: t.Hash, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}
}

var errInvalidRefresh = apperr.New(apperr.Unauthenticated, "invalid or expired refresh token")

// RotateRefresh implements auth.Store.
func (s *Sessions) RotateRefresh(ctx context.Context, hash string, next auth.RefreshToken, now time.Time) (string, string, error) {
	var userID, sessionID string
	reused := false
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row struct {
			ID               string
			SessionID        string
			UsedAt           *time.Time
			ExpiresAt        time.Time
			SessionRevokedAt *time.Time
			SessionExpiresAt time.Time
			UserID           string
			UserActive       bool
			OrgActive        bool
		}
		res := tx.Raw(`
			SELECT rt.id, rt.session_id, rt.used_at, rt.expires_at,
			       s.revoked_at AS session_revoked_at, s.expires_at AS session_expires_at,
			       u.id AS user_id, u.active AS user_active, o.active AS org_active
			FROM refresh_tokens rt
			JOIN sessions s ON s.id = rt.session_id
			JOIN users u ON u.id = s.user_id
			JOIN organizations o ON o.id = u.organization_id
			WHERE rt.token_hash = ?`, hash).Scan(&row)
		if res.Error != nil {
			return translate(res.Error, "refresh token")
		}
		if res.RowsAffected == 0 {
			return errInvalidRefresh
		}
		if row.UsedAt != nil {
			reused = true
			return revokeSession(tx, row.SessionID, "refresh token reused", now)
		}
		if !row.ExpiresAt.After(now) || row.SessionRevokedAt != nil || !row.SessionExpiresAt.After(now) ||
			!row.UserActive || !row.OrgActive {
			return errInvalidRefresh
		}
		spend := tx.Exec("UPDATE refresh_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL", now, row.ID)
		if spend.Error != nil {
			return translate(spend.Error, "refresh token")
		}
		if spend.RowsAffected == 0 { // spent by a concurrent request: that is reuse too
			reused = true
			return revokeSession(tx, row.SessionID, "refresh token reused", now)
		}
		if next.ExpiresAt.After(row.SessionExpiresAt) {
			next.ExpiresAt = row.SessionExpiresAt
		}
		if err := tx.Create(refreshRow(next, row.SessionID)).Error; err != nil {
			return translate(err, "refresh token")
		}
		userID, sessionID = row.UserID, row.SessionID
		return nil
	})
	if err != nil {
		return "", "", err
	}
	if reused {
		return "", "", errInvalidRefresh
	}
	return userID, sessionID, nil
}

func revokeSession(tx *gorm.DB, sessionID, why string, now time.Time) error {
	return translate(tx.Exec("UPDATE sessions SET revoked_at = ?, revoked_why = ? WHERE id = ? AND revoked_at IS NULL",
		now, why, sessionID).Error, "session")
}

// RevokeSession implements auth.Store.
func (s *Sessions) RevokeSession(ctx context.Context, sessionID, why string, now time.Time) error {
	return revokeSession(s.db.gorm.WithContext(ctx), sessionID, why, now)
}

// LoadPrincipal implements auth.Store: one query per request, so logout,
// deactivation and role changes are seen at once by every instance.
func (s *Sessions) LoadPrincipal(ctx context.Context, v auth.Verified, now time.Time) (auth.Principal, error) {
	if v.Kind == auth.KindServiceAccount {
		return s.loadServiceAccount(ctx, v)
	}
	if v.Kind != auth.KindUser {
		return auth.Principal{}, apperr.New(apperr.Unauthenticated, "invalid or expired token")
	}
	var row struct {
		ID            string
		Email         string
		DisplayName   string
		Locale        string
		Roles         string
		OrgID         string
		OrgKind       string
		PolicyVersion int64
	}
	res := s.db.gorm.WithContext(ctx).Raw(`
		SELECT u.id, u.email, u.display_name, u.locale, u.roles,
		       o.id AS org_id, o.kind AS org_kind,
		       (SELECT version FROM authz_policy WHERE id = 1) AS policy_version
		FROM sessions s
		JOIN users u ON u.id = s.user_id
		JOIN organizations o ON o.id = u.organization_id
		WHERE s.id = ? AND s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ?
		  AND u.active AND o.active`, v.SessionID, v.ID, now).Scan(&row)
	if res.Error != nil {
		return auth.Principal{}, translate(res.Error, "session")
	}
	if res.RowsAffected == 0 {
		return auth.Principal{}, apperr.New(apperr.Unauthenticated, "invalid or expired token")
	}
	return auth.Principal{
		Kind: auth.KindUser, ID: row.ID, SessionID: v.SessionID, OrgID: row.OrgID, OrgKind: row.OrgKind,
		Roles: splitRoles(row.Roles), Email: row.Email, DisplayName: row.DisplayName, Locale: row.Locale,
		PolicyVersion: row.PolicyVersion,
	}, nil
}

// loadServiceAccount loads the account a token names, as long as it is not
// deleted, its organisation is active and the token was issued for its
// current secret (the token's session id).
func (s *Sessions) loadServiceAccount(ctx context.Context, v auth.Verified) (auth.Principal, error) {
	var row struct {
		ID            string
		Name          string
		Roles         string
		OrgID         string
		OrgKind       string
		PolicyVersion int64
	}
	res := s.db.gorm.WithContext(ctx).Raw(`
		SELECT a.id, a.name, a.roles, o.id AS org_id, o.kind AS org_kind,
		       (SELECT version FROM authz_policy WHERE id = 1) AS policy_version
		FROM service_accounts a JOIN organizations o ON o.id = a.organization_id
		WHERE a.id = ? AND a.secret_id = ? AND a.deleted_at IS NULL AND o.active`, v.ID, v.SessionID).Scan(&row)
	if res.Error != nil {
		return auth.Principal{}, translate(res.Error, "service account")
	}
	if res.RowsAffected == 0 {
		return auth.Principal{}, apperr.New(apperr.Unauthenticated, "invalid or expired token")
	}
	return auth.Principal{
		Kind: auth.KindServiceAccount, ID: row.ID, SessionID: v.SessionID, OrgID: row.OrgID, OrgKind: row.OrgKind,
		Roles: splitRoles(row.Roles), DisplayName: row.Name, Locale: "en", PolicyVersion: row.PolicyVersion,
	}, nil
}

// LoadAssignments implements authz.Source. The version is read first, so the
// assignments are at least as new as the version reported.
func (s *Sessions) LoadAssignments(ctx context.Context) ([]authz.Assignment, int64, error) {
	q := s.db.gorm.WithContext(ctx)
	var version int64
	if err := q.Raw("SELECT version FROM authz_policy WHERE id = 1").Scan(&version).Error; err != nil {
		return nil, 0, translate(err, "policy")
	}
	var rows []struct {
		ID      string
		OrgID   string
		OrgKind string
		Roles   string
	}
	err := q.Raw(`
		SELECT u.id, u.organization_id AS org_id, o.kind AS org_kind, u.roles
		FROM users u JOIN organizations o ON o.id = u.organization_id
		WHERE u.active AND o.active`).Scan(&rows).Error
	if err != nil {
		return nil, 0, translate(err, "user")
	}
	out := make([]authz.Assignment, 0, len(rows))
	for _, r := range rows {
		out = append(out, authz.Assignment{Kind: auth.KindUser, ID: r.ID, OrgID: r.OrgID, OrgKind: r.OrgKind, Roles: splitRoles(r.Roles)})
	}
	rows = rows[:0]
	err = q.Raw(`
		SELECT a.id, a.organization_id AS org_id, o.kind AS org_kind, a.roles
		FROM service_accounts a JOIN organizations o ON o.id = a.organization_id
		WHERE a.deleted_at IS NULL AND o.active`).Scan(&rows).Error
	if err != nil {
		return nil, 0, translate(err, "service account")
	}
	for _, r := range rows {
		out = append(out, authz.Assignment{Kind: auth.KindServiceAccount, ID: r.ID, OrgID: r.OrgID, OrgKind: r.OrgKind, Roles: splitRoles(r.Roles)})
	}
	return out, version, nil
}
