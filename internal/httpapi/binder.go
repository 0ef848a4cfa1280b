package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/casework/casework/internal/apperr"
)

// maxJSONDepth bounds nesting in request bodies; no request of this API
// nests deeper than a few levels.
const maxJSONDepth = 32

// jsonBinder decodes request bodies strictly: one JSON value, no unknown
// fields, so read-only or invented fields are refused, never silently dropped.
type jsonBinder struct{}

// Bind implements echo.Binder for the generated strict handlers, which only
// bind bodies.
func (jsonBinder) Bind(v any, c echo.Context) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return newBadRequest("the body must hold exactly one JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apperr.New(apperr.TooLarge, "the request body is too large")
	}
	if errors.Is(err, openapi_types.ErrValidationEmail) {
		return newBadRequest("an email address is not valid",
			apperr.FieldError{Field: "email", Message: "must be an email address"})
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return newBadRequest("the body has a field of the wrong type",
			apperr.FieldError{Field: typeErr.Field, Message: "has the wrong type"})
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return newBadRequest("the body has a field this operation does not accept",
			apperr.FieldError{Field: strings.Trim(field, `"`), Message: "is not accepted here"})
	}
	if errors.Is(err, io.EOF) {
		return newBadRequest("a JSON body is required")
	}
	return newBadRequest("the body is not valid JSON")
}

// checkDepth reports whether the JSON in body nests deeper than maxJSONDepth,
// scanning bytes without decoding.
func checkDepth(body []byte) error {
	depth, inString, escaped := 0, false, false
	for _, b := range body {
		switch {
		case escaped:
			escaped = false
		case inString && b == '\\':
			escaped = true
		case b == '"':
			inString = !inString
		case inString:
		case b == '{' || b == '[':
			depth++
			if depth > maxJSONDepth {
				return newBadRequest("the body nests too deeply")
			}
		case b == '}' || b == ']':
			depth--
		}
	}
	return nil
}

// bufferBody reads the (already size-limited) body so it can be checked and
// read again.
func bufferBody(c echo.Context) ([]byte, error) {
	req := c.Request()
	if req.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}
