package reports

import (
	"context"
	"fmt"
	"time"
)

// Dimensions of the services report (service_type, funding_project and the
// periods are shared with the assistance report).
const (
	DimStatus   = "status"
	DimProvider = "provider"
)

// DeliveredService is one service active in a report's period.
type DeliveredService struct {
	CaseID, Type, Status, ProviderID string
	// FundingProject is "" when the service has none.
	FundingProject string
	// StartedOn is "YYYY-MM-DD".
	StartedOn    string
	Nights       *int
	CostAmount   *int64
	CostCurrency string
}

// Services counts the services active in the period, and the distinct
// people who received them, with nights of shelter and costs per currency,
// broken down by p.GroupBy. A service falls in the month, quarter or year it
// started in, or that of p.From when it started earlier.
func (s *Service) Services(ctx context.Context, p Params) (Report, error) {
	scope, err := s.scope(ctx, p)
	if err != nil {
		return Report{}, err
	}
	t := newTable(p.GroupBy, func(string) bool { return false })
	// People are counted once per cell: the cells a case's services touch
	// are collected while its services stream by (in case order).
	caseID := ""
	touched := map[*Cell]bool{}
	flush := func() {
		for c := range touched {
			c.People++
		}
		clear(touched)
	}
	err = s.store.DeliveredServices(ctx, scope, p.From, p.To, func(d DeliveredService) error {
		if d.CaseID != caseID {
			flush()
			caseID = d.CaseID
		}
		values, err := serviceValues(p.GroupBy, d, p.From)
		if err != nil {
			return err
		}
		t.add(values, func(c *Cell) {
			touched[c] = true
			c.Services++
			if d.Nights != nil {
				c.Nights += int64(*d.Nights)
			}
			if d.CostAmount != nil && d.CostCurrency != "" {
				if c.Cost == nil {
					c.Cost = map[string]int64{}
				}
				c.Cost[d.CostCurrency] += *d.CostAmount
			}
		})
		return tooLarge(t)
	})
	if err != nil {
		return Report{}, err
	}
	flush()
	t.ensureTotal()
	// Services add up along every dimension; people do not (one person may
	// receive services of several kinds).
	sup := s.suppression(t, p.Suppress, []measure{
		{get: func(c *Cell) int64 { return c.People }, additive: func(*dim) bool { return false }},
		{get: func(c *Cell) int64 { return c.Services }, additive: func(*dim) bool { return true }},
	})
	if err := s.audit.Record(ctx, "report.services", "report", scope.OrgID(), "success"); err != nil {
		return Report{}, err
	}
	return Report{Params: p, Scope: scope.OrgID(), Suppression: sup, Rows: rows(t)}, nil
}

func serviceValues(dims []string, d DeliveredService, from time.Time) ([][]string, error) {
	out := make([][]string, len(dims))
	for i, dm := range dims {
		switch dm {
		case DimServiceType:
			out[i] = []string{d.Type}
		case DimStatus:
			out[i] = []string{d.Status}
		case DimProvider:
			out[i] = []string{d.ProviderID}
		case DimFundingProject:
			out[i] = []string{orNone(d.FundingProject)}
		case DimMonth, DimQuarter, DimYear:
			start, err := day(d.StartedOn)
			if err != nil {
				return nil, err
			}
			if start.Before(from) {
				start = from
			}
			out[i] = []string{periodLabel(dm, start)}
		default:
			return nil, fmt.Errorf("reports: unknown dimension %q", dm)
		}
	}
	return out, nil
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}
