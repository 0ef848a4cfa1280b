package httpapi_test

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/config"
	"github.com/casework/casework/internal/httpapi"
)

// TestRoutesMatchSpec: every route echo serves is in openapi.yaml, and every
// operation in openapi.yaml is served — no undocumented route, no missing one.
func TestRoutesMatchSpec(t *testing.T) {
	env := apptest.New(t, apptest.NewDB(t, config.SQLite, true))
	spec, err := httpapi.LoadSpec()
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	want := map[string]bool{}
	for path, item := range spec.Paths.Map() {
		for method := range item.Operations() {
			want[method+" "+param.ReplaceAllString(path, ":")] = true
		}
	}
	got := map[string]bool{}
	for _, r := range env.App.Handler.Routes() {
		if r.Method == "echo_route_not_found" || strings.HasSuffix(r.Path, "/*") {
			continue
		}
		got[r.Method+" "+regexp.MustCompile(`:[A-Za-z_]+`).ReplaceAllString(r.Path, ":")] = true
	}
	var missing, extra []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("in openapi.yaml but not served: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("served but not in openapi.yaml: %v", extra)
	}
	if len(want) < 10 {
		t.Fatalf("spec lists only %d operations; the test is not looking at the right document", len(want))
	}
	// The documented operational routes answer.
	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml", "/docs", "/metrics"} {
		if res := env.Do(t, http.MethodGet, path, nil, nil); res.Status != http.StatusOK {
			t.Errorf("GET %s: %d", path, res.Status)
		}
	}
}
