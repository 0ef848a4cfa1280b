package config_test

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/casework/casework/internal/config"
)

// env is a getenv over a fixed set of variables.
func env(pairs ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(pairs); i += 2 {
		m[pairs[i]] = pairs[i+1]
	}
	return func(name string) string { return m[name] }
}

func mustLoad(t *testing.T, getenv func(string) string) config.Config {
	t.Helper()
	c, err := config.Load(getenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, env())
	checks := []struct {
		name      string
		got, want any
	}{
		{"ListenAddr", c.ListenAddr, "127.0.0.1:8080"},
		{"DataDir", c.DataDir, "data"},
		{"DatabaseURL", c.DatabaseURL, ""},
		{"Driver", c.Driver, config.SQLite},
		{"Migrate", c.Migrate, true},
		{"AdminEmail", c.AdminEmail, "admin@iom.example"},
		{"AdminPassword", c.AdminPassword, ""},
		{"IOMName", c.IOMName, "IOM Mission"},
		{"IOMCode", c.IOMCode, "IOM"},
		{"IOMCity", c.IOMCity, "Astana"},
		{"SigningKeys", c.SigningKeys, ""},
		{"SigningKeysFile", c.SigningKeysFile, ""},
		{"Issuer", c.Issuer, "casework"},
		{"Audience", c.Audience, "casework-api"},
		{"AccessTokenTTL", c.AccessTokenTTL, 15 * time.Minute},
		{"RefreshTokenTTL", c.RefreshTokenTTL, 14 * 24 * time.Hour},
		{"SessionMaxAge", c.SessionMaxAge, 30 * 24 * time.Hour},
		{"BodyLimitBytes", c.BodyLimitBytes, int64(1 << 20)},
		{"PasswordHashWorkers", c.PasswordHashWorkers, runtime.NumCPU()},
		{"LogLevel", c.LogLevel, "info"},
		{"SQLitePath", c.SQLitePath(), filepath.Join("data", "casework.db")},
		{"DefaultSigningKeysPath", c.DefaultSigningKeysPath(), filepath.Join("data", "signing-keys.json")},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

func TestSettings(t *testing.T) {
	c := mustLoad(t, env(
		"CASEWORK_LISTEN_ADDR", " 0.0.0.0:9000 ",
		"CASEWORK_DATA_DIR", "/var/lib/casework/",
		"CASEWORK_MIGRATE", "false",
		"CASEWORK_ADMIN_EMAIL", "Boss@IOM.example",
		"CASEWORK_ADMIN_PASSWORD", " spaces kept ",
		"CASEWORK_ACCESS_TOKEN_TTL", "1h",
		"CASEWORK_REFRESH_TOKEN_TTL", "24h",
		"CASEWORK_SESSION_MAX_AGE", "48h",
		"CASEWORK_BODY_LIMIT_BYTES", "4096",
		"CASEWORK_PASSWORD_HASH_WORKERS", "3",
		"CASEWORK_LOG_LEVEL", "debug",
	))
	if c.ListenAddr != "0.0.0.0:9000" || c.DataDir != "/var/lib/casework" || c.Migrate ||
		c.AdminEmail != "boss@iom.example" || c.AdminPassword != " spaces kept " ||
		c.AccessTokenTTL != time.Hour || c.RefreshTokenTTL != 24*time.Hour || c.SessionMaxAge != 48*time.Hour ||
		c.BodyLimitBytes != 4096 || c.PasswordHashWorkers != 3 || c.LogLevel != "debug" {
		t.Fatalf("settings not applied: %+v", c)
	}
	if got, want := c.SQLitePath(), filepath.Join("/var/lib/casework", "casework.db"); got != want {
		t.Errorf("SQLitePath = %q, want %q", got, want)
	}
}

func TestDatabaseURL(t *testing.T) {
	for _, u := range []string{
		"postgres://casework:secret@db:5432/casework?sslmode=require",
		"postgresql://casework@localhost/casework",
	} {
		c := mustLoad(t, env("CASEWORK_DATABASE_URL", u))
		if c.Driver != config.Postgres || c.DatabaseURL != u {
			t.Errorf("%s: driver %q, url %q; want postgres", u, c.Driver, c.DatabaseURL)
		}
	}
	for _, u := range []string{"mysql://root@localhost/casework", "sqlite:///tmp/x.db", "db:5432", "POSTGRES//x"} {
		_, err := config.Load(env("CASEWORK_DATABASE_URL", u))
		if err == nil {
			t.Errorf("%s: accepted", u)
			continue
		}
		if !strings.Contains(err.Error(), "CASEWORK_DATABASE_URL") {
			t.Errorf("%s: error %q does not name CASEWORK_DATABASE_URL", u, err)
		}
	}
}

// TestBadValues: every malformed value is an error naming its variable.
func TestBadValues(t *testing.T) {
	cases := []struct{ name, value string }{
		{"CASEWORK_ACCESS_TOKEN_TTL", "15"},
		{"CASEWORK_ACCESS_TOKEN_TTL", "fifteen minutes"},
		{"CASEWORK_ACCESS_TOKEN_TTL", "0s"},
		{"CASEWORK_ACCESS_TOKEN_TTL", "-5m"},
		{"CASEWORK_REFRESH_TOKEN_TTL", "2 weeks"},
		{"CASEWORK_SESSION_MAX_AGE", "30d"},
		{"CASEWORK_BODY_LIMIT_BYTES", "1MB"},
		{"CASEWORK_BODY_LIMIT_BYTES", "0"},
		{"CASEWORK_BODY_LIMIT_BYTES", "-1"},
		{"CASEWORK_BODY_LIMIT_BYTES", "99999999999999999999"},
		{"CASEWORK_PASSWORD_HASH_WORKERS", "four"},
		{"CASEWORK_PASSWORD_HASH_WORKERS", "0"},
		{"CASEWORK_PASSWORD_HASH_WORKERS", "65"},
		{"CASEWORK_MIGRATE", "yes please"},
		{"CASEWORK_MIGRATE", "2"},
		{"CASEWORK_LOG_LEVEL", "verbose"},
		{"CASEWORK_ADMIN_EMAIL", "admin"},
	}
	for _, c := range cases {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			_, err := config.Load(env(c.name, c.value))
			if err == nil {
				t.Fatalf("%s=%q accepted", c.name, c.value)
			}
			if !strings.Contains(err.Error(), c.name) {
				t.Errorf("error %q does not name %s", err, c.name)
			}
		})
	}
}

