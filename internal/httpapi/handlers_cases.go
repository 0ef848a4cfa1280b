package httpapi

import (
	"context"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/cases"
)

func casePatch(assigned nullable.Nullable[openapi_types.UUID], opened *openapi_types.Date, person *api.PersonInput, tr *api.TraffickingInput) cases.Patch {
	p := cases.Patch{AssignedTo: field(assigned, uuidString), OpenedOn: domainDate(opened)}
	if person != nil {
		docs := (*[]cases.IdentityDocument)(nil)
		if person.IdentityDocuments != nil {
			ds := make([]cases.IdentityDocument, len(*person.IdentityDocuments))
			for i, d := range *person.IdentityDocuments {
				ds[i] = cases.IdentityDocument{Type: string(d.Type), Number: d.Number}
				if d.IssuingCountry != nil {
					ds[i].IssuingCountry = *d.IssuingCountry
				}
			}
			docs = &ds
		}
		p.Person = cases.PersonPatch{
			GivenName: field(person.GivenName, same[string]), FamilyName: field(person.FamilyName, same[string]),
			OtherNames: field(person.OtherNames, same[string]), Phone: field(person.Phone, same[string]),
			Address: field(person.Address, same[string]), DateOfBirth: field(person.DateOfBirth, dateOf),
			BirthYear: field(person.BirthYear, same[int]), Sex: strPtr(person.Sex), Gender: strPtr(person.Gender),
			Citizenships: person.Citizenships, Languages: person.Languages, IdentityDocuments: docs,
		}
	}
	if tr != nil {
		p.Trafficking = cases.TraffickingPatch{
			Status: strPtr(tr.TraffickingStatus), ExploitationTypes: strsPtr(tr.ExploitationTypes),
			LabourSector: tr.LabourSector, MeansOfControl: strsPtr(tr.MeansOfControl),
			RecruiterRelationship: strPtr(tr.RecruiterRelationship), CountryOfExploitation: tr.CountryOfExploitation,
			IdentifiedOn: field(tr.IdentifiedOn, dateOf), IdentifiedBy: strPtr(tr.IdentifiedBy),
		}
	}
	return p
}

func caseBody(v cases.View) api.Case {
	c := v.Case
	out := api.Case{
		Id: uuid.MustParse(c.ID), CaseNumber: c.CaseNumber, OrganizationId: uuid.MustParse(c.OrganizationID),
		Status: api.CaseStatus(c.Status), OpenedOn: wireDate(c.OpenedOn), ClosedOn: nullDate(c.ClosedOn),
		View: api.CaseViewPseudonymised, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Consents: make([]api.ConsentState, len(v.Consents)),
	}
	if v.Full {
		out.View = api.CaseViewFull
	}
	if v.Referred {
		out.Referred = &v.Referred
	}
	if c.AssignedTo != nil {
		out.AssignedTo = nullable.NewNullableWithValue(uuid.MustParse(*c.AssignedTo))
	} else {
		out.AssignedTo = nullable.NewNullNullable[openapi_types.UUID]()
	}
	if c.ClosureReason != nil {
		out.ClosureReason = nullable.NewNullableWithValue(api.ClosureReason(*c.ClosureReason))
	} else {
		out.ClosureReason = nullable.NewNullNullable[api.ClosureReason]()
	}
	p := c.Person
	out.Person = api.Person{
		GivenName: optText(p.GivenName), FamilyName: optText(p.FamilyName), OtherNames: optText(p.OtherNames),
		Sex: api.Sex(p.Sex), Gender: api.Gender(p.Gender), DateOfBirth: wireDatePtr(p.DateOfBirth),
		Citizenships: p.Citizenships, Languages: p.Languages, Phone: optText(p.Phone), Address: optText(p.Address),
	}
	if p.BirthYear != nil {
		out.Person.BirthYear = nullable.NewNullableWithValue(*p.BirthYear)
	} else {
		out.Person.BirthYear = nullable.NewNullNullable[int]()
	}
	if len(p.IdentityDocuments) > 0 {
		docs := make([]api.IdentityDocument, len(p.IdentityDocuments))
		for i, d := range p.IdentityDocuments {
			docs[i] = api.IdentityDocument{Type: api.IdentityDocumentType(d.Type), Number: d.Number, IssuingCountry: optText(d.IssuingCountry)}
		}
		out.Person.IdentityDocuments = &docs
	}
	t := c.Trafficking
	out.Trafficking = api.Trafficking{
		TraffickingStatus: api.TraffickingStatus(t.Status), ExploitationTypes: typed[api.ExploitationType](t.ExploitationTypes),
		LabourSector: optText(t.LabourSector), MeansOfControl: typed[api.MeansOfControl](t.MeansOfControl),
		RecruiterRelationship: api.RecruiterRelationship(t.RecruiterRelationship), CountryOfExploitation: optText(t.CountryOfExploitation),
		IdentifiedOn: nullDate(t.IdentifiedOn), IdentifiedBy: api.IdentifiedBy(t.IdentifiedBy),
	}
	d := v.Derived
	out.Derived = api.Derived{AgeGroup: api.AgeGroup(d.AgeGroup), AgeBroad: api.AgeBroad(d.AgeBroad)}
	if d.Age != nil {
		out.Derived.Age = nullable.NewNullableWithValue(*d.Age)
	} else {
		out.Derived.Age = nullable.NewNullNullable[int]()
	}
	if d.MinorAtIdentification != nil {
		out.Derived.IsMinorAtIdentification = nullable.NewNullableWithValue(*d.MinorAtIdentification)
	} else {
		out.Derived.IsMinorAtIdentification = nullable.NewNullNullable[bool]()
	}
	for i, s := range v.Consents {
		out.Consents[i] = api.ConsentState{
			Type: api.ConsentType(s.Type), State: api.ConsentStateState(s.State), ConsentId: uuid.MustParse(s.ConsentID),
			RecordedOn: wireDate(s.RecordedOn), RecipientOrganizationId: optUUID(s.RecipientOrganizationID),
		}
	}
	return out
}

