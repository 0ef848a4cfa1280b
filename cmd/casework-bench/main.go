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
	"net/http"
	_ "net/http/pprof" // served only with -pprof, from the server process
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/casework/casework/internal/app"
	"github.com/casework/casework/internal/config"
)

// measure runs the scenarios against the server.
func measure(ctx context.Context, o options, ds dataset, driver string, srv *server) ([]result, error) {
	var conns []int
	for _, c := range splitList(o.conns) {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-connections: bad count %q", c)
		}
		conns = append(conns, n)
	}
	load, err := loadScenarios(srv)
	if err != nil {
		return nil, err
	}
	byName := map[string]scenario{"get": load[0], "list": load[1], "post": load[2]}
	var results []result
	for _, name := range splitList(o.scenarios) {
		if name == "report" {
			r, err := reportScenario(ctx, srv.base, driver, ds, o.runs)
			if err != nil {
				return nil, fmt.Errorf("report: %w", err)
			}
			r.RSSBytes = srv.peakRSS()
			results = append(results, r)
			continue
		}
		sc, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q", name)
		}
		for _, n := range conns {
			m := attack(sc, n, o.warmup, o.duration)
			results = append(results, result{Scenario: sc.name, Database: driver, Cases: ds.Cases, Conns: n,
				ReqPerS: m.Throughput, P50: m.Latencies.P50, P99: m.Latencies.P99, Min: m.Latencies.Min, Max: m.Latencies.Max,
				Errors: int(m.Requests) - int(float64(m.Requests)*m.Success+0.5), RSSBytes: srv.peakRSS()})
		}
	}
	return results, nil
}

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
	cpuProfile, serveChild, pprofAddr     string
	conns                                 string
	runs                                  int
	duration, warmup                      time.Duration
	asJSON, pgbench                       bool
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("casework-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.size, "size", "small", "data set: small (10 organisations, 10,000 cases, 50,000 services) or large (50, 1,000,000, 5,000,000)")
	fs.StringVar(&o.databaseURL, "database-url", getenv("CASEWORK_DATABASE_URL"), "PostgreSQL URL; empty for SQLite in -data-dir")
	fs.StringVar(&o.dataDir, "data-dir", "./bench-data", "SQLite data directory (a throwaway; the data set is synthetic)")
	fs.StringVar(&o.scenarios, "scenarios", "get,list,post,report", "comma-separated scenarios: get, list, post, report")
	fs.StringVar(&o.conns, "connections", "16,64", "comma-separated connection counts for the load scenarios")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "measured time per load scenario and connection count")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "unmeasured warm-up before each measurement")
	fs.BoolVar(&o.pgbench, "pgbench", false, "also measure PostgreSQL alone with pgbench running the same single-row and list queries")
	fs.StringVar(&o.pprofAddr, "pprof", "", "serve net/http/pprof from the server process on this address (e.g. 127.0.0.1:6060); off by default")
	fs.StringVar(&o.serveChild, "serve-child", "", "internal: run the server on this address (the command starts itself this way)")
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
	if o.serveChild != "" {
		defer a.DB.Close()
		if o.pprofAddr != "" {
			go func() { _ = http.ListenAndServe(o.pprofAddr, nil) }() // net/http/pprof's handlers
		}
		return serveChild(ctx, a, o.serveChild)
	}
	if err := a.FirstStart(ctx, io.Discard); err != nil {
		a.DB.Close()
		return err
	}
	if _, err := seed(ctx, a, ds, o.asJSON); err != nil {
		a.DB.Close()
		return fmt.Errorf("seed: %w", err)
	}
	a.DB.Close()
	srv, err := startServer(o, stderr)
	if err != nil {
		return err
	}
	defer srv.stop()
	results, err := measure(ctx, o, ds, string(cfg.Driver), srv)
	if err != nil {
		return err
	}
	if o.pgbench && cfg.Driver == config.Postgres {
		pb, err := pgbenchCeiling(ctx, o.databaseURL, ds, o.conns, o.duration)
		if err != nil {
			return fmt.Errorf("pgbench: %w", err)
		}
		results = append(results, pb...)
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
