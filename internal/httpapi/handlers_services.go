package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/services"
)

// serviceInput is the common shape of every ServiceCreate variant; the
// variants differ only in `details`, which the services package checks
// against the type.
type serviceInput struct {
	ID             *string         `json:"id"`
	Type           string          `json:"type"`
	Status         *string         `json:"status"`
	StartedOn      *string         `json:"started_on"`
	EndedOn        *string         `json:"ended_on"`
	Cost           *services.Money `json:"cost"`
	FundingProject *string         `json:"funding_project"`
	Notes          *string         `json:"notes"`
	Details        map[string]any  `json:"details"`
}

func parseDate(field string, s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(time.DateOnly, *s)
	if err != nil {
		return nil, apperr.Field(field, "must be a date (YYYY-MM-DD)")
	}
	return &t, nil
}

func (h *handlers) CreateService(ctx context.Context, req api.CreateServiceRequestObject) (api.CreateServiceResponseObject, error) {
	raw, err := req.Body.MarshalJSON()
	if err != nil {
		return nil, newBadRequest("the body is not a service")
	}
	var b serviceInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&b); err != nil {
		return nil, newBadRequest("the body is not a service")
	}
	in := services.NewServiceInput{Type: b.Type, Cost: b.Cost, Details: b.Details}
	if b.ID != nil {
		in.ID = *b.ID
	}
	if b.Status != nil {
		in.Status = *b.Status
	}
	if b.FundingProject != nil {
		in.FundingProject = *b.FundingProject
	}
	if b.Notes != nil {
		in.Notes = *b.Notes
	}
	if in.StartedOn, err = parseDate("started_on", b.StartedOn); err != nil {
		return nil, err
	}
	if in.EndedOn, err = parseDate("ended_on", b.EndedOn); err != nil {
		return nil, err
	}
	v, created, err := h.deps.Services.Create(ctx, req.Id.String(), in)
	if err != nil {
		return nil, err
	}
	body, err := serviceBody(v)
	if err != nil {
		return nil, err
	}
	if !created {
		return api.CreateService200JSONResponse{Body: body, Headers: api.CreateService200ResponseHeaders{ETag: etag(v.Version), CacheControl: &noStore}}, nil
	}
	return api.CreateService201JSONResponse{Body: body, Headers: api.CreateService201ResponseHeaders{
		ETag: etag(v.Version), Location: location("/api/v1/cases/"+v.CaseID+"/services/", v.ID), CacheControl: &noStore,
	}}, nil
}

// serviceBody renders a service as the Service variant of its type.
func serviceBody(v services.View) (api.Service, error) {
	s := v.Service
	details := map[string]any{}
	for k, val := range s.Details {
		details[k] = val
	}
	if v.Nights != nil {
		details["nights"] = *v.Nights
	}
	m := map[string]any{
		"id": s.ID, "case_id": s.CaseID, "provider_organization_id": s.ProviderOrganizationID,
		"type": s.Type, "status": s.Status, "recorded_by": s.RecordedBy, "details": details,
		"started_on": dayOrNil(s.StartedOn), "ended_on": dayOrNil(s.EndedOn),
		"cost": nil, "funding_project": nil, "view": "pseudonymised",
		"created_at": s.CreatedAt, "updated_at": s.UpdatedAt,
	}
	if v.Full {
		m["view"] = "full"
		if s.Notes != "" {
			m["notes"] = s.Notes
		}
	}
	if s.Cost != nil {
		m["cost"] = map[string]any{"amount": s.Cost.Amount, "currency": s.Cost.Currency}
	}
	if s.FundingProject != "" {
		m["funding_project"] = s.FundingProject
	}
	b, err := json.Marshal(m)
	if err != nil {
		return api.Service{}, err
	}
	var out api.Service
	return out, out.UnmarshalJSON(b)
}

func dayOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Format(time.DateOnly)
}

func (h *handlers) ListServices(ctx context.Context, req api.ListServicesRequestObject) (api.ListServicesResponseObject, error) {
	r, err := listPage(req.Params.Limit, req.Params.Cursor, req.Params.UpdatedSince)
	if err != nil {
		return nil, err
	}
	items, next, err := h.deps.Services.List(ctx, req.Id.String(), r)
	if err != nil {
		return nil, err
	}
	body := api.ServiceList{Items: make([]api.Service, len(items)), NextCursor: nextCursor(next)}
	for i, v := range items {
		if body.Items[i], err = serviceBody(v); err != nil {
			return nil, err
		}
	}
	return api.ListServices200JSONResponse{Body: body, Headers: api.ListServices200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) GetService(ctx context.Context, req api.GetServiceRequestObject) (api.GetServiceResponseObject, error) {
	v, err := h.deps.Services.Get(ctx, req.Id.String(), req.ServiceId.String())
	if err != nil {
		return nil, err
	}
	body, err := serviceBody(v)
	if err != nil {
		return nil, err
	}
	return api.GetService200JSONResponse{Body: body, Headers: api.GetService200ResponseHeaders{ETag: etag(v.Version), CacheControl: &noStore}}, nil
}

func (h *handlers) UpdateService(ctx context.Context, req api.UpdateServiceRequestObject) (api.UpdateServiceResponseObject, error) {
	version, err := ifMatch(req.Params.IfMatch)
	if err != nil {
		return nil, err
	}
	b := req.Body
	c := services.Changes{
		StartedOn: field(b.StartedOn, dateOf), EndedOn: field(b.EndedOn, dateOf),
		Cost:           field(b.Cost, func(m api.Money) services.Money { return services.Money{Amount: m.Amount, Currency: m.Currency} }),
		FundingProject: field(b.FundingProject, same[string]), Notes: field(b.Notes, same[string]),
	}
	if b.Status != nil {
		st := string(*b.Status)
		c.Status = &st
	}
	if b.Details != nil {
		c.Details = *b.Details
	}
	v, err := h.deps.Services.Update(ctx, req.Id.String(), req.ServiceId.String(), version, c)
	if apperr.Is(err, apperr.PreconditionFailed) {
		if cur, gerr := h.deps.Services.Get(ctx, req.Id.String(), req.ServiceId.String()); gerr == nil {
			if body, berr := serviceBody(cur); berr == nil {
				return nil, stale{err: err, current: body, etag: *etag(cur.Version)}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	body, err := serviceBody(v)
	if err != nil {
		return nil, err
	}
	return api.UpdateService200JSONResponse{Body: body, Headers: api.UpdateService200ResponseHeaders{ETag: etag(v.Version), CacheControl: &noStore}}, nil
}
