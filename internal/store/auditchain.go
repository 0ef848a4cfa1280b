package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/casework/casework/internal/config"
)

// genesis is the prev_hash of the first link.
const genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// lateCommit is how long before the chain head an event may have happened
// and still be sealed: an event is written by its own transaction, which can
// commit after later events were sealed.
const lateCommit = 5 * time.Minute

type chainRow struct {
	Seq      int64 `gorm:"primaryKey"`
	EventID  string
	PrevHash string
	Hash     string
	SealedAt time.Time
}

func (chainRow) TableName() string { return "audit_chain" }

// linkHash is the hash of one link: SHA-256 over the previous link's hash and
// the event's fields, each on its own line (absent ones empty).
func linkHash(prev string, e auditRow) string {
	v := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	fields := []string{prev, e.ID, e.OccurredAt.UTC().Format(time.RFC3339Nano), e.ActorType, v(e.ActorID), v(e.OrganizationID),
		e.Action, e.ObjectType, v(e.ObjectID), e.Outcome, v(e.IP), v(e.RequestID)}
	sum := sha256.Sum256([]byte(strings.Join(fields, "\n")))
	return hex.EncodeToString(sum[:])
}

// AuditChain seals audit events into the hash chain and verifies it.
type AuditChain struct{ db *DB }

// NewAuditChain returns the chain keeper.
func NewAuditChain(db *DB) *AuditChain { return &AuditChain{db: db} }

// Seal links up to limit events not yet in the chain, oldest first, and
// returns how many it linked. Instances may seal at once: the head is taken
// under a lock (an advisory lock on PostgreSQL, the write lock on SQLite).
func (c *AuditChain) Seal(ctx context.Context, limit int) (int, error) {
	n := 0
	err := c.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if c.db.driver == config.Postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(72616401)").Error; err != nil {
				return err
			}
		}
		var head chainRow
		res := tx.Order("seq DESC").Limit(1).Find(&head)
		if res.Error != nil {
			return res.Error
		}
		prev, seq := genesis, int64(0)
		q := tx.Model(&auditRow{}).Where("NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = audit_events.id)")
		if res.RowsAffected > 0 {
			prev, seq = head.Hash, head.Seq
			var at time.Time
			if err := tx.Model(&auditRow{}).Select("occurred_at").Where("id = ?", head.EventID).Scan(&at).Error; err != nil {
				return err
			}
			q = q.Where("occurred_at >= ?", at.Add(-lateCommit))
		}
		var events []auditRow
		if err := q.Order("id").Limit(limit).Find(&events).Error; err != nil {
			return err
		}
		now := Now()
		links := make([]chainRow, len(events))
		for i, e := range events {
			seq++
			h := linkHash(prev, e)
			links[i] = chainRow{Seq: seq, EventID: e.ID, PrevHash: prev, Hash: h, SealedAt: now}
			prev = h
		}
		if len(links) > 0 {
			if err := tx.CreateInBatches(links, 500).Error; err != nil {
				return err
			}
		}
		n = len(links)
		return nil
	})
	return n, translate(err, "audit chain")
}

// Verdict is the outcome of verifying the chain.
type Verdict struct {
	// Links is how many links were checked; Head the last one's hash (keep it
	// somewhere else: it proves later that nothing before it changed).
	Links int64
	Head  string
	// Broken describes the first broken link ("" when the chain holds).
	Broken string
	// Unsealed counts events not (yet) in the chain.
	Unsealed int64
}

// Verify recomputes every link in order and reports the first that does
// not hold: a missing sequence number, a wrong previous hash, or an event
// whose fields no longer give the link's hash (or that is gone).
func (c *AuditChain) Verify(ctx context.Context) (Verdict, error) {
	var v Verdict
	db := c.db.gorm.WithContext(ctx)
	prev, want := genesis, int64(1)
	for {
		var links []chainRow
		if err := db.Where("seq >= ?", want).Order("seq").Limit(1000).Find(&links).Error; err != nil {
			return v, translate(err, "audit chain")
		}
		if len(links) == 0 {
			break
		}
		ids := make([]string, len(links))
		for i, l := range links {
			ids[i] = l.EventID
		}
		var events []auditRow
		if err := db.Where("id IN ?", ids).Find(&events).Error; err != nil {
			return v, translate(err, "audit chain")
		}
		byID := make(map[string]auditRow, len(events))
		for _, e := range events {
			byID[e.ID] = e
		}
		for _, l := range links {
			e, ok := byID[l.EventID]
			switch {
			case l.Seq != want:
				v.Broken = fmt.Sprintf("link %d is missing (the next is %d)", want, l.Seq)
			case l.PrevHash != prev:
				v.Broken = fmt.Sprintf("link %d does not follow link %d", l.Seq, l.Seq-1)
			case !ok:
				v.Broken = fmt.Sprintf("link %d: event %s is gone", l.Seq, l.EventID)
			case linkHash(prev, e) != l.Hash:
				v.Broken = fmt.Sprintf("link %d: event %s was changed", l.Seq, l.EventID)
			}
			if v.Broken != "" {
				return v, nil
			}
			prev, want = l.Hash, want+1
			v.Links, v.Head = v.Links+1, l.Hash
		}
	}
	err := db.Model(&auditRow{}).Where("NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = audit_events.id)").Count(&v.Unsealed).Error
	return v, translate(err, "audit chain")
}
