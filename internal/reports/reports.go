// Package reports turns case data into the aggregate figures of donor and
// public reports (people assisted, services delivered, outcomes) and into the
// anonymised case-level CTDC export. Every figure is a count of distinct
// people unless it says otherwise, small counts are suppressed so that no one
// can be singled out, and every report and export is audited.
package reports

import (
	"context"
	"time"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/authz"
	"github.com/casework/casework/internal/tenant"
)

// DefaultMinCount is k for reports unless configured: counts from 1 to k-1
// are never shown.
const DefaultMinCount = 5

// maxCells bounds the size of one report; finer breakdowns answer Invalid.
const maxCells = 200_000

// Params are what a caller asks of a report.
type Params struct {
	From, To time.Time
	GroupBy  []string
	// OrganizationID narrows the report to one organisation ("" for the
	// caller's whole scope).
	OrganizationID string
	// Suppress is small-cell suppression; only IOM admins may turn it off.
	Suppress bool
}

// Store reads what reports are made of. Dates are days (UTC midnight).
// Within a scope of one organisation, a case counts when the organisation
// owns it or provided one of the services that make it count, and only that
// organisation's services of cases it does not own are seen.
type Store interface {
	// AssistanceGroups returns the people assisted in the period, grouped by
	// the columns q asks for, one count per distinct combination.
	AssistanceGroups(ctx context.Context, scope tenant.Scope, q AssistanceQuery) ([]CaseGroup, error)
	// DeliveredServices calls each for every service active in the period,
	// in case order.
	DeliveredServices(ctx context.Context, scope tenant.Scope, from, to time.Time, each func(DeliveredService) error) error
	// Closures returns the cases of scope's organisations closed in the period.
	Closures(ctx context.Context, scope tenant.Scope, from, to time.Time) ([]Closure, error)
	// Returns returns the destination of every return service active in
	// the period.
	Returns(ctx context.Context, scope tenant.Scope, from, to time.Time) ([]Return, error)
	// ResearchCases calls each for every case whose latest research_anonymised
	// consent is given and not withdrawn (only in year when year is not 0).
	ResearchCases(ctx context.Context, year int, each func(ResearchCase) error) error
}

// Service makes reports for the caller in the context.
type Service struct {
	store    Store
	authz    *authz.Authorizer
	audit    *audit.Service
	minCount int64
}

// NewService returns a Service; minCount is k (DefaultMinCount when 0).
func NewService(store Store, az *authz.Authorizer, au *audit.Service, minCount int) *Service {
	if minCount <= 0 {
		minCount = DefaultMinCount
	}
	return &Service{store: store, authz: az, audit: au, minCount: int64(minCount)}
}

// MinCount is k.
func (s *Service) MinCount() int { return int(s.minCount) }

// Suppression says how a report was protected.
type Suppression struct {
	Applied    bool
	MinCount   int
	Suppressed int
}

// scope checks that the caller may make this report and returns the rows
// it covers: every organisation (or the one asked for) for IOM roles, the
// caller's own organisation otherwise. Forbidden for another organisation
// or unsuppressed figures below IOM admin; Invalid for a bad period.
func (s *Service) scope(ctx context.Context, p Params) (tenant.Scope, error) {
	if err := s.authz.Require(ctx, authz.ObjReport, authz.ActRead); err != nil {
		return tenant.Scope{}, err
	}
	if !p.Suppress {
		if err := s.authz.Require(ctx, authz.ObjReport, authz.ActReadUnsuppressed); err != nil {
			return tenant.Scope{}, err
		}
	}
	caller, _ := auth.PrincipalFrom(ctx)
	anyOrg := s.authz.Allowed(ctx, authz.ObjReport, authz.ActReadAny)
	if p.OrganizationID != "" && p.OrganizationID != caller.OrgID && !anyOrg {
		return tenant.Scope{}, apperr.New(apperr.Forbidden, "reports of another organisation are not available to this role")
	}
	var v apperr.Validator
	v.Check(!p.To.Before(p.From), "to", "must not be before from")
	v.Check(!p.To.After(p.From.AddDate(10, 0, 0)), "to", "must be at most ten years after from")
	if err := v.Err(); err != nil {
		return tenant.Scope{}, err
	}
	switch {
	case p.OrganizationID != "":
		return tenant.Org(p.OrganizationID), nil
	case anyOrg:
		return tenant.All(), nil
	default:
		return tenant.Org(caller.OrgID), nil
	}
}

func (s *Service) suppression(t *table, on bool, measures []measure) Suppression {
	out := Suppression{Applied: on, MinCount: int(s.minCount)}
	if !on {
		return out
	}
	t.suppress(s.minCount, measures)
	for _, c := range t.cells {
		if c.Suppressed {
			out.Suppressed++
		}
	}
	return out
}

func tooLarge(t *table) error {
	if len(t.cells) > maxCells {
		return apperr.Field("group_by", "makes too many groups; group by fewer or coarser dimensions")
	}
	return nil
}
