// Package notes holds caseworkers' free-text notes on a case. Notes are
// identifying data: only the owning organisation reads them, never in a
// pseudonymised view, and they are encrypted at rest.
package notes

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/page"
)

// MaxLength bounds a note's text, in characters.
const MaxLength = 10000

// Note is one note on a case.
type Note struct {
	ID             string
	CaseID         string
	OrganizationID string
	AuthorID       string
	Text           string
	CreatedAt      time.Time
}

// Store keeps notes. Callers resolve access to the case first.
type Store interface {
	// List returns up to r.Limit+1 notes of a case in id order.
	List(ctx context.Context, caseID string, r page.Request) ([]Note, error)
	// Create stores n with its audit event.
	Create(ctx context.Context, n Note, ev audit.Event) error
}

// Service enforces who may read and add notes.
type Service struct {
	store Store
	cases *cases.Service
	audit *audit.Service
	now   func() time.Time
	newID func() string
}

// NewService returns a Service.
func NewService(store Store, cs *cases.Service, au *audit.Service, now func() time.Time, newID func() string) *Service {
	return &Service{store: store, cases: cs, audit: au, now: now, newID: newID}
}

// List returns a page of a case's notes, for the owning organisation only,
// and audits the read. Forbidden (roles without notes, including IOM-wide
// roles), NotFound.
func (s *Service) List(ctx context.Context, caseID string, r page.Request) ([]Note, *string, error) {
	acc, err := s.cases.Resolve(ctx, caseID, authz.ObjNote)
	if err != nil {
		return nil, nil, err
	}
	if !acc.Full {
		return nil, nil, apperr.New(apperr.NotFound, "case not found")
	}
	items, err := s.store.List(ctx, caseID, r)
	if err != nil {
		return nil, nil, err
	}
	if err := s.audit.Record(ctx, "note.list", "case", caseID, audit.Success); err != nil {
		return nil, nil, err
	}
	items, next := page.Trim(items, r.Limit, func(n Note) string { return n.ID })
	return items, next, nil
}

// Create adds a note to one of the caller's organisation's cases.
// Forbidden, NotFound, Invalid.
func (s *Service) Create(ctx context.Context, caseID, text string) (Note, error) {
	acc, err := s.cases.ResolveWrite(ctx, caseID, authz.ObjNote, authz.ActCreate)
	if err != nil {
		return Note{}, err
	}
	text = strings.TrimSpace(text)
	if text == "" || utf8.RuneCountInString(text) > MaxLength || !utf8.ValidString(text) {
		return Note{}, apperr.Field("text", "must be 1 to 10000 characters")
	}
	p, _ := auth.PrincipalFrom(ctx)
	n := Note{ID: s.newID(), CaseID: caseID, OrganizationID: acc.OrganizationID, AuthorID: p.ID, Text: text, CreatedAt: s.now()}
	if err := s.store.Create(ctx, n, audit.New(ctx, "note.create", "note", n.ID, audit.Success)); err != nil {
		return Note{}, err
	}
	return n, nil
}
