package httpapi

import (
	"time"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/casework/casework/internal/cases"
)

// Small conversions between generated wire types and domain values.

func wireDate(t time.Time) openapi_types.Date { return openapi_types.Date{Time: t} }

func wireDatePtr(t *time.Time) *openapi_types.Date {
	if t == nil {
		return nil
	}
	d := wireDate(*t)
	return &d
}

func nullDate(t *time.Time) nullable.Nullable[openapi_types.Date] {
	if t == nil {
		return nullable.NewNullNullable[openapi_types.Date]()
	}
	return nullable.NewNullableWithValue(wireDate(*t))
}

func nullString(s string) nullable.Nullable[string] {
	if s == "" {
		return nullable.NewNullNullable[string]()
	}
	return nullable.NewNullableWithValue(s)
}

func nullUUID(s string) nullable.Nullable[openapi_types.UUID] {
	if s == "" {
		return nullable.NewNullNullable[openapi_types.UUID]()
	}
	return nullable.NewNullableWithValue(uuid.MustParse(s))
}

func optUUID(s string) *openapi_types.UUID {
	if s == "" {
		return nil
	}
	id := uuid.MustParse(s)
	return &id
}

func optText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func domainDate(d *openapi_types.Date) *time.Time {
	if d == nil {
		return nil
	}
	t := cases.Date(d.Time)
	return &t
}

// field turns a nullable wire value into a domain Field (absent: unset;
// null: clear; value: set).
func field[W, D any](n nullable.Nullable[W], conv func(W) D) cases.Field[D] {
	if !n.IsSpecified() {
		return cases.Field[D]{}
	}
	if n.IsNull() {
		return cases.Field[D]{Set: true}
	}
	v, _ := n.Get()
	d := conv(v)
	return cases.Field[D]{Set: true, Value: &d}
}

func same[T any](v T) T { return v }

func dateOf(d openapi_types.Date) time.Time { return cases.Date(d.Time) }

func uuidString(u openapi_types.UUID) string { return u.String() }

func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

func typed[T ~string](xs []string) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = T(x)
	}
	return out
}

func strsPtr[T ~string](xs *[]T) *[]string {
	if xs == nil {
		return nil
	}
	s := strs(*xs)
	return &s
}

func strPtr[T ~string](x *T) *string {
	if x == nil {
		return nil
	}
	s := string(*x)
	return &s
}
