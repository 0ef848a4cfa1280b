package httpapi

import (
	"context"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/auth"
)

var noStore = "no-store"

func tokenResponse(p auth.TokenPair) api.TokenResponse {
	return api.TokenResponse{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: "Bearer", ExpiresIn: p.ExpiresIn}
}

func (h *handlers) Login(ctx context.Context, req api.LoginRequestObject) (api.LoginResponseObject, error) {
	password := ""
	if req.Body.Password != nil {
		password = *req.Body.Password
	}
	pair, err := h.deps.Auth.Login(ctx, string(req.Body.Email), password)
	// The account's organisation is recorded either way, so its admin sees
	// failed attempts against its users too.
	ev := audit.New(ctx, "auth.login", "user", pair.UserID, audit.Success)
	ev.OrganizationID = pair.OrgID
	if err != nil {
		ev.Outcome = audit.Failure
	} else {
		ev.ActorType, ev.ActorID = audit.ActorUser, pair.UserID
	}
	if aerr := h.deps.Audit.RecordEvent(ctx, ev); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	return api.Login200JSONResponse{Body: tokenResponse(pair), Headers: api.Login200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) RefreshToken(ctx context.Context, req api.RefreshTokenRequestObject) (api.RefreshTokenResponseObject, error) {
	pair, err := h.deps.Auth.Refresh(ctx, req.Body.RefreshToken)
	if err != nil {
		return nil, err
	}
	return api.RefreshToken200JSONResponse{Body: tokenResponse(pair), Headers: api.RefreshToken200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) Logout(ctx context.Context, _ api.LogoutRequestObject) (api.LogoutResponseObject, error) {
	if err := h.deps.Auth.Logout(ctx); err != nil {
		return nil, err
	}
	return api.Logout204Response{}, nil
}

func (h *handlers) GetMe(ctx context.Context, _ api.GetMeRequestObject) (api.GetMeResponseObject, error) {
	p, ok := auth.PrincipalFrom(ctx)
	if !ok {
		return nil, apperr.New(apperr.Unauthenticated, "authentication required")
	}
	return api.GetMe200JSONResponse{
		Body: api.Me{
			Id: uuid.MustParse(p.ID), Email: openapi_types.Email(p.Email), DisplayName: p.DisplayName,
			OrganizationId: uuid.MustParse(p.OrgID), Roles: roles(p.Roles), Locale: api.Locale(p.Locale),
		},
		Headers: api.GetMe200ResponseHeaders{CacheControl: &noStore},
	}, nil
}

func (h *handlers) GetHealth(context.Context, api.GetHealthRequestObject) (api.GetHealthResponseObject, error) {
	return api.GetHealth200JSONResponse{Status: "ok"}, nil
}

func (h *handlers) GetReadiness(ctx context.Context, _ api.GetReadinessRequestObject) (api.GetReadinessResponseObject, error) {
	if err := h.deps.DB.Ping(ctx); err != nil {
		return nil, &apperr.Error{Code: apperr.Unavailable, Message: "the database does not answer", RetryAfter: 5, Err: err}
	}
	return api.GetReadiness200JSONResponse{Status: "ok"}, nil
}

func roles(rs []string) []api.Role {
	out := make([]api.Role, len(rs))
	for i, r := range rs {
		out[i] = api.Role(r)
	}
	return out
}
