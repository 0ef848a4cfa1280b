package httpapi

import (
	"bytes"
	"context"
	"mime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/oapi-codegen/nullable"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/casework/casework/api"
	"github.com/casework/casework/internal/apperr"
	"github.com/casework/casework/internal/reports"
)

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

type negotiationKey struct{}

// negotiation is what the client said it accepts, for handlers that answer
// in several formats or languages, and its HTTP Basic credentials, for the
// client-credentials grant.
type negotiation struct {
	accept, language string
	basicUser        string
	basicPassword    string
	hasBasic         bool
}

// withNegotiation carries the Accept and Accept-Language headers and any
// Basic credentials into the request context (the strict handlers see only
// the context).
func withNegotiation(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		n := negotiation{accept: r.Header.Get("Accept"), language: r.Header.Get("Accept-Language")}
		n.basicUser, n.basicPassword, n.hasBasic = r.BasicAuth()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), negotiationKey{}, n)))
		return next(c)
	}
}

// weighted parses an Accept-style header into its values, best first
// (q=0 values left out).
func weighted(header string) []string {
	type item struct {
		v string
		q float64
	}
	var items []item
	for _, part := range strings.Split(header, ",") {
		v, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			// Language tags are not media types; take the bare value.
			v, _, _ = strings.Cut(strings.TrimSpace(part), ";")
			params = map[string]string{}
			if _, q, ok := strings.Cut(part, "q="); ok {
				params["q"] = strings.TrimSpace(q)
			}
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				q = f
			}
		}
		if v != "" && q > 0 {
			items = append(items, item{strings.ToLower(v), q})
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].q > items[j].q })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

// reportFormat is json, csv or xlsx: the format parameter, else the best
// match for Accept (JSON when it is absent). NotAcceptable when Accept names
// nothing this server can produce.
func reportFormat(ctx context.Context, param *string) (string, error) {
	if param != nil {
		return *param, nil
	}
	n, _ := ctx.Value(negotiationKey{}).(negotiation)
	if strings.TrimSpace(n.accept) == "" {
		return "json", nil
	}
	for _, t := range weighted(n.accept) {
		switch t {
		case "application/json", "application/*", "*/*":
			return "json", nil
		case "text/csv", "text/*":
			return "csv", nil
		case xlsxType:
			return "xlsx", nil
		}
	}
	return "", apperr.New(apperr.NotAcceptable, "reports are available as application/json, text/csv and "+xlsxType)
}

// reportLang is en, ru or kk: the lang parameter, else the first of them in
// Accept-Language, else English.
func reportLang(ctx context.Context, param *string) string {
	if param != nil {
		return *param
	}
	n, _ := ctx.Value(negotiationKey{}).(negotiation)
	for _, tag := range weighted(n.language) {
		base, _, _ := strings.Cut(tag, "-")
		if slices.Contains(reports.Languages, base) {
			return base
		}
	}
	return "en"
}

func reportParams(from, to openapi_types.Date, groupBy []string, org *uuid.UUID, suppress *bool) reports.Params {
	p := reports.Params{From: from.Time, To: to.Time, GroupBy: groupBy, Suppress: suppress == nil || *suppress}
	if org != nil {
		p.OrganizationID = org.String()
	}
	return p
}

func dims[T ~string](v *[]T) []string {
	if v == nil {
		return []string{}
	}
	return strs(*v)
}

// file is a rendered CSV or XLSX report and the headers that go with it.
type file struct {
	body        *bytes.Buffer
	disposition string
}

func render(format, name string, p reports.Params, g reports.Grid) (file, error) {
	var buf bytes.Buffer
	var err error
	if format == "csv" {
		err = g.WriteCSV(&buf)
	} else {
		err = g.WriteXLSX(&buf, name)
	}
	if err != nil {
		return file{}, err
	}
	fn := name + "-" + p.From.Format(time.DateOnly) + "-" + p.To.Format(time.DateOnly) + "." + format
	return file{body: &buf, disposition: `attachment; filename="` + fn + `"`}, nil
}

