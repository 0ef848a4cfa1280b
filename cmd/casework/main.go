// Command casework runs the Casework API and its operator tasks:
//
//	casework serve                    run the API (migrates on start)
//	casework migrate up|down|status   manage the database schema
//	casework admin create-user ...    create a user from the command line
//	casework keys generate            print a new token-signing key set
//	casework demo                     load a fictional demo data set
//	casework healthcheck              probe the local server (container health checks)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/casework/casework/internal/app"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/crypt"
	"github.com/casework/casework/internal/demo"
	"github.com/casework/casework/internal/store"
	"github.com/casework/casework/internal/users"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "casework:", err)
		os.Exit(1)
	}
}

const usage = `usage: casework <command>

commands:
  serve                         run the API
  migrate up|down|status        apply, roll back one, or list migrations
  admin create-user [flags]     create a user (see: casework admin create-user -h)
  keys generate                 print a new token-signing key set (JSON)
  keys generate-data            print a new data-encryption keyring (JSON)
  demo [-cases N]               load a clearly fictional demo data set and print its sign-ins
  healthcheck                   exit 0 when the local server answers /healthz (for containers)
  audit seal|verify             link pending audit events into the hash chain; check the chain

Configuration comes from CASEWORK_* environment variables; see README.md.`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout, stderr)
	case "admin":
		return admin(ctx, args[1:], getenv, stdout, stderr)
	case "keys":
		generate := map[string]func() ([]byte, error){"generate": auth.GenerateKeySet, "generate-data": crypt.GenerateKeyring}
		gen, ok := generate[strings.Join(args[1:], " ")]
		if !ok {
			return errors.New("usage: casework keys generate | generate-data")
		}
		ks, err := gen()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(ks))
		return err
	case "demo":
		return demoData(ctx, args[1:], getenv, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, getenv)
	case "audit":
		return auditChain(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// open loads the configuration and opens the database.
func open(ctx context.Context, getenv func(string) string, stderr io.Writer) (config.Config, *store.DB, *slog.Logger, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return cfg, nil, nil, err
	}
	log := newLogger(cfg, stderr)
	db, err := store.Open(ctx, cfg)
	if err != nil {
		return cfg, nil, nil, err
	}
	return cfg, db, log, nil
}

// assemble loads the configuration, opens and migrates the database (unless
// told not to) and builds the service.
func assemble(ctx context.Context, getenv func(string) string, stderr io.Writer) (*app.App, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	return app.Open(ctx, cfg, newLogger(cfg, stderr))
}

func serve(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	a, err := assemble(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	if err := a.FirstStart(ctx, stdout); err != nil {
		return describe(err)
	}
	ln, err := net.Listen("tcp", a.Config.ListenAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	a.Logger.Info("listening", "addr", ln.Addr().String(), "database", string(a.Config.Driver))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	go a.Dispatcher.Run(ctx, time.Second)
	go sealAudit(ctx, a.AuditChain, a.Logger)
	go store.FollowPolicy(ctx, a.Config, 30*time.Second, a.Authorizer.Reload, a.Logger)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	a.Logger.Info("shutting down")
	return srv.Shutdown(shutdown)
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: casework migrate up|down|status")
	}
	_, db, _, err := open(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "up":
		err = db.MigrateUp(ctx)
	case "down":
		err = db.MigrateDown(ctx)
	case "status":
	default:
		return errors.New("usage: casework migrate up|down|status")
	}
	if err != nil {
		return err
	}
	statuses, err := db.MigrationStatuses(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tSOURCE")
	for _, s := range statuses {
		state, at := "pending", "-"
		if s.Applied {
			state, at = "applied", s.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%05d\t%s\t%s\t%s\n", s.Version, state, at, s.Source)
	}
	return tw.Flush()
}

func admin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create-user" {
		return errors.New("usage: casework admin create-user -email E -name N -org CODE -roles r1,r2 [-locale L]")
	}
	fs := flag.NewFlagSet("create-user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the user's email (sign-in name)")
	name := fs.String("name", "", "the user's display name")
	orgCode := fs.String("org", "", "the organisation's code, e.g. IOM or RODNIK")
	roleList := fs.String("roles", "", "comma-separated roles: admin, caseworker, viewer, coordinator")
	locale := fs.String("locale", "en", "en, ru or kk")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	a, err := assemble(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	org, err := a.OrgStore.ByCode(ctx, strings.ToUpper(*orgCode))
	if err != nil {
		return fmt.Errorf("organisation %q: %w", *orgCode, err)
	}
	password := app.GeneratePassword()
	u, err := a.Users.Provision(ctx, users.NewUser{
		Email: *email, DisplayName: *name, Password: password, Roles: strings.Split(*roleList, ","),
		Locale: *locale, OrganizationID: org.ID,
	})
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "created user %s (%s) in %s with roles %s\npassword (shown once): %s\n",
		u.Email, u.ID, org.Code, strings.Join(u.Roles, ","), password)
	return nil
}

// healthcheck probes /healthz of the server this configuration would run, for
// container images that have no shell or curl.
func healthcheck(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %d", res.StatusCode)
	}
	return nil
}

// demoData loads the fictional demo data set (after a first start).
func demoData(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("cases", 300, "how many cases to create")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := assemble(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	if err := a.FirstStart(ctx, stdout); err != nil {
		return describe(err)
	}
	return describe(demo.Load(ctx, a, *n, stdout))
}

// sealAudit links new audit events into the hash chain every second until
// ctx ends.
func sealAudit(ctx context.Context, chain *store.AuditChain, log *slog.Logger) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		for {
			n, err := chain.Seal(ctx, 5000)
			if err != nil && ctx.Err() == nil {
				log.Error("seal the audit trail", "error", err.Error())
			}
			if err != nil || n < 5000 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// auditChain seals pending audit events, or verifies the chain and reports
// the first broken link (an error, so the exit status says so).
func auditChain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) != 1 || (args[0] != "seal" && args[0] != "verify") {
		return errors.New("usage: casework audit seal | verify")
	}
	_, db, _, err := open(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	chain := store.NewAuditChain(db)
	if args[0] == "seal" {
		total := 0
		for {
			n, err := chain.Seal(ctx, 5000)
			if err != nil {
				return err
			}
			total += n
			if n < 5000 {
				break
			}
		}
		_, err := fmt.Fprintf(stdout, "sealed %d audit events\n", total)
		return err
	}
	v, err := chain.Verify(ctx)
	if err != nil {
		return err
	}
	if v.Broken != "" {
		fmt.Fprintf(stdout, "audit chain BROKEN after %d good links: %s\n", v.Links, v.Broken)
		return errors.New("the audit chain does not verify")
	}
	_, err = fmt.Fprintf(stdout, "audit chain verifies: %d links, head %s; %d events not sealed yet\n", v.Links, v.Head, v.Unsealed)
	return err
}
