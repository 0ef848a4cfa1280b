package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casework/casework/internal/app"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/store"
	"github.com/casework/casework/migrations"
)

// syncBuffer is a bytes.Buffer safe for a running command and the test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestEnv returns a getenv of a fresh data directory plus extra variables.
func newTestEnv(t *testing.T, extra ...string) (getenv func(string) string, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	vars := map[string]string{"CASEWORK_DATA_DIR": dataDir, "CASEWORK_PASSWORD_HASH_WORKERS": "2"}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	return func(name string) string { return vars[name] }, dataDir
}

// mustRun runs the command and fails the test on an error.
func mustRun(t *testing.T, getenv func(string) string, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, getenv, &out, &errOut); err != nil {
		t.Fatalf("casework %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

// migrationVersions lists the SQLite migrations' version prefixes ("00001").
func migrationVersions(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(migrations.For("sqlite"), "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("migrations: %v (%d files)", err, len(names))
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i], _, _ = strings.Cut(n, "_")
	}
	return out
}

// statusStates parses `migrate status` output into version → state.
func statusStates(t *testing.T, out string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "VERSION") {
		t.Fatalf("migrate status output:\n%s", out)
	}
	states := map[string]string{}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) < 4 {
			t.Fatalf("migrate status line %q", line)
		}
		states[f[0]] = f[1]
	}
	return states
}

func TestKeysGenerate(t *testing.T) {
	getenv, _ := newTestEnv(t)
	out, _ := mustRun(t, getenv, "keys", "generate")
	if _, err := auth.ParseKeySet([]byte(strings.TrimSpace(out))); err != nil {
		t.Fatalf("keys generate printed a key set ParseKeySet refuses: %v\n%s", err, out)
	}
	again, _ := mustRun(t, getenv, "keys", "generate")
	if again == out {
		t.Fatal("two key sets are identical")
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"keys"}, getenv, &stdout, &stderr); err == nil {
		t.Error("`keys` without generate succeeded")
	}
}

// newPostgresEnv returns a getenv whose CASEWORK_DATABASE_URL is a fresh
// schema on the test PostgreSQL server (CASEWORK_TEST_DATABASE_URL), dropped
// when the test ends.
func newPostgresEnv(t *testing.T) func(string) string {
	t.Helper()
	base := config.TestDatabaseURL(os.Getenv)
	ctx := context.Background()
	admin, err := store.OpenPostgres(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("t_cmd_%d", time.Now().UnixNano())
	if _, err := admin.SQL().ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.SQL().ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	getenv, _ := newTestEnv(t, "CASEWORK_DATABASE_URL", u.String())
	return getenv
}

func TestMigrateUpStatusDown(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		getenv, dataDir := newTestEnv(t)
		testMigrateUpStatusDown(t, getenv)
		if _, err := os.Stat(filepath.Join(dataDir, "casework.db")); err != nil {
			t.Fatalf("no database file in the data directory: %v", err)
		}
	})
	if config.TestDatabaseURL(os.Getenv) != "" {
		t.Run("postgres", func(t *testing.T) {
			testMigrateUpStatusDown(t, newPostgresEnv(t))
		})
	}
}

func testMigrateUpStatusDown(t *testing.T, getenv func(string) string) {
	versions := migrationVersions(t)

	out, _ := mustRun(t, getenv, "migrate", "status")
	for v, state := range statusStates(t, out) {
		if state != "pending" {
			t.Errorf("on a fresh database: migration %s is %q, want pending", v, state)
		}
	}

	mustRun(t, getenv, "migrate", "up")
	out, _ = mustRun(t, getenv, "migrate", "status")
	states := statusStates(t, out)
	if len(states) != len(versions) {
		t.Fatalf("status lists %d migrations, there are %d:\n%s", len(states), len(versions), out)
	}
	for _, v := range versions {
		if states[v] != "applied" {
			t.Errorf("after up: migration %s is %q, want applied\n%s", v, states[v], out)
		}
	}

	mustRun(t, getenv, "migrate", "down")
	out, _ = mustRun(t, getenv, "migrate", "status")
	states = statusStates(t, out)
	top := versions[len(versions)-1]
	for _, v := range versions {
		want := "applied"
		if v == top {
			want = "pending"
		}
		if states[v] != want {
			t.Errorf("after down: migration %s is %q, want %s\n%s", v, states[v], want, out)
		}
	}

	mustRun(t, getenv, "migrate", "up")
	out, _ = mustRun(t, getenv, "migrate", "status")
	if states := statusStates(t, out); states[top] != "applied" {
		t.Errorf("after up again: migration %s is %q\n%s", top, states[top], out)
	}

	for _, args := range [][]string{{"migrate"}, {"migrate", "sideways"}, {"migrate", "up", "now"}} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, getenv, &stdout, &stderr); err == nil {
			t.Errorf("casework %s succeeded", strings.Join(args, " "))
		}
	}
}

