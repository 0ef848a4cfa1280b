// Package app wires the service together from its configuration: database,
// keys, services and the HTTP server. The command and the tests both build
// the service through it, so they run the same thing.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/consents"
	"github.com/casework/casework/internal/crypt"
	"github.com/casework/casework/internal/httpapi"
	"github.com/casework/casework/internal/notes"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/referrals"
	"github.com/casework/casework/internal/reports"
	"github.com/casework/casework/internal/serviceaccounts"
	"github.com/casework/casework/internal/services"
	"github.com/casework/casework/internal/store"
	"github.com/casework/casework/internal/throttle"
	"github.com/casework/casework/internal/users"
	"github.com/casework/casework/internal/webhooks"
)

// App is the assembled service.
type App struct {
	Config        config.Config
	DB            *store.DB
	Keys          *auth.KeySet
	Authorizer    *authz.Authorizer
	Auth          *auth.Service
	Organizations *organizations.Service
	Users         *users.Service
	Cases         *cases.Service
	Consents      *consents.Service
	Services      *services.ServiceLayer
	Notes         *notes.Service
	Audit         *audit.Service
	Referrals     *referrals.Service
	Reports       *reports.Service
	// ServiceAccounts, Webhooks and Dispatcher serve integrators; the
	// dispatcher posts the webhook outbox (Run it in the background).
	ServiceAccounts *serviceaccounts.Service
	Webhooks        *webhooks.Registry
	Dispatcher      *webhooks.Dispatcher
	// AuditChain seals the audit trail into its hash chain.
	AuditChain *store.AuditChain
	DataKeys   *crypt.Keyring
	OrgStore   *store.Organizations
	CaseStore  *store.Cases
	Handler    *echo.Echo
	Logger     *slog.Logger
}

// LoadKeys returns the token-signing key set from configuration; on the
// embedded default without configured keys it generates them into the data
// directory (mode 0600) once and reuses them after.
func LoadKeys(cfg config.Config, log *slog.Logger) (*auth.KeySet, error) {
	switch {
	case cfg.SigningKeys != "":
		return auth.ParseKeySet([]byte(cfg.SigningKeys))
	case cfg.SigningKeysFile != "":
		data, err := os.ReadFile(cfg.SigningKeysFile)
		if err != nil {
			return nil, fmt.Errorf("CASEWORK_SIGNING_KEYS_FILE: %w", err)
		}
		return auth.ParseKeySet(data)
	case cfg.Driver == config.SQLite:
		path := cfg.DefaultSigningKeysPath()
		ks, created, err := auth.LoadOrCreateKeySetFile(path)
		if err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
		if created {
			log.Info("generated token-signing keys (mode 0600); keep this file secret and back it up", "path", path)
		}
		return ks, nil
	default:
		return nil, errors.New("with PostgreSQL, set CASEWORK_SIGNING_KEYS or CASEWORK_SIGNING_KEYS_FILE " +
			"(every API instance must share the keys); `casework keys generate` prints a new key set")
	}
}

// LoadDataKeys returns the keyring that encrypts identifying data, from
// configuration; on the embedded default without one it is generated into the
// data directory (mode 0600) once and reused after.
func LoadDataKeys(cfg config.Config, log *slog.Logger) (*crypt.Keyring, error) {
	switch {
	case cfg.DataKeys != "":
		return crypt.ParseKeyring([]byte(cfg.DataKeys))
	case cfg.DataKeysFile != "":
		data, err := os.ReadFile(cfg.DataKeysFile)
		if err != nil {
			return nil, fmt.Errorf("CASEWORK_DATA_KEYS_FILE: %w", err)
		}
		return crypt.ParseKeyring(data)
	case cfg.Driver == config.SQLite:
		path := cfg.DefaultDataKeysPath()
		k, created, err := crypt.LoadOrCreateKeyringFile(path)
		if err != nil {
			return nil, fmt.Errorf("data keys: %w", err)
		}
		if created {
			log.Info("generated the data-encryption keyring (mode 0600); without it the data cannot be read: back it up apart from the database", "path", path)
		}
		return k, nil
	default:
		return nil, errors.New("with PostgreSQL, set CASEWORK_DATA_KEYS or CASEWORK_DATA_KEYS_FILE " +
			"(every API instance must share them); `casework keys generate-data` prints a new keyring")
	}
}

