package store_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/store"
	"github.com/casework/casework/internal/users"
)

// TestFollowPolicy: every instance reloads its policy on a timer; on
// PostgreSQL also as soon as a change commits anywhere (LISTEN/NOTIFY).
func TestFollowPolicy(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var reloads atomic.Int64
		reload := func(context.Context) error { reloads.Add(1); return nil }
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		cfg := config.Config{Driver: db.Driver(), DatabaseURL: config.TestDatabaseURL(os.Getenv)}
		waitFor := func(what string, n int64, within time.Duration) {
			t.Helper()
			deadline := time.Now().Add(within)
			for reloads.Load() < n {
				if time.Now().After(deadline) {
					t.Fatalf("%s: %d reloads, want %d within %s", what, reloads.Load(), n, within)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		if db.Driver() != config.Postgres {
			go store.FollowPolicy(ctx, cfg, 50*time.Millisecond, reload, log)
			waitFor("the timer", 3, 2*time.Second)
			return
		}
		// A long timer, so only notifications can explain quick reloads.
		go store.FollowPolicy(ctx, cfg, time.Hour, reload, log)
		waitFor("listening starts with a reload", 1, 5*time.Second)
		// A change of roles commits and is announced.
		org := apptest.New(t, db).NewOrg(t, "NOTIFY", "Almaty")
		time.Sleep(500 * time.Millisecond) // let the set-up's own announcements land first
		before := reloads.Load()
		err := store.NewUsers(db).Create(ctx, users.User{ID: store.NewID(), OrganizationID: org.ID, Email: "n@notify.example",
			DisplayName: "N", Roles: []string{"viewer"}, Active: true, Locale: "en", Version: 1,
			CreatedAt: store.Now(), UpdatedAt: store.Now()}, "hash")
		if err != nil {
			t.Fatal(err)
		}
		waitFor("a committed role change", before+1, 5*time.Second)
	})
}
