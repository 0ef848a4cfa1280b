package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/reports"
	"github.com/casework/casework/internal/tenant"
)

// Reports implements reports.Store with one aggregate query per report: the
// database groups and counts, the service only expands and protects the
// groups. The few expressions the dialects spell differently are chosen here.
type Reports struct {
	db *DB
}

// NewReports returns the report store.
func NewReports(db *DB) *Reports { return &Reports{db: db} }

// day renders a date column as "YYYY-MM-DD".
func (s *Reports) day(col string) string {
	if s.db.driver == config.Postgres {
		return "to_char(" + col + ", 'YYYY-MM-DD')"
	}
	return "substr(" + col + ", 1, 10)"
}

// set aggregates expr into a comma-separated list (distinct when asked).
func (s *Reports) set(expr string, distinct bool) string {
	d := ""
	if distinct {
		d = "DISTINCT "
	}
	if s.db.driver == config.Postgres {
		return "string_agg(" + d + expr + ", ',')"
	}
	return "group_concat(" + d + expr + ")"
}

// dateArg binds a day: as a date literal on PostgreSQL (independent of the
// session time zone), as the stored UTC text format on SQLite.
func (s *Reports) dateArg(t time.Time) any {
	t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if s.db.driver == config.Postgres {
		return t.Format(time.DateOnly)
	}
	return t
}

func (s *Reports) date(name string) string {
	if s.db.driver == config.Postgres {
		return "CAST(@" + name + " AS date)"
	}
	return "@" + name
}

// active is the condition that service row s counts in [@from, @to].
func (s *Reports) active() string {
	return counting + " AND s.started_on <= " + s.date("to") +
		" AND (s.ended_on IS NULL OR s.ended_on >= " + s.date("from") + ")"
}

func (s *Reports) args(scope tenant.Scope, from, to time.Time) map[string]any {
	return map[string]any{"from": s.dateArg(from), "to": s.dateArg(to), "org": scope.OrgID()}
}