// New assembles the service on an open, migrated database.
func New(ctx context.Context, cfg config.Config, db *store.DB, keys *auth.KeySet, dataKeys *crypt.Keyring, log *slog.Logger) (*App, error) {
	sessions := store.NewSessions(db)
	az, err := authz.New(ctx, sessions)
	if err != nil {
		return nil, err
	}
	hasher := auth.NewHasher(cfg.PasswordHashWorkers)
	tokens := auth.NewTokens(keys, cfg.Issuer, cfg.Audience, cfg.AccessTokenTTL)
	orgStore := store.NewOrganizations(db)
	caseStore := store.NewCases(db, dataKeys)
	consentStore := store.NewConsents(db)
	au := audit.NewService(store.NewAudit(db), az)
	userStore := store.NewUsers(db)
	cs := cases.NewService(caseStore, consentStore, orgStore, userStore, az, au, store.Now, store.NewID)
	a := &App{
		Config: cfg, DB: db, Keys: keys, DataKeys: dataKeys, Authorizer: az, Logger: log, OrgStore: orgStore,
		Auth:          auth.NewService(sessions, tokens, hasher, cfg.RefreshTokenTTL, cfg.SessionMaxAge, store.Now, store.NewID),
		Organizations: organizations.NewService(orgStore, az, store.Now, store.NewID),
		Users:         users.NewService(userStore, orgStore, az, hasher, store.Now, store.NewID),
		Cases:         cs,
		Consents:      consents.NewService(consentStore, cs, orgStore, store.Now, store.NewID),
		Services:      services.NewService(store.NewServices(db, dataKeys), cs, au, store.Now, store.NewID),
		Notes:         notes.NewService(store.NewNotes(db, dataKeys), cs, au, store.Now, store.NewID),
		Audit:         au,
		Referrals:     referrals.NewService(store.NewReferrals(db, dataKeys), cs, consentStore, orgStore, az, store.Now, store.NewID),
		Reports:       reports.NewService(store.NewReports(db), az, au, cfg.ReportMinCount),
		CaseStore:     caseStore,
	}
	guard := webhooks.Guard{AllowPrivate: cfg.WebhooksAllowPrivate}
	hooks := store.NewWebhooks(db, dataKeys)
	a.ServiceAccounts = serviceaccounts.NewService(store.NewServiceAccounts(db), az, tokens, store.Now, store.NewID)
	a.Webhooks = webhooks.NewRegistry(hooks, az, guard, store.Now, store.NewID)
	a.Dispatcher = webhooks.NewDispatcher(hooks, guard.Client(), log, nil)
	a.AuditChain = store.NewAuditChain(db)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Handler, err = httpapi.NewServer(httpapi.Deps{
		Auth: a.Auth, Organizations: a.Organizations, Users: a.Users, Cases: a.Cases, History: caseStore,
		Consents: a.Consents, Services: a.Services, Notes: a.Notes, Audit: a.Audit, Referrals: a.Referrals, Reports: a.Reports, DB: db,
		ServiceAccounts: a.ServiceAccounts, Webhooks: a.Webhooks, Logger: log,
		Idempotency: store.NewIdempotency(db, dataKeys),
		Registry:    reg, BodyLimitBytes: cfg.BodyLimitBytes, CORSAllowedOrigins: cfg.CORSAllowedOrigins,
		Throttle: throttle.New(throttle.Default, nil),
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// FirstStart creates the IOM organisation and its first admin on an empty
// database. Without a configured password it generates one and prints it to
// out, once. It does nothing when the IOM organisation exists.
func (a *App) FirstStart(ctx context.Context, out io.Writer) error {
	exists, err := a.OrgStore.IOMExists(ctx)
	if err != nil || exists {
		return err
	}
	now := store.Now()
	iom := organizations.Organization{
		ID: store.NewID(), Name: a.Config.IOMName, Code: a.Config.IOMCode, Kind: auth.OrgKindIOM,
		City: a.Config.IOMCity, Active: true, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := a.OrgStore.Create(ctx, iom); err != nil {
		if apperr.Is(err, apperr.Conflict) {
			return nil // another instance did the first start at the same moment
		}
		return fmt.Errorf("create the IOM organisation: %w", err)
	}
	password, generated := a.Config.AdminPassword, false
	if password == "" {
		password, generated = GeneratePassword(), true
	}
	admin, err := a.Users.Provision(ctx, users.NewUser{
		Email: a.Config.AdminEmail, DisplayName: "IOM administrator", Password: password,
		Roles: []string{authz.RoleAdmin}, OrganizationID: iom.ID,
	})
	if err != nil {
		return fmt.Errorf("create the first IOM admin (CASEWORK_ADMIN_EMAIL, CASEWORK_ADMIN_PASSWORD): %w", err)
	}
	a.Logger.Info("first start: created the IOM organisation and its admin", "organization_id", iom.ID, "user_id", admin.ID)
	if generated {
		fmt.Fprintf(out, "\nFirst start: the IOM admin is %s with the password\n\n    %s\n\n"+
			"It is shown only this once. Sign in and keep it safe.\n\n", admin.Email, password)
	}
	return nil
}

// GeneratePassword returns a random password of 24 URL-safe characters (144 bits).
func GeneratePassword() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Open opens the database cfg names, migrates it (unless cfg.Migrate is
// off), loads the keys and builds the service. The caller closes a.DB.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	db, err := store.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*App, error) {
		db.Close()
		return nil, err
	}
	if cfg.Migrate {
		if err := db.MigrateUp(ctx); err != nil {
			return fail(fmt.Errorf("migrate: %w", err))
		}
	}
	keys, err := LoadKeys(cfg, log)
	if err != nil {
		return fail(err)
	}
	dataKeys, err := LoadDataKeys(cfg, log)
	if err != nil {
		return fail(err)
	}
	a, err := New(ctx, cfg, db, keys, dataKeys, log)
	if err != nil {
		return fail(err)
	}
	return a, nil
}
