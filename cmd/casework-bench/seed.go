package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/casework/casework/internal/app"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/services"
	"github.com/casework/casework/internal/store"
	"github.com/casework/casework/internal/users"
)

// dataset is the size of a benchmark data set.
type dataset struct {
	Name            string
	Orgs, Cases     int
	ServicesPerCase int
}

var datasets = map[string]dataset{
	"small": {"small", 10, 10_000, 5},
	"large": {"large", 50, 1_000_000, 5},
}

// password is the benchmark users' password; the data set is synthetic and
// the database a throwaway.
const password = "bench-password-not-secret"

// benchOrg is a seeded organisation and its caseworker's id.
type benchOrg struct {
	org        organizations.Organization
	caseworker string
}

// seed creates the organisations and users of the data set (one admin,
// caseworker and viewer per organisation, one IOM coordinator) and bulk
// loads its cases and services, skipping what a previous run loaded.
func seed(ctx context.Context, a *app.App, ds dataset, quiet bool) ([]benchOrg, error) {
	bulk := store.NewBulk(a.DB, a.DataKeys)
	iom, err := a.OrgStore.ByCode(ctx, a.Config.IOMCode)
	if err != nil {
		return nil, err
	}
	if err := provision(ctx, a, bulk, iom, "coordinator@bench.example", "coordinator"); err != nil {
		return nil, err
	}
	var orgs []benchOrg
	for i := range ds.Orgs {
		code := fmt.Sprintf("BENCH%02d", i+1)
		org, err := a.OrgStore.ByCode(ctx, code)
		if err != nil {
			now := store.Now()
			org = organizations.Organization{ID: store.NewID(), Name: "Bench partner " + code, Code: code, Kind: auth.OrgKindNGO,
				City: cities[i%len(cities)], Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
			if err := a.OrgStore.Create(ctx, org); err != nil {
				return nil, err
			}
		}
		for _, role := range []string{"admin", "caseworker", "viewer"} {
			if err := provision(ctx, a, bulk, org, fmt.Sprintf("%s@%s.bench.example", role, strings.ToLower(code)), role); err != nil {
				return nil, err
			}
		}
		cw, err := bulk.UserID(ctx, fmt.Sprintf("caseworker@%s.bench.example", strings.ToLower(code)))
		if err != nil {
			return nil, err
		}
		orgs = append(orgs, benchOrg{org: org, caseworker: cw})
	}
	have, err := bulk.CaseCount(ctx)
	if err != nil {
		return nil, err
	}
	if have >= int64(ds.Cases) {
		return orgs, nil
	}
	bar := progressbar.NewOptions64(int64(ds.Cases), progressbar.OptionSetDescription("seeding cases"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetVisibility(!quiet),
		progressbar.OptionThrottle(200*time.Millisecond))
	_ = bar.Add64(have)
	rng := rand.New(rand.NewPCG(uint64(have), 5))
	counters := map[[2]string]int{}
	const chunk = 5_000
	for done := int(have); done < ds.Cases; done += chunk {
		n := min(chunk, ds.Cases-done)
		cs, svcs, ctrs := generate(rng, orgs, n, ds.ServicesPerCase, done, counters)
		if err := bulk.Insert(ctx, cs, svcs, ctrs); err != nil {
			return nil, err
		}
		_ = bar.Add(n)
	}
	_ = bar.Finish()
	return orgs, a.DB.Analyze(ctx)
}

func provision(ctx context.Context, a *app.App, bulk *store.Bulk, org organizations.Organization, email, role string) error {
	if _, err := bulk.UserID(ctx, email); err == nil {
		return nil
	}
	_, err := a.Users.Provision(ctx, users.NewUser{Email: email, DisplayName: "Bench " + role, Password: password,
		Roles: []string{role}, OrganizationID: org.ID, Locale: "en"})
	return err
}

var (
	cities        = []string{"Astana", "Almaty", "Shymkent", "Aktau", "Karaganda", "Oral", "Atyrau", "Pavlodar"}
	countries     = []string{"KZ", "UZ", "KG", "TJ", "TM", "AF", "RU", "CN", "IN", "NP"}
	exploitations = []string{"sexual_exploitation", "forced_labour", "forced_labour", "forced_labour", "domestic_servitude",
		"forced_begging", "forced_criminality", "forced_marriage", "child_labour"}
	serviceTypes  = []string{"shelter", "medical", "psychological", "skills", "reintegration", "return", "legal", "other"}
	funding       = []string{"EU-PROTECT-25", "IOM-DF-2026", "USAID-CT-7", "GOV-KZ-SOC", ""}
	firstOpened   = time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	openedDays    = int(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Sub(firstOpened).Hours() / 24)
	closureReason = []string{"goals_achieved", "returned_to_origin", "relocated", "lost_contact"}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// generate makes n synthetic cases spread over 2016–2026 with about
// perCase services each, numbered on from the counters.
func generate(rng *rand.Rand, orgs []benchOrg, n, perCase, offset int, counters map[[2]string]int) ([]cases.Case, []services.Service, []store.Counter) {
	now := store.Now()
	cs := make([]cases.Case, 0, n)
	svcs := make([]services.Service, 0, n*perCase)
	touched := map[[2]string]bool{}
	for i := range n {
		o := orgs[(offset+i)%len(orgs)]
		opened := firstOpened.AddDate(0, 0, rng.IntN(openedDays))
		year := opened.Year()
		k := [2]string{o.org.ID, fmt.Sprint(year)}
		counters[k]++
		touched[k] = true
		c := cases.New()
		c.ID, c.OrganizationID, c.CreatedBy, c.Version = store.NewID(), o.org.ID, o.caseworker, 1
		c.CaseNumber = fmt.Sprintf("%s-%d-%06d", o.org.Code, year, counters[k])
		c.OpenedOn, c.CreatedAt, c.UpdatedAt = opened, now, now
		c.Status = pick(rng, []string{cases.StatusOpen, cases.StatusActive, cases.StatusActive, cases.StatusFollowUp})
		sex := pick(rng, []string{"female", "female", "female", "male", "male", "unknown"})
		by := year - 8 - rng.IntN(50)
		c.Person = cases.Person{GivenName: fmt.Sprintf("Given%d", offset+i), FamilyName: fmt.Sprintf("Family%d", offset+i),
			Sex: sex, Gender: "not_specified", BirthYear: &by, Citizenships: []string{pick(rng, countries)}, Languages: []string{"ru"}}
		if rng.IntN(10) == 0 {
			c.Person.Citizenships = append(c.Person.Citizenships, "KZ")
		}
		types := []string{pick(rng, exploitations)}
		if rng.IntN(5) == 0 {
			if t := pick(rng, exploitations); t != types[0] {
				types = append(types, t)
			}
		}
		c.Trafficking = cases.Trafficking{Status: "actual", ExploitationTypes: types, MeansOfControl: []string{"threats"},
			RecruiterRelationship: pick(rng, []string{"friend", "family", "other", "unknown"}),
			CountryOfExploitation: pick(rng, countries), IdentifiedOn: &opened, IdentifiedBy: "ngo"}
		if opened.Before(now.AddDate(-1, 0, 0)) && rng.IntN(3) > 0 {
			closed := opened.AddDate(0, 0, 30+rng.IntN(300))
			c.Status, c.ClosedOn, c.ClosureReason = cases.StatusClosed, &closed, ptr(pick(rng, closureReason))
		}
		cs = append(cs, c)
		for range perCase {
			start := opened.AddDate(0, 0, rng.IntN(120))
			s := services.Service{ID: store.NewID(), CaseID: c.ID, OrganizationID: o.org.ID, ProviderOrganizationID: o.org.ID,
				Type: pick(rng, serviceTypes), Status: services.StatusCompleted, StartedOn: &start,
				FundingProject: pick(rng, funding), RecordedBy: o.caseworker, Version: 1, CreatedAt: now, UpdatedAt: now,
				Details: map[string]any{}}
			switch r := rng.IntN(10); {
			case r == 0:
				s.Status, s.StartedOn = services.StatusPlanned, nil
			case r < 3 && c.Status != cases.StatusClosed && start.After(now.AddDate(0, 0, -200)):
				s.Status = services.StatusInProgress
			default:
				end := start.AddDate(0, 0, 1+rng.IntN(180))
				s.EndedOn = &end
			}
			if rng.IntN(2) == 0 {
				s.Cost = &services.Money{Amount: int64(1000 * (1 + rng.IntN(500))), Currency: "KZT"}
			}
			svcs = append(svcs, s)
		}
	}
	var ctrs []store.Counter
	for k := range touched {
		var y int
		fmt.Sscan(k[1], &y)
		ctrs = append(ctrs, store.Counter{OrganizationID: k[0], Year: y, Last: counters[k]})
	}
	return cs, svcs, ctrs
}

func ptr[T any](v T) *T { return &v }