func (s *Reports) query(ctx context.Context, q string, args map[string]any, each func(*sql.Rows) error) error {
	var values []any
	if len(args) > 0 { // gorm reads a map as named arguments only when the query names some
		values = append(values, args)
	}
	rows, err := s.db.gorm.WithContext(ctx).Raw(q, values...).Rows()
	if err != nil {
		return translate(err, "report")
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return translate(rows.Err(), "report")
}

// AssistanceGroups implements reports.Store.
func (s *Reports) AssistanceGroups(ctx context.Context, scope tenant.Scope, q reports.AssistanceQuery) ([]reports.CaseGroup, error) {
	if scope.Empty() {
		return nil, nil
	}
	active := s.active()
	opened := "c.opened_on BETWEEN " + s.date("from") + " AND " + s.date("to")
	// The activity span rules most cases out before their services are looked at.
	span := "c.active_to >= " + s.date("from") + " AND c.active_from <= " + s.date("to")
	where := "(" + opened + " OR (" + span + " AND EXISTS (SELECT 1 FROM services s WHERE s.case_id = c.id AND " + active + ")))"
	svcScope, openedDay := "", s.day("c.opened_on")
	if !scope.IsAll() {
		where = "((c.organization_id = @org AND " + where + ") OR (" + span + " AND EXISTS (SELECT 1 FROM services s WHERE s.case_id = c.id" +
			" AND s.provider_organization_id = @org AND " + active + ")))"
		svcScope = " AND (c.organization_id = @org OR s.provider_organization_id = @org)"
		openedDay = "CASE WHEN c.organization_id = @org THEN " + openedDay + " ELSE '' END"
	}
	perCase := func(agg string) string {
		return "coalesce((SELECT " + agg + " FROM services s WHERE s.case_id = c.id AND " + active + svcScope + "), '')"
	}
	type column struct {
		on   bool
		expr string
		dest func(*reports.CaseGroup) any
	}
	c := q.Columns
	columns := []column{
		{c.Sex, "c.sex", func(g *reports.CaseGroup) any { return &g.Sex }},
		{c.AgeGroup, "c.age_group", func(g *reports.CaseGroup) any { return &g.AgeGroup }},
		{c.Age, "c.age_at_identification", func(g *reports.CaseGroup) any { return &g.Age }},
		{c.Exploitation, "c.exploitation_types", func(g *reports.CaseGroup) any { return &g.ExploitationTypes }},
		{c.Organization, "CAST(c.organization_id AS text)", func(g *reports.CaseGroup) any { return &g.OrganizationID }},
		{c.City, "coalesce((SELECT o.city FROM organizations o WHERE o.id = c.organization_id), '')", func(g *reports.CaseGroup) any { return &g.City }},
		{c.Citizenship, "c.citizenships", func(g *reports.CaseGroup) any { return &g.Citizenships }},
		{c.ServiceTypes, perCase(s.set("s.type", true)), func(g *reports.CaseGroup) any { return &g.ServiceTypes }},
		{c.FundingProjects, perCase(s.set("coalesce(s.funding_project, 'none')", true)), func(g *reports.CaseGroup) any { return &g.FundingProjects }},
		{c.Periods, openedDay, func(g *reports.CaseGroup) any { return &g.OpenedOn }},
		{c.Periods, perCase(s.set(s.day("s.started_on")+" || '|' || coalesce("+s.day("s.ended_on")+", '')", false)), func(g *reports.CaseGroup) any { return &g.Spans }},
	}
	var sel, groupBy []string
	var on []column
	for _, col := range columns {
		if col.on {
			on = append(on, col)
			sel = append(sel, col.expr)
			groupBy = append(groupBy, fmt.Sprint(len(sel)))
		}
	}
	sqlText := "SELECT " + strings.Join(append(sel, "COUNT(*)"), ", ") + " FROM cases c WHERE " + where
	if len(groupBy) > 0 {
		sqlText += " GROUP BY " + strings.Join(groupBy, ", ")
	}
	var out []reports.CaseGroup
	err := s.query(ctx, sqlText, s.args(scope, q.From, q.To), func(rows *sql.Rows) error {
		var g reports.CaseGroup
		dest := make([]any, 0, len(on)+1)
		for _, col := range on {
			dest = append(dest, col.dest(&g))
		}
		if err := rows.Scan(append(dest, &g.People)...); err != nil {
			return err
		}
		if g.People > 0 {
			out = append(out, g)
		}
		return nil
	})
	return out, err
}

// DeliveredServices implements reports.Store.
func (s *Reports) DeliveredServices(ctx context.Context, scope tenant.Scope, from, to time.Time, each func(reports.DeliveredService) error) error {
	if scope.Empty() {
		return nil
	}
	q := "SELECT CAST(s.case_id AS text), s.type, s.status, CAST(s.provider_organization_id AS text), coalesce(s.funding_project, ''), " +
		s.day("s.started_on") + ", s.nights, s.cost_amount, coalesce(s.cost_currency, '') FROM services s WHERE " + s.active()
	if !scope.IsAll() {
		q += " AND (s.organization_id = @org OR s.provider_organization_id = @org)"
	}
	q += " ORDER BY s.case_id"
	return s.query(ctx, q, s.args(scope, from, to), func(rows *sql.Rows) error {
		var d reports.DeliveredService
		if err := rows.Scan(&d.CaseID, &d.Type, &d.Status, &d.ProviderID, &d.FundingProject, &d.StartedOn, &d.Nights, &d.CostAmount, &d.CostCurrency); err != nil {
			return err
		}
		return each(d)
	})
}

// Closures implements reports.Store.
func (s *Reports) Closures(ctx context.Context, scope tenant.Scope, from, to time.Time) ([]reports.Closure, error) {
	if scope.Empty() {
		return nil, nil
	}
	q := "SELECT coalesce(c.closure_reason, ''), " + s.day("coalesce(c.identified_on, c.opened_on)") + ", " + s.day("c.closed_on") +
		" FROM cases c WHERE c.status = 'closed' AND c.closed_on BETWEEN " + s.date("from") + " AND " + s.date("to")
	if !scope.IsAll() {
		q += " AND c.organization_id = @org"
	}
	var out []reports.Closure
	err := s.query(ctx, q, s.args(scope, from, to), func(rows *sql.Rows) error {
		var c reports.Closure
		if err := rows.Scan(&c.Reason, &c.IdentifiedOn, &c.ClosedOn); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// Returns implements reports.Store.
func (s *Reports) Returns(ctx context.Context, scope tenant.Scope, from, to time.Time) ([]reports.Return, error) {
	if scope.Empty() {
		return nil, nil
	}
	q := "SELECT CAST(s.case_id AS text), s.details FROM services s WHERE s.type = 'return' AND " + s.active()
	if !scope.IsAll() {
		q += " AND (s.organization_id = @org OR s.provider_organization_id = @org)"
	}
	q += " ORDER BY s.case_id"
	var out []reports.Return
	err := s.query(ctx, q, s.args(scope, from, to), func(rows *sql.Rows) error {
		var id, details string
		if err := rows.Scan(&id, &details); err != nil {
			return err
		}
		var d struct {
			DestinationCountry string `json:"destination_country"`
		}
		if err := json.Unmarshal([]byte(details), &d); err != nil {
			return fmt.Errorf("return details: %w", err)
		}
		out = append(out, reports.Return{CaseID: id, Country: d.DestinationCountry})
		return nil
	})
	return out, err
}

// ResearchCases implements reports.Store: the latest research_anonymised
// consent of the case (by recorded date, then id) must be given and not
// withdrawn.
func (s *Reports) ResearchCases(ctx context.Context, year int, each func(reports.ResearchCase) error) error {
	q := "SELECT " + s.day("c.opened_on") + ", c.sex, c.age_at_identification, c.citizenships, c.exploitation_types, " +
		"coalesce(c.labour_sector, ''), c.means_of_control, c.recruiter_relationship, coalesce(c.country_of_exploitation, '') " +
		`FROM cases c WHERE EXISTS (
			SELECT 1 FROM consents k WHERE k.case_id = c.id AND k.type = 'research_anonymised' AND k.given
			AND NOT EXISTS (SELECT 1 FROM consent_withdrawals w WHERE w.consent_id = k.id)
			AND NOT EXISTS (SELECT 1 FROM consents k2 WHERE k2.case_id = k.case_id AND k2.type = k.type
				AND (k2.recorded_on > k.recorded_on OR (k2.recorded_on = k.recorded_on AND k2.id > k.id))))`
	args := map[string]any{}
	if year != 0 {
		q += " AND c.opened_on BETWEEN " + s.date("from") + " AND " + s.date("to")
		args["from"] = s.dateArg(time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC))
		args["to"] = s.dateArg(time.Date(year, 12, 31, 0, 0, 0, 0, time.UTC))
	}
	return s.query(ctx, q, args, func(rows *sql.Rows) error {
		var c reports.ResearchCase
		var opened string
		if err := rows.Scan(&opened, &c.Sex, &c.Age, &c.Citizenships, &c.ExploitationTypes, &c.LabourSector,
			&c.MeansOfControl, &c.RecruiterRelationship, &c.CountryOfExploitation); err != nil {
			return err
		}
		if _, err := fmt.Sscanf(opened, "%d-", &c.Year); err != nil {
			return fmt.Errorf("opened_on %q: %w", opened, err)
		}
		return each(c)
	})
}

var _ reports.Store = (*Reports)(nil)
