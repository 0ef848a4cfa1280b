// Package idempotency remembers the responses to creating requests by the
// caller's Idempotency-Key (IETF draft), so a retried create returns the
// first response instead of creating twice.
package idempotency

import (
	"context"
	"time"
)

// TTL is how long a key is remembered.
const TTL = 24 * time.Hour

// Abandoned is how long a request may hold a key before another request
// with the same key may take it over (the first one crashed).
const Abandoned = time.Minute

// Response is a stored response.
type Response struct {
	Status      int
	ContentType string
	Location    string
	ETag        string
	Body        []byte
}

// Outcome is what Begin found.
type Outcome int

// The outcomes of Begin.
const (
	// Started: the key is new (or expired, or abandoned); run the request.
	Started Outcome = iota
	// Replay: a completed response exists for the same request.
	Replay
	// InFlight: the same key is being used by a request still running.
	InFlight
	// Mismatch: the key was used for a different request.
	Mismatch
)

// Store keeps keys and responses; the response body is encrypted at rest.
type Store interface {
	// Begin claims key for principal and the request's hash, or reports
	// what holds it (with the stored response for Replay).
	Begin(ctx context.Context, principal, key, requestHash string, now time.Time) (Outcome, Response, error)
	// Complete stores the response for a claimed key.
	Complete(ctx context.Context, principal, key string, r Response) error
	// Release forgets a claimed key whose request did not succeed, so the
	// client can retry with it.
	Release(ctx context.Context, principal, key string) error
}
