package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Suppressed is how a suppressed count is written in CSV and XLSX ("c" for
// confidential, as statistics offices write it).
const Suppressed = "[c]"

// Languages of column labels.
var Languages = []string{"en", "ru", "kk"}

var labels = map[string][3]string{
	DimSex:                {"Sex", "Пол", "Жынысы"},
	DimAgeGroup:           {"Age group at identification", "Возрастная группа при выявлении", "Анықталған кездегі жас тобы"},
	DimSexAge:             {"Women, men, girls, boys", "Женщины, мужчины, девочки, мальчики", "Әйелдер, ерлер, қыздар, ұлдар"},
	DimAgeBroad:           {"Age band (CTDC)", "Возрастной диапазон (CTDC)", "Жас аралығы (CTDC)"},
	DimExploitation:       {"Form of exploitation", "Форма эксплуатации", "Қанау түрі"},
	DimOrganization:       {"Organisation", "Организация", "Ұйым"},
	DimCity:               {"City", "Город", "Қала"},
	DimCitizenship:        {"Citizenship", "Гражданство", "Азаматтығы"},
	DimServiceType:        {"Service", "Услуга", "Қызмет"},
	DimFundingProject:     {"Funding project", "Проект финансирования", "Қаржыландыру жобасы"},
	DimMonth:              {"Month", "Месяц", "Ай"},
	DimQuarter:            {"Quarter", "Квартал", "Тоқсан"},
	DimYear:               {"Year", "Год", "Жыл"},
	DimStatus:             {"Service status", "Статус услуги", "Қызмет мәртебесі"},
	DimProvider:           {"Provider", "Поставщик услуги", "Қызмет көрсетуші"},
	DimClosureReason:      {"Closure reason", "Причина закрытия", "Жабу себебі"},
	DimDestinationCountry: {"Destination country", "Страна возвращения", "Қайтару елі"},
	"people":              {"People", "Человек", "Адам саны"},
	"services":            {"Services", "Услуг", "Қызметтер саны"},
	"nights":              {"Nights of shelter", "Ночей в приюте", "Баспанадағы түндер"},
	"cost":                {"Cost", "Стоимость", "Құны"},
	"total":               {"Total", "Всего", "Барлығы"},
	"table":               {"Table", "Таблица", "Кесте"},
	"category":            {"Category", "Категория", "Санат"},
	"closures":            {"Cases closed, by reason", "Закрытые дела по причинам", "Себептері бойынша жабылған істер"},
	"returns":             {"People returned, by destination country", "Возвращённые по странам", "Елдер бойынша қайтарылғандар"},
	"time_to_closure":     {"Days from identification to closure", "Дней от выявления до закрытия", "Анықталғаннан жабылғанға дейінгі күндер"},
	"p25_days":            {"25th percentile", "25-й процентиль", "25-ші процентиль"},
	"median_days":         {"Median", "Медиана", "Медиана"},
	"p75_days":            {"75th percentile", "75-й процентиль", "75-ші процентиль"},
}

// Label is the column label of name in lang (en, ru or kk; English for any
// other).
func Label(name, lang string) string {
	l, ok := labels[name]
	if !ok {
		return name
	}
	switch lang {
	case "ru":
		return l[1]
	case "kk":
		return l[2]
	}
	return l[0]
}

// Grid is a report laid out as a header row and data rows of strings and
// integers, for CSV and XLSX.
type Grid [][]any

// AssistanceGrid lays out an assistance report.
func AssistanceGrid(r Report, lang string) Grid {
	g := Grid{append(dimHeader(r.Params.GroupBy, lang), Label("people", lang))}
	for _, row := range r.Rows {
		line := dimCells(r.Params.GroupBy, row, lang)
		g = append(g, append(line, count(row.Suppressed, row.People)))
	}
	return g
}

// ServicesGrid lays out a services report, with one cost column per
// currency.
func ServicesGrid(r Report, lang string) Grid {
	var currencies []string
	for _, row := range r.Rows {
		for c := range row.Cost {
			if !slices.Contains(currencies, c) {
				currencies = append(currencies, c)
			}
		}
	}
	slices.Sort(currencies)
	head := append(dimHeader(r.Params.GroupBy, lang), Label("services", lang), Label("people", lang), Label("nights", lang))
	for _, c := range currencies {
		head = append(head, Label("cost", lang)+" ("+c+")")
	}
	g := Grid{head}
	for _, row := range r.Rows {
		line := dimCells(r.Params.GroupBy, row, lang)
		line = append(line, count(row.Suppressed, row.Services), count(row.Suppressed, row.People), count(row.Suppressed, row.Nights))
		for _, c := range currencies {
			line = append(line, count(row.Suppressed, row.Cost[c]))
		}
		g = append(g, line)
	}
	return g
}

// OutcomesGrid lays out an outcomes report as one table of three parts.
func OutcomesGrid(o Outcomes, lang string) Grid {
	g := Grid{{Label("table", lang), Label("category", lang), Label("people", lang)}}
	part := func(name, dim string, rows []Row) {
		for _, row := range rows {
			cat := Label("total", lang)
			if v := row.Group[dim]; v != nil {
				cat = *v
			}
			g = append(g, []any{Label(name, lang), cat, count(row.Suppressed, row.People)})
		}
	}
	part("closures", DimClosureReason, o.Closures)
	part("returns", DimDestinationCountry, o.Returns)
	t := o.TimeToClosure
	g = append(g, []any{Label("time_to_closure", lang), Label("people", lang), count(t.Suppressed, t.People)})
	for _, q := range []struct {
		name string
		v    int
	}{{"p25_days", t.P25}, {"median_days", t.Median}, {"p75_days", t.P75}} {
		var cell any = ""
		switch {
		case t.Suppressed:
			cell = Suppressed
		case t.HasQuartiles:
			cell = int64(q.v)
		}
		g = append(g, []any{Label("time_to_closure", lang), Label(q.name, lang), cell})
	}
	return g
}

func dimHeader(dims []string, lang string) []any {
	out := make([]any, len(dims))
	for i, d := range dims {
		out[i] = Label(d, lang)
	}
	return out
}

func dimCells(dims []string, row Row, lang string) []any {
	out := make([]any, len(dims))
	for i, d := range dims {
		if v := row.Group[d]; v != nil {
			out[i] = *v
		} else {
			out[i] = Label("total", lang)
		}
	}
	return out
}

func count(suppressed bool, n int64) any {
	if suppressed {
		return Suppressed
	}
	return n
}

// WriteCSV writes g as CSV. A text cell that a spreadsheet would read as a
// formula is prefixed with an apostrophe.
func (g Grid) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	for _, row := range g {
		line := make([]string, len(row))
		for i, v := range row {
			switch x := v.(type) {
			case int64:
				line[i] = strconv.FormatInt(x, 10)
			case string:
				line[i] = defuse(x)
			default:
				line[i] = fmt.Sprint(x)
			}
		}
		if err := cw.Write(line); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteXLSX writes g as a one-sheet workbook; counts are numbers, text is
// text (never a formula).
func (g Grid) WriteXLSX(w io.Writer, sheet string) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	for i, row := range g {
		cell, err := excelize.CoordinatesToCellName(1, i+1)
		if err != nil {
			return err
		}
		if err := sw.SetRow(cell, row); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}
