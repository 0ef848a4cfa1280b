package store

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/crypt"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
	"github.com/casework/casework/internal/webhooks"
)

type webhookRow struct {
	ID             string `gorm:"primaryKey"`
	OrganizationID string
	URL            string `gorm:"column:url"`
	Events         string
	SecretEnc      string
	DataKID        string `gorm:"column:data_kid"`
	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time `gorm:"autoUpdateTime:false"`
	DeletedAt      *time.Time
}

func (webhookRow) TableName() string { return "webhooks" }

func (r webhookRow) domain() (webhooks.Webhook, error) {
	var events []string
	if err := json.Unmarshal([]byte(r.Events), &events); err != nil {
		return webhooks.Webhook{}, err
	}
	return webhooks.Webhook{ID: r.ID, OrganizationID: r.OrganizationID, URL: r.URL, Events: events, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), DeletedAt: utc(r.DeletedAt)}, nil
}

type deliveryRow struct {
	ID             string `gorm:"primaryKey"`
	WebhookID      string
	OrganizationID string
	EventID        string
	EventType      string
	Body           string
	Status         string
	Attempts       int
	NextAttemptAt  time.Time
	LeasedUntil    *time.Time
	LastAttemptAt  *time.Time
	LastStatus     *int
	LastError      *string
	DeliveredAt    *time.Time
	CreatedAt      time.Time
}

func (deliveryRow) TableName() string { return "webhook_deliveries" }

// Webhooks implements webhooks.RegistryStore and webhooks.Store (the
// dispatcher's outbox). Secrets are sealed, bound to the webhook's id.
type Webhooks struct {
	db   *DB
	keys *crypt.Keyring
}

// NewWebhooks returns the webhook store.
func NewWebhooks(db *DB, keys *crypt.Keyring) *Webhooks { return &Webhooks{db: db, keys: keys} }

var (
	_ webhooks.RegistryStore = (*Webhooks)(nil)
	_ webhooks.Store         = (*Webhooks)(nil)
)

func (s *Webhooks) aad(id string) string { return "webhooks:" + id + ":secret" }

// List implements webhooks.RegistryStore.
func (s *Webhooks) List(ctx context.Context, scope tenant.Scope, r page.Request) ([]webhooks.Webhook, error) {
	q := scoped(s.db.gorm.WithContext(ctx).Model(&webhookRow{}), scope, "organization_id")
	if r.UpdatedSince == nil {
		q = q.Where("deleted_at IS NULL")
	}
	var rows []webhookRow
	if err := paged(q, r, "id", "updated_at").Find(&rows).Error; err != nil {
		return nil, translate(err, "webhook")
	}
	out := make([]webhooks.Webhook, len(rows))
	for i, row := range rows {
		w, err := row.domain()
		if err != nil {
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}

func (s *Webhooks) get(tx *gorm.DB, scope tenant.Scope, id string) (webhookRow, error) {
	var row webhookRow
	res := scoped(tx.Model(&webhookRow{}), scope, "organization_id").Where("id = ? AND deleted_at IS NULL", id).Limit(1).Find(&row)
	if res.Error != nil {
		return row, translate(res.Error, "webhook")
	}
	if res.RowsAffected == 0 {
		return row, apperr.New(apperr.NotFound, "webhook not found")
	}
	return row, nil
}

// Get implements webhooks.RegistryStore.
func (s *Webhooks) Get(ctx context.Context, scope tenant.Scope, id string) (webhooks.Webhook, error) {
	row, err := s.get(s.db.gorm.WithContext(ctx), scope, id)
	if err != nil {
		return webhooks.Webhook{}, err
	}
	return row.domain()
}

// Create implements webhooks.RegistryStore.
func (s *Webhooks) Create(ctx context.Context, w webhooks.Webhook, secret string, ev audit.Event) error {
	row := webhookRow{ID: w.ID, OrganizationID: w.OrganizationID, URL: w.URL, Events: jsonList(w.Events),
		SecretEnc: s.keys.Seal([]byte(secret), s.aad(w.ID)), DataKID: s.keys.ActiveKID(), CreatedBy: w.CreatedBy,
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	return s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return translate(err, "webhook")
		}
		return insertAudit(tx, ev)
	})
}

// Delete implements webhooks.RegistryStore.
func (s *Webhooks) Delete(ctx context.Context, scope tenant.Scope, id string, at time.Time, ev audit.Event) error {
	return s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := s.get(tx, scope, id); err != nil {
			return err
		}
		if err := tx.Model(&webhookRow{}).Where("id = ?", id).Updates(map[string]any{"deleted_at": at, "updated_at": at}).Error; err != nil {
			return translate(err, "webhook")
		}
		err := tx.Model(&deliveryRow{}).Where("webhook_id = ? AND status = 'pending'", id).
			Updates(map[string]any{"status": "failed", "last_error": "webhook deleted", "leased_until": nil}).Error
		if err != nil {
			return translate(err, "webhook delivery")
		}
		return insertAudit(tx, ev)
	})
}

// Deliveries implements webhooks.RegistryStore.
func (s *Webhooks) Deliveries(ctx context.Context, scope tenant.Scope, webhookID string, r page.Request) ([]webhooks.Attempted, error) {
	q := s.db.gorm.WithContext(ctx)
	if _, err := s.get(q, scope, webhookID); err != nil {
		return nil, err
	}
	var rows []deliveryRow
	if err := paged(q.Model(&deliveryRow{}).Where("webhook_id = ?", webhookID), r, "id", "").Find(&rows).Error; err != nil {
		return nil, translate(err, "webhook delivery")
	}
	out := make([]webhooks.Attempted, len(rows))
	for i, d := range rows {
		out[i] = webhooks.Attempted{ID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, EventType: d.EventType, Status: d.Status,
			Attempts: d.Attempts, NextAttemptAt: d.NextAttemptAt.UTC(), CreatedAt: d.CreatedAt.UTC(), LastAttemptAt: utc(d.LastAttemptAt),
			DeliveredAt: utc(d.DeliveredAt), LastStatus: d.LastStatus, LastError: d.LastError}
	}
	return out, nil
}

// Claim implements webhooks.Store: due deliveries of live webhooks are
// leased in one transaction (on PostgreSQL skipping rows another instance is
// leasing at that moment).
func (s *Webhooks) Claim(ctx context.Context, now, leaseUntil time.Time, n int) ([]webhooks.Delivery, error) {
	var out []webhooks.Delivery
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := `SELECT d.id FROM webhook_deliveries d WHERE d.status = 'pending' AND d.next_attempt_at <= ?
			AND (d.leased_until IS NULL OR d.leased_until < ?) ORDER BY d.next_attempt_at LIMIT ?`
		if s.db.driver == config.Postgres {
			q += " FOR UPDATE SKIP LOCKED"
		}
		var ids []string
		if err := tx.Raw(q, now, now, n).Scan(&ids).Error; err != nil {
			return translate(err, "webhook delivery")
		}
		if len(ids) == 0 {
			return nil
		}
		if err := tx.Model(&deliveryRow{}).Where("id IN ?", ids).Update("leased_until", leaseUntil).Error; err != nil {
			return translate(err, "webhook delivery")
		}
		var rows []struct {
			ID, WebhookID, OrganizationID, EventID, EventType, Body string
			Attempts                                                int
			NextAttemptAt                                           time.Time
			URL                                                     string `gorm:"column:url"`
			SecretEnc                                               string
		}
		err := tx.Raw(`SELECT d.id, d.webhook_id, d.organization_id, d.event_id, d.event_type, d.body, d.attempts,
			d.next_attempt_at, w.url, w.secret_enc FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.id IN ? AND w.deleted_at IS NULL`, ids).Scan(&rows).Error
		if err != nil {
			return translate(err, "webhook delivery")
		}
		for _, r := range rows {
			secret, err := s.keys.Open(r.SecretEnc, s.aad(r.WebhookID))
			if err != nil {
				return err
			}
			out = append(out, webhooks.Delivery{ID: r.ID, WebhookID: r.WebhookID, OrganizationID: r.OrganizationID, URL: r.URL,
				Secret: secret, Body: []byte(r.Body), EventID: r.EventID, EventType: r.EventType, Attempts: r.Attempts,
				NextAttemptAt: r.NextAttemptAt.UTC()})
		}
		return nil
	})
	return out, err
}

// Delivered implements webhooks.Store.
func (s *Webhooks) Delivered(ctx context.Context, id string, at time.Time, status int) error {
	err := s.db.gorm.WithContext(ctx).Model(&deliveryRow{}).Where("id = ?", id).Updates(map[string]any{
		"status": "delivered", "attempts": gorm.Expr("attempts + 1"), "last_attempt_at": at, "last_status": status,
		"last_error": nil, "delivered_at": at, "leased_until": nil,
	}).Error
	return translate(err, "webhook delivery")
}

// Failed implements webhooks.Store.
func (s *Webhooks) Failed(ctx context.Context, id string, at time.Time, status int, reason string, next *time.Time) error {
	set := map[string]any{
		"attempts": gorm.Expr("attempts + 1"), "last_attempt_at": at, "last_status": status, "last_error": reason, "leased_until": nil,
	}
	if next == nil {
		set["status"] = "failed"
	} else {
		set["next_attempt_at"] = *next
	}
	return translate(s.db.gorm.WithContext(ctx).Model(&deliveryRow{}).Where("id = ?", id).Updates(set).Error, "webhook delivery")
}

// enqueueEvent writes, in the caller's transaction, one delivery of the
// event to every live webhook of orgID that subscribed to its type. The
// payload holds ids and the type only.
func enqueueEvent(tx *gorm.DB, orgID, eventType string, data webhooks.Data, at time.Time) error {
	var hooks []struct {
		ID     string
		Events string
	}
	err := tx.Raw("SELECT id, events FROM webhooks WHERE organization_id = ? AND deleted_at IS NULL", orgID).Scan(&hooks).Error
	if err != nil {
		return translate(err, "webhook")
	}
	if len(hooks) == 0 {
		return nil
	}
	eventID := NewID()
	body, err := json.Marshal(webhooks.Payload{ID: eventID, Type: eventType, OccurredAt: at, OrganizationID: orgID, Data: data})
	if err != nil {
		return err
	}
	for _, h := range hooks {
		var events []string
		if err := json.Unmarshal([]byte(h.Events), &events); err != nil {
			return err
		}
		if !slices.Contains(events, eventType) {
			continue
		}
		row := deliveryRow{ID: NewID(), WebhookID: h.ID, OrganizationID: orgID, EventID: eventID, EventType: eventType,
			Body: string(body), Status: "pending", NextAttemptAt: at, CreatedAt: at}
		if err := tx.Create(&row).Error; err != nil {
			return translate(err, "webhook delivery")
		}
	}
	return nil
}
