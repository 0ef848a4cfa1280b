package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/demo"
	"github.com/casework/casework/internal/store"
)

// TestDemoPseudonymisedViews loads the demo set and checks, for every case in
// it, that an IOM coordinator's view carries no identifying field while the
// owner's caseworker sees the person in full.
func TestDemoPseudonymisedViews(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		var out bytes.Buffer
		const n = 40
		if err := demo.Load(context.Background(), env.App, n, &out); err != nil {
			t.Fatalf("load: %v", err)
		}
		if err := demo.Load(context.Background(), env.App, n, &out); err == nil {
			t.Fatal("loading the demo twice succeeded")
		}
		m := regexp.MustCompile(`(?m)^\s{4}(\S+)$`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no demo password printed:\n%s", out.String())
		}
		coordinator := env.SignIn(t, "coordinator@iom.demo", m[1])

		identifying := []string{`"given_name"`, `"family_name"`, `"other_names"`, `"date_of_birth"`, `"phone"`, `"address"`, `"identity_documents"`, `"notes"`, `"facility"`}
		seen, pages := 0, 0
		cursor := ""
		for {
			path := "/api/v1/cases?limit=7"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			res := env.Do(t, http.MethodGet, path, coordinator, nil)
			if res.Status != http.StatusOK {
				t.Fatalf("list as coordinator: %d %s", res.Status, res.Body)
			}
			for _, f := range identifying {
				if strings.Contains(string(res.Body), f) {
					t.Fatalf("coordinator's case list carries %s: %s", f, res.Body)
				}
			}
			var page struct {
				Items []struct {
					ID   string `json:"id"`
					View string `json:"view"`
				} `json:"items"`
				NextCursor *string `json:"next_cursor"`
			}
			res.Decode(t, &page)
			for _, c := range page.Items {
				seen++
				if c.View != "pseudonymised" {
					t.Errorf("case %s: view %q for a coordinator", c.ID, c.View)
				}
				one := env.Do(t, http.MethodGet, "/api/v1/cases/"+c.ID, coordinator, nil)
				svcs := env.Do(t, http.MethodGet, "/api/v1/cases/"+c.ID+"/services", coordinator, nil)
				for _, body := range [][]byte{one.Body, svcs.Body} {
					for _, f := range identifying {
						if strings.Contains(string(body), f) {
							t.Errorf("case %s: coordinator's view carries %s", c.ID, f)
						}
					}
				}
			}
			pages++
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		if seen != n || pages < 2 {
			t.Fatalf("coordinator saw %d cases on %d pages, want %d", seen, pages, n)
		}

		// The owners see their people in full: every demo case has a name.
		cw := env.SignIn(t, "caseworker1@rodnik.demo", m[1])
		res := env.Do(t, http.MethodGet, "/api/v1/cases?limit=200", cw, nil)
		var own struct {
			Items []struct {
				View   string `json:"view"`
				Person struct {
					GivenName string `json:"given_name"`
				} `json:"person"`
			} `json:"items"`
		}
		if err := json.Unmarshal(res.Body, &own); err != nil {
			t.Fatal(err)
		}
		if len(own.Items) == 0 {
			t.Fatal("the Rodnik caseworker sees no demo case")
		}
		for _, c := range own.Items {
			if c.View != "full" || c.Person.GivenName == "" {
				t.Errorf("owner's view %q with given name %q", c.View, c.Person.GivenName)
			}
		}
	})
}
