package httpapi

import (
	"context"
	"net/url"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/serviceaccounts"
	"github.com/casework/casework/internal/webhooks"
)

var bearer = "Bearer"

// IssueClientToken is the client-credentials grant. The client's credentials
// come from HTTP Basic (client_id and client_secret form-urlencoded, as RFC
// 6749 §2.3.1 says) or from the body; both at once is refused.
func (h *handlers) IssueClientToken(ctx context.Context, req api.IssueClientTokenRequestObject) (api.IssueClientTokenResponseObject, error) {
	body := req.JSONBody
	if body == nil {
		body = req.FormdataBody
	}
	if body == nil {
		return nil, newBadRequest("the request needs a body")
	}
	if body.GrantType != "client_credentials" {
		return nil, badRequest{&apperr.Error{Code: apperr.Invalid, Message: "only the client_credentials grant is supported",
			Reason: "unsupported_grant_type", Fields: []apperr.FieldError{{Field: "grant_type", Message: "must be client_credentials"}}}}
	}
	var id, secret string
	if body.ClientId != nil {
		id = *body.ClientId
	}
	if body.ClientSecret != nil {
		secret = *body.ClientSecret
	}
	if n, _ := ctx.Value(negotiationKey{}).(negotiation); n.hasBasic {
		if id != "" || secret != "" {
			return nil, newBadRequest("send the client credentials once: in the Authorization header or in the body")
		}
		// RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
		var err1, err2 error
		id, err1 = url.QueryUnescape(n.basicUser)
		secret, err2 = url.QueryUnescape(n.basicPassword)
		if err1 != nil || err2 != nil {
			return nil, newBadRequest("malformed Basic credentials")
		}
	}
	account := "client:" + id
	if err := h.throttled(ctx, account, "auth.client_credentials", "service_account"); err != nil {
		return nil, err
	}
	tok, err := h.deps.ServiceAccounts.Grant(ctx, id, secret)
	h.attempted(ctx, account, err)
	// The object is the client id tried, so an admin sees guesses at an
	// account (a non-UUID id names none and is left out).
	object := tok.AccountID
	if object == "" && uuid.Validate(id) == nil {
		object = id
	}
	ev := audit.New(ctx, "auth.client_credentials", "service_account", object, audit.Success)
	ev.ActorType, ev.ActorID, ev.OrganizationID = audit.ActorServiceAccount, tok.AccountID, tok.OrgID
	if err != nil {
		ev.Outcome, ev.ActorType = audit.Failure, audit.ActorAnonymous
		if apperr.Is(err, apperr.Unauthenticated) {
			err = &apperr.Error{Code: apperr.Unauthenticated, Message: "invalid client credentials", Reason: "invalid_client"}
		}
	}
	if aerr := h.deps.Audit.RecordEvent(ctx, ev); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	return api.IssueClientToken200JSONResponse{Body: api.ClientToken{AccessToken: tok.AccessToken, TokenType: api.ClientTokenTokenType(bearer),
		ExpiresIn: tok.ExpiresIn}, Headers: api.IssueClientToken200ResponseHeaders{CacheControl: &noStore}}, nil
}

