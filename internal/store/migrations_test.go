package store_test

import (
	"context"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/store"
	"github.com/casework/casework/migrations"
)

// migrationFiles returns the goose migrations of one dialect by version.
func migrationFiles(t *testing.T, dialect string) map[int64]string {
	t.Helper()
	names, err := fs.Glob(migrations.For(dialect), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	for _, name := range names {
		prefix, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil || v <= 0 {
			t.Errorf("%s/%s: not named NNNNN_name.sql", dialect, name)
			continue
		}
		if other, dup := out[v]; dup {
			t.Errorf("%s: version %d used by %s and %s", dialect, v, other, name)
		}
		out[v] = name
	}
	return out
}

// TestMigrationsPaired: every version exists in both folders, and each file
// can be rolled back.
func TestMigrationsPaired(t *testing.T) {
	pg, lite := migrationFiles(t, "postgres"), migrationFiles(t, "sqlite")
	if len(pg) == 0 || len(lite) == 0 {
		t.Fatalf("no migrations found: postgres %d, sqlite %d", len(pg), len(lite))
	}
	for v, name := range pg {
		if _, ok := lite[v]; !ok {
			t.Errorf("version %d (%s) exists for postgres but not for sqlite", v, name)
		}
	}
	for v, name := range lite {
		if _, ok := pg[v]; !ok {
			t.Errorf("version %d (%s) exists for sqlite but not for postgres", v, name)
		}
	}
	for dialect, files := range map[string]map[int64]string{"postgres": pg, "sqlite": lite} {
		for _, name := range files {
			body, err := fs.ReadFile(migrations.For(dialect), name)
			if err != nil {
				t.Fatal(err)
			}
			s := string(body)
			if !strings.Contains(s, "-- +goose Up") || !strings.Contains(s, "-- +goose Down") {
				t.Errorf("%s/%s: want both -- +goose Up and -- +goose Down sections", dialect, name)
			}
		}
	}
}

// applicationTables lists the tables left in the test's database, apart from
// goose's own bookkeeping.
func applicationTables(t *testing.T, db *store.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type IN ('table', 'view', 'index')
	      AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'goose_db_version%' ORDER BY name`
	if db.Driver() == config.Postgres {
		q = `SELECT table_name FROM information_schema.tables
		     WHERE table_schema = current_schema() AND table_name <> 'goose_db_version' ORDER BY table_name`
	}
	rows, err := db.SQL().QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustVersion(t *testing.T, db *store.DB) int64 {
	t.Helper()
	v, err := db.MigrationVersion(context.Background())
	if err != nil {
		t.Fatalf("migration version: %v", err)
	}
	return v
}

// TestMigrateUpDownUp: up, one down, down to 0 (leaving no table), up again;
// every database reaches the highest version there is.
func TestMigrateUpDownUp(t *testing.T) {
	ctx := context.Background()
	var versions []int64
	for v := range migrationFiles(t, "sqlite") {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	highest := versions[len(versions)-1]
	below := int64(0)
	if len(versions) > 1 {
		below = versions[len(versions)-2]
	}

	reached := map[config.Driver]int64{}
	for _, d := range apptest.Drivers() {
		t.Run(string(d), func(t *testing.T) {
			db := apptest.NewDB(t, d, false)
			if v := mustVersion(t, db); v != 0 {
				t.Fatalf("fresh database at version %d", v)
			}
			if err := db.MigrateUp(ctx); err != nil {
				t.Fatalf("up: %v", err)
			}
			if v := mustVersion(t, db); v != highest {
				t.Fatalf("after up: version %d, want %d", v, highest)
			}
			tables := applicationTables(t, db)
			for _, want := range []string{"organizations", "users", "sessions", "refresh_tokens", "authz_policy"} {
				if !slices.Contains(tables, want) {
					t.Errorf("after up: table %s missing (have %v)", want, tables)
				}
			}
			if err := db.MigrateUp(ctx); err != nil {
				t.Fatalf("up on an up-to-date database: %v", err)
			}

			if err := db.MigrateDown(ctx); err != nil {
				t.Fatalf("down: %v", err)
			}
			if v := mustVersion(t, db); v != below {
				t.Fatalf("after one down: version %d, want %d", v, below)
			}
			if err := db.MigrateUp(ctx); err != nil {
				t.Fatalf("up after one down: %v", err)
			}

			if err := db.MigrateDownTo(ctx, 0); err != nil {
				t.Fatalf("down to 0: %v", err)
			}
			if v := mustVersion(t, db); v != 0 {
				t.Fatalf("after down to 0: version %d", v)
			}
			if left := applicationTables(t, db); len(left) != 0 {
				t.Errorf("after down to 0 these remain: %v", left)
			}
			statuses, err := db.MigrationStatuses(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range statuses {
				if s.Applied {
					t.Errorf("after down to 0: migration %d still applied", s.Version)
				}
			}

			if err := db.MigrateUp(ctx); err != nil {
				t.Fatalf("up again: %v", err)
			}
			v := mustVersion(t, db)
			if v != highest {
				t.Fatalf("after up again: version %d, want %d", v, highest)
			}
			statuses, err = db.MigrationStatuses(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(statuses) != len(versions) {
				t.Errorf("%d statuses, want %d", len(statuses), len(versions))
			}
			for _, s := range statuses {
				if !s.Applied {
					t.Errorf("after up again: migration %d pending", s.Version)
				}
			}
			// The seeded policy row is back: the stores depend on it.
			var policyVersion int64
			if err := db.SQL().QueryRowContext(ctx, "SELECT version FROM authz_policy WHERE id = 1").Scan(&policyVersion); err != nil {
				t.Errorf("authz_policy after up again: %v", err)
			}
			reached[d] = v
		})
	}
	for d, v := range reached {
		if v != highest {
			t.Errorf("%s reached version %d, want %d", d, v, highest)
		}
	}
	if len(reached) != len(apptest.Drivers()) {
		t.Errorf("only %d of %d databases reached the end", len(reached), len(apptest.Drivers()))
	}
}
