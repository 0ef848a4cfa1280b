// Package apperr defines the one error type the service layers return, with a
// small set of codes that the HTTP layer maps to problem details.
package apperr

import (
	"errors"
	"fmt"
)

// Code classifies an error; each code maps to one HTTP status.
type Code string

// The error codes. Their string values appear on the wire as problem `code`.
const (
	Invalid              Code = "invalid"
	Unauthenticated      Code = "unauthenticated"
	Forbidden            Code = "forbidden"
	NotFound             Code = "not_found"
	Conflict             Code = "conflict"
	PreconditionFailed   Code = "precondition_failed"
	PreconditionRequired Code = "precondition_required"
	TooLarge             Code = "too_large"
	NotAcceptable        Code = "not_acceptable"
	RateLimited          Code = "rate_limited"
	Unavailable          Code = "unavailable"
	Internal             Code = "internal"
)

// FieldError names one offending input field.
type FieldError struct {
	Field   string
	Message string
}

// Error is an error with a code, a message safe to show to the caller, and,
// for validation errors, the offending fields.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// Reason is an optional machine-readable refinement (e.g. "self_lockout").
	Reason string
	// RetryAfter, in seconds, for RateLimited and Unavailable.
	RetryAfter int
	// Err is the underlying cause; never shown to callers.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with the given code and message.
func New(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// Wrap returns an error with the given code and message that wraps cause.
func Wrap(code Code, msg string, cause error) *Error {
	return &Error{Code: code, Message: msg, Err: cause}
}

// Fields returns an Invalid error listing the offending fields.
func Fields(fields ...FieldError) *Error {
	return &Error{Code: Invalid, Message: "the request has invalid fields", Fields: fields}
}

// Field returns an Invalid error for one offending field.
func Field(field, msg string) *Error { return Fields(FieldError{Field: field, Message: msg}) }

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }
