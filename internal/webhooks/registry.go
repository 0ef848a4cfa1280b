package webhooks

import (
	"context"
	"slices"
	"time"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
)

// Webhook is one organisation's registration: where to post which events.
// Deleted webhooks stay as tombstones for clients that sync the list.
type Webhook struct {
	ID, OrganizationID, URL string
	Events                  []string
	CreatedBy               string
	CreatedAt, UpdatedAt    time.Time
	DeletedAt               *time.Time
}

// Attempted is one delivery as the delivery log shows it.
type Attempted struct {
	ID, WebhookID, EventID, EventType, Status string
	Attempts                                  int
	NextAttemptAt, CreatedAt                  time.Time
	LastAttemptAt, DeliveredAt                *time.Time
	LastStatus                                *int
	LastError                                 *string
}

// RegistryStore persists webhooks. A row outside scope is NotFound.
type RegistryStore interface {
	// List returns up to r.Limit+1 webhooks of scope in id order, deleted
	// ones included (as tombstones) when r.UpdatedSince is set.
	List(ctx context.Context, scope tenant.Scope, r page.Request) ([]Webhook, error)
	// Get returns one webhook that is not deleted.
	Get(ctx context.Context, scope tenant.Scope, id string) (Webhook, error)
	// Create inserts w with its (sealed) secret and records ev.
	Create(ctx context.Context, w Webhook, secret string, ev audit.Event) error
	// Delete marks w deleted, fails its pending deliveries and records ev.
	Delete(ctx context.Context, scope tenant.Scope, id string, at time.Time, ev audit.Event) error
	// Deliveries returns up to r.Limit+1 deliveries of a webhook of scope,
	// in id order; NotFound for a webhook outside scope.
	Deliveries(ctx context.Context, scope tenant.Scope, webhookID string, r page.Request) ([]Attempted, error)
}

// Registry lets an organisation's admins manage its webhooks.
type Registry struct {
	store RegistryStore
	authz *authz.Authorizer
	guard Guard
	now   func() time.Time
	newID func() string
}

// NewRegistry returns a Registry; guard decides which target URLs are allowed.
func NewRegistry(store RegistryStore, az *authz.Authorizer, guard Guard, now func() time.Time, newID func() string) *Registry {
	return &Registry{store: store, authz: az, guard: guard, now: now, newID: newID}
}

func (g *Registry) scope(ctx context.Context, act string) (tenant.Scope, error) {
	if err := g.authz.Require(ctx, authz.ObjWebhook, act); err != nil {
		return tenant.Scope{}, err
	}
	p, _ := auth.PrincipalFrom(ctx)
	return tenant.Org(p.OrgID), nil
}

// List returns a page of the caller's organisation's webhooks. Forbidden.
func (g *Registry) List(ctx context.Context, r page.Request) ([]Webhook, *string, error) {
	scope, err := g.scope(ctx, authz.ActRead)
	if err != nil {
		return nil, nil, err
	}
	items, err := g.store.List(ctx, scope, r)
	if err != nil {
		return nil, nil, err
	}
	items, next := page.Trim(items, r.Limit, func(w Webhook) string { return w.ID })
	return items, next, nil
}

// Get returns one of the caller's organisation's webhooks. Forbidden, NotFound.
func (g *Registry) Get(ctx context.Context, id string) (Webhook, error) {
	scope, err := g.scope(ctx, authz.ActRead)
	if err != nil {
		return Webhook{}, err
	}
	return g.store.Get(ctx, scope, id)
}

// Create registers a webhook for the caller's organisation and returns it
// with its signing secret, shown only this once. Forbidden, Invalid (events,
// or a URL that is not https or resolves to a non-public address).
func (g *Registry) Create(ctx context.Context, url string, events []string) (Webhook, string, error) {
	if _, err := g.scope(ctx, authz.ActCreate); err != nil {
		return Webhook{}, "", err
	}
	var v apperr.Validator
	v.Check(len(events) > 0, "events", "must name at least one event")
	for _, e := range events {
		v.Check(slices.Contains(EventTypes, e), "events", "must be known event types")
	}
	if err := v.Err(); err != nil {
		return Webhook{}, "", err
	}
	if err := g.guard.CheckURL(ctx, url); err != nil {
		return Webhook{}, "", err
	}
	events = slices.Clone(events)
	slices.Sort(events)
	events = slices.Compact(events)
	p, _ := auth.PrincipalFrom(ctx)
	_, secret := NewSecret()
	now := g.now()
	w := Webhook{ID: g.newID(), OrganizationID: p.OrgID, URL: url, Events: events, CreatedBy: p.ID, CreatedAt: now, UpdatedAt: now}
	ev := audit.New(ctx, "webhook.create", "webhook", w.ID, audit.Success)
	if err := g.store.Create(ctx, w, secret, ev); err != nil {
		return Webhook{}, "", err
	}
	return w, secret, nil
}

// Delete deletes one of the caller's organisation's webhooks; its pending
// deliveries are dropped. Forbidden, NotFound.
func (g *Registry) Delete(ctx context.Context, id string) error {
	scope, err := g.scope(ctx, authz.ActDelete)
	if err != nil {
		return err
	}
	ev := audit.New(ctx, "webhook.delete", "webhook", id, audit.Success)
	return g.store.Delete(ctx, scope, id, g.now(), ev)
}

// Deliveries returns a page of a webhook's delivery log. Forbidden, NotFound.
func (g *Registry) Deliveries(ctx context.Context, webhookID string, r page.Request) ([]Attempted, *string, error) {
	scope, err := g.scope(ctx, authz.ActRead)
	if err != nil {
		return nil, nil, err
	}
	items, err := g.store.Deliveries(ctx, scope, webhookID, r)
	if err != nil {
		return nil, nil, err
	}
	items, next := page.Trim(items, r.Limit, func(a Attempted) string { return a.ID })
	return items, next, nil
}
