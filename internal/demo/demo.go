// Package demo loads a realistic, clearly fictional data set: the IOM
// mission, four NGO partners in different cities, users for every role, and
// a few hundred cases with consents and services of every type. Everything
// goes through the services, so it is validated, encrypted and audited like
// real data.
package demo

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/casework/casework/internal/app"
	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/auth"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/consents"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/referrals"
	"github.com/casework/casework/internal/services"
	"github.com/casework/casework/internal/store"
	"github.com/casework/casework/internal/users"
)

// partner is one fictional NGO.
type partner struct{ name, code, city string }

var partners = []partner{
	{"Rodnik Crisis Centre (demo)", "RODNIK", "Almaty"},
	{"Sana Sezim Shelter (demo)", "SANASEZIM", "Astana"},
	{"Aktau Assistance Centre (demo)", "AKTAUAC", "Aktau"},
	{"Karaganda Help Line (demo)", "KARHELP", "Karaganda"},
}

var (
	femaleNames = []string{"Aigerim", "Dana", "Madina", "Zhanna", "Gulnara", "Saule", "Aruzhan", "Dilnoza", "Nodira", "Olga", "Malika", "Asel"}
	maleNames   = []string{"Nurlan", "Daniyar", "Askar", "Rustam", "Bekzod", "Timur", "Yerlan", "Sherzod", "Ivan", "Azamat", "Farrukh", "Ruslan"}
	familyNames = []string{"Demova", "Testova", "Primerova", "Fiktivnaya", "Demov", "Testov", "Primerov", "Fiktivny"}
	citizens    = []string{"KZ", "KZ", "KZ", "UZ", "UZ", "KG", "TJ", "RU", "TM", "AF"}
	countries   = []string{"KZ", "RU", "AE", "TR", "KR", "KZ", "PL", "CN"}
	exploits    = [][]string{{"forced_labour"}, {"sexual_exploitation"}, {"forced_labour", "sexual_exploitation"}, {"domestic_servitude"}, {"forced_begging"}, {"forced_criminality"}, {"forced_marriage"}, {"unknown"}}
	identifiers = []string{"police", "ngo", "iom", "hotline", "self_referral", "consulate", "labour_inspection"}
	funding     = []string{"USAID-CT-2026", "EU-PROTECT-25", "IOM-DF-2026", "GOV-KZ-SOC"}
)

