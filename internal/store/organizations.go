package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/organizations"
	"github.com/casework/casework/internal/page"
	"github.com/casework/casework/internal/tenant"
)

type organizationRow struct {
	ID        string `gorm:"primaryKey"`
	Name      string
	Code      string
	Kind      string
	City      string
	Active    bool
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time `gorm:"autoUpdateTime:false"` // set by the service
}

func (organizationRow) TableName() string { return "organizations" }

func (r organizationRow) domain() organizations.Organization {
	return organizations.Organization{
		ID: r.ID, Name: r.Name, Code: r.Code, Kind: r.Kind, City: r.City, Active: r.Active,
		Version: r.Version, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// Organizations implements organizations.Store.
type Organizations struct{ db *DB }

// NewOrganizations returns the organisation store.
func NewOrganizations(db *DB) *Organizations { return &Organizations{db: db} }

// List implements organizations.Store.
func (s *Organizations) List(ctx context.Context, scope tenant.Scope, r page.Request) ([]organizations.Organization, error) {
	q := scoped(s.db.gorm.WithContext(ctx), scope, "id")
	var rows []organizationRow
	if err := paged(q, r, "id", "updated_at").Find(&rows).Error; err != nil {
		return nil, translate(err, "organization")
	}
	out := make([]organizations.Organization, len(rows))
	for i, row := range rows {
		out[i] = row.domain()
	}
	return out, nil
}

// Get implements organizations.Store.
func (s *Organizations) Get(ctx context.Context, scope tenant.Scope, id string) (organizations.Organization, error) {
	return s.get(s.db.gorm.WithContext(ctx), scope, id)
}

func (s *Organizations) get(q *gorm.DB, scope tenant.Scope, id string) (organizations.Organization, error) {
	var row organizationRow
	if err := scoped(q, scope, "id").Where("id = ?", id).Take(&row).Error; err != nil {
		return organizations.Organization{}, translate(err, "organization")
	}
	return row.domain(), nil
}

// Create implements organizations.Store.
func (s *Organizations) Create(ctx context.Context, o organizations.Organization) error {
	row := organizationRow{
		ID: o.ID, Name: o.Name, Code: o.Code, Kind: o.Kind, City: o.City, Active: o.Active,
		Version: o.Version, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
	if err := s.db.gorm.WithContext(ctx).Create(&row).Error; err != nil {
		if apperr.Is(translate(err, ""), apperr.Conflict) {
			return apperr.Wrap(apperr.Conflict, "an organisation with this code already exists", err)
		}
		return translate(err, "organization")
	}
	return nil
}

// Update implements organizations.Store.
func (s *Organizations) Update(ctx context.Context, scope tenant.Scope, id string, version int64, c organizations.Changes) (organizations.Organization, error) {
	var out organizations.Organization
	err := s.db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		set := map[string]any{"version": gorm.Expr("version + 1"), "updated_at": Now()}
		if c.Name != nil {
			set["name"] = *c.Name
		}
		if c.City != nil {
			set["city"] = *c.City
		}
		if c.Active != nil {
			set["active"] = *c.Active
		}
		res := scoped(tx.Model(&organizationRow{}), scope, "id").Where("id = ? AND version = ?", id, version).Updates(set)
		if res.Error != nil {
			return translate(res.Error, "organization")
		}
		if res.RowsAffected == 0 {
			if _, err := s.get(tx, scope, id); err != nil {
				return err
			}
			return apperr.New(apperr.PreconditionFailed, "the organisation was changed since you read it")
		}
		if c.Active != nil {
			if err := bumpPolicyVersion(tx); err != nil {
				return err
			}
		}
		var err error
		out, err = s.get(tx, scope, id)
		return err
	})
	return out, err
}

// IOMExists reports whether the IOM organisation has been created.
func (s *Organizations) IOMExists(ctx context.Context) (bool, error) {
	var n int64
	err := s.db.gorm.WithContext(ctx).Model(&organizationRow{}).Where("kind = ?", "iom").Count(&n).Error
	return n > 0, translate(err, "organization")
}

// ByCode returns the organisation with code, for operators' tools; NotFound.
func (s *Organizations) ByCode(ctx context.Context, code string) (organizations.Organization, error) {
	var row organizationRow
	if err := s.db.gorm.WithContext(ctx).Where("code = ?", code).Take(&row).Error; err != nil {
		return organizations.Organization{}, translate(err, "organization")
	}
	return row.domain(), nil
}

// Code implements cases.OrgCodes: the code an organisation's case numbers
// start with.
func (s *Organizations) Code(ctx context.Context, orgID string) (string, error) {
	o, err := s.Get(ctx, tenant.All(), orgID)
	return o.Code, err
}
