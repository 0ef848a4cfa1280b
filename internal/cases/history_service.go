package cases

import (
	"context"
	"time"

	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/page"
)

// HistoryEntry is one stored change of a case.
type HistoryEntry struct {
	ID        string
	ChangedAt time.Time
	ActorID   string
	Change
}

// HistoryStore reads a case's history.
type HistoryStore interface {
	// History returns up to r.Limit+1 entries of a case in id order.
	History(ctx context.Context, caseID string, r page.Request) ([]HistoryEntry, error)
}

// History returns a page of who changed which field of a case, and when.
// Identifying values are never stored, so the page is the same for full and
// pseudonymised readers. Forbidden, NotFound.
func (s *Service) History(ctx context.Context, hs HistoryStore, caseID string, r page.Request) ([]HistoryEntry, *string, error) {
	if _, err := s.Resolve(ctx, caseID, authz.ObjCaseHistory); err != nil {
		return nil, nil, err
	}
	items, err := hs.History(ctx, caseID, r)
	if err != nil {
		return nil, nil, err
	}
	items, next := page.Trim(items, r.Limit, func(h HistoryEntry) string { return h.ID })
	return items, next, nil
}