// openApp builds the service on the data directory getenv names, as serve does.
func openApp(t *testing.T, getenv func(string) string) *app.App {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, err := app.LoadKeys(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	dataKeys, err := app.LoadDataKeys(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(ctx, cfg, db, keys, dataKeys, log)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var createdPassword = regexp.MustCompile(`(?m)^password \(shown once\): (\S+)$`)

func TestAdminCreateUser(t *testing.T) {
	ctx := context.Background()
	getenv, _ := newTestEnv(t, "CASEWORK_ADMIN_PASSWORD", "a long first passphrase 42")
	mustRun(t, getenv, "migrate", "up")
	first := openApp(t, getenv)
	if err := first.FirstStart(ctx, io.Discard); err != nil {
		t.Fatalf("first start: %v", err)
	}
	first.DB.Close()

	out, _ := mustRun(t, getenv, "admin", "create-user", "-email", "x@iom.example", "-name", "X", "-org", "IOM", "-roles", "caseworker")
	m := createdPassword.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create-user printed no password:\n%s", out)
	}
	if !strings.Contains(out, "x@iom.example") || !strings.Contains(out, "caseworker") {
		t.Errorf("create-user output does not name the user and roles:\n%s", out)
	}

	a := openApp(t, getenv)
	pair, err := a.Auth.Login(ctx, "x@iom.example", m[1])
	if err != nil {
		t.Fatalf("the created user cannot sign in: %v", err)
	}
	p, err := a.Auth.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		t.Fatalf("the created user's token: %v", err)
	}
	iom, err := a.OrgStore.ByCode(ctx, "IOM")
	if err != nil {
		t.Fatal(err)
	}
	if p.Email != "x@iom.example" || p.DisplayName != "X" || p.OrgID != iom.ID || p.OrgKind != auth.OrgKindIOM ||
		len(p.Roles) != 1 || p.Roles[0] != "caseworker" {
		t.Fatalf("created user = %+v", p)
	}
	if _, err := a.Auth.Login(ctx, "x@iom.example", "not the password"); err == nil {
		t.Fatal("sign-in with a wrong password succeeded")
	}
	a.DB.Close()

	refused := map[string]struct {
		flags   []string
		wantErr string
	}{
		"duplicate email": {[]string{"-email", "x@iom.example", "-name", "X", "-org", "IOM", "-roles", "caseworker"}, "already exists"},
		"unknown org":     {[]string{"-email", "y@iom.example", "-name", "Y", "-org", "NOPE", "-roles", "caseworker"}, `"NOPE"`},
		"role not in IOM": {[]string{"-email", "z@iom.example", "-name", "Z", "-org", "IOM", "-roles", "viewer"}, "roles[0]"},
		"no roles":        {[]string{"-email", "w@iom.example", "-name", "W", "-org", "IOM"}, "roles"},
		"bad email":       {[]string{"-email", "not-an-email", "-name", "V", "-org", "IOM", "-roles", "caseworker"}, "email"},
		"unknown flag":    {[]string{"-email", "u@iom.example", "-superuser"}, "superuser"},
		"no operation":    {nil, "usage"},
	}
	for name, c := range refused {
		t.Run(name, func(t *testing.T) {
			args := []string{"admin"}
			if c.flags != nil {
				args = append([]string{"admin", "create-user"}, c.flags...)
			}
			var stdout, stderr bytes.Buffer
			err := run(ctx, args, getenv, &stdout, &stderr)
			if err == nil {
				t.Fatalf("succeeded:\n%s", stdout.String())
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not mention %q", err, c.wantErr)
			}
			if createdPassword.MatchString(stdout.String()) {
				t.Fatalf("printed a password although it failed:\n%s", stdout.String())
			}
		})
	}
	// None of the refused attempts created anyone.
	b := openApp(t, getenv)
	for _, email := range []string{"y@iom.example", "z@iom.example", "w@iom.example", "u@iom.example"} {
		if _, err := b.Auth.Login(ctx, email, "whatever it is 1"); err == nil {
			t.Errorf("%s signs in", email)
		}
	}
	var n int
	if err := b.DB.SQL().QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d users after one successful create-user, want 2 (the first admin and x)", n)
	}
}

