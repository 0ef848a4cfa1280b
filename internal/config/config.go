// Package config reads the service's configuration from the environment. It is
// the only package that knows the environment variables' names.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Driver names the database engine.
type Driver string

// The supported database engines.
const (
	SQLite   Driver = "sqlite"
	Postgres Driver = "postgres"
)

// Config is everything the service needs from its environment.
type Config struct {
	ListenAddr string
	DataDir    string
	// DatabaseURL is a postgres:// URL, or empty for the embedded SQLite file.
	DatabaseURL string
	Driver      Driver
	Migrate     bool

	AdminEmail    string
	AdminPassword string
	IOMName       string
	IOMCode       string
	IOMCity       string

	// SigningKeys is the JSON key set (see auth.ParseKeySet); SigningKeysFile a
	// path to it. With neither, on SQLite, a key set is generated into DataDir.
	SigningKeys     string
	SigningKeysFile string
	// DataKeys is the JSON keyring that encrypts identifying data at rest
	// (see crypt.ParseKeyring); DataKeysFile a path to it. With neither, on
	// SQLite, a keyring is generated into DataDir.
	DataKeys        string
	DataKeysFile    string
	Issuer          string
	Audience        string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	SessionMaxAge   time.Duration

	BodyLimitBytes      int64
	PasswordHashWorkers int
	// ReportMinCount is k of small-cell suppression in reports: counts from
	// 1 to k-1 are never shown. At least 3.
	ReportMinCount int
	// WebhooksAllowPrivate lets webhooks target loopback and private
	// addresses over plain http: for tests and closed networks only.
	WebhooksAllowPrivate bool
	// CORSAllowedOrigins are the browser origins (scheme://host[:port]) that
	// may call the API from a web page; none by default. Never "*".
	CORSAllowedOrigins []string
	LogLevel           string
}

// Load reads the configuration through getenv and validates it; it returns an
// error naming every variable that is wrong.
func Load(getenv func(string) string) (Config, error) {
	var errs []error
	str := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive duration such as 15m, got %q", name, v))
			return def
		}
		return d
	}
	integer := func(name string, def int64) int64 {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive integer, got %q", name, v))
			return def
		}
		return n
	}
	boolean := func(name string, def bool) bool {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: want true or false, got %q", name, v))
			return def
		}
		return b
	}

	c := Config{
		ListenAddr:           str("CASEWORK_LISTEN_ADDR", "127.0.0.1:8080"),
		DataDir:              str("CASEWORK_DATA_DIR", "./data"),
		DatabaseURL:          str("CASEWORK_DATABASE_URL", ""),
		Migrate:              boolean("CASEWORK_MIGRATE", true),
		AdminEmail:           strings.ToLower(str("CASEWORK_ADMIN_EMAIL", "admin@iom.example")),
		AdminPassword:        getenv("CASEWORK_ADMIN_PASSWORD"),
		IOMName:              str("CASEWORK_IOM_NAME", "IOM Mission"),
		IOMCode:              str("CASEWORK_IOM_CODE", "IOM"),
		IOMCity:              str("CASEWORK_IOM_CITY", "Astana"),
		SigningKeys:          getenv("CASEWORK_SIGNING_KEYS"),
		SigningKeysFile:      str("CASEWORK_SIGNING_KEYS_FILE", ""),
		DataKeys:             getenv("CASEWORK_DATA_KEYS"),
		DataKeysFile:         str("CASEWORK_DATA_KEYS_FILE", ""),
		Issuer:               str("CASEWORK_TOKEN_ISSUER", "casework"),
		Audience:             str("CASEWORK_TOKEN_AUDIENCE", "casework-api"),
		AccessTokenTTL:       dur("CASEWORK_ACCESS_TOKEN_TTL", 15*time.Minute),
		RefreshTokenTTL:      dur("CASEWORK_REFRESH_TOKEN_TTL", 14*24*time.Hour),
		SessionMaxAge:        dur("CASEWORK_SESSION_MAX_AGE", 30*24*time.Hour),
		BodyLimitBytes:       integer("CASEWORK_BODY_LIMIT_BYTES", 1<<20),
		PasswordHashWorkers:  int(integer("CASEWORK_PASSWORD_HASH_WORKERS", int64(min(runtime.NumCPU(), 64)))),
		LogLevel:             str("CASEWORK_LOG_LEVEL", "info"),
		ReportMinCount:       int(integer("CASEWORK_REPORT_MIN_COUNT", 5)),
		WebhooksAllowPrivate: boolean("CASEWORK_WEBHOOKS_ALLOW_PRIVATE", false),
		CORSAllowedOrigins:   list(getenv("CASEWORK_CORS_ALLOWED_ORIGINS")),
	}
	c.DataDir = filepath.Clean(c.DataDir)
	if err := c.setDriver(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// list splits a comma-separated setting, dropping empty items.
func list(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *Config) setDriver() error {
	switch {
	case c.DatabaseURL == "":
		c.Driver = SQLite
	case strings.HasPrefix(c.DatabaseURL, "postgres://"), strings.HasPrefix(c.DatabaseURL, "postgresql://"):
		c.Driver = Postgres
	default:
		return errors.New("CASEWORK_DATABASE_URL: want a postgres:// URL, or nothing for the embedded SQLite database")
	}
	return nil
}

// Validate checks the values that Load cannot check one by one.
func (c Config) Validate() error {
	var errs []error
	if c.AccessTokenTTL > time.Hour {
		errs = append(errs, errors.New("CASEWORK_ACCESS_TOKEN_TTL: access tokens must be short-lived (at most 1h)"))
	}
	if c.RefreshTokenTTL > c.SessionMaxAge {
		errs = append(errs, errors.New("CASEWORK_REFRESH_TOKEN_TTL: must not exceed CASEWORK_SESSION_MAX_AGE"))
	}
	for _, o := range c.CORSAllowedOrigins {
		u, err := url.Parse(o)
		if o == "*" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("CASEWORK_CORS_ALLOWED_ORIGINS: %q is not an origin such as https://app.example.org (a wildcard is never allowed)", o))
		}
	}
	if c.ReportMinCount < 3 {
		errs = append(errs, errors.New("CASEWORK_REPORT_MIN_COUNT: must be at least 3; smaller counts single people out"))
	}
	if !strings.Contains(c.AdminEmail, "@") {
		errs = append(errs, errors.New("CASEWORK_ADMIN_EMAIL: want an email address"))
	}
	if c.PasswordHashWorkers > 64 {
		errs = append(errs, errors.New("CASEWORK_PASSWORD_HASH_WORKERS: at most 64"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("CASEWORK_LOG_LEVEL: want debug, info, warn or error, got %q", c.LogLevel))
	}
	return errors.Join(errs...)
}

// SQLitePath is the embedded database file.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "casework.db") }

// DefaultDataKeysPath is where the embedded default keeps its generated data keyring.
func (c Config) DefaultDataKeysPath() string { return filepath.Join(c.DataDir, "data-keys.json") }

// DefaultSigningKeysPath is where the embedded default keeps its generated key set.
func (c Config) DefaultSigningKeysPath() string { return filepath.Join(c.DataDir, "signing-keys.json") }

// TestDatabaseURL is the PostgreSQL server the test suites also run on, from
// CASEWORK_TEST_DATABASE_URL; empty means SQLite only.
func TestDatabaseURL(getenv func(string) string) string {
	return strings.TrimSpace(getenv("CASEWORK_TEST_DATABASE_URL"))
}