func serviceAccountBody(a serviceaccounts.Account) api.ServiceAccount {
	return api.ServiceAccount{Id: uuid.MustParse(a.ID), OrganizationId: uuid.MustParse(a.OrganizationID), Name: a.Name, ClientId: a.ID,
		Roles: typed[api.Role](a.Roles), CreatedBy: uuid.MustParse(a.CreatedBy), SecretRotatedAt: a.SecretRotatedAt,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

func withSecret(a serviceaccounts.Account, secret string) api.ServiceAccountWithSecret {
	b := serviceAccountBody(a)
	return api.ServiceAccountWithSecret{Id: b.Id, OrganizationId: b.OrganizationId, Name: b.Name, ClientId: b.ClientId, Roles: b.Roles,
		CreatedBy: b.CreatedBy, SecretRotatedAt: b.SecretRotatedAt, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt, ClientSecret: secret}
}

func (h *handlers) ListServiceAccounts(ctx context.Context, req api.ListServiceAccountsRequestObject) (api.ListServiceAccountsResponseObject, error) {
	q := req.Params
	r, err := listPage(q.Limit, q.Cursor, q.UpdatedSince)
	if err != nil {
		return nil, err
	}
	items, next, err := h.deps.ServiceAccounts.List(ctx, r)
	if err != nil {
		return nil, err
	}
	body := api.ServiceAccountList{Items: make([]api.ServiceAccountList_Items_Item, len(items)), NextCursor: nextCursor(next)}
	for i, a := range items {
		if a.DeletedAt != nil {
			err = body.Items[i].FromTombstone(api.Tombstone{Id: uuid.MustParse(a.ID), Deleted: true, UpdatedAt: a.UpdatedAt})
		} else {
			err = body.Items[i].FromServiceAccount(serviceAccountBody(a))
		}
		if err != nil {
			return nil, err
		}
	}
	return api.ListServiceAccounts200JSONResponse{Body: body, Headers: api.ListServiceAccounts200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) CreateServiceAccount(ctx context.Context, req api.CreateServiceAccountRequestObject) (api.CreateServiceAccountResponseObject, error) {
	a, secret, err := h.deps.ServiceAccounts.Create(ctx, serviceaccounts.NewAccount{Name: req.Body.Name, Roles: strs(req.Body.Roles)})
	if err != nil {
		return nil, err
	}
	return api.CreateServiceAccount201JSONResponse{Body: withSecret(a, secret), Headers: api.CreateServiceAccount201ResponseHeaders{
		Location: location("/api/v1/service-accounts/", a.ID), CacheControl: &noStore}}, nil
}

func (h *handlers) GetServiceAccount(ctx context.Context, req api.GetServiceAccountRequestObject) (api.GetServiceAccountResponseObject, error) {
	a, err := h.deps.ServiceAccounts.Get(ctx, req.Id.String())
	if err != nil {
		return nil, err
	}
	return api.GetServiceAccount200JSONResponse{Body: serviceAccountBody(a), Headers: api.GetServiceAccount200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) DeleteServiceAccount(ctx context.Context, req api.DeleteServiceAccountRequestObject) (api.DeleteServiceAccountResponseObject, error) {
	if err := h.deps.ServiceAccounts.Delete(ctx, req.Id.String()); err != nil {
		return nil, err
	}
	return api.DeleteServiceAccount204Response{}, nil
}

func (h *handlers) RotateServiceAccountSecret(ctx context.Context, req api.RotateServiceAccountSecretRequestObject) (api.RotateServiceAccountSecretResponseObject, error) {
	a, secret, err := h.deps.ServiceAccounts.RotateSecret(ctx, req.Id.String())
	if err != nil {
		return nil, err
	}
	return api.RotateServiceAccountSecret200JSONResponse{Body: withSecret(a, secret), Headers: api.RotateServiceAccountSecret200ResponseHeaders{CacheControl: &noStore}}, nil
}

func webhookBody(w webhooks.Webhook) api.Webhook {
	return api.Webhook{Id: uuid.MustParse(w.ID), OrganizationId: uuid.MustParse(w.OrganizationID), Url: w.URL,
		Events: typed[api.WebhookEvent](w.Events), CreatedBy: uuid.MustParse(w.CreatedBy), CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
}

func (h *handlers) ListWebhooks(ctx context.Context, req api.ListWebhooksRequestObject) (api.ListWebhooksResponseObject, error) {
	q := req.Params
	r, err := listPage(q.Limit, q.Cursor, q.UpdatedSince)
	if err != nil {
		return nil, err
	}
	items, next, err := h.deps.Webhooks.List(ctx, r)
	if err != nil {
		return nil, err
	}
	body := api.WebhookList{Items: make([]api.WebhookList_Items_Item, len(items)), NextCursor: nextCursor(next)}
	for i, w := range items {
		if w.DeletedAt != nil {
			err = body.Items[i].FromTombstone(api.Tombstone{Id: uuid.MustParse(w.ID), Deleted: true, UpdatedAt: w.UpdatedAt})
		} else {
			err = body.Items[i].FromWebhook(webhookBody(w))
		}
		if err != nil {
			return nil, err
		}
	}
	return api.ListWebhooks200JSONResponse{Body: body, Headers: api.ListWebhooks200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) CreateWebhook(ctx context.Context, req api.CreateWebhookRequestObject) (api.CreateWebhookResponseObject, error) {
	w, secret, err := h.deps.Webhooks.Create(ctx, req.Body.Url, strs(req.Body.Events))
	if err != nil {
		return nil, err
	}
	b := webhookBody(w)
	return api.CreateWebhook201JSONResponse{Body: api.WebhookWithSecret{Id: b.Id, OrganizationId: b.OrganizationId, Url: b.Url,
		Events: b.Events, CreatedBy: b.CreatedBy, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt, Secret: secret},
		Headers: api.CreateWebhook201ResponseHeaders{Location: location("/api/v1/webhooks/", w.ID), CacheControl: &noStore}}, nil
}

func (h *handlers) GetWebhook(ctx context.Context, req api.GetWebhookRequestObject) (api.GetWebhookResponseObject, error) {
	w, err := h.deps.Webhooks.Get(ctx, req.Id.String())
	if err != nil {
		return nil, err
	}
	return api.GetWebhook200JSONResponse{Body: webhookBody(w), Headers: api.GetWebhook200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) DeleteWebhook(ctx context.Context, req api.DeleteWebhookRequestObject) (api.DeleteWebhookResponseObject, error) {
	if err := h.deps.Webhooks.Delete(ctx, req.Id.String()); err != nil {
		return nil, err
	}
	return api.DeleteWebhook204Response{}, nil
}

func (h *handlers) ListWebhookDeliveries(ctx context.Context, req api.ListWebhookDeliveriesRequestObject) (api.ListWebhookDeliveriesResponseObject, error) {
	q := req.Params
	r, err := listPage(q.Limit, q.Cursor, nil)
	if err != nil {
		return nil, err
	}
	items, next, err := h.deps.Webhooks.Deliveries(ctx, req.Id.String(), r)
	if err != nil {
		return nil, err
	}
	body := api.WebhookDeliveryList{Items: make([]api.WebhookDelivery, len(items)), NextCursor: nextCursor(next)}
	for i, d := range items {
		body.Items[i] = api.WebhookDelivery{Id: uuid.MustParse(d.ID), WebhookId: uuid.MustParse(d.WebhookID), EventId: uuid.MustParse(d.EventID),
			EventType: api.WebhookEvent(d.EventType), Status: api.WebhookDeliveryStatus(d.Status), Attempts: d.Attempts,
			NextAttemptAt: d.NextAttemptAt, CreatedAt: d.CreatedAt, LastAttemptAt: nullTime(d.LastAttemptAt), DeliveredAt: nullTime(d.DeliveredAt)}
		if d.LastStatus != nil {
			body.Items[i].LastStatus = nullable.NewNullableWithValue(*d.LastStatus)
		}
		if d.LastError != nil {
			body.Items[i].LastError = nullable.NewNullableWithValue(*d.LastError)
		}
	}
	return api.ListWebhookDeliveries200JSONResponse{Body: body, Headers: api.ListWebhookDeliveries200ResponseHeaders{CacheControl: &noStore}}, nil
}
