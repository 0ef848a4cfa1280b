package store

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/audit"
	"github.com/casework/casework/internal/cases"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/crypt"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/services"
	"github.com/casework/casework/internal/webhooks"
)

type serviceRow struct {
	ID                     string `gorm:"primaryKey"`
	CaseID                 string
	OrganizationID         string
	ProviderOrganizationID string
	Type                   string
	Status                 string
	StartedOn              *time.Time
	EndedOn                *time.Time
	CostAmount             *int64
	CostCurrency           *string
	FundingProject         *string
	NotesEnc               *string
	Details                string
	DetailsEnc             *string
	DataKID                string `gorm:"column:data_kid"`
	Nights                 *int
	Version                int64
	RecordedBy             string
	CreatedAt              time.Time
	UpdatedAt              time.Time `gorm:"autoUpdateTime:false"` // set by the service, stored as returned
}

func (serviceRow) TableName() string { return "services" }

// Services implements services.Store. Notes and identifying details are
// sealed, bound to the service id.
type Services struct {
	db   *DB
	keys *crypt.Keyring
}

// NewServices returns the service store.
func NewServices(db *DB, keys *crypt.Keyring) *Services { return &Services{db: db, keys: keys} }

func (s *Services) aad(id, column string) string { return "services:" + id + ":" + column }

func (s *Services) toRow(v services.Service) (serviceRow, error) {
	plain, identifying := services.SplitDetails(v.Type, v.Details)
	pj, err := json.Marshal(plain)
	if err != nil {
		return serviceRow{}, err
	}
	row := serviceRow{
		ID: v.ID, CaseID: v.CaseID, OrganizationID: v.OrganizationID, ProviderOrganizationID: v.ProviderOrganizationID,
		Type: v.Type, Status: v.Status, StartedOn: optionalDate(v.StartedOn), EndedOn: optionalDate(v.EndedOn),
		FundingProject: optional(v.FundingProject), Details: string(pj), DataKID: s.keys.ActiveKID(),
		Version: v.Version, RecordedBy: v.RecordedBy, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
	}
	if v.Cost != nil {
		row.CostAmount, row.CostCurrency = &v.Cost.Amount, &v.Cost.Currency
	}
	if v.Notes != "" {
		sealed := s.keys.Seal([]byte(v.Notes), s.aad(v.ID, "notes"))
		row.NotesEnc = &sealed
	}
	if len(identifying) > 0 {
		ij, err := json.Marshal(identifying)
		if err != nil {
			return serviceRow{}, err
		}
		sealed := s.keys.Seal(ij, s.aad(v.ID, "details"))
		row.DetailsEnc = &sealed
	}
	// Nights are stored once the stay has ended, for reports.
	if _, discharged := v.Details["discharged_on"]; discharged {
		row.Nights = v.Nights(Now())
	}
	return row, nil
}

func (s *Services) fromRow(r serviceRow) (services.Service, error) {
	v := services.Service{
		ID: r.ID, CaseID: r.CaseID, OrganizationID: r.OrganizationID, ProviderOrganizationID: r.ProviderOrganizationID,
		Type: r.Type, Status: r.Status, StartedOn: optionalDate(r.StartedOn), EndedOn: optionalDate(r.EndedOn),
		FundingProject: value(r.FundingProject), RecordedBy: r.RecordedBy, Version: r.Version,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Details: map[string]any{},
	}
	if r.CostAmount != nil && r.CostCurrency != nil {
		v.Cost = &services.Money{Amount: *r.CostAmount, Currency: *r.CostCurrency}
	}
	if err := decodeDetails(r.Details, v.Details); err != nil {
		return v, err
	}
	if r.NotesEnc != nil {
		b, err := s.keys.Open(*r.NotesEnc, s.aad(r.ID, "notes"))
		if err != nil {
			return v, apperr.Wrap(apperr.Internal, "decrypt service notes", err)
		}
		v.Notes = string(b)
	}
	if r.DetailsEnc != nil {
		b, err := s.keys.Open(*r.DetailsEnc, s.aad(r.ID, "details"))
		if err != nil {
			return v, apperr.Wrap(apperr.Internal, "decrypt service details", err)
		}
		if err := decodeDetails(string(b), v.Details); err != nil {
			return v, err
		}
	}
	return v, nil
}

// decodeDetails reads stored details into into, numbers as int64.
func decodeDetails(s string, into map[string]any) error {
	var m map[string]any
	dec := json.NewDecoder(stringsReader(s))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return apperr.Wrap(apperr.Internal, "stored service details", err)
	}
	for k, v := range m {
		into[k] = numbersToInt(v)
	}
	return nil
}

func numbersToInt(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		return x.String()
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToInt(e)
		}
	}
	return v
}