func nullInt(suppressed bool, n int64) nullable.Nullable[int] {
	if suppressed {
		return nullable.NewNullNullable[int]()
	}
	return nullable.NewNullableWithValue(int(n))
}

func nullOrg(id string) nullable.Nullable[openapi_types.UUID] {
	if id == "" {
		return nullable.NewNullNullable[openapi_types.UUID]()
	}
	return nullable.NewNullableWithValue(uuid.MustParse(id))
}

func suppressionBody(s reports.Suppression) api.ReportSuppression {
	return api.ReportSuppression{Applied: s.Applied, MinCount: s.MinCount, Suppressed: s.Suppressed}
}

func peopleRows(rows []reports.Row) []api.AssistanceRow {
	out := make([]api.AssistanceRow, len(rows))
	for i, r := range rows {
		out[i] = api.AssistanceRow{Group: r.Group, People: nullInt(r.Suppressed, r.People), Suppressed: r.Suppressed}
	}
	return out
}

func (h *handlers) GetAssistanceReport(ctx context.Context, req api.GetAssistanceReportRequestObject) (api.GetAssistanceReportResponseObject, error) {
	q := req.Params
	format, err := reportFormat(ctx, (*string)(q.Format))
	if err != nil {
		return nil, err
	}
	p := reportParams(q.From, q.To, dims(q.GroupBy), q.OrganizationId, q.Suppress)
	r, err := h.deps.Reports.Assistance(ctx, p)
	if err != nil {
		return nil, err
	}
	if format == "json" {
		return api.GetAssistanceReport200JSONResponse{Body: api.AssistanceReport{
			Report: "assistance", From: q.From, To: q.To, OrganizationId: nullOrg(r.Scope),
			GroupBy: typed[api.AssistanceDimension](p.GroupBy), Unit: "people",
			Suppression: suppressionBody(r.Suppression), Rows: peopleRows(r.Rows),
		}, Headers: api.GetAssistanceReport200ResponseHeaders{CacheControl: &noStore}}, nil
	}
	f, err := render(format, "assistance", p, reports.AssistanceGrid(r, reportLang(ctx, (*string)(q.Lang))))
	if err != nil {
		return nil, err
	}
	headers := api.GetAssistanceReport200ResponseHeaders{CacheControl: &noStore, ContentDisposition: &f.disposition}
	if format == "csv" {
		return api.GetAssistanceReport200TextcsvResponse{Body: f.body, ContentLength: int64(f.body.Len()), Headers: headers}, nil
	}
	return api.GetAssistanceReport200ApplicationvndOpenxmlformatsOfficedocumentSpreadsheetmlSheetResponse{
		Body: f.body, ContentLength: int64(f.body.Len()), Headers: headers}, nil
}

func (h *handlers) GetServicesReport(ctx context.Context, req api.GetServicesReportRequestObject) (api.GetServicesReportResponseObject, error) {
	q := req.Params
	format, err := reportFormat(ctx, (*string)(q.Format))
	if err != nil {
		return nil, err
	}
	p := reportParams(q.From, q.To, dims(q.GroupBy), q.OrganizationId, q.Suppress)
	r, err := h.deps.Reports.Services(ctx, p)
	if err != nil {
		return nil, err
	}
	if format == "json" {
		rows := make([]api.ServicesRow, len(r.Rows))
		for i, x := range r.Rows {
			cost := nullable.NewNullNullable[[]api.Money]()
			if !x.Suppressed {
				money := []api.Money{}
				for cur, amount := range x.Cost {
					money = append(money, api.Money{Currency: cur, Amount: amount})
				}
				slices.SortFunc(money, func(a, b api.Money) int { return strings.Compare(a.Currency, b.Currency) })
				cost = nullable.NewNullableWithValue(money)
			}
			rows[i] = api.ServicesRow{Group: x.Group, Services: nullInt(x.Suppressed, x.Services), People: nullInt(x.Suppressed, x.People),
				Nights: nullInt(x.Suppressed, x.Nights), Cost: cost, Suppressed: x.Suppressed}
		}
		return api.GetServicesReport200JSONResponse{Body: api.ServicesReport{
			Report: "services", From: q.From, To: q.To, OrganizationId: nullOrg(r.Scope),
			GroupBy: typed[api.ServicesDimension](p.GroupBy), Suppression: suppressionBody(r.Suppression), Rows: rows,
		}, Headers: api.GetServicesReport200ResponseHeaders{CacheControl: &noStore}}, nil
	}
	f, err := render(format, "services", p, reports.ServicesGrid(r, reportLang(ctx, (*string)(q.Lang))))
	if err != nil {
		return nil, err
	}
	headers := api.GetServicesReport200ResponseHeaders{CacheControl: &noStore, ContentDisposition: &f.disposition}
	if format == "csv" {
		return api.GetServicesReport200TextcsvResponse{Body: f.body, ContentLength: int64(f.body.Len()), Headers: headers}, nil
	}
	return api.GetServicesReport200ApplicationvndOpenxmlformatsOfficedocumentSpreadsheetmlSheetResponse{
		Body: f.body, ContentLength: int64(f.body.Len()), Headers: headers}, nil
}

