package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/idempotency"
)

const requestIDHeader = "X-Request-Id"

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID gives every request an id: the caller's X-Request-Id when it
// is short and plain (it ends up in logs), else a new one. It is echoed back.
func withRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(requestIDHeader)
		if !safeRequestID.MatchString(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(requestIDHeader, id)
		c.Response().Header().Set(requestIDHeader, id)
		// The peer address, not X-Forwarded-For, which any client can forge.
		ip, _, err := net.SplitHostPort(c.Request().RemoteAddr)
		if err != nil {
			ip = c.Request().RemoteAddr
		}
		c.SetRequest(c.Request().WithContext(audit.WithRequest(c.Request().Context(), audit.Request{IP: ip, ID: id})))
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(requestIDHeader).(string)
	return id
}

// securityHeaders sets headers every response carries. API responses carry
// personal data or credentials, so they are never cached.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(c.Request().URL.Path, "/api/") {
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		}
		return next(c)
	}
}

// limitBody refuses bodies over limit bytes with 413, whether or not the
// client declared their length.
func limitBody(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > limit {
				return apperr.New(apperr.TooLarge, fmt.Sprintf("the request body is over %d bytes", limit))
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
			return next(c)
		}
	}
}

// accessLog writes one structured line per request. It never logs bodies,
// query strings or headers: they may carry personal data or credentials.
func accessLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			attrs := []any{
				"request_id", requestID(c),
				"method", c.Request().Method,
				"route", c.Path(),
				"status", c.Response().Status,
				"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
				"bytes", c.Response().Size,
			}
			if p, ok := auth.PrincipalFrom(c.Request().Context()); ok {
				attrs = append(attrs, "principal", string(p.Kind)+":"+p.ID, "org", p.OrgID)
			}
			log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", slogAttrs(attrs)...)
			return nil
		}
	}
}

func slogAttrs(kv []any) []slog.Attr {
	out := make([]slog.Attr, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, slog.Any(kv[i].(string), kv[i+1]))
	}
	return out
}

// metrics counts requests and their durations by route template and status.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casework_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "casework_http_request_duration_seconds", Help: "HTTP request durations by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c) // the access log inside has already written any error
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(c.Response().Status)).Inc()
		m.duration.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
		return err
	}
}

// gate finds the request's operation in the spec, authenticates the caller
// unless the operation is public, and validates the request against the spec
// before any handler runs. Unauthenticated callers learn nothing about
// validation.
type gate struct {
	router routers.Router
	auth   *auth.Service
	idem   idempotency.Store
	log    *slog.Logger
}

func (g *gate) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		route, pathParams, err := g.router.FindRoute(req)
		if err != nil {
			return next(c) // echo answers 404 or 405 for what the spec lacks
		}
		for k, v := range deprecation(route.Operation) {
			c.Response().Header().Set(k, v)
		}
		if !isPublic(route) {
			p, err := g.authenticate(req.Context(), req.Header.Get(echo.HeaderAuthorization))
			if err != nil {
				return err
			}
			c.SetRequest(req.WithContext(auth.WithPrincipal(req.Context(), p)))
			req = c.Request()
		}
		var body []byte
		if req.Body != nil && req.Body != http.NoBody {
			var err error
			if body, err = bufferBody(c); err != nil {
				return requestError(err)
			}
			if err := checkDepth(body); err != nil {
				return err
			}
		}
		input := &openapi3filter.RequestValidationInput{
			Request: req, PathParams: pathParams, Route: route,
			Options: &openapi3filter.Options{
				AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
				MultiError:              true,
				SchemaValidationOptions: formatValidators,
			},
		}
		if err := openapi3filter.ValidateRequest(req.Context(), input); err != nil {
			return requestError(err)
		}
		if key := req.Header.Get(idempotencyHeader); key != "" && takesIdempotencyKey(route) {
			return g.idempotent(c, next, key, body)
		}
		return next(c)
	}
}

