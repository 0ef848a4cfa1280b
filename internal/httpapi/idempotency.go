package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/idempotency"
)

const idempotencyHeader = "Idempotency-Key"

// takesIdempotencyKey reports whether the operation documents the
// Idempotency-Key header (every creating POST does).
func takesIdempotencyKey(route *routers.Route) bool {
	for _, p := range route.Operation.Parameters {
		if p.Value != nil && p.Value.In == "header" && http.CanonicalHeaderKey(p.Value.Name) == idempotencyHeader {
			return true
		}
	}
	return false
}

// bufferedWriter holds a response back until it has been stored, so a
// client never sees a response that a retry could not replay.
type bufferedWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *bufferedWriter) WriteHeader(status int) { w.status = status }

func (w *bufferedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// idempotent runs a creating request once per caller and key: a replay
// returns the stored response; the same key with another body is 422; while
// the first request runs, 409.
func (g *gate) idempotent(c echo.Context, next echo.HandlerFunc, key string, body []byte) error {
	req := c.Request()
	p, _ := auth.PrincipalFrom(req.Context())
	who := string(p.Kind) + ":" + p.ID
	sum := sha256.Sum256(append([]byte(req.Method+" "+req.URL.RequestURI()+"\n"), body...))
	outcome, stored, err := g.idem.Begin(req.Context(), who, key, hex.EncodeToString(sum[:]), time.Now().UTC())
	if err != nil {
		return err
	}
	switch outcome {
	case idempotency.Replay:
		h := c.Response().Header()
		h.Set("Idempotent-Replayed", "true")
		for name, v := range map[string]string{echo.HeaderContentType: stored.ContentType, "Location": stored.Location, "ETag": stored.ETag} {
			if v != "" {
				h.Set(name, v)
			}
		}
		c.Response().WriteHeader(stored.Status)
		_, err := c.Response().Write(stored.Body)
		return err
	case idempotency.InFlight:
		return &apperr.Error{Code: apperr.Conflict, Message: "a request with this Idempotency-Key is still being processed", RetryAfter: 1}
	case idempotency.Mismatch:
		return apperr.Field(idempotencyHeader, "was already used for a different request")
	}

	real := c.Response().Writer
	buf := &bufferedWriter{ResponseWriter: real}
	c.Response().Writer = buf
	err = next(c)
	c.Response().Writer = real
	if err != nil || buf.status < 200 || buf.status > 299 {
		if rerr := g.idem.Release(req.Context(), who, key); rerr != nil {
			g.log.ErrorContext(req.Context(), "release idempotency key", "request_id", requestID(c), "error", rerr.Error())
		}
		if err != nil {
			c.Response().Committed = false // nothing reached the client; the error handler answers
			return err
		}
	} else {
		h := real.Header()
		err := g.idem.Complete(req.Context(), who, key, idempotency.Response{
			Status: buf.status, ContentType: h.Get(echo.HeaderContentType), Location: h.Get("Location"),
			ETag: h.Get("ETag"), Body: buf.body.Bytes(),
		})
		if err != nil {
			// The change is committed, but a retry could not replay it: say
			// so rather than pretend, and keep the key blocked (it expires
			// as abandoned) so a retry cannot create twice within a minute.
			g.log.ErrorContext(req.Context(), "store idempotent response", "request_id", requestID(c), "error", err.Error())
		}
	}
	real.WriteHeader(buf.status)
	_, werr := real.Write(buf.body.Bytes())
	return werr
}