func (h *handlers) GetOutcomesReport(ctx context.Context, req api.GetOutcomesReportRequestObject) (api.GetOutcomesReportResponseObject, error) {
	q := req.Params
	format, err := reportFormat(ctx, (*string)(q.Format))
	if err != nil {
		return nil, err
	}
	p := reportParams(q.From, q.To, nil, q.OrganizationId, q.Suppress)
	o, err := h.deps.Reports.Outcomes(ctx, p)
	if err != nil {
		return nil, err
	}
	if format == "json" {
		t := o.TimeToClosure
		ttc := api.TimeToClosure{People: nullInt(t.Suppressed, t.People), Suppressed: t.Suppressed,
			P25Days: nullable.NewNullNullable[int](), MedianDays: nullable.NewNullNullable[int](), P75Days: nullable.NewNullNullable[int]()}
		if t.HasQuartiles {
			ttc.P25Days, ttc.MedianDays, ttc.P75Days = nullable.NewNullableWithValue(t.P25), nullable.NewNullableWithValue(t.Median), nullable.NewNullableWithValue(t.P75)
		}
		return api.GetOutcomesReport200JSONResponse{Body: api.OutcomesReport{
			Report: "outcomes", From: q.From, To: q.To, OrganizationId: nullOrg(o.Scope),
			Suppression: suppressionBody(o.Suppression), Closures: peopleRows(o.Closures), Returns: peopleRows(o.Returns), TimeToClosure: ttc,
		}, Headers: api.GetOutcomesReport200ResponseHeaders{CacheControl: &noStore}}, nil
	}
	f, err := render(format, "outcomes", p, reports.OutcomesGrid(o, reportLang(ctx, (*string)(q.Lang))))
	if err != nil {
		return nil, err
	}
	headers := api.GetOutcomesReport200ResponseHeaders{CacheControl: &noStore, ContentDisposition: &f.disposition}
	if format == "csv" {
		return api.GetOutcomesReport200TextcsvResponse{Body: f.body, ContentLength: int64(f.body.Len()), Headers: headers}, nil
	}
	return api.GetOutcomesReport200ApplicationvndOpenxmlformatsOfficedocumentSpreadsheetmlSheetResponse{
		Body: f.body, ContentLength: int64(f.body.Len()), Headers: headers}, nil
}

func (h *handlers) ExportCTDC(ctx context.Context, req api.ExportCTDCRequestObject) (api.ExportCTDCResponseObject, error) {
	year := 0
	if req.Params.Year != nil {
		year = *req.Params.Year
	}
	e, err := h.deps.Reports.CTDC(ctx, year)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := e.WriteCSV(&buf); err != nil {
		return nil, err
	}
	name := "ctdc-export.csv"
	if year != 0 {
		name = "ctdc-export-" + strconv.Itoa(year) + ".csv"
	}
	disposition := `attachment; filename="` + name + `"`
	return api.ExportCTDC200TextcsvResponse{Body: &buf, ContentLength: int64(buf.Len()),
		Headers: api.ExportCTDC200ResponseHeaders{CacheControl: &noStore, ContentDisposition: &disposition}}, nil
}
