package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
)

// statusOf maps error codes to HTTP statuses. Invalid is 422 (the request was
// well-formed but breaks a rule); malformed requests are answered 400 where
// they are detected.
var statusOf = map[apperr.Code]int{
	apperr.Invalid:              http.StatusUnprocessableEntity,
	apperr.Unauthenticated:      http.StatusUnauthorized,
	apperr.Forbidden:            http.StatusForbidden,
	apperr.NotFound:             http.StatusNotFound,
	apperr.Conflict:             http.StatusConflict,
	apperr.PreconditionFailed:   http.StatusPreconditionFailed,
	apperr.PreconditionRequired: http.StatusPreconditionRequired,
	apperr.TooLarge:             http.StatusRequestEntityTooLarge,
	apperr.NotAcceptable:        http.StatusNotAcceptable,
	apperr.RateLimited:          http.StatusTooManyRequests,
	apperr.Unavailable:          http.StatusServiceUnavailable,
	apperr.Internal:             http.StatusInternalServerError,
}

// badRequest is a malformed request: syntax, unknown fields, bad parameters.
type badRequest struct{ err *apperr.Error }

func (b badRequest) Error() string { return b.err.Error() }

func newBadRequest(msg string, fields ...apperr.FieldError) error {
	return badRequest{&apperr.Error{Code: apperr.Invalid, Message: msg, Fields: fields}}
}

// stale is a 412 that carries the record's current version, so a client can
// merge its change and retry.
type stale struct {
	err     error
	current any
	etag    string
}

func (s stale) Error() string { return s.err.Error() }
func (s stale) Unwrap() error { return s.err }

// errorHandler writes every error as application/problem+json (RFC 9457).
// Unknown errors are a 500 with no detail, logged with the request id.
func errorHandler(log *slog.Logger, au *audit.Service) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, ae := classify(err)
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			// Every denied request leaves a trace, with the caller when known.
			action := "request.forbidden"
			if status == http.StatusUnauthorized {
				action = "request.unauthenticated"
			}
			if aerr := au.Record(c.Request().Context(), action, "request", "", audit.Denied); aerr != nil {
				log.ErrorContext(c.Request().Context(), "audit a denied request", "request_id", requestID(c), "error", aerr.Error())
			}
		}
		if status >= 500 && ae.Code == apperr.Internal {
			log.ErrorContext(c.Request().Context(), "internal error",
				"request_id", requestID(c), "route", c.Path(), "error", err.Error())
		}
		p := api.Problem{
			Type:   "urn:casework:problem:" + string(ae.Code),
			Title:  http.StatusText(status),
			Status: status,
			Code:   api.ProblemCode(ae.Code),
		}
		if ae.Message != "" {
			p.Detail = &ae.Message
		}
		instance := c.Request().URL.Path
		p.Instance = &instance
		if id := requestID(c); id != "" {
			p.RequestId = &id
		}
		if ae.Reason != "" {
			p.Reason = &ae.Reason
		}
		if len(ae.Fields) > 0 {
			fields := make([]api.FieldError, len(ae.Fields))
			for i, f := range ae.Fields {
				fields[i] = api.FieldError{Field: f.Field, Message: f.Message}
			}
			p.Errors = &fields
		}
		h := c.Response().Header()
		var st stale
		if errors.As(err, &st) {
			if m, err := asObject(st.current); err == nil {
				p.Current = &m
				h.Set("ETag", st.etag)
			}
		}
		// A client told to come back is told when, even where the cause
		// named no time.
		retry := ae.RetryAfter
		if retry == 0 && status == http.StatusServiceUnavailable {
			retry = 5
		}
		if retry == 0 && status == http.StatusTooManyRequests {
			retry = 60
		}
		if retry > 0 {
			h.Set("Retry-After", strconv.Itoa(retry))
		}
		if status == http.StatusUnauthorized {
			h.Set("WWW-Authenticate", `Bearer realm="casework", error="invalid_token"`)
		}
		h.Set(echo.HeaderContentType, "application/problem+json")
		c.Response().WriteHeader(status)
		if c.Request().Method != http.MethodHead {
			_ = json.NewEncoder(c.Response()).Encode(p)
		}
	}
}

// asObject turns a response body into the JSON object it encodes as.
func asObject(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func classify(err error) (int, *apperr.Error) {
	var br badRequest
	if errors.As(err, &br) {
		return http.StatusBadRequest, br.err
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		status, ok := statusOf[ae.Code]
		if !ok {
			status = http.StatusInternalServerError
		}
		if status == http.StatusInternalServerError {
			return status, apperr.New(apperr.Internal, "internal error")
		}
		return status, ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, apperr.New(apperr.TooLarge, "the request body is too large")
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code := apperr.Invalid
		msg := http.StatusText(he.Code)
		switch he.Code {
		case http.StatusNotFound:
			code, msg = apperr.NotFound, "no such resource"
		case http.StatusMethodNotAllowed:
			code = apperr.NotFound
		case http.StatusUnauthorized:
			code = apperr.Unauthenticated
		case http.StatusForbidden:
			code = apperr.Forbidden
		case http.StatusRequestEntityTooLarge:
			code = apperr.TooLarge
		case http.StatusTooManyRequests:
			code = apperr.RateLimited
		case http.StatusServiceUnavailable:
			code = apperr.Unavailable
		case http.StatusBadRequest:
			// Parameter binding errors from the generated wrapper say what was wrong.
			if s, ok := he.Message.(string); ok {
				msg = s
			}
		}
		if he.Code >= 500 {
			return http.StatusInternalServerError, apperr.New(apperr.Internal, "internal error")
		}
		return he.Code, apperr.New(code, msg)
	}
	return http.StatusInternalServerError, apperr.New(apperr.Internal, "internal error")
}
