package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/crypt"
	"github.com/casework/casework/internal/notes"
	"github.com/casework/casework/internal/page"
)

type noteRow struct {
	ID             string `gorm:"primaryKey"`
	CaseID         string
	OrganizationID string
	AuthorID       string
	TextEnc        string
	DataKID        string `gorm:"column:data_kid"`
	CreatedAt      time.Time
}

func (noteRow) TableName() string { return "notes" }

// Notes implements notes.Store; texts are sealed, bound to the note id.
type Notes struct {
	db   *DB
	keys *crypt.Keyring
}

// NewNotes returns the note store.
func NewNotes(db *DB, keys *crypt.Keyring) *Notes { return &Notes{db: db, keys: keys} }

// List implements notes.Store.
func (s *Notes) List(ctx context.Context, caseID string, r page.Request) ([]notes.Note, error) {
	q := s.db.gorm.WithContext(ctx).Where("case_id = ?", caseID)
	var rows []noteRow
	if err := paged(q, r, "id", "created_at").Find(&rows).Error; err != nil {
		return nil, translate(err, "note")
	}
	out := make([]notes.Note, len(rows))
	for i, row := range rows {
		text, err := s.keys.Open(row.TextEnc, "notes:"+row.ID+":text")
		if err != nil {
			return nil, apperr.Wrap(apperr.Internal, "decrypt note", err)
		}
		out[i] = notes.Note{ID: row.ID, CaseID: row.CaseID, OrganizationID: row.OrganizationID, AuthorID: row.AuthorID,
			Text: string(text), CreatedAt: row.CreatedAt.UTC()}
	}
	return out, nil
}

// Create implements notes.Store.
func (s *Notes) Create(ctx context.Context, n notes.Note, ev audit.Event) error {
	return s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row := noteRow{
			ID: n.ID, CaseID: n.CaseID, OrganizationID: n.OrganizationID, AuthorID: n.AuthorID,
			TextEnc: s.keys.Seal([]byte(n.Text), "notes:"+n.ID+":text"), DataKID: s.keys.ActiveKID(), CreatedAt: n.CreatedAt,
		}
		if err := tx.Create(&row).Error; err != nil {
			return translate(err, "note")
		}
		if err := touchCase(tx, n.CaseID); err != nil {
			return err
		}
		return insertAudit(tx, ev)
	})
}

// History implements cases.HistoryStore.
func (s *Cases) History(ctx context.Context, caseID string, r page.Request) ([]cases.HistoryEntry, error) {
	q := s.db.gorm.WithContext(ctx).Where("case_id = ?", caseID)
	var rows []historyRow
	if err := paged(q, r, "id", "").Find(&rows).Error; err != nil {
		return nil, translate(err, "case history")
	}
	out := make([]cases.HistoryEntry, len(rows))
	for i, row := range rows {
		out[i] = cases.HistoryEntry{ID: row.ID, ChangedAt: row.ChangedAt.UTC(), ActorID: row.ActorID, Change: cases.Change{
			Action: row.Action, Field: row.Field, Identifying: row.Identifying, Old: row.OldValue, New: row.NewValue,
		}}
	}
	return out, nil
}
