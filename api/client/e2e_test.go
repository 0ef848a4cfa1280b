package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/casework/casework/api/client"
	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/store"
)

// TestIntegratorEndToEnd drives a real server over HTTP with the generated
// client, as an integrator would: an NGO admin creates a service account;
// the integrator gets a token by the client-credentials grant, registers a
// case, records services, records referral consent and refers the case; the
// partner accepts; IOM pulls the assistance report and sees the person once.
func TestIntegratorEndToEnd(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		srv := httptest.NewServer(env.App.Handler)
		defer srv.Close()
		ctx := context.Background()
		orgA, orgB := env.NewOrg(t, "ALPHA", "Almaty"), env.NewOrg(t, "BETA", "Astana")
		env.NewUser(t, orgA.ID, "admin@alpha.example", "admin")
		env.NewUser(t, orgB.ID, "cw@beta.example", "caseworker")

		anon := newClient(t, srv.URL, "")
		signIn := func(email string) *client.ClientWithResponses {
			res, err := anon.LoginWithResponse(ctx, client.LoginJSONRequestBody{Email: openapi_types.Email(email), Password: ptr(apptest.Password)})
			if err != nil || res.JSON200 == nil {
				t.Fatalf("sign in %s: %v %s", email, err, body(res.HTTPResponse, res.Body))
			}
			return newClient(t, srv.URL, res.JSON200.AccessToken)
		}

		// The NGO admin sets up the integration.
		admin := signIn("admin@alpha.example")
		sa, err := admin.CreateServiceAccountWithResponse(ctx, nil, client.CreateServiceAccountJSONRequestBody{
			Name: "Partner system", Roles: []client.Role{client.Caseworker}})
		if err != nil || sa.JSON201 == nil {
			t.Fatalf("create service account: %v %s", err, body(sa.HTTPResponse, sa.Body))
		}

		// The integrator's system signs in with its credentials.
		tok, err := anon.IssueClientTokenWithFormdataBodyWithResponse(ctx, client.IssueClientTokenFormdataRequestBody{
			GrantType: "client_credentials", ClientId: &sa.JSON201.ClientId, ClientSecret: &sa.JSON201.ClientSecret})
		if err != nil || tok.JSON200 == nil {
			t.Fatalf("client credentials: %v %s", err, body(tok.HTTPResponse, tok.Body))
		}
		integrator := newClient(t, srv.URL, tok.JSON200.AccessToken)

		// Register a case, with an id of its own for safe retries.
		caseID := openapi_types.UUID(mustUUID(t))
		identified := openapi_types.Date{Time: time.Now().UTC().AddDate(0, 0, -10)}
		create := client.CreateCaseJSONRequestBody{Id: &caseID,
			Person: client.PersonInput{Sex: ptr(client.SexFemale), BirthYear: ptrNullable(1990)},
			Trafficking: &client.TraffickingInput{ExploitationTypes: &[]client.ExploitationType{client.ExploitationTypeForcedLabour},
				IdentifiedOn: ptrNullable(identified)}}
		created, err := integrator.CreateCaseWithResponse(ctx, nil, create)
		if err != nil || created.JSON201 == nil || created.JSON201.Id != caseID {
			t.Fatalf("create case: %v %s", err, body(created.HTTPResponse, created.Body))
		}
		retried, err := integrator.CreateCaseWithResponse(ctx, nil, create)
		if err != nil || retried.StatusCode() != http.StatusOK || retried.JSON200 == nil || retried.JSON200.Id != caseID {
			t.Fatalf("retried create: want 200 with the same case: %v %s", err, body(retried.HTTPResponse, retried.Body))
		}

		// Record a shelter stay and psychological support.
		started := openapi_types.Date{Time: time.Now().UTC().AddDate(0, 0, -9)}
		var shelter, psych client.ServiceCreate
		must(t, shelter.FromShelterServiceCreate(client.ShelterServiceCreate{Type: client.ShelterServiceCreateTypeShelter, Status: ptr(client.ServiceStatusInProgress), StartedOn: &started}))
		must(t, psych.FromPsychologicalServiceCreate(client.PsychologicalServiceCreate{Type: client.PsychologicalServiceCreateTypePsychological, Status: ptr(client.ServiceStatusInProgress), StartedOn: &started}))
		for _, s := range []client.ServiceCreate{shelter, psych} {
			res, err := integrator.CreateServiceWithResponse(ctx, caseID, nil, s)
			if err != nil || res.JSON201 == nil {
				t.Fatalf("record service: %v %s", err, body(res.HTTPResponse, res.Body))
			}
		}

		// Refer the case to the partner, with the person's consent.
		orgBID := openapi_types.UUID(mustParse(t, orgB.ID))
		consent, err := integrator.CreateConsentWithResponse(ctx, caseID, nil, client.CreateConsentJSONRequestBody{
			Type: client.ConsentTypeReferral, Given: true, RecipientOrganizationId: &orgBID})
		if err != nil || consent.JSON201 == nil {
			t.Fatalf("referral consent: %v %s", err, body(consent.HTTPResponse, consent.Body))
		}
		ref, err := integrator.CreateReferralWithResponse(ctx, nil, client.CreateReferralJSONRequestBody{
			CaseId: caseID, ToOrganizationId: orgBID, ServiceTypes: []client.ServiceType{client.ServiceTypeLegal}})
		if err != nil || ref.JSON201 == nil {
			t.Fatalf("refer: %v %s", err, body(ref.HTTPResponse, ref.Body))
		}
		partner := signIn("cw@beta.example")
		acc, err := partner.AcceptReferralWithResponse(ctx, ref.JSON201.Id)
		if err != nil || acc.JSON200 == nil || acc.JSON200.Status != client.ReferralStatusAccepted {
			t.Fatalf("accept: %v %s", err, body(acc.HTTPResponse, acc.Body))
		}
		seen, err := partner.GetCaseWithResponse(ctx, caseID)
		if err != nil || seen.JSON200 == nil {
			t.Fatalf("the partner reads the referred case: %v %s", err, body(seen.HTTPResponse, seen.Body))
		}

		// IOM pulls the report: one woman, assisted this month, counted once.
		iom := signIn(apptest.AdminEmail)
		from := openapi_types.Date{Time: time.Now().UTC().AddDate(0, 0, -30)}
		to := openapi_types.Date{Time: time.Now().UTC()}
		report, err := iom.GetAssistanceReportWithResponse(ctx, &client.GetAssistanceReportParams{From: from, To: to,
			GroupBy: &[]client.AssistanceDimension{client.AssistanceDimensionSexAge, client.AssistanceDimensionServiceType}, Suppress: ptr(false)})
		if err != nil || report.JSON200 == nil {
			t.Fatalf("report: %v %s", err, body(report.HTTPResponse, report.Body))
		}
		got := map[string]int{}
		for _, r := range report.JSON200.Rows {
			people, _ := r.People.Get()
			got[label(r.Group["sex_age"])+"|"+label(r.Group["service_type"])] = people
		}
		want := map[string]int{"*|*": 1, "women|*": 1, "*|shelter": 1, "*|psychological": 1, "women|shelter": 1, "women|psychological": 1}
		for k, n := range want {
			if got[k] != n {
				t.Errorf("report cell %s = %d, want %d (all: %v)", k, got[k], n, got)
			}
		}
		if len(got) != len(want) {
			t.Errorf("report has %d rows, want %d: %v", len(got), len(want), got)
		}
	})
}

func newClient(t *testing.T, base, token string) *client.ClientWithResponses {
	t.Helper()
	c, err := client.NewClientWithResponses(base, client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func ptrNullable[T any](v T) nullable.Nullable[T] { return nullable.NewNullableWithValue(v) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustUUID(t *testing.T) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	must(t, err)
	return id
}

func mustParse(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	must(t, err)
	return id
}

// body describes a response for a failure message (the status, and the
// first bytes of the body).
func body(res *http.Response, b []byte) string {
	if res == nil {
		return "(no response)"
	}
	if len(b) > 300 {
		b = b[:300]
	}
	return res.Status + " " + string(b)
}

// label is a report group value, "*" for a total.
func label(v *string) string {
	if v == nil {
		return "*"
	}
	return *v
}
