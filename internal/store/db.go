// Package store is the gorm implementation of every domain Store, on SQLite
// (the embedded default) and PostgreSQL. It binds every query to a tenant
// scope and translates database errors into apperr codes.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/migrations"
)

// DB is an open database of either engine.
type DB struct {
	gorm   *gorm.DB
	sql    *sql.DB
	driver config.Driver
}

// Now is the clock the stores use for timestamps: UTC, truncated to the
// microsecond both databases keep.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Open connects to the database cfg names: PostgreSQL for a postgres URL, else
// the SQLite file in the data directory (created with mode 0600).
func Open(ctx context.Context, cfg config.Config) (*DB, error) {
	if cfg.Driver == config.Postgres {
		return OpenPostgres(ctx, cfg.DatabaseURL)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return OpenSQLite(ctx, cfg.SQLitePath())
}

// OpenSQLite opens (or creates) a SQLite database file with WAL, foreign keys,
// full fsync on commit and a busy timeout.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		f.Close()
	} else {
		return nil, fmt.Errorf("database file: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "busy_timeout(10000)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	// Writers take the write lock at BEGIN, so two transactions never fail
	// upgrading read locks. (No _time_format: this driver version stops
	// reading parameters after it, silently dropping _txlock; its default time
	// format is the UTC text format the migrations describe.)
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	g, err := gorm.Open(sqlite.Open(dsn), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	return finish(ctx, g, config.SQLite, 8)
}

// OpenPostgres connects to PostgreSQL at dsn (a postgres:// URL). Unless
// the URL says otherwise, sessions run with jit=off: the service's queries
// are short or, for reports, bounded scans, where compiling costs more (up to
// 0.2 s a query) than it saves.
func OpenPostgres(ctx context.Context, dsn string) (*DB, error) {
	if u, err := url.Parse(dsn); err == nil {
		q := u.Query()
		if !q.Has("jit") {
			q.Set("jit", "off")
			u.RawQuery = q.Encode()
			dsn = u.String()
		}
	}
	g, err := gorm.Open(postgres.Open(dsn), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return finish(ctx, g, config.Postgres, 16)
}

func gormConfig() *gorm.Config {
	return &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		// Statements are prepared once per connection and reused: parsing
		// SQL was a fifth of an audited read's CPU. The cache is bounded,
		// since some statements vary (IN lists, report groupings).
		PrepareStmt:        true,
		PrepareStmtMaxSize: 512,
		PrepareStmtTTL:     time.Hour,
		NowFunc:            Now,
		Logger:             logger.Discard,
	}
}

func finish(ctx context.Context, g *gorm.DB, driver config.Driver, maxConns int) (*DB, error) {
	sqlDB, err := g.DB()
	if err != nil {
		return nil, err
	}
	sqlDB.SetMaxOpenConns(maxConns)
	sqlDB.SetMaxIdleConns(maxConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s: %w", driver, err)
	}
	return &DB{gorm: g, sql: sqlDB, driver: driver}, nil
}

// Driver names the database engine.
func (db *DB) Driver() config.Driver { return db.driver }

// Close closes the connection pool.
func (db *DB) Close() error { return db.sql.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// SQL is the underlying connection pool, for tests and tools.
func (db *DB) SQL() *sql.DB { return db.sql }

func (db *DB) migrator() (*goose.Provider, error) {
	dialect := goose.DialectSQLite3
	if db.driver == config.Postgres {
		dialect = goose.DialectPostgres
	}
	return goose.NewProvider(dialect, db.sql, migrations.For(string(db.driver)))
}

// MigrateUp applies every pending migration.
func (db *DB) MigrateUp(ctx context.Context) error {
	p, err := db.migrator()
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// MigrateDown rolls back the most recent migration.
func (db *DB) MigrateDown(ctx context.Context) error {
	p, err := db.migrator()
	if err != nil {
		return err
	}
	_, err = p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return nil
	}
	return err
}

// MigrateDownTo rolls back every migration above version (0: all of them).
func (db *DB) MigrateDownTo(ctx context.Context, version int64) error {
	p, err := db.migrator()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// MigrationStatus is one migration and whether it is applied.
type MigrationStatus struct {
	Version   int64
	Source    string
	Applied   bool
	AppliedAt time.Time
}

// MigrationStatuses lists every known migration.
func (db *DB) MigrationStatuses(ctx context.Context) ([]MigrationStatus, error) {
	p, err := db.migrator()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{
			Version: s.Source.Version, Source: s.Source.Path,
			Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// MigrationVersion is the highest applied migration.
func (db *DB) MigrationVersion(ctx context.Context) (int64, error) {
	p, err := db.migrator()
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}
