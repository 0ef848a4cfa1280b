package httpapi

import (
	"context"

	"github.com/google/uuid"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/notes"
)

func noteBody(n notes.Note) api.Note {
	return api.Note{
		Id: uuid.MustParse(n.ID), CaseId: uuid.MustParse(n.CaseID), AuthorId: uuid.MustParse(n.AuthorID),
		Text: n.Text, CreatedAt: n.CreatedAt, UpdatedAt: n.CreatedAt,
	}
}

func (h *handlers) ListNotes(ctx context.Context, req api.ListNotesRequestObject) (api.ListNotesResponseObject, error) {
	r, err := listPage(req.Params.Limit, req.Params.Cursor, req.Params.UpdatedSince)
	if err != nil {
		return nil, err
	}
	items, next, err := h.deps.Notes.List(ctx, req.Id.String(), r)
	if err != nil {
		return nil, err
	}
	body := api.NoteList{Items: make([]api.Note, len(items)), NextCursor: nextCursor(next)}
	for i, n := range items {
		body.Items[i] = noteBody(n)
	}
	return api.ListNotes200JSONResponse{Body: body, Headers: api.ListNotes200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) CreateNote(ctx context.Context, req api.CreateNoteRequestObject) (api.CreateNoteResponseObject, error) {
	n, err := h.deps.Notes.Create(ctx, req.Id.String(), req.Body.Text)
	if err != nil {
		return nil, err
	}
	return api.CreateNote201JSONResponse{Body: noteBody(n), Headers: api.CreateNote201ResponseHeaders{
		Location: location("/api/v1/cases/"+n.CaseID+"/notes/", n.ID), CacheControl: &noStore,
	}}, nil
}

func (h *handlers) ListAuditEvents(ctx context.Context, req api.ListAuditEventsRequestObject) (api.ListAuditEventsResponseObject, error) {
	q := req.Params
	r, err := listPage(q.Limit, q.Cursor, nil)
	if err != nil {
		return nil, err
	}
	f := audit.Filter{From: q.From, To: q.To}
	if q.OrganizationId != nil {
		f.OrganizationID = q.OrganizationId.String()
	}
	if q.ActorId != nil {
		f.ActorID = q.ActorId.String()
	}
	if q.Action != nil {
		f.Action = *q.Action
	}
	if q.ObjectType != nil {
		f.ObjectType = *q.ObjectType
	}
	if q.ObjectId != nil {
		f.ObjectID = q.ObjectId.String()
	}
	if q.Outcome != nil {
		f.Outcome = audit.Outcome(*q.Outcome)
	}
	items, next, err := h.deps.Audit.List(ctx, f, r)
	if err != nil {
		return nil, err
	}
	body := api.AuditEventList{Items: make([]api.AuditEvent, len(items)), NextCursor: nextCursor(next)}
	for i, e := range items {
		body.Items[i] = api.AuditEvent{
			Id: uuid.MustParse(e.ID), OccurredAt: e.OccurredAt, ActorType: api.AuditEventActorType(e.ActorType),
			ActorId: nullUUID(e.ActorID), OrganizationId: nullUUID(e.OrganizationID), Action: e.Action,
			ObjectType: e.ObjectType, ObjectId: nullUUID(e.ObjectID), Outcome: api.AuditOutcome(e.Outcome),
			Ip: nullString(e.IP), RequestId: nullString(e.RequestID),
		}
	}
	return api.ListAuditEvents200JSONResponse{Body: body, Headers: api.ListAuditEvents200ResponseHeaders{CacheControl: &noStore}}, nil
}
