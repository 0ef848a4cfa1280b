package httpapi

import (
	"context"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/users"
)

func userBody(u users.User) api.User {
	return api.User{
		Id: uuid.MustParse(u.ID), Email: openapi_types.Email(u.Email), DisplayName: u.DisplayName,
		OrganizationId: uuid.MustParse(u.OrganizationID), Roles: roles(u.Roles), Active: u.Active,
		Locale: api.Locale(u.Locale), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
	}
}

func roleNames(rs []api.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

func (h *handlers) ListUsers(ctx context.Context, req api.ListUsersRequestObject) (api.ListUsersResponseObject, error) {
	r, err := listPage(req.Params.Limit, req.Params.Cursor, req.Params.UpdatedSince)
	if err != nil {
		return nil, err
	}
	orgID := ""
	if req.Params.OrganizationId != nil {
		orgID = req.Params.OrganizationId.String()
	}
	items, next, err := h.deps.Users.List(ctx, orgID, r)
	if err != nil {
		return nil, err
	}
	body := api.UserList{Items: make([]api.User, len(items)), NextCursor: nextCursor(next)}
	for i, u := range items {
		body.Items[i] = userBody(u)
	}
	return api.ListUsers200JSONResponse{Body: body, Headers: api.ListUsers200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) CreateUser(ctx context.Context, req api.CreateUserRequestObject) (api.CreateUserResponseObject, error) {
	b := req.Body
	in := users.NewUser{Email: string(b.Email), DisplayName: b.DisplayName, Roles: roleNames(b.Roles)}
	if b.Password != nil {
		in.Password = *b.Password
	}
	if b.Locale != nil {
		in.Locale = string(*b.Locale)
	}
	if b.OrganizationId != nil {
		in.OrganizationID = b.OrganizationId.String()
	}
	u, err := h.deps.Users.Create(ctx, in)
	if err != nil {
		return nil, err
	}
	return api.CreateUser201JSONResponse{
		Body: userBody(u),
		Headers: api.CreateUser201ResponseHeaders{
			ETag: etag(u.Version), Location: location("/api/v1/users/", u.ID), CacheControl: &noStore,
		},
	}, nil
}

func (h *handlers) GetUser(ctx context.Context, req api.GetUserRequestObject) (api.GetUserResponseObject, error) {
	u, err := h.deps.Users.Get(ctx, req.Id.String())
	if err != nil {
		return nil, err
	}
	return api.GetUser200JSONResponse{Body: userBody(u), Headers: api.GetUser200ResponseHeaders{ETag: etag(u.Version), CacheControl: &noStore}}, nil
}

func (h *handlers) UpdateUser(ctx context.Context, req api.UpdateUserRequestObject) (api.UpdateUserResponseObject, error) {
	version, err := ifMatch(req.Params.IfMatch)
	if err != nil {
		return nil, err
	}
	b := req.Body
	in := users.UserChanges{DisplayName: b.DisplayName, Password: b.Password, Active: b.Active}
	if b.Email != nil {
		e := string(*b.Email)
		in.Email = &e
	}
	if b.Roles != nil {
		rs := roleNames(*b.Roles)
		in.Roles = &rs
	}
	if b.Locale != nil {
		l := string(*b.Locale)
		in.Locale = &l
	}
	u, err := h.deps.Users.Update(ctx, req.Id.String(), version, in)
	if err != nil {
		return nil, err
	}
	return api.UpdateUser200JSONResponse{Body: userBody(u), Headers: api.UpdateUser200ResponseHeaders{ETag: etag(u.Version), CacheControl: &noStore}}, nil
}
