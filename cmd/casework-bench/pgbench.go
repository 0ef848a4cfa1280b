package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// pgbenchCeiling measures PostgreSQL alone with pgbench on the queries the
// API's read scenarios run: one case by id within its organisation, and a
// page of 51 of an organisation's cases in id order. It reads as a ceiling:
// what the database does on this machine without HTTP, auth and audit.
func pgbenchCeiling(ctx context.Context, url string, ds dataset, conns string, d time.Duration) ([]result, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var org string
	if err := db.QueryRowContext(ctx, "SELECT id FROM organizations WHERE code = 'BENCH01'").Scan(&org); err != nil {
		return nil, err
	}
	// pgbench draws numbers, not uuids: a side table numbers some cases.
	for _, stmt := range []string{
		"DROP TABLE IF EXISTS bench_ids",
		"CREATE TABLE bench_ids (n int PRIMARY KEY, id uuid NOT NULL)",
		"INSERT INTO bench_ids SELECT row_number() OVER (ORDER BY id), id FROM (SELECT id FROM cases WHERE organization_id = '" + org + "' ORDER BY id LIMIT 1000) c",
		"ANALYZE bench_ids",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM bench_ids").Scan(&n); err != nil || n == 0 {
		return nil, fmt.Errorf("no cases to number: %v", err)
	}
	dir, err := os.MkdirTemp("", "casework-pgbench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	scripts := []struct{ name, sql string }{
		{"pgbench: case by id", fmt.Sprintf("\\set n random(1, %d)\nSELECT c.* FROM cases c JOIN bench_ids b ON b.id = c.id WHERE b.n = :n AND c.organization_id = '%s';\n", n, org)},
		{"pgbench: list page", fmt.Sprintf("SELECT * FROM cases WHERE organization_id = '%s' ORDER BY id LIMIT 51;\n", org)},
	}
	var out []result
	for _, s := range scripts {
		file := filepath.Join(dir, "script.sql")
		if err := os.WriteFile(file, []byte(s.sql), 0o600); err != nil {
			return nil, err
		}
		for _, c := range splitList(conns) {
			cmd := exec.CommandContext(ctx, "pgbench", "-n", "-M", "prepared", "-c", c, "-j", "2", "-T", strconv.Itoa(int(d.Seconds())), "-f", file, url)
			text, err := cmd.CombinedOutput()
			if err != nil {
				return nil, fmt.Errorf("%v: %s", err, text)
			}
			tps := number(`tps = ([0-9.]+)`, text)
			lat := number(`latency average = ([0-9.]+) ms`, text)
			conns, _ := strconv.Atoi(c)
			out = append(out, result{Scenario: s.name, Database: "postgres", Cases: ds.Cases, Conns: conns, ReqPerS: tps,
				P50: time.Duration(lat * float64(time.Millisecond)), Note: "latency is pgbench's average, not a median"})
		}
	}
	return out, nil
}

func number(pattern string, text []byte) float64 {
	m := regexp.MustCompile(pattern).FindSubmatch(text)
	if m == nil {
		return 0
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return f
}