// Load creates the demo organisations, users and cases through a, and prints
// the demo sign-ins to out. Conflict when the demo data is already there.
func Load(ctx context.Context, a *app.App, n int, out io.Writer) error {
	if _, err := a.OrgStore.ByCode(ctx, partners[0].code); err == nil {
		return apperr.New(apperr.Conflict, "the demo data is already loaded")
	}
	rng := rand.New(rand.NewPCG(2026, 11))
	password := app.GeneratePassword()
	iom, err := a.OrgStore.ByCode(ctx, a.Config.IOMCode)
	if err != nil {
		return fmt.Errorf("the IOM organisation (run serve once first): %w", err)
	}
	var logins []string
	addUser := func(org organizations.Organization, email, name string, roles ...string) error {
		if _, err := a.Users.Provision(ctx, users.NewUser{Email: email, DisplayName: name, Password: password, Roles: roles, OrganizationID: org.ID, Locale: "ru"}); err != nil {
			return fmt.Errorf("demo user %s: %w", email, err)
		}
		logins = append(logins, fmt.Sprintf("  %-32s %-22s %s", email, fmt.Sprint(roles), org.Code))
		return nil
	}
	if err := addUser(iom, "coordinator@iom.demo", "IOM coordinator (demo)", "coordinator"); err != nil {
		return err
	}
	if err := addUser(iom, "caseworker@iom.demo", "IOM caseworker (demo)", "caseworker"); err != nil {
		return err
	}
	var caseworkers []string
	for _, p := range partners {
		now := store.Now()
		org := organizations.Organization{ID: store.NewID(), Name: p.name, Code: p.code, Kind: auth.OrgKindNGO, City: p.city,
			Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := a.OrgStore.Create(ctx, org); err != nil {
			return err
		}
		domain := fmt.Sprintf("%s.demo", lower(p.code))
		for _, u := range []struct{ local, name, role string }{
			{"admin", "Admin", "admin"}, {"caseworker1", "Caseworker 1", "caseworker"},
			{"caseworker2", "Caseworker 2", "caseworker"}, {"viewer", "Viewer", "viewer"},
		} {
			if err := addUser(org, u.local+"@"+domain, u.name+" (demo)", u.role); err != nil {
				return err
			}
			if u.role == "caseworker" {
				caseworkers = append(caseworkers, u.local+"@"+domain)
			}
		}
	}
	// Sign the caseworkers in, so every case is created by a real caller.
	ctxs := make([]context.Context, len(caseworkers))
	for i, email := range caseworkers {
		pair, err := a.Auth.Login(ctx, email, password)
		if err != nil {
			return err
		}
		p, err := a.Auth.Authenticate(ctx, pair.AccessToken)
		if err != nil {
			return err
		}
		ctxs[i] = auth.WithPrincipal(ctx, p)
	}
	referred := 0
	for i := 0; i < n; i++ {
		owner := rng.IntN(len(ctxs))
		v, err := addCase(ctxs[owner], a, rng)
		if err != nil {
			return fmt.Errorf("demo case %d: %w", i+1, err)
		}
		// One open case in ten is referred to another partner; the
		// caseworkers come in pairs per partner.
		if v.Status != cases.StatusClosed && rng.IntN(10) == 0 {
			to := (owner/2 + 1 + rng.IntN(len(partners)-1)) % len(partners)
			if err := addReferral(ctxs[owner], ctxs[to*2], a, rng, v); err != nil {
				return fmt.Errorf("demo referral of case %d: %w", i+1, err)
			}
			referred++
		}
	}
	fmt.Fprintf(out, "\nDemo data loaded: %d partner organisations, %d cases (%d referred).\nEvery demo user signs in with the password\n\n    %s\n\n",
		len(partners), n, referred, password)
	for _, l := range logins {
		fmt.Fprintln(out, l)
	}
	fmt.Fprintf(out, "\n(and the IOM admin %s with its own password)\n", a.Config.AdminEmail)
	return nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func ptr[T any](v T) *T { return &v }

// addReferral refers a case, with the person's consent, from the owner to a
// recipient partner, which accepts most referrals and records a service.
func addReferral(owner, recipient context.Context, a *app.App, rng *rand.Rand, v cases.View) error {
	rp, _ := auth.PrincipalFrom(recipient)
	if _, err := a.Consents.Create(owner, v.ID, consents.NewConsent{Type: consents.TypeReferral, Given: true, RecipientOrganizationID: rp.OrgID}); err != nil {
		return err
	}
	r, err := a.Referrals.Create(owner, referrals.NewReferral{
		CaseID: v.ID, ToOrganizationID: rp.OrgID, ServiceTypes: []string{pick(rng, []string{"shelter", "medical", "psychological"})},
		Reason: "Needs services the referring partner cannot provide (demo).",
	})
	if err != nil || rng.IntN(4) == 0 {
		return err // a quarter stay pending
	}
	if _, err := a.Referrals.Act(recipient, r.ID, referrals.ActAccept); err != nil {
		return err
	}
	start := cases.Date(time.Now())
	_, _, err = a.Services.Create(recipient, v.ID, services.NewServiceInput{
		Type: r.ServiceTypes[0], Status: services.StatusInProgress, StartedOn: &start, FundingProject: pick(rng, funding),
		Details: map[string]any{},
	})
	return err
}

// addCase registers one fictional person with consents and services.
func addCase(ctx context.Context, a *app.App, rng *rand.Rand) (cases.View, error) {
	today := cases.Date(time.Now())
	opened := today.AddDate(0, 0, -rng.IntN(3*365))
	identified := opened.AddDate(0, 0, -rng.IntN(20))
	sex, given := "female", pick(rng, femaleNames)
	if rng.IntN(10) < 3 {
		sex, given = "male", pick(rng, maleNames)
	}
	age := 12 + rng.IntN(40)
	patch := cases.Patch{
		OpenedOn: &opened,
		Person: cases.PersonPatch{
			GivenName: cases.Value(given), FamilyName: cases.Value(pick(rng, familyNames)),
			Sex: &sex, Citizenships: ptr([]string{pick(rng, citizens)}), Languages: ptr([]string{pick(rng, []string{"kk", "ru", "uz", "ky", "tg"})}),
		},
		Trafficking: cases.TraffickingPatch{
			Status: ptr(pick(rng, []string{"actual", "actual", "possible"})), ExploitationTypes: ptr(pick(rng, exploits)),
			CountryOfExploitation: ptr(pick(rng, countries)), IdentifiedOn: cases.Value(identified),
			IdentifiedBy: ptr(pick(rng, identifiers)), RecruiterRelationship: ptr(pick(rng, []string{"friend", "family", "intimate_partner", "other", "unknown"})),
		},
	}
	if rng.IntN(3) == 0 {
		patch.Person.BirthYear = cases.Value(identified.Year() - age)
	} else {
		patch.Person.DateOfBirth = cases.Value(identified.AddDate(-age, -rng.IntN(12), -rng.IntN(28)))
	}
	v, err := a.Cases.Create(ctx, patch, true)
	if err != nil {
		return v, err
	}
	for _, typ := range []string{"assistance", "data_processing", consents.TypeResearchAnonymised} {
		if typ == consents.TypeResearchAnonymised && rng.IntN(3) == 0 {
			continue
		}
		if _, err := a.Consents.Create(ctx, v.ID, consents.NewConsent{Type: typ, Given: true, RecordedOn: &opened}); err != nil {
			return v, err
		}
	}
	n := 1 + rng.IntN(3)
	for j := 0; j < n; j++ {
		if err := addService(ctx, a, rng, v.ID, opened, today); err != nil {
			return v, err
		}
	}
	if opened.Before(today.AddDate(0, -6, 0)) && rng.IntN(2) == 0 {
		closed := opened.AddDate(0, 3+rng.IntN(3), 0)
		v, err = a.Cases.Close(ctx, v.ID, pick(rng, []string{"goals_achieved", "returned_to_origin", "lost_contact", "relocated"}), &closed)
	}
	return v, err
}

func addService(ctx context.Context, a *app.App, rng *rand.Rand, caseID string, opened, today time.Time) error {
	typ := pick(rng, services.Types)
	start := opened.AddDate(0, 0, rng.IntN(30))
	if start.After(today) {
		start = today
	}
	end := start.AddDate(0, 0, 7+rng.IntN(90))
	finished := end.Before(today)
	details := map[string]any{}
	switch typ {
	case "shelter":
		details["facility"] = "Demo shelter " + fmt.Sprint(1+rng.IntN(3))
		details["admitted_on"] = start.Format(time.DateOnly)
		if finished {
			details["discharged_on"] = end.Format(time.DateOnly)
		}
	case "medical":
		details["kind"] = pick(rng, []string{"primary", "sexual_reproductive", "dental", "mental_health"})
	case "psychological":
		details["modality"] = pick(rng, []string{"individual", "group"})
		details["sessions"] = int64(1 + rng.IntN(12))
	case "skills":
		details["course"] = pick(rng, []string{"Sewing", "Hairdressing", "Accounting", "Cooking"})
		details["certificate_awarded"] = finished
	case "reintegration":
		details["dimension"] = pick(rng, []string{"economic", "social", "psychosocial"})
		details["grant"] = map[string]any{"amount": int64(100000 * (1 + rng.IntN(20))), "currency": "KZT"}
	case "return":
		details["destination_country"] = pick(rng, []string{"UZ", "KG", "TJ"})
		details["departure_on"] = end.Format(time.DateOnly)
		details["escorted"] = rng.IntN(2) == 0
	case "legal":
		details["kind"] = pick(rng, []string{"counselling", "representation", "documentation"})
	}
	in := services.NewServiceInput{
		Type: typ, Status: services.StatusInProgress, StartedOn: &start, FundingProject: pick(rng, funding), Details: details,
		Cost: &services.Money{Amount: int64(50000 * (1 + rng.IntN(40))), Currency: "KZT"},
	}
	v, _, err := a.Services.Create(ctx, caseID, in)
	if err != nil {
		return err
	}
	if finished {
		status := services.StatusCompleted
		if rng.IntN(8) == 0 {
			status = services.StatusCancelled
		}
		_, err = a.Services.Update(ctx, caseID, v.ID, v.Version, services.Changes{Status: &status, EndedOn: cases.Value(end)})
	}
	return err
}
