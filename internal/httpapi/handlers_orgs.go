package httpapi

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/page"
)

// etag is the strong entity tag of a record version.
func etag(version int64) *string {
	s := `"` + strconv.FormatInt(version, 10) + `"`
	return &s
}

// ifMatch reads the version an update is conditional on. PreconditionRequired
// without If-Match; PreconditionFailed for a tag this server never issued.
func ifMatch(h *string) (int64, error) {
	if h == nil || strings.TrimSpace(*h) == "" {
		return 0, apperr.New(apperr.PreconditionRequired, "send If-Match with the ETag of the version you are changing")
	}
	v, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(*h), `"`), 10, 64)
	if err != nil || v < 1 {
		return 0, apperr.New(apperr.PreconditionFailed, "If-Match does not name a version of this record")
	}
	return v, nil
}

// listPage reads a list's paging parameters; a bad limit or cursor is a
// malformed request (400), like any other bad parameter.
func listPage(limit *int, cursor *string, updatedSince *time.Time) (page.Request, error) {
	r, err := page.New(limit, cursor, updatedSince)
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return r, newBadRequest("the paging parameters are not valid", ae.Fields...)
	}
	return r, err
}

func location(prefix, id string) *string {
	s := prefix + id
	return &s
}

func orgBody(o organizations.Organization) api.Organization {
	return api.Organization{
		Id: uuid.MustParse(o.ID), Name: o.Name, Code: o.Code, Kind: api.OrganizationKind(o.Kind),
		City: o.City, Active: o.Active, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
}

func (h *handlers) ListOrganizations(ctx context.Context, req api.ListOrganizationsRequestObject) (api.ListOrganizationsResponseObject, error) {
	r, err := listPage(req.Params.Limit, req.Params.Cursor, req.Params.UpdatedSince)
	if err != nil {
		return nil, err
	}
	items, next, err := h.deps.Organizations.List(ctx, r)
	if err != nil {
		return nil, err
	}
	out := api.ListOrganizations200JSONResponse{Items: make([]api.Organization, len(items)), NextCursor: nextCursor(next)}
	for i, o := range items {
		out.Items[i] = orgBody(o)
	}
	return out, nil
}

func (h *handlers) CreateOrganization(ctx context.Context, req api.CreateOrganizationRequestObject) (api.CreateOrganizationResponseObject, error) {
	o, err := h.deps.Organizations.Create(ctx, req.Body.Name, req.Body.Code, req.Body.City)
	if err != nil {
		return nil, err
	}
	return api.CreateOrganization201JSONResponse{
		Body:    orgBody(o),
		Headers: api.CreateOrganization201ResponseHeaders{ETag: etag(o.Version), Location: location("/api/v1/organizations/", o.ID)},
	}, nil
}

func (h *handlers) GetOrganization(ctx context.Context, req api.GetOrganizationRequestObject) (api.GetOrganizationResponseObject, error) {
	o, err := h.deps.Organizations.Get(ctx, req.Id.String())
	if err != nil {
		return nil, err
	}
	return api.GetOrganization200JSONResponse{Body: orgBody(o), Headers: api.GetOrganization200ResponseHeaders{ETag: etag(o.Version)}}, nil
}

func (h *handlers) UpdateOrganization(ctx context.Context, req api.UpdateOrganizationRequestObject) (api.UpdateOrganizationResponseObject, error) {
	version, err := ifMatch(req.Params.IfMatch)
	if err != nil {
		return nil, err
	}
	o, err := h.deps.Organizations.Update(ctx, req.Id.String(), version, organizations.Changes{
		Name: req.Body.Name, City: req.Body.City, Active: req.Body.Active,
	})
	if err != nil {
		return nil, err
	}
	return api.UpdateOrganization200JSONResponse{Body: orgBody(o), Headers: api.UpdateOrganization200ResponseHeaders{ETag: etag(o.Version)}}, nil
}

// nextCursor puts a page's next cursor on the wire: absent on the last page.
func nextCursor(next *string) nullable.Nullable[string] {
	if next == nil {
		return nullable.Nullable[string]{}
	}
	return nullable.NewNullableWithValue(*next)
}
