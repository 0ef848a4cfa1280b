package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/casework/casework/internal/apptest"
)

// Helpers shared by the test files of this package. A helper belongs here
// only when more than one file needs exactly the same logic; helpers that
// one area alone uses stay, prefixed, in that area's file.

// shortBody is b cut to its first 600 bytes, for failure messages.
func shortBody(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// strOrNil is *p, or "<nil>" for a nil p, for failure messages.
func strOrNil(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// sameSet reports whether a and b hold the same strings, each as often.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// withCursor is path with a cursor query parameter added (path itself when
// cursor is empty).
func withCursor(path, cursor string) string {
	if cursor == "" {
		return path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "cursor=" + url.QueryEscape(cursor)
}

// mustStatus fails the test now unless res answered want.
func mustStatus(t testing.TB, res *apptest.Response, want int, what string) {
	t.Helper()
	if res.Status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, res.Status, want, shortBody(res.Body))
	}
}

// mustID decodes the id of a created record and fails the test now unless
// it is a UUID.
func mustID(t testing.TB, res *apptest.Response) string {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	res.Decode(t, &v)
	if uuid.Validate(v.ID) != nil {
		t.Fatalf("no id in %s", shortBody(res.Body))
	}
	return v.ID
}

// mustCreateCase registers a case with body as caller (allowing a possible
// duplicate), fails the test now unless it answers 201 with a UUID id, and
// returns the id and the response.
func mustCreateCase(t testing.TB, env *apptest.Env, caller *apptest.Caller, body any) (string, *apptest.Response) {
	t.Helper()
	res := env.Do(t, http.MethodPost, "/api/v1/cases?allow_duplicate=true", caller, body)
	mustStatus(t, res, http.StatusCreated, "create case")
	return mustID(t, res), res
}

// mustETagAs reads path as caller and returns its ETag; it fails the test
// now unless the answer is 200 with an ETag.
func mustETagAs(t testing.TB, env *apptest.Env, caller *apptest.Caller, path string) string {
	t.Helper()
	res := env.Do(t, http.MethodGet, path, caller, nil)
	mustStatus(t, res, http.StatusOK, "GET "+path+" for its ETag")
	tag := res.Header.Get("ETag")
	if tag == "" {
		t.Fatalf("GET %s: no ETag", path)
	}
	return tag
}

// patchIfMatch sends a PATCH of path as caller with If-Match etag (none when
// etag is empty) and returns the answer unchecked.
func patchIfMatch(t testing.TB, env *apptest.Env, caller *apptest.Caller, path, etag string, body any) *apptest.Response {
	t.Helper()
	if etag == "" {
		return env.Do(t, http.MethodPatch, path, caller, body)
	}
	return env.Do(t, http.MethodPatch, path, caller, body, "If-Match", etag)
}

// mustProblemShape decodes a problem body (failing the test now unless it is
// a JSON object) without the members that differ between any two requests
// (request_id, instance), for comparing a foreign answer with a missing one.
func mustProblemShape(t testing.TB, res *apptest.Response) map[string]any {
	t.Helper()
	var m map[string]any
	res.Decode(t, &m)
	delete(m, "request_id")
	delete(m, "instance")
	return m
}

// mustAuditEvents reads every audit event matching q as the IOM admin, 200
// a page, decoding each into an E; it fails the test now on any answer but
// 200 or after 100 pages.
func mustAuditEvents[E any](t testing.TB, env *apptest.Env, q url.Values) []E {
	t.Helper()
	var out []E
	cursor := ""
	for range 100 {
		pq := url.Values{}
		for k, v := range q {
			pq[k] = v
		}
		pq.Set("limit", "200")
		if cursor != "" {
			pq.Set("cursor", cursor)
		}
		res := env.Do(t, http.MethodGet, "/api/v1/audit-events?"+pq.Encode(), env.Admin, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("audit events %v: status %d, want 200: %s", pq, res.Status, res.Body)
		}
		var page struct {
			Items      []E     `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		res.Decode(t, &page)
		out = append(out, page.Items...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return out
		}
		cursor = *page.NextCursor
	}
	t.Fatalf("audit events %v: too many pages", q)
	return nil
}
