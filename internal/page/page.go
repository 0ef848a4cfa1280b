// Package page holds cursor pagination: the request a list takes and the
// opaque cursor it hands back.
package page

import (
	"encoding/base64"
	"time"

	"github.com/google/uuid"

	"github.com/casework/casework/internal/apperr"
)

// DefaultLimit and MaxLimit bound page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Request asks for one page: at most Limit records after the record with id
// After (in id order), changed at or after UpdatedSince when set.
type Request struct {
	Limit        int
	After        string
	UpdatedSince *time.Time
}

// New builds a Request from optional wire values; Invalid for a bad limit or cursor.
func New(limit *int, cursor *string, updatedSince *time.Time) (Request, error) {
	r := Request{Limit: DefaultLimit, UpdatedSince: updatedSince}
	if limit != nil {
		if *limit < 1 || *limit > MaxLimit {
			return r, apperr.Field("limit", "must be between 1 and 200")
		}
		r.Limit = *limit
	}
	if cursor != nil && *cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*cursor)
		if err != nil || uuid.Validate(string(raw)) != nil {
			return r, apperr.Field("cursor", "is not a cursor this server issued")
		}
		r.After = string(raw)
	}
	if r.UpdatedSince != nil {
		t := r.UpdatedSince.UTC()
		r.UpdatedSince = &t
	}
	return r, nil
}

// Cursor is the opaque cursor that resumes a list after the record with id.
func Cursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// Trim cuts a result fetched with Limit+1 rows down to Limit and returns the
// cursor of the next page, or nil on the last page.
func Trim[T any](items []T, limit int, id func(T) string) ([]T, *string) {
	if len(items) <= limit {
		return items, nil
	}
	items = items[:limit]
	c := Cursor(id(items[limit-1]))
	return items, &c
}