func (h *handlers) ListCases(ctx context.Context, req api.ListCasesRequestObject) (api.ListCasesResponseObject, error) {
	q := req.Params
	r, err := listPage(q.Limit, q.Cursor, q.UpdatedSince)
	if err != nil {
		return nil, err
	}
	f := cases.Filter{OpenedFrom: domainDate(q.OpenedFrom), OpenedTo: domainDate(q.OpenedTo)}
	if q.Status != nil {
		f.Status = string(*q.Status)
	}
	if q.AssignedTo != nil {
		f.AssignedTo = q.AssignedTo.String()
	}
	if q.Sex != nil {
		f.Sex = string(*q.Sex)
	}
	if q.AgeGroup != nil {
		f.AgeGroup = string(*q.AgeGroup)
	}
	if q.ExploitationType != nil {
		f.ExploitationType = string(*q.ExploitationType)
	}
	if q.ServiceType != nil {
		f.ServiceType = string(*q.ServiceType)
	}
	if q.OrganizationId != nil {
		f.OrganizationID = q.OrganizationId.String()
	}
	items, next, err := h.deps.Cases.List(ctx, f, r)
	if err != nil {
		return nil, err
	}
	body := api.CaseList{Items: make([]api.CaseList_Items_Item, len(items)), NextCursor: nextCursor(next)}
	for i, it := range items {
		if it.Tombstone != nil {
			err = body.Items[i].FromTombstone(api.Tombstone{Id: uuid.MustParse(it.Tombstone.ID), Deleted: true, UpdatedAt: it.Tombstone.UpdatedAt})
		} else {
			err = body.Items[i].FromCase(caseBody(*it.View))
		}
		if err != nil {
			return nil, err
		}
	}
	return api.ListCases200JSONResponse{Body: body, Headers: api.ListCases200ResponseHeaders{CacheControl: &noStore}}, nil
}

func (h *handlers) CreateCase(ctx context.Context, req api.CreateCaseRequestObject) (api.CreateCaseResponseObject, error) {
	b := req.Body
	person := b.Person
	id := ""
	if b.Id != nil {
		id = b.Id.String()
	}
	v, created, err := h.deps.Cases.CreateWithID(ctx, id, casePatch(nullable.Nullable[openapi_types.UUID](optionalUUID(b.AssignedTo)), b.OpenedOn, &person, b.Trafficking),
		req.Params.AllowDuplicate != nil && *req.Params.AllowDuplicate)
	if err != nil {
		return nil, err
	}
	if !created {
		return api.CreateCase200JSONResponse{Body: caseBody(v), Headers: api.CreateCase200ResponseHeaders{ETag: etag(v.Version), CacheControl: &noStore}}, nil
	}
	return api.CreateCase201JSONResponse{Body: caseBody(v), Headers: api.CreateCase201ResponseHeaders{
		ETag: etag(v.Version), Location: location("/api/v1/cases/", v.ID), CacheControl: &noStore,
	}}, nil
}