// deprecation returns the headers that announce a deprecated operation:
// Deprecation (RFC 9745) from the operation's x-deprecated-at date, and Sunset
// (RFC 8594) from its x-sunset date, when the spec marks it deprecated.
func deprecation(op *openapi3.Operation) map[string]string {
	if op == nil || !op.Deprecated {
		return nil
	}
	h := map[string]string{"Deprecation": "true"}
	day := func(key string) (time.Time, bool) {
		s, ok := op.Extensions[key].(string)
		if !ok {
			return time.Time{}, false
		}
		t, err := time.Parse(time.DateOnly, s)
		return t, err == nil
	}
	if t, ok := day("x-deprecated-at"); ok {
		h["Deprecation"] = "@" + strconv.FormatInt(t.Unix(), 10)
	}
	if t, ok := day("x-sunset"); ok {
		h["Sunset"] = t.UTC().Format(http.TimeFormat)
	}
	return h
}

// formatValidators make the gate check the string formats the spec uses
// (kin-openapi treats unknown formats as annotations).
var formatValidators = []openapi3.SchemaValidationOption{
	openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(
		`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)),
	openapi3.WithStringFormatValidator("email", openapi3.NewRegexpFormatValidator(
		`^[^@\s]+@[^@\s]+\.[^@\s]+$`)),
}

func isPublic(route *routers.Route) bool {
	sec := route.Operation.Security
	if sec == nil {
		sec = &route.Spec.Security
	}
	return len(*sec) == 0
}

func (g *gate) authenticate(ctx context.Context, header string) (auth.Principal, error) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return auth.Principal{}, apperr.New(apperr.Unauthenticated, "a bearer token is required")
	}
	return g.auth.Authenticate(ctx, strings.TrimSpace(token))
}

// requestError turns kin-openapi's validation errors into one bad request
// listing the fields. Reasons never repeat the offending value.
func requestError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apperr.New(apperr.TooLarge, "the request body is too large")
	}
	var fields []apperr.FieldError
	var walk func(error)
	walk = func(err error) {
		// A RequestError wraps a MultiError of its own; look at it first so
		// parameter errors keep the parameter's name.
		if re, ok := err.(*openapi3filter.RequestError); ok {
			switch {
			case re.Parameter != nil:
				fields = append(fields, apperr.FieldError{Field: re.Parameter.Name, Message: reasonOf(re)})
			case re.Err != nil:
				walk(re.Err)
			default:
				fields = append(fields, apperr.FieldError{Field: "body", Message: reasonOf(re)})
			}
			return
		}
		if multi, ok := err.(openapi3.MultiError); ok {
			for _, e := range multi {
				walk(e)
			}
			return
		}
		var se *openapi3.SchemaError
		if errors.As(err, &se) {
			fields = append(fields, schemaField(se))
			return
		}
		var re *openapi3filter.RequestError
		if errors.As(err, &re) {
			walk(re)
			return
		}
		fields = append(fields, apperr.FieldError{Field: "body", Message: "is not valid"})
	}
	walk(err)
	return newBadRequest("the request does not match the API description", fields...)
}

var unsupportedProperty = regexp.MustCompile(`^property "([^"]+)" is unsupported$`)

// schemaField names the field a schema error is about; for a property the
// schema does not allow, that is the property itself.
func schemaField(se *openapi3.SchemaError) apperr.FieldError {
	ptr := se.JSONPointer()
	if m := unsupportedProperty.FindStringSubmatch(se.Reason); m != nil {
		return apperr.FieldError{Field: pointerToField(append(ptr, m[1])), Message: "is not accepted here"}
	}
	return apperr.FieldError{Field: pointerToField(ptr), Message: se.Reason}
}

func reasonOf(re *openapi3filter.RequestError) string {
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		return se.Reason
	}
	if re.Reason != "" {
		return re.Reason
	}
	return "is not valid"
}

// pointerToField renders a JSON pointer as a field path: ["roles", "0"] → roles[0].
func pointerToField(ptr []string) string {
	if len(ptr) == 0 {
		return "body"
	}
	var b strings.Builder
	for i, p := range ptr {
		if _, err := strconv.Atoi(p); err == nil && i > 0 {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}
