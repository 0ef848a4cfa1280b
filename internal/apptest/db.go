// Package apptest builds the real service on a fresh database for tests:
// SQLite always, PostgreSQL too when CASEWORK_TEST_DATABASE_URL is set. Every
// response it sees is validated against openapi.yaml.
package apptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/store"
)

// Drivers lists the databases the suites run on.
func Drivers() []config.Driver {
	if config.TestDatabaseURL(os.Getenv) != "" {
		return []config.Driver{config.SQLite, config.Postgres}
	}
	return []config.Driver{config.SQLite}
}

// ForEachDB runs fn as a subtest on a fresh, migrated database of each driver.
func ForEachDB(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Drivers() {
		t.Run(string(d), func(t *testing.T) {
			fn(t, NewDB(t, d, true))
		})
	}
}

// NewDBPair opens a fresh, migrated database twice, with two connection
// pools, as two API instances would share it.
func NewDBPair(t testing.TB, driver config.Driver) (*store.DB, *store.DB) {
	t.Helper()
	ctx := context.Background()
	var a, b *store.DB
	var err error
	switch driver {
	case config.SQLite:
		path := filepath.Join(t.TempDir(), "casework.db")
		if a, err = store.OpenSQLite(ctx, path); err == nil {
			b, err = store.OpenSQLite(ctx, path)
		}
	case config.Postgres:
		var url string
		if url, err = newSchema(t, ctx); err == nil {
			if a, err = store.OpenPostgres(ctx, url); err == nil {
				b, err = store.OpenPostgres(ctx, url)
			}
		}
	default:
		t.Fatalf("unknown driver %q", driver)
	}
	if err != nil {
		t.Fatalf("open %s twice: %v", driver, err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	if err := a.MigrateUp(ctx); err != nil {
		t.Fatalf("migrate %s: %v", driver, err)
	}
	return a, b
}

// NewDB opens a fresh database: a SQLite file in a temporary directory, or a
// new PostgreSQL schema dropped when the test ends. migrate applies every
// migration.
func NewDB(t testing.TB, driver config.Driver, migrate bool) *store.DB {
	t.Helper()
	ctx := context.Background()
	var db *store.DB
	var err error
	switch driver {
	case config.SQLite:
		db, err = store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "casework.db"))
	case config.Postgres:
		db, err = openSchema(t, ctx)
	default:
		t.Fatalf("unknown driver %q", driver)
	}
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	if migrate {
		if err := db.MigrateUp(ctx); err != nil {
			t.Fatalf("migrate %s: %v", driver, err)
		}
	}
	return db
}

// openSchema creates a schema of its own for one test and connects with it
// as the search path.
func openSchema(t testing.TB, ctx context.Context) (*store.DB, error) {
	url, err := newSchema(t, ctx)
	if err != nil {
		return nil, err
	}
	return store.OpenPostgres(ctx, url)
}

// newSchema creates a schema dropped when the test ends, and returns the URL
// that connects with it as the search path.
func newSchema(t testing.TB, ctx context.Context) (string, error) {
	base := config.TestDatabaseURL(os.Getenv)
	admin, err := store.OpenPostgres(ctx, base)
	if err != nil {
		return "", err
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.SQL().ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", err
	}
	t.Cleanup(func() {
		_, _ = admin.SQL().ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