// optionalUUID is an optional (not nullable) wire id as a nullable one.
func optionalUUID(id *openapi_types.UUID) nullable.Nullable[openapi_types.UUID] {
	if id == nil {
		return nullable.Nullable[openapi_types.UUID]{}
	}
	return nullable.NewNullableWithValue(*id)
}

func (h *handlers) GetCase(ctx context.Context, req api.GetCaseRequestObject) (api.GetCaseResponseObject, error) {
	v, err := h.deps.Cases.Get(ctx, req.Id.String())
	if err != nil {
		return nil, err
	}
	return api.GetCase200JSONResponse{Body: caseBody(v), Headers: api.GetCase200ResponseHeaders{ETag: etag(v.Version), CacheControl: &noStore}}, nil
}

func (h *handlers) UpdateCase(ctx context.Context, req api.UpdateCaseRequestObject) (api.UpdateCaseResponseObject, error) {
	version, err := ifMatch(req.Params.IfMatch)
	if err != nil {
		return nil, err
	}
	b := req.Body
	v, err := h.deps.Cases.Update(ctx, req.Id.String(), version, casePatch(b.AssignedTo, b.OpenedOn, b.Person, b.Trafficking))
	if apperr.Is(err, apperr.PreconditionFailed) {
		if cur, gerr := h.deps.Cases.Get(ctx, req.Id.String()); gerr == nil {
			return nil, stale{err: err, current: caseBody(cur), etag: *etag(cur.Version)}
		}
	}
	if err != nil {
		return nil, err
	}
	return api.UpdateCase200JSONResponse{Body: caseBody(v), Headers: api.UpdateCase200ResponseHeaders{ETag: etag(v.Version), CacheControl: &noStore}}, nil
}

func (h *handlers) CloseCase(ctx context.Context, req api.CloseCaseRequestObject) (api.CloseCaseResponseObject, error) {
	v, err := h.deps.Cases.Close(ctx, req.Id.String(), string(req.Body.ClosureReason), domainDate(req.Body.ClosedOn))
	if err != nil {
		return nil, err
	}
	return api.CloseCase200JSONResponse{Body: caseBody(v), Headers: api.CloseCase200ResponseHeaders{ETag: etag(v.Version), CacheControl: &noStore}}, nil
}

func (h *handlers) ReopenCase(ctx context.Context, req api.ReopenCaseRequestObject) (api.ReopenCaseResponseObject, error) {
	v, err := h.deps.Cases.Reopen(ctx, req.Id.String())
	if err != nil {
		return nil, err
	}
	return api.ReopenCase200JSONResponse{Body: caseBody(v), Headers: api.ReopenCase200ResponseHeaders{ETag: etag(v.Version), CacheControl: &noStore}}, nil
}

func (h *handlers) ListCaseHistory(ctx context.Context, req api.ListCaseHistoryRequestObject) (api.ListCaseHistoryResponseObject, error) {
	r, err := listPage(req.Params.Limit, req.Params.Cursor, nil)
	if err != nil {
		return nil, err
	}
	items, next, err := h.deps.Cases.History(ctx, h.deps.History, req.Id.String(), r)
	if err != nil {
		return nil, err
	}
	body := api.HistoryList{Items: make([]api.HistoryEntry, len(items)), NextCursor: nextCursor(next)}
	for i, e := range items {
		body.Items[i] = api.HistoryEntry{
			Id: uuid.MustParse(e.ID), ChangedAt: e.ChangedAt, ActorId: uuid.MustParse(e.ActorID), Action: e.Action,
			Field: e.Field, Identifying: e.Identifying, OldValue: nullPtr(e.Old), NewValue: nullPtr(e.New),
		}
	}
	return api.ListCaseHistory200JSONResponse{Body: body, Headers: api.ListCaseHistory200ResponseHeaders{CacheControl: &noStore}}, nil
}

func nullPtr(s *string) nullable.Nullable[string] {
	if s == nil {
		return nullable.NewNullNullable[string]()
	}
	return nullable.NewNullableWithValue(*s)
}
