// Command casework-bench seeds a benchmark data set and measures the service
// against it. See the README's "Benchmarks" section.
//
//	casework-bench -size small                # SQLite in ./bench-data
//	casework-bench -size large -database-url postgres://...
//
// It opens the database the same way the service does (migrating it),
// seeds the data set unless already there (bulk inserts, with a progress
// bar), and runs the scenarios, printing a table (or JSON with -json).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"text/tabwriter"

	"github.com/casework/casework/internal/app"
	"github.com/casework/casework/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "casework-bench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	size, databaseURL, dataDir, scenarios string
	cpuProfile                            string
	runs                                  int
	asJSON                                bool
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("casework-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.size, "size", "small", "data set: small (10 organisations, 10,000 cases, 50,000 services) or large (50, 1,000,000, 5,000,000)")
	fs.StringVar(&o.databaseURL, "database-url", getenv("CASEWORK_DATABASE_URL"), "PostgreSQL URL; empty for SQLite in -data-dir")
	fs.StringVar(&o.dataDir, "data-dir", "./bench-data", "SQLite data directory (a throwaway; the data set is synthetic)")
	fs.StringVar(&o.scenarios, "scenarios", "report", "comma-separated scenarios: report")
	fs.IntVar(&o.runs, "runs", 7, "measured runs per report scenario (after one warm-up)")
	fs.BoolVar(&o.asJSON, "json", false, "print results as JSON")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (seeding and in-process scenarios) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ds, ok := datasets[o.size]
	if !ok {
		return fmt.Errorf("-size: want small or large, got %q", o.size)
	}
	env := map[string]string{
		"CASEWORK_DATABASE_URL": o.databaseURL, "CASEWORK_DATA_DIR": o.dataDir,
		"CASEWORK_ADMIN_PASSWORD": password, "CASEWORK_LOG_LEVEL": "error",
	}
	for _, k := range []string{"CASEWORK_SIGNING_KEYS", "CASEWORK_SIGNING_KEYS_FILE", "CASEWORK_DATA_KEYS", "CASEWORK_DATA_KEYS_FILE"} {
		env[k] = getenv(k)
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	if cfg.Driver == config.Postgres && (cfg.SigningKeys == "" && cfg.SigningKeysFile == "" || cfg.DataKeys == "" && cfg.DataKeysFile == "") {
		return errors.New("on PostgreSQL set CASEWORK_SIGNING_KEYS(_FILE) and CASEWORK_DATA_KEYS(_FILE) (casework keys generate / generate-data)")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	if err := a.FirstStart(ctx, io.Discard); err != nil {
		return err
	}
	if _, err := seed(ctx, a, ds, o.asJSON); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	var results []result
	for _, s := range splitList(o.scenarios) {
		switch s {
		case "report":
			r, err := reportScenario(ctx, a, ds, o.runs)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			results = append(results, r)
		default:
			return fmt.Errorf("-scenarios: unknown scenario %q", s)
		}
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tdatabase\tcases\tconns\treq/s\tp50\tp99\tmin\tmax\terrors\tserver RSS\t")
	for _, r := range results {
		fmt.Fprintln(tw, r.row())
	}
	return tw.Flush()
}