func TestUnknownCommand(t *testing.T) {
	getenv, _ := newTestEnv(t)
	for _, args := range [][]string{{"frobnicate"}, {}, {"serve-ish"}} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, getenv, &stdout, &stderr)
		if err == nil {
			t.Errorf("casework %q succeeded", args)
			continue
		}
		if !strings.Contains(stderr.String(), "usage: casework") {
			t.Errorf("casework %q: no usage on stderr: %q", args, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"help"}, getenv, &stdout, &stderr); err != nil || !strings.Contains(stdout.String(), "usage: casework") {
		t.Errorf("casework help = %v, stdout %q", err, stdout.String())
	}
}

// serving is one `casework serve` running in the background.
type serving struct {
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan struct{} // closed when run returns; err is its result then
	err            error
}

func startServe(t *testing.T, getenv func(string) string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = run(ctx, []string{"serve"}, getenv, s.stdout, s.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
		}
	})
	return s
}

// waitListening waits until serve logs that it listens (after its first
// start), failing the test if it exits or takes too long.
func (s *serving) waitListening(t *testing.T) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(s.stderr.String(), `"msg":"listening"`) {
		select {
		case <-s.done:
			t.Fatalf("serve ended before listening: %v\nstderr: %s", s.err, s.stderr.String())
		case <-deadline:
			t.Fatalf("serve did not listen within 30s\nstderr: %s", s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *serving) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
		if s.err != nil {
			t.Fatalf("serve ended with %v\nstderr: %s", s.err, s.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s of its context ending")
	}
}

var firstStartPassword = regexp.MustCompile(`the password\s+(\S+)\s+It is shown only this once`)

func TestServeFirstStart(t *testing.T) {
	getenv, dataDir := newTestEnv(t, "CASEWORK_LISTEN_ADDR", "127.0.0.1:0")

	first := startServe(t, getenv)
	first.waitListening(t)
	keysPath := filepath.Join(dataDir, "signing-keys.json")
	info, err := os.Stat(keysPath)
	if err != nil {
		t.Fatalf("no signing keys after the first start: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("signing-keys.json has mode %o, want 600", mode)
	}
	if !strings.Contains(first.stderr.String(), "generated token-signing keys") {
		t.Errorf("the log does not say keys were generated:\n%s", first.stderr.String())
	}
	first.stop(t)

	out := first.stdout.String()
	matches := firstStartPassword.FindAllStringSubmatch(out, -1)
	if len(matches) != 1 {
		t.Fatalf("first start printed the admin password %d times, want once:\n%s", len(matches), out)
	}
	password := matches[0][1]
	if strings.Count(out, password) != 1 {
		t.Errorf("the password appears %d times on stdout", strings.Count(out, password))
	}
	if strings.Contains(first.stderr.String(), password) {
		t.Error("the generated password is in the log")
	}
	if !strings.Contains(out, "admin@iom.example") {
		t.Errorf("first start does not name the admin:\n%s", out)
	}
	keysBefore, err := os.ReadFile(keysPath)
	if err != nil {
		t.Fatal(err)
	}

	second := startServe(t, getenv)
	second.waitListening(t)
	second.stop(t)
	if out := second.stdout.String(); firstStartPassword.MatchString(out) || strings.Contains(out, password) ||
		strings.Contains(strings.ToLower(out), "password") {
		t.Errorf("the second start printed a password:\n%s", out)
	}
	if strings.Contains(second.stderr.String(), "generated token-signing keys") {
		t.Error("the second start generated new signing keys")
	}
	keysAfter, err := os.ReadFile(keysPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(keysBefore, keysAfter) {
		t.Error("the second start replaced the signing keys")
	}

	// The printed password signs the admin in.
	a := openApp(t, getenv)
	if _, err := a.Auth.Login(context.Background(), "admin@iom.example", password); err != nil {
		t.Fatalf("the printed password does not sign the admin in: %v", err)
	}
}