// TestEveryBadVariableNamed: Load reports all wrong variables at once.
func TestEveryBadVariableNamed(t *testing.T) {
	_, err := config.Load(env(
		"CASEWORK_ACCESS_TOKEN_TTL", "soon",
		"CASEWORK_BODY_LIMIT_BYTES", "big",
		"CASEWORK_MIGRATE", "maybe",
		"CASEWORK_DATABASE_URL", "mysql://x",
	))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, name := range []string{"CASEWORK_ACCESS_TOKEN_TTL", "CASEWORK_BODY_LIMIT_BYTES", "CASEWORK_MIGRATE", "CASEWORK_DATABASE_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestAccessTokenTTLAtMostAnHour(t *testing.T) {
	if c := mustLoad(t, env("CASEWORK_ACCESS_TOKEN_TTL", "60m")); c.AccessTokenTTL != time.Hour {
		t.Errorf("60m loaded as %v", c.AccessTokenTTL)
	}
	for _, v := range []string{"61m", "1h0m1s", "2h", "24h"} {
		_, err := config.Load(env("CASEWORK_ACCESS_TOKEN_TTL", v))
		if err == nil {
			t.Errorf("CASEWORK_ACCESS_TOKEN_TTL=%s accepted", v)
			continue
		}
		if !strings.Contains(err.Error(), "CASEWORK_ACCESS_TOKEN_TTL") {
			t.Errorf("CASEWORK_ACCESS_TOKEN_TTL=%s: error %q does not name the variable", v, err)
		}
	}
	// Validate refuses it too, for a Config built in code.
	c := mustLoad(t, env())
	c.AccessTokenTTL = 2 * time.Hour
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "CASEWORK_ACCESS_TOKEN_TTL") {
		t.Errorf("Validate with a 2h access token = %v", err)
	}
}

func TestRefreshTokenWithinSession(t *testing.T) {
	_, err := config.Load(env("CASEWORK_REFRESH_TOKEN_TTL", "48h", "CASEWORK_SESSION_MAX_AGE", "24h"))
	if err == nil || !strings.Contains(err.Error(), "CASEWORK_REFRESH_TOKEN_TTL") {
		t.Errorf("a refresh token outliving its session: %v", err)
	}
	mustLoad(t, env("CASEWORK_REFRESH_TOKEN_TTL", "24h", "CASEWORK_SESSION_MAX_AGE", "24h"))
}

func TestTestDatabaseURL(t *testing.T) {
	if got := config.TestDatabaseURL(env("CASEWORK_TEST_DATABASE_URL", "  postgres://x/y  ")); got != "postgres://x/y" {
		t.Errorf("TestDatabaseURL = %q", got)
	}
	if got := config.TestDatabaseURL(env()); got != "" {
		t.Errorf("TestDatabaseURL unset = %q", got)
	}
}
