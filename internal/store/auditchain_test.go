package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/store"
)

// TestAuditChain: events are sealed into a chain that verifies; the database
// refuses to change or delete events and links; and when someone gets round
// that (dropping the triggers), verify names the first broken link.
func TestAuditChain(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		trail, chain := store.NewAudit(db), store.NewAuditChain(db)
		record := func(n int) {
			for i := range n {
				e := audit.Event{ActorType: audit.ActorSystem, Action: "test.event", ObjectType: "test", Outcome: audit.Success,
					RequestID: "req-" + strings.Repeat("x", i%3)}
				if err := trail.Record(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
		}
		verify := func() store.Verdict {
			t.Helper()
			v, err := chain.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		seal := func(limit int) int {
			t.Helper()
			n, err := chain.Seal(ctx, limit)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}

		record(7)
		if v := verify(); v.Links != 0 || v.Unsealed != 7 || v.Broken != "" {
			t.Fatalf("before sealing: %+v", v)
		}
		if n := seal(5); n != 5 {
			t.Fatalf("sealed %d, want 5 (the limit)", n)
		}
		record(3)
		if n := seal(100); n != 5 {
			t.Fatalf("sealed %d, want the 5 left", n)
		}
		if n := seal(100); n != 0 {
			t.Fatalf("sealing again sealed %d", n)
		}
		v := verify()
		if v.Links != 10 || v.Unsealed != 0 || v.Broken != "" || len(v.Head) != 64 {
			t.Fatalf("after sealing: %+v", v)
		}

		// The database refuses changes, whoever asks.
		for _, stmt := range []string{
			"UPDATE audit_events SET action = 'forged'",
			"DELETE FROM audit_events",
			"UPDATE audit_chain SET hash = 'x'",
			"DELETE FROM audit_chain",
		} {
			if _, err := db.SQL().ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want the append-only refusal", stmt, err)
			}
		}
		if v2 := verify(); v2 != v {
			t.Fatalf("refused statements changed the chain: %+v → %+v", v, v2)
		}

		// Someone with the owner's rights drops the protection and edits.
		unprotect(t, db)
		var victim string
		if err := db.SQL().QueryRowContext(ctx, "SELECT event_id FROM audit_chain WHERE seq = 4").Scan(&victim); err != nil {
			t.Fatal(err)
		}
		exec(t, db, "UPDATE audit_events SET outcome = 'denied' WHERE id = '"+victim+"'")
		if v := verify(); !strings.Contains(v.Broken, "link 4: event "+victim+" was changed") || v.Links != 3 {
			t.Fatalf("after editing link 4's event: %+v", v)
		}
		exec(t, db, "UPDATE audit_events SET outcome = 'success' WHERE id = '"+victim+"'")
		if v := verify(); v.Broken != "" || v.Links != 10 {
			t.Fatalf("after undoing the edit: %+v", v)
		}
		exec(t, db, "DELETE FROM audit_chain WHERE seq = 6")
		if v := verify(); !strings.Contains(v.Broken, "link 6 is missing") {
			t.Fatalf("after removing link 6: %+v", v)
		}
	})
}

func exec(t *testing.T, db *store.DB, stmt string) {
	t.Helper()
	if _, err := db.SQL().ExecContext(context.Background(), stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// unprotect drops the append-only triggers, as only the tables' owner could.
func unprotect(t *testing.T, db *store.DB) {
	if db.Driver() == config.Postgres {
		exec(t, db, "ALTER TABLE audit_events DISABLE TRIGGER USER")
		exec(t, db, "ALTER TABLE audit_chain DISABLE TRIGGER USER")
		return
	}
	for _, tr := range []string{"audit_events_no_update", "audit_events_no_delete", "audit_chain_no_update", "audit_chain_no_delete"} {
		exec(t, db, "DROP TRIGGER "+tr)
	}
}
