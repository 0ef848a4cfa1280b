package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// result is one scenario's measurement.
type result struct {
	Scenario string        `json:"scenario"`
	Database string        `json:"database"`
	Cases    int           `json:"cases"`
	Conns    int           `json:"connections"`
	ReqPerS  float64       `json:"requests_per_second,omitempty"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns,omitempty"`
	Min      time.Duration `json:"min_ns"`
	Max      time.Duration `json:"max_ns"`
	Errors   int           `json:"errors"`
	RSSBytes int64         `json:"server_rss_bytes,omitempty"`
	Note     string        `json:"note,omitempty"`
}

func (r result) row() string {
	rps, p99, rss := "-", "-", "-"
	if r.ReqPerS > 0 {
		rps = fmt.Sprintf("%.0f", r.ReqPerS)
	}
	if r.P99 > 0 {
		p99 = ms(r.P99)
	}
	if r.RSSBytes > 0 {
		rss = fmt.Sprintf("%d MB", r.RSSBytes>>20)
	}
	return fmt.Sprintf("%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t", r.Scenario, r.Database, r.Cases, r.Conns, rps,
		ms(r.P50), p99, ms(r.Min), ms(r.Max), r.Errors, rss)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// reportPath is the benchmarked report: one year, people assisted by sex ×
// age group × exploitation type, across every organisation.
const reportPath = "/api/v1/reports/assistance?from=2025-01-01&to=2025-12-31&group_by=sex,age_group,exploitation_type"

// reportScenario times the assistance report over HTTP, one request at a
// time (so the time is the report's, not the queue's), as the IOM
// coordinator, after one warm-up run.
func reportScenario(ctx context.Context, base, driver string, ds dataset, runs int) (result, error) {
	token, err := signIn(base, "coordinator@bench.example")
	if err != nil {
		return result{}, err
	}
	r := result{Scenario: "assistance report", Database: driver, Cases: ds.Cases, Conns: 1}
	var times []time.Duration
	for i := range runs + 1 {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+reportPath, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return r, err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		elapsed := time.Since(start)
		if res.StatusCode != http.StatusOK {
			r.Errors++
			return r, fmt.Errorf("report answered %d: %.300s", res.StatusCode, body)
		}
		if i == 0 {
			var rep struct {
				Rows []struct {
					Group  map[string]*string `json:"group"`
					People *int               `json:"people"`
				} `json:"rows"`
			}
			if err := json.Unmarshal(body, &rep); err == nil {
				for _, row := range rep.Rows {
					if row.Group["sex"] == nil && row.Group["age_group"] == nil && row.Group["exploitation_type"] == nil && row.People != nil {
						r.Note = fmt.Sprintf("%d rows, %d people assisted in 2025", len(rep.Rows), *row.People)
					}
				}
			}
			continue
		}
		times = append(times, elapsed)
	}
	slices.Sort(times)
	r.P50, r.Min, r.Max = times[len(times)/2], times[0], times[len(times)-1]
	return r, nil
}

// signIn returns an access token for a benchmark user.
func signIn(base, email string) (string, error) {
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	res, err := http.Post(base+"/api/v1/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&t); err != nil || res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("sign in %s: status %d", email, res.StatusCode)
	}
	return t.AccessToken, nil
}
