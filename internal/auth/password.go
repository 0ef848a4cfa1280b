package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"

	"github.com/casework/casework/internal/apperr"
)

// PasswordParams are the argon2id parameters for new hashes (OWASP's minimum:
// 19 MiB, 2 passes, 1 lane, 16-byte salt).
var PasswordParams = argon2id.Params{
	Memory:      19456,
	Iterations:  2,
	Parallelism: 1,
	SaltLength:  16,
	KeyLength:   32,
}

// MinPasswordLength and MaxPasswordBytes bound acceptable passwords; the upper
// bound keeps one hash from being made arbitrarily expensive.
const (
	MinPasswordLength = 10
	MaxPasswordBytes  = 1024
)

// hashWait is how long a caller waits for a hashing slot before getting 503.
const hashWait = 5 * time.Second

// Hasher hashes and verifies passwords with argon2id, running at most a fixed
// number of hashes at once so that a burst of sign-ins cannot exhaust memory.
type Hasher struct {
	slots chan struct{}
	dummy string

	mu       sync.Mutex
	inFlight int
	peak     int
}

// NewHasher returns a Hasher that runs at most workers hashes at once.
func NewHasher(workers int) *Hasher {
	if workers < 1 {
		workers = 1
	}
	h := &Hasher{slots: make(chan struct{}, workers)}
	// A hash of a random password, compared against when the account does not
	// exist, so unknown accounts cost the same time as wrong passwords.
	random := make([]byte, 18)
	_, _ = rand.Read(random)
	dummy, err := argon2id.CreateHash(base64.RawURLEncoding.EncodeToString(random), &PasswordParams)
	if err != nil {
		panic("argon2id: " + err.Error()) // only fails if crypto/rand fails
	}
	h.dummy = dummy
	return h
}

// Hash returns the encoded argon2id hash of password; Unavailable when no
// hashing slot frees up in time.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	hash, err := argon2id.CreateHash(password, &PasswordParams)
	if err != nil {
		return "", apperr.Wrap(apperr.Internal, "hash password", err)
	}
	return hash, nil
}

// Verify reports whether password matches encoded. An empty encoded hash (no
// such account) is compared against a dummy hash and never matches.
// Unavailable when no hashing slot frees up in time.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	if encoded == "" || len(password) > MaxPasswordBytes {
		_, _ = argon2id.ComparePasswordAndHash(password, h.dummy)
		return false, nil
	}
	ok, err := argon2id.ComparePasswordAndHash(password, encoded)
	if err != nil {
		return false, apperr.Wrap(apperr.Internal, "verify password", err)
	}
	return ok, nil
}

// Peak returns the largest number of hashes that ran at once so far.
func (h *Hasher) Peak() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peak
}

func (h *Hasher) acquire(ctx context.Context) (func(), error) {
	timer := time.NewTimer(hashWait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
	case <-timer.C:
		return nil, &apperr.Error{Code: apperr.Unavailable, Message: "too many sign-ins at once; try again shortly", RetryAfter: 1}
	case <-ctx.Done():
		return nil, apperr.Wrap(apperr.Unavailable, "request cancelled", ctx.Err())
	}
	h.mu.Lock()
	h.inFlight++
	if h.inFlight > h.peak {
		h.peak = h.inFlight
	}
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.inFlight--
		h.mu.Unlock()
		<-h.slots
	}, nil
}

// ValidatePassword checks a new password: length, not a common password, not
// one character repeated, not the user's own email or name. Invalid on failure,
// naming field.
func ValidatePassword(field, password string, personal ...string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLength:
		return apperr.Field(field, "must be at least 10 characters")
	case len(password) > MaxPasswordBytes:
		return apperr.Field(field, "must be at most 1024 bytes")
	case !utf8.ValidString(password):
		return apperr.Field(field, "must be valid UTF-8")
	}
	lower := strings.ToLower(password)
	if isCommonPassword(lower) {
		return apperr.Field(field, "is a commonly used password")
	}
	if first, _ := utf8.DecodeRuneInString(lower); strings.Trim(lower, string(first)) == "" {
		return apperr.Field(field, "must not repeat one character")
	}
	for _, p := range personal {
		p = strings.ToLower(strings.TrimSpace(p))
		if local, _, ok := strings.Cut(p, "@"); ok {
			p = local
		}
		if len(p) >= 4 && strings.Contains(lower, p) {
			return apperr.Field(field, "must not contain your email or name")
		}
	}
	return nil
}
