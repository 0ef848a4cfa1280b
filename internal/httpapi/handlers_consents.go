package httpapi

import (
	"context"

	"github.com/google/uuid"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/consents"
)

func consentBody(v consents.View) api.Consent {
	c := v.Consent
	return api.Consent{
		Id: uuid.MustParse(c.ID), CaseId: uuid.MustParse(c.CaseID), Type: api.ConsentType(c.Type), Given: c.Given,
		RecordedOn: wireDate(c.RecordedOn), RecordedBy: uuid.MustParse(c.RecordedBy),
		RecipientOrganizationId: nullUUID(c.RecipientOrganizationID), Scope: nullString(c.Scope),
		WithdrawnOn: nullDate(c.WithdrawnOn), WithdrawnBy: nullUUID(c.WithdrawnBy),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

func (h *handlers) ListConsents(ctx context.Context, req api.ListConsentsRequestObject) (api.ListConsentsResponseObject, error) {
	r, err := listPage(req.Params.Limit, req.Params.Cursor, req.Params.UpdatedSince)
	if err != nil {
		return nil, err
	}
	items, next, err := h.deps.Consents.List(ctx, req.Id.String(), r)
	if err != nil {
		return nil, err
	}
	body := api.ConsentList{Items: make([]api.Consent, len(items)), NextCursor: nextCursor(next)}
	for i, c := range items {
		body.Items[i] = consentBody(c)
	}
	return api.ListConsents200JSONResponse{Body: body, Headers: api.ListConsents200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) CreateConsent(ctx context.Context, req api.CreateConsentRequestObject) (api.CreateConsentResponseObject, error) {
	b := req.Body
	in := consents.NewConsent{Type: string(b.Type), Given: b.Given, RecordedOn: domainDate(b.RecordedOn)}
	if b.RecipientOrganizationId != nil {
		in.RecipientOrganizationID = b.RecipientOrganizationId.String()
	}
	if b.Scope != nil {
		in.Scope = *b.Scope
	}
	v, err := h.deps.Consents.Create(ctx, req.Id.String(), in)
	if err != nil {
		return nil, err
	}
	return api.CreateConsent201JSONResponse{Body: consentBody(v), Headers: api.CreateConsent201ResponseHeaders{
		Location: location("/api/v1/cases/"+v.CaseID+"/consents/", v.ID), CacheControl: &noStore,
	}}, nil
}

func (h *handlers) WithdrawConsent(ctx context.Context, req api.WithdrawConsentRequestObject) (api.WithdrawConsentResponseObject, error) {
	v, err := h.deps.Consents.Withdraw(ctx, req.Id.String(), req.ConsentId.String(), domainDate(req.Body.WithdrawnOn))
	if err != nil {
		return nil, err
	}
	return api.WithdrawConsent200JSONResponse{Body: consentBody(v), Headers: api.WithdrawConsent200ResponseHeaders{CacheControl: &noStore}}, nil
}
