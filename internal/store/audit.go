package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
)

type auditRow struct {
	ID             string `gorm:"primaryKey"`
	OccurredAt     time.Time
	ActorType      string
	ActorID        *string
	OrganizationID *string
	Action         string
	ObjectType     string
	ObjectID       *string
	Outcome        string
	IP             *string
	RequestID      *string
}

func (auditRow) TableName() string { return "audit_events" }

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func value(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// NewID returns a new record id: a UUIDv7, so ids sort by creation time,
// which every list's order relies on.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// insertAudit appends e within tx, so the event commits or rolls back with
// the change it records.
func insertAudit(tx *gorm.DB, e audit.Event) error {
	row := newAuditRow(e)
	return translate(tx.Create(&row).Error, "audit event")
}

func newAuditRow(e audit.Event) auditRow {
	return auditRow{
		ID: NewID(), OccurredAt: Now(), ActorType: e.ActorType, ActorID: optional(e.ActorID),
		OrganizationID: optional(e.OrganizationID), Action: e.Action, ObjectType: e.ObjectType,
		ObjectID: optional(e.ObjectID), Outcome: string(e.Outcome), IP: optional(e.IP), RequestID: optional(e.RequestID),
	}
}

// Audit implements audit.Store. Events recorded on their own (reads,
// denials) are written by group commit: concurrent requests' events are
// gathered and inserted in one transaction, and each request waits until
// the transaction holding its event has committed, so no response goes out
// before its event is durable, while one commit (one fsync) serves many.
type Audit struct {
	db      *DB
	pending chan auditWrite
}

type auditWrite struct {
	row  auditRow
	done chan error
}

// maxAuditBatch bounds one group commit.
const maxAuditBatch = 256

// NewAudit returns the audit store and starts its writer, which lives as
// long as the process.
func NewAudit(db *DB) *Audit {
	s := &Audit{db: db, pending: make(chan auditWrite, 4*maxAuditBatch)}
	go s.write()
	return s
}

// Record implements audit.Store: it returns once the event is committed.
func (s *Audit) Record(ctx context.Context, e audit.Event) error {
	w := auditWrite{row: newAuditRow(e), done: make(chan error, 1)}
	select {
	case s.pending <- w:
	case <-ctx.Done():
		return translate(ctx.Err(), "audit event")
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		// The event may still commit; the request fails either way.
		return translate(ctx.Err(), "audit event")
	}
}

// write takes whatever events are waiting (at least one) and commits them
// together, then tells each waiter the outcome.
func (s *Audit) write() {
	for first := range s.pending {
		batch := []auditWrite{first}
	gather:
		for len(batch) < maxAuditBatch {
			select {
			case w := <-s.pending:
				batch = append(batch, w)
			default:
				break gather
			}
		}
		rows := make([]auditRow, len(batch))
		for i, w := range batch {
			rows[i] = w.row
		}
		err := translate(s.db.gorm.Transaction(func(tx *gorm.DB) error {
			return tx.CreateInBatches(rows, 100).Error
		}), "audit event")
		for _, w := range batch {
			w.done <- err
		}
	}
}

// List implements audit.Store.
func (s *Audit) List(ctx context.Context, scope tenant.Scope, f audit.Filter, r page.Request) ([]audit.Event, error) {
	q := scoped(s.db.gorm.WithContext(ctx), scope, "organization_id")
	eq := func(col, v string) {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	eq("organization_id", f.OrganizationID)
	eq("actor_id", f.ActorID)
	eq("action", f.Action)
	eq("object_type", f.ObjectType)
	eq("object_id", f.ObjectID)
	eq("outcome", string(f.Outcome))
	if f.From != nil {
		q = q.Where("occurred_at >= ?", f.From.UTC())
	}
	if f.To != nil {
		q = q.Where("occurred_at < ?", f.To.UTC())
	}
	var rows []auditRow
	if err := paged(q, r, "id", "").Find(&rows).Error; err != nil {
		return nil, translate(err, "audit event")
	}
	out := make([]audit.Event, len(rows))
	for i, row := range rows {
		out[i] = audit.Event{
			ID: row.ID, OccurredAt: row.OccurredAt.UTC(), ActorType: row.ActorType, ActorID: value(row.ActorID),
			OrganizationID: value(row.OrganizationID), Action: row.Action, ObjectType: row.ObjectType,
			ObjectID: value(row.ObjectID), Outcome: audit.Outcome(row.Outcome), IP: value(row.IP), RequestID: value(row.RequestID),
		}
	}
	return out, nil
}
