package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/casework/casework/internal/cases"
)

// Dimensions of the assistance report.
const (
	DimSex            = "sex"
	DimAgeGroup       = "age_group"
	DimSexAge         = "sex_age"
	DimAgeBroad       = "age_broad"
	DimExploitation   = "exploitation_type"
	DimOrganization   = "organization"
	DimCity           = "city"
	DimCitizenship    = "citizenship"
	DimServiceType    = "service_type"
	DimFundingProject = "funding_project"
	DimMonth          = "month"
	DimQuarter        = "quarter"
	DimYear           = "year"
)

// Values that stand for no value.
const (
	unknown = "unknown"
	none    = "none"
	// SexualAndLabour counts people exploited both sexually and for labour.
	SexualAndLabour = "sexual_and_labour"
)

// multiValued reports whether one person can hold several values of dim.
func multiValued(dim string) bool {
	switch dim {
	case DimExploitation, DimCitizenship, DimServiceType, DimFundingProject, DimMonth, DimQuarter, DimYear:
		return true
	}
	return false
}

// AssistanceQuery names the period and which grouping columns to read.
type AssistanceQuery struct {
	From, To time.Time
	Columns  Columns
}

// Columns are the optional grouping columns of CaseGroup; the store groups
// by exactly these, so asking for fewer makes fewer, larger groups.
type Columns struct {
	Sex, AgeGroup, Age, Exploitation, Organization, City, Citizenship bool
	ServiceTypes, FundingProjects, Periods                            bool
}

// CaseGroup is a number of distinct people who share the values of the
// columns asked for (the other fields are zero).
type CaseGroup struct {
	Sex, AgeGroup string
	// Age is the age at identification.
	Age *int
	// ExploitationTypes and Citizenships are the stored JSON lists.
	ExploitationTypes, Citizenships string
	OrganizationID, City            string
	// ServiceTypes and FundingProjects are comma-separated sets of the
	// services active in the period ("" for none; "none" for a service
	// without a funding project).
	ServiceTypes, FundingProjects string
	// OpenedOn ("YYYY-MM-DD") and Spans ("start|end" of each active
	// service, comma-separated, end empty while running) place the person in
	// months, quarters and years.
	OpenedOn, Spans string
	People          int64
}

func columnsFor(dims []string) Columns {
	var c Columns
	for _, d := range dims {
		switch d {
		case DimSex:
			c.Sex = true
		case DimAgeGroup:
			c.AgeGroup = true
		case DimSexAge:
			c.Sex, c.AgeGroup = true, true
		case DimAgeBroad:
			c.Age = true
		case DimExploitation:
			c.Exploitation = true
		case DimOrganization:
			c.Organization = true
		case DimCity:
			c.City = true
		case DimCitizenship:
			c.Citizenship = true
		case DimServiceType:
			c.ServiceTypes = true
		case DimFundingProject:
			c.FundingProjects = true
		case DimMonth, DimQuarter, DimYear:
			c.Periods = true
		}
	}
	return c
}

// Report is a finished table: its rows and how it was protected.
type Report struct {
	Params      Params
	Scope       string // the one organisation, or "" for all
	Suppression Suppression
	Rows        []Row
}

// Row is one cell of a report. Group maps each dimension to its value, nil
// for the total over it.
type Row struct {
	Group      map[string]*string
	People     int64
	Services   int64
	Nights     int64
	Cost       map[string]int64
	Suppressed bool
}

func rows(t *table) []Row {
	out := make([]Row, 0, len(t.cells))
	for _, c := range t.sorted() {
		r := Row{Group: t.group(c), Suppressed: c.Suppressed}
		if !c.Suppressed {
			r.People, r.Services, r.Nights, r.Cost = c.People, c.Services, c.Nights, c.Cost
		}
		out = append(out, r)
	}
	return out
}

// Assistance counts the distinct people assisted in the period (opened in
// it, or with a started in-progress or completed service overlapping it),
// broken down by p.GroupBy with every subtotal.
func (s *Service) Assistance(ctx context.Context, p Params) (Report, error) {
	scope, err := s.scope(ctx, p)
	if err != nil {
		return Report{}, err
	}
	groups, err := s.store.AssistanceGroups(ctx, scope, AssistanceQuery{From: p.From, To: p.To, Columns: columnsFor(p.GroupBy)})
	if err != nil {
		return Report{}, err
	}
	t := newTable(p.GroupBy, multiValued)
	for _, g := range groups {
		values, err := assistanceValues(p.GroupBy, g, p.From, p.To)
		if err != nil {
			return Report{}, err
		}
		t.add(values, func(c *Cell) { c.People += g.People })
		if err := tooLarge(t); err != nil {
			return Report{}, err
		}
	}
	t.ensureTotal()
	people := measure{get: func(c *Cell) int64 { return c.People }, additive: func(d *dim) bool { return !d.multi }}
	sup := s.suppression(t, p.Suppress, []measure{people})
	if err := s.audit.Record(ctx, "report.assistance", "report", scope.OrgID(), "success"); err != nil {
		return Report{}, err
	}
	return Report{Params: p, Scope: scope.OrgID(), Suppression: sup, Rows: rows(t)}, nil
}