// List implements services.Store.
func (s *Services) List(ctx context.Context, caseID string, r page.Request) ([]services.Service, error) {
	q := s.db.gorm.WithContext(ctx).Where("case_id = ?", caseID)
	var rows []serviceRow
	if err := paged(q, r, "id", "updated_at").Find(&rows).Error; err != nil {
		return nil, translate(err, "service")
	}
	out := make([]services.Service, len(rows))
	for i, row := range rows {
		v, err := s.fromRow(row)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// Get implements services.Store.
func (s *Services) Get(ctx context.Context, caseID, id string) (services.Service, error) {
	return s.get(s.db.gorm.WithContext(ctx), caseID, id, false)
}

func (s *Services) get(q *gorm.DB, caseID, id string, lock bool) (services.Service, error) {
	q = q.Where("case_id = ? AND id = ?", caseID, id)
	if lock && s.db.driver == config.Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var row serviceRow
	if err := q.Take(&row).Error; err != nil {
		return services.Service{}, translate(err, "service")
	}
	return s.fromRow(row)
}

// Create implements services.Store.
func (s *Services) Create(ctx context.Context, v services.Service, ev audit.Event) error {
	return s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row, err := s.toRow(v)
		if err != nil {
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			return translate(err, "service")
		}
		if err := followServices(tx, v.CaseID, true, ev.ActorID); err != nil {
			return err
		}
		data := webhooks.Data{CaseID: v.CaseID, ServiceID: v.ID}
		if err := enqueueEvent(tx, v.OrganizationID, webhooks.ServiceRecorded, data, v.CreatedAt); err != nil {
			return err
		}
		return insertAudit(tx, ev)
	})
}

// Update implements services.Store.
func (s *Services) Update(ctx context.Context, caseID, id string, version int64, change func(*services.Service) error, ev audit.Event) (services.Service, error) {
	var out services.Service
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		v, err := s.get(tx, caseID, id, true)
		if err != nil {
			return err
		}
		if v.Version != version {
			return apperr.New(apperr.PreconditionFailed, "the service was changed since you read it")
		}
		if err := change(&v); err != nil {
			return err
		}
		v.Version = version + 1
		row, err := s.toRow(v)
		if err != nil {
			return err
		}
		res := tx.Model(&serviceRow{}).Where("id = ? AND version = ?", id, version).
			Select("*").Omit("id", "case_id", "organization_id", "provider_organization_id", "type", "recorded_by", "created_at").Updates(&row)
		if res.Error != nil {
			return translate(res.Error, "service")
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.PreconditionFailed, "the service was changed since you read it")
		}
		if err := followServices(tx, caseID, false, ev.ActorID); err != nil {
			return err
		}
		out = v
		return insertAudit(tx, ev)
	})
	return out, err
}

// followServices moves a case's status on as its services now require
// (cases.StatusAfterService), writing the history, in tx. It also moves the
// case's updated_at on, so syncing clients see the change.
func followServices(tx *gorm.DB, caseID string, added bool, actorID string) error {
	if err := refreshActivity(tx, "id = ?", caseID); err != nil {
		return translate(err, "case")
	}
	var c struct {
		OrganizationID string
		Status         string
		Version        int64
	}
	if err := tx.Raw("SELECT organization_id, status, version FROM cases WHERE id = ?", caseID).Scan(&c).Error; err != nil {
		return translate(err, "case")
	}
	var statuses []string
	if err := tx.Table("services").Where("case_id = ?", caseID).Pluck("status", &statuses).Error; err != nil {
		return translate(err, "service")
	}
	allFinished, anyCompleted := true, false
	for _, st := range statuses {
		allFinished = allFinished && services.Finished(st)
		anyCompleted = anyCompleted || st == services.StatusCompleted
	}
	next, action := cases.StatusAfterService(c.Status, added, allFinished, anyCompleted)
	now := Now()
	if action == "" {
		return translate(tx.Exec("UPDATE cases SET updated_at = ? WHERE id = ?", now, caseID).Error, "case")
	}
	set := "status = ?, version = version + 1, updated_at = ?"
	changes := []cases.Change{{Action: action, Field: "status", Old: &c.Status, New: &next}}
	if action == cases.ActionReopenedByService {
		set += ", closed_on = NULL, closure_reason = NULL"
		changes = append(changes, cases.Change{Action: action, Field: "closed_on"}, cases.Change{Action: action, Field: "closure_reason"})
	}
	if err := tx.Exec("UPDATE cases SET "+set+" WHERE id = ?", next, now, caseID).Error; err != nil {
		return translate(err, "case")
	}
	return insertHistory(tx, caseID, c.OrganizationID, actorID, changes)
}
