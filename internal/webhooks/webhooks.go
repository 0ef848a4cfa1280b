// Package webhooks tells organisations' systems when something happens to
// their records. Changes write deliveries into a durable outbox in their own
// transaction; a Dispatcher posts them to each webhook's URL, signed, with
// retries. Payloads carry ids and the event type only, never personal data.
package webhooks

import (
	"context"
	"time"
)

// Event types.
const (
	CaseCreated      = "case.created"
	CaseUpdated      = "case.updated"
	ServiceRecorded  = "service.recorded"
	ReferralReceived = "referral.received"
	ReferralAccepted = "referral.accepted"
	ReferralEnded    = "referral.ended"
)

// EventTypes lists every event type (for validation).
var EventTypes = []string{
	CaseCreated, CaseUpdated, ServiceRecorded,
	ReferralReceived, ReferralAccepted, ReferralEnded,
}

// Payload is the JSON body of one delivery: ids and type only.
type Payload struct {
	ID             string    `json:"id"` // the event id (UUID), the same across retries
	Type           string    `json:"type"`
	OccurredAt     time.Time `json:"occurred_at"`
	OrganizationID string    `json:"organization_id"` // the receiving organisation
	Data           Data      `json:"data"`
}

// Data holds the ids the event is about; empty ones are omitted.
type Data struct {
	CaseID     string `json:"case_id,omitempty"`
	ServiceID  string `json:"service_id,omitempty"`
	ReferralID string `json:"referral_id,omitempty"`
}

// Delivery is one payload on its way to one webhook.
type Delivery struct {
	ID, WebhookID, OrganizationID string
	URL                           string
	Secret                        []byte // HMAC key (already decrypted by the store)
	Body                          []byte // the JSON payload
	EventID, EventType            string
	Attempts                      int // attempts already made
	NextAttemptAt                 time.Time
}

// Store is what the dispatcher needs from the database.
type Store interface {
	// Claim leases up to n deliveries that are due (pending, next_attempt_at
	// <= now, not leased or lease expired) until leaseUntil, so that several
	// instances never post the same delivery at once.
	Claim(ctx context.Context, now, leaseUntil time.Time, n int) ([]Delivery, error)
	// Delivered records a successful attempt (status code).
	Delivered(ctx context.Context, id string, at time.Time, status int) error
	// Failed records a failed attempt; next is the time of the next attempt,
	// or nil when the delivery has run out of attempts (then it is marked
	// failed for good). reason is short and never contains the response body.
	Failed(ctx context.Context, id string, at time.Time, status int, reason string, next *time.Time) error
}