// assistanceValues are the values of each dimension a group of people holds.
func assistanceValues(dims []string, g CaseGroup, from, to time.Time) ([][]string, error) {
	out := make([][]string, len(dims))
	for i, d := range dims {
		var v []string
		switch d {
		case DimSex:
			v = []string{g.Sex}
		case DimAgeGroup:
			v = []string{g.AgeGroup}
		case DimSexAge:
			v = []string{SexAge(g.Sex, g.AgeGroup)}
		case DimAgeBroad:
			v = []string{unknown}
			if g.Age != nil {
				v = []string{cases.AgeBroad(*g.Age)}
			}
		case DimExploitation:
			types, err := jsonSet(g.ExploitationTypes)
			if err != nil {
				return nil, err
			}
			if slices.Contains(types, "sexual_exploitation") && slices.Contains(types, "forced_labour") {
				types = append(types, SexualAndLabour)
			}
			v = types
		case DimOrganization:
			v = []string{g.OrganizationID}
		case DimCity:
			v = []string{orUnknown(g.City)}
		case DimCitizenship:
			set, err := jsonSet(g.Citizenships)
			if err != nil {
				return nil, err
			}
			v = set
		case DimServiceType:
			v = commaSet(g.ServiceTypes)
		case DimFundingProject:
			v = commaSet(g.FundingProjects)
		case DimMonth, DimQuarter, DimYear:
			p, err := periods(d, g.OpenedOn, g.Spans, from, to)
			if err != nil {
				return nil, err
			}
			v = p
		default:
			return nil, fmt.Errorf("reports: unknown dimension %q", d)
		}
		out[i] = v
	}
	return out, nil
}

// SexAge is women, men, girls or boys: sex by child or adult at
// identification; unknown when either is unknown.
func SexAge(sex, ageGroup string) string {
	switch {
	case sex == "female" && ageGroup == cases.AgeGroupAdult:
		return "women"
	case sex == "male" && ageGroup == cases.AgeGroupAdult:
		return "men"
	case sex == "female" && ageGroup == cases.AgeGroupChild:
		return "girls"
	case sex == "male" && ageGroup == cases.AgeGroupChild:
		return "boys"
	}
	return unknown
}

func orUnknown(s string) string {
	if s == "" {
		return unknown
	}
	return s
}

// jsonSet parses a stored JSON list; an empty list is unknown.
func jsonSet(s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("reports: stored list: %w", err)
	}
	if len(v) == 0 {
		return []string{unknown}, nil
	}
	return v, nil
}

// commaSet splits a comma-separated set; an empty set is none.
func commaSet(s string) []string {
	if s == "" {
		return []string{none}
	}
	return strings.Split(s, ",")
}

// periods returns the months, quarters or years in which a person was
// assisted within [from, to]: the one they were opened in, and every one a
// service of theirs was active in.
func periods(dim, openedOn, spans string, from, to time.Time) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	mark := func(a, b time.Time) {
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		for d := a; !d.After(b); d = nextPeriod(dim, d) {
			l := periodLabel(dim, d)
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	if openedOn != "" {
		o, err := day(openedOn)
		if err != nil {
			return nil, err
		}
		if !o.Before(from) && !o.After(to) {
			mark(o, o)
		}
	}
	for _, sp := range strings.Split(spans, ",") {
		if sp == "" {
			continue
		}
		a, b, ok := strings.Cut(sp, "|")
		if !ok {
			return nil, fmt.Errorf("reports: bad service span %q", sp)
		}
		start, err := day(a)
		if err != nil {
			return nil, err
		}
		end := to
		if b != "" {
			if end, err = day(b); err != nil {
				return nil, err
			}
		}
		mark(start, end)
	}
	if len(out) == 0 {
		// Assisted in the period by definition; cannot happen unless the
		// store and this function disagree.
		return nil, fmt.Errorf("reports: a person assisted in no period")
	}
	return out, nil
}

func day(s string) (time.Time, error) {
	if len(s) < 10 {
		return time.Time{}, fmt.Errorf("reports: bad date %q", s)
	}
	return time.Parse(time.DateOnly, s[:10])
}

// nextPeriod is the first day of the period after the one d is in.
func nextPeriod(dim string, d time.Time) time.Time {
	switch dim {
	case DimMonth:
		return time.Date(d.Year(), d.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	case DimQuarter:
		q := (int(d.Month()) - 1) / 3
		return time.Date(d.Year(), time.Month(q*3+4), 1, 0, 0, 0, 0, time.UTC)
	default:
		return time.Date(d.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
	}
}

func periodLabel(dim string, d time.Time) string {
	switch dim {
	case DimMonth:
		return d.Format("2006-01")
	case DimQuarter:
		return fmt.Sprintf("%d-Q%d", d.Year(), (int(d.Month())-1)/3+1)
	default:
		return fmt.Sprintf("%d", d.Year())
	}
}
