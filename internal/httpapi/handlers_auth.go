package httpapi

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"
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
	account := "user:" + strings.ToLower(strings.TrimSpace(string(req.Body.Email)))
	if err := h.throttled(ctx, account, "auth.login", "user"); err != nil {
		return nil, err
	}
	pair, err := h.deps.Auth.Login(ctx, string(req.Body.Email), password)
	h.attempted(ctx, account, err)
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

// throttled refuses an attempt on account while its failures (or the
// caller's address's) fill a window: 429 with Retry-After, audited as denied,
// without checking the credentials at all.
func (h *handlers) throttled(ctx context.Context, account, action, objectType string) error {
	wait := h.deps.Throttle.Wait(account, audit.RequestFrom(ctx).IP)
	if wait <= 0 {
		return nil
	}
	if err := h.deps.Audit.Record(ctx, action, objectType, "", audit.Denied); err != nil {
		return err
	}
	return &apperr.Error{Code: apperr.RateLimited, Message: "too many failed attempts; try again later",
		RetryAfter: int(wait.Seconds()) + 1}
}

// attempted counts a failed attempt on account, or forgets the caller's
// failures on a success. Only wrong credentials count, not outages.
func (h *handlers) attempted(ctx context.Context, account string, err error) {
	ip := audit.RequestFrom(ctx).IP
	switch {
	case err == nil:
		h.deps.Throttle.Succeeded(account, ip)
	case apperr.Is(err, apperr.Unauthenticated):
		h.deps.Throttle.Failed(account, ip)
	}
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
	me := api.Me{
		Id: uuid.MustParse(p.ID), Kind: api.MeKind(p.Kind), Email: nullable.NewNullNullable[openapi_types.Email](), DisplayName: p.DisplayName,
		OrganizationId: uuid.MustParse(p.OrgID), Roles: roles(p.Roles), Locale: api.Locale(p.Locale),
	}
	if p.Kind == auth.KindUser {
		me.Email = nullable.NewNullableWithValue(openapi_types.Email(p.Email))
	}
	return api.GetMe200JSONResponse{
		Body:    me,
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
