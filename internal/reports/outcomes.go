package reports

import (
	"context"
	"slices"
)

// Dimensions of the outcomes report's tables.
const (
	DimClosureReason      = "closure_reason"
	DimDestinationCountry = "destination_country"
)

// Closure is a case closed in a report's period. Dates are "YYYY-MM-DD";
// IdentifiedOn is the opening date when the identification date is unknown.
type Closure struct {
	Reason                 string
	IdentifiedOn, ClosedOn string
}

// Return is the destination of one return service of a case.
type Return struct {
	CaseID, Country string
}

// Outcomes is the outcomes report.
type Outcomes struct {
	Params        Params
	Scope         string
	Suppression   Suppression
	Closures      []Row
	Returns       []Row
	TimeToClosure TimeToClosure
}

// TimeToClosure summarises the days from identification to closure.
// Withheld (Suppressed) when fewer than k cases closed.
type TimeToClosure struct {
	People                   int64
	P25, Median, P75         int
	Suppressed, HasQuartiles bool
}

// Outcomes reports the cases closed in the period by reason, the people
// returned by destination country, and the days from identification to
// closure (median and quartiles, nearest rank).
func (s *Service) Outcomes(ctx context.Context, p Params) (Outcomes, error) {
	scope, err := s.scope(ctx, p)
	if err != nil {
		return Outcomes{}, err
	}
	closures, err := s.store.Closures(ctx, scope, p.From, p.To)
	if err != nil {
		return Outcomes{}, err
	}
	returns, err := s.store.Returns(ctx, scope, p.From, p.To)
	if err != nil {
		return Outcomes{}, err
	}
	byReason := newTable([]string{DimClosureReason}, func(string) bool { return false })
	var days []int
	for _, c := range closures {
		byReason.add([][]string{{orUnknown(c.Reason)}}, func(x *Cell) { x.People++ })
		from, err1 := day(c.IdentifiedOn)
		to, err2 := day(c.ClosedOn)
		if err1 == nil && err2 == nil && !to.Before(from) {
			days = append(days, int(to.Sub(from).Hours()/24))
		}
	}
	byReason.ensureTotal()
	countries := map[string][]string{}
	var order []string
	for _, r := range returns {
		if _, ok := countries[r.CaseID]; !ok {
			order = append(order, r.CaseID)
		}
		countries[r.CaseID] = append(countries[r.CaseID], orUnknown(r.Country))
	}
	byCountry := newTable([]string{DimDestinationCountry}, func(string) bool { return true })
	for _, id := range order {
		byCountry.add([][]string{countries[id]}, func(x *Cell) { x.People++ })
	}
	byCountry.ensureTotal()

	people := func(additive bool) []measure {
		return []measure{{get: func(c *Cell) int64 { return c.People }, additive: func(*dim) bool { return additive }}}
	}
	sup := s.suppression(byReason, p.Suppress, people(true))
	sup2 := s.suppression(byCountry, p.Suppress, people(false))
	sup.Suppressed += sup2.Suppressed

	ttc := TimeToClosure{People: int64(len(days))}
	if p.Suppress && ttc.People < s.minCount {
		ttc = TimeToClosure{Suppressed: len(days) > 0}
	} else if len(days) > 0 {
		slices.Sort(days)
		ttc.HasQuartiles = true
		ttc.P25, ttc.Median, ttc.P75 = nearestRank(days, 25), nearestRank(days, 50), nearestRank(days, 75)
	}
	if ttc.Suppressed {
		sup.Suppressed++
	}
	if err := s.audit.Record(ctx, "report.outcomes", "report", scope.OrgID(), "success"); err != nil {
		return Outcomes{}, err
	}
	return Outcomes{Params: p, Scope: scope.OrgID(), Suppression: sup, Closures: rows(byReason), Returns: rows(byCountry), TimeToClosure: ttc}, nil
}

// nearestRank is the pct-th percentile of sorted by the nearest-rank method.
func nearestRank(sorted []int, pct int) int {
	rank := (pct*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}
