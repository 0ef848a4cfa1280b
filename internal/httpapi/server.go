// Package httpapi is the HTTP face of the service: the echo server, its
// middleware, the strict handlers that map generated request types onto
// service calls, and problem+json errors.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/consents"
	"github.com/casework/casework/internal/idempotency"
	"github.com/casework/casework/internal/notes"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/referrals"
	"github.com/casework/casework/internal/reports"
	"github.com/casework/casework/internal/serviceaccounts"
	"github.com/casework/casework/internal/services"
	"github.com/casework/casework/internal/throttle"
	"github.com/casework/casework/internal/users"
	"github.com/casework/casework/internal/webhooks"
)

// Pinger checks that the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are what the server needs.
type Deps struct {
	Auth          *auth.Service
	Organizations *organizations.Service
	Users         *users.Service
	Cases         *cases.Service
	History       cases.HistoryStore
	Consents      *consents.Service
	Services      *services.ServiceLayer
	Notes         *notes.Service
	Audit         *audit.Service
	Referrals     *referrals.Service
	Reports       *reports.Service
	// ServiceAccounts and Webhooks serve integrators.
	ServiceAccounts *serviceaccounts.Service
	Webhooks        *webhooks.Registry
	Idempotency     idempotency.Store
	DB              Pinger
	Logger          *slog.Logger
	// Registry receives the HTTP metrics and is served at /metrics.
	Registry       *prometheus.Registry
	BodyLimitBytes int64
	// Throttle slows down guessing of passwords and client secrets.
	Throttle *throttle.Throttle
	// CORSAllowedOrigins may call the API from a browser; none when empty.
	CORSAllowedOrigins []string
}

// NewServer returns the echo server with every route of openapi.yaml.
func NewServer(d Deps) (*echo.Echo, error) {
	doc, err := LoadSpec()
	if err != nil {
		return nil, err
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Binder = jsonBinder{}
	e.HTTPErrorHandler = errorHandler(d.Logger, d.Audit)
	if len(d.CORSAllowedOrigins) > 0 {
		// Bearer tokens, never cookies: no credentials mode, so an allowed
		// origin can never be a wildcard with credentials.
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:     d.CORSAllowedOrigins,
			AllowMethods:     []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
			AllowHeaders:     []string{"Authorization", "Content-Type", "If-Match", "Idempotency-Key", "Accept-Language", requestIDHeader},
			ExposeHeaders:    []string{"ETag", "Location", "Retry-After", requestIDHeader, "Deprecation", "Sunset", "Content-Disposition"},
			AllowCredentials: false,
			MaxAge:           600,
		}))
	}
	e.Use(
		withRequestID,
		withNegotiation,
		// metrics sits outside the access log, which writes errors, so it
		// sees the final status.
		newMetrics(d.Registry).middleware,
		accessLog(d.Logger),
		middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true}),
		securityHeaders,
		limitBody(d.BodyLimitBytes),
		(&gate{router: router, auth: d.Auth, idem: d.Idempotency, log: d.Logger}).middleware,
	)
	h := &handlers{deps: d}
	api.RegisterHandlers(e, api.NewStrictHandler(h, nil))
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{})))
	e.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", api.Spec)
	})
	e.GET("/docs", serveDocs)
	return e, nil
}

// LoadSpec parses and validates the embedded OpenAPI document.
func LoadSpec() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return doc, nil
}

// handlers implements api.StrictServerInterface: each method maps one
// request onto one service call and the result onto a response.
type handlers struct {
	deps Deps
}

var _ api.StrictServerInterface = (*handlers)(nil)
