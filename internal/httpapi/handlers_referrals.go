package httpapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/referrals"
)

func nullTime(t *time.Time) nullable.Nullable[time.Time] {
	if t == nil {
		return nullable.NewNullNullable[time.Time]()
	}
	return nullable.NewNullableWithValue(*t)
}

func referralBody(r referrals.Referral) api.Referral {
	return api.Referral{
		Id: uuid.MustParse(r.ID), CaseId: uuid.MustParse(r.CaseID), CaseNumber: r.CaseNumber,
		FromOrganizationId: uuid.MustParse(r.FromOrganizationID), ToOrganizationId: uuid.MustParse(r.ToOrganizationID),
		ServiceTypes: typed[api.ServiceType](r.ServiceTypes), Reason: optText(r.Reason), Status: api.ReferralStatus(r.Status),
		EndedWhy: nullString(r.EndedWhy), CreatedBy: uuid.MustParse(r.CreatedBy), RespondedBy: nullUUID(r.RespondedBy),
		RespondedAt: nullTime(r.RespondedAt), EndedBy: nullUUID(r.EndedBy), EndedAt: nullTime(r.EndedAt),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

func (h *handlers) ListReferrals(ctx context.Context, req api.ListReferralsRequestObject) (api.ListReferralsResponseObject, error) {
	q := req.Params
	r, err := listPage(q.Limit, q.Cursor, q.UpdatedSince)
	if err != nil {
		return nil, err
	}
	var f referrals.Filter
	if q.Direction != nil {
		f.Direction = string(*q.Direction)
	}
	if q.Status != nil {
		f.Status = string(*q.Status)
	}
	if q.CaseId != nil {
		f.CaseID = q.CaseId.String()
	}
	items, next, err := h.deps.Referrals.List(ctx, f, r)
	if err != nil {
		return nil, err
	}
	body := api.ReferralList{Items: make([]api.Referral, len(items)), NextCursor: nextCursor(next)}
	for i, x := range items {
		body.Items[i] = referralBody(x)
	}
	return api.ListReferrals200JSONResponse{Body: body, Headers: api.ListReferrals200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) CreateReferral(ctx context.Context, req api.CreateReferralRequestObject) (api.CreateReferralResponseObject, error) {
	b := req.Body
	in := referrals.NewReferral{CaseID: b.CaseId.String(), ToOrganizationID: b.ToOrganizationId.String(), ServiceTypes: strs(b.ServiceTypes)}
	if b.Reason != nil {
		in.Reason = *b.Reason
	}
	r, err := h.deps.Referrals.Create(ctx, in)
	if err != nil {
		return nil, err
	}
	return api.CreateReferral201JSONResponse{Body: referralBody(r), Headers: api.CreateReferral201ResponseHeaders{
		Location: location("/api/v1/referrals/", r.ID), CacheControl: &noStore,
	}}, nil
}

func (h *handlers) GetReferral(ctx context.Context, req api.GetReferralRequestObject) (api.GetReferralResponseObject, error) {
	r, err := h.deps.Referrals.Get(ctx, req.Id.String())
	if err != nil {
		return nil, err
	}
	return api.GetReferral200JSONResponse{Body: referralBody(r), Headers: api.GetReferral200ResponseHeaders{CacheControl: &noStore}}, nil
}

// act runs one referral action and renders the result.
func (h *handlers) act(ctx context.Context, id uuid.UUID, action string) (api.Referral, error) {
	r, err := h.deps.Referrals.Act(ctx, id.String(), action)
	if err != nil {
		return api.Referral{}, err
	}
	return referralBody(r), nil
}

func (h *handlers) AcceptReferral(ctx context.Context, req api.AcceptReferralRequestObject) (api.AcceptReferralResponseObject, error) {
	b, err := h.act(ctx, req.Id, referrals.ActAccept)
	if err != nil {
		return nil, err
	}
	return api.AcceptReferral200JSONResponse{Body: b, Headers: api.AcceptReferral200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) DeclineReferral(ctx context.Context, req api.DeclineReferralRequestObject) (api.DeclineReferralResponseObject, error) {
	b, err := h.act(ctx, req.Id, referrals.ActDecline)
	if err != nil {
		return nil, err
	}
	return api.DeclineReferral200JSONResponse{Body: b, Headers: api.DeclineReferral200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) WithdrawReferral(ctx context.Context, req api.WithdrawReferralRequestObject) (api.WithdrawReferralResponseObject, error) {
	b, err := h.act(ctx, req.Id, referrals.ActWithdraw)
	if err != nil {
		return nil, err
	}
	return api.WithdrawReferral200JSONResponse{Body: b, Headers: api.WithdrawReferral200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) RevokeReferral(ctx context.Context, req api.RevokeReferralRequestObject) (api.RevokeReferralResponseObject, error) {
	b, err := h.act(ctx, req.Id, referrals.ActRevoke)
	if err != nil {
		return nil, err
	}
	return api.RevokeReferral200JSONResponse{Body: b, Headers: api.RevokeReferral200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) CompleteReferral(ctx context.Context, req api.CompleteReferralRequestObject) (api.CompleteReferralResponseObject, error) {
	b, err := h.act(ctx, req.Id, referrals.ActComplete)
	if err != nil {
		return nil, err
	}
	return api.CompleteReferral200JSONResponse{Body: b, Headers: api.CompleteReferral200ResponseHeaders{CacheControl: &noStore}}, nil
}
