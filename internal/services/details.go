package services

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/codes"
)

// kind is the type of one details field.
type kind int

const (
	kText kind = iota
	kDate
	kBool
	kInt
	kEnum
	kCountry
	kMoney
)

// fieldSpec describes one type-specific field: its kind, limits, and whether
// it is identifying (encrypted at rest, left out of pseudonymised views).
type fieldSpec struct {
	kind        kind
	max         int // text length or int maximum
	values      []string
	identifying bool
}

// detailFields mirrors the *Details schemas of openapi.yaml: PATCH bodies
// carry details as a free object, so they are checked here against the
// service's type.
var detailFields = map[string]map[string]fieldSpec{
	"shelter": {
		"facility":      {kind: kText, max: 200, identifying: true},
		"admitted_on":   {kind: kDate},
		"discharged_on": {kind: kDate},
	},
	"medical": {
		"kind":     {kind: kEnum, values: []string{"primary", "sexual_reproductive", "dental", "mental_health", "hospitalisation", "other"}},
		"provider": {kind: kText, max: 200, identifying: true},
	},
	"psychological": {
		"modality": {kind: kEnum, values: []string{"individual", "group", "family"}},
		"sessions": {kind: kInt, max: 1000},
	},
	"skills": {
		"course":              {kind: kText, max: 200},
		"institution":         {kind: kText, max: 200, identifying: true},
		"certificate_awarded": {kind: kBool},
	},
	"reintegration": {
		"dimension":     {kind: kEnum, values: []string{"economic", "social", "psychosocial"}},
		"plan":          {kind: kText, max: 4000, identifying: true},
		"grant":         {kind: kMoney},
		"business_type": {kind: kText, max: 200},
	},
	"return": {
		"destination_country":    {kind: kCountry},
		"departure_on":           {kind: kDate},
		"escorted":               {kind: kBool},
		"reception_arranged":     {kind: kBool},
		"receiving_organization": {kind: kText, max: 200},
	},
	"legal": {
		"kind": {kind: kEnum, values: []string{"counselling", "representation", "documentation", "other"}},
	},
	"other": {
		"description": {kind: kText, max: 500, identifying: true},
	},
}

// Types are the service types.
var Types = []string{"shelter", "medical", "psychological", "skills", "reintegration", "return", "legal", "other"}

// IdentifyingDetails names the identifying details fields of a type.
func IdentifyingDetails(typ string) []string {
	var out []string
	for name, f := range detailFields[typ] {
		if f.identifying {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// normaliseDetails checks details against the fields of typ and returns them
// in stored form: dates as YYYY-MM-DD, integers as int64, money as
// {"amount": int64, "currency": string}. A nil value removes a field.
// Invalid, naming each offending field.
func normaliseDetails(typ string, in map[string]any) (map[string]any, error) {
	specs, ok := detailFields[typ]
	if !ok {
		return nil, apperr.Field("type", "is not a service type")
	}
	out := map[string]any{}
	var v apperr.Validator
	for name, raw := range in {
		field := "details." + name
		spec, ok := specs[name]
		if !ok {
			v.Check(false, field, fmt.Sprintf("is not a field of %s services", typ))
			continue
		}
		if raw == nil {
			out[name] = nil
			continue
		}
		val, msg := normaliseValue(spec, raw)
		v.Check(msg == "", field, msg)
		out[name] = val
	}
	return out, v.Err()
}

func normaliseValue(spec fieldSpec, raw any) (any, string) {
	switch spec.kind {
	case kText:
		s, ok := raw.(string)
		if !ok || !utf8.ValidString(s) || utf8.RuneCountInString(s) > spec.max {
			return nil, fmt.Sprintf("must be text of at most %d characters", spec.max)
		}
		return s, ""
	case kDate:
		s, ok := raw.(string)
		if !ok {
			return nil, "must be a date (YYYY-MM-DD)"
		}
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, "must be a date (YYYY-MM-DD)"
		}
		return s, ""
	case kBool:
		b, ok := raw.(bool)
		if !ok {
			return nil, "must be true or false"
		}
		return b, ""
	case kInt:
		n, ok := asInt(raw)
		if !ok || n < 0 || n > int64(spec.max) {
			return nil, fmt.Sprintf("must be a whole number from 0 to %d", spec.max)
		}
		return n, ""
	case kEnum:
		s, ok := raw.(string)
		if !ok || !slices.Contains(spec.values, s) {
			return nil, "is not one of the allowed values"
		}
		return s, ""
	case kCountry:
		s, ok := raw.(string)
		if !ok || !codes.Country(s) {
			return nil, "is not an ISO 3166-1 alpha-2 code"
		}
		return s, ""
	case kMoney:
		m, ok := raw.(map[string]any)
		if !ok || len(m) != 2 {
			return nil, "must be {amount, currency}"
		}
		amount, ok := asInt(m["amount"])
		currency, ok2 := m["currency"].(string)
		if !ok || !ok2 || amount < 0 || !codes.Currency(currency) {
			return nil, "must be a non-negative amount of minor units and an ISO 4217 currency"
		}
		return map[string]any{"amount": amount, "currency": currency}, ""
	}
	return nil, "is not valid"
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		if n != float64(int64(n)) {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

// mergeDetails applies a normalised patch onto stored details.
func mergeDetails(stored, patch map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range stored {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// SplitDetails separates the identifying details of typ from the others.
func SplitDetails(typ string, d map[string]any) (plain, identifying map[string]any) {
	plain, identifying = map[string]any{}, map[string]any{}
	for k, v := range d {
		if detailFields[typ][k].identifying {
			identifying[k] = v
		} else {
			plain[k] = v
		}
	}
	return plain, identifying
}

func dateField(d map[string]any, name string) *time.Time {
	s, ok := d[name].(string)
	if !ok {
		return nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return nil
	}
	return &t
}
