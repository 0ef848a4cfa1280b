package httpapi_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/casework/casework/internal/apptest"
	"github.com/casework/casework/internal/store"
)

func idemCountCases(t *testing.T, env *apptest.Env, as *apptest.Caller) int {
	t.Helper()
	res := env.Do(t, http.MethodGet, "/api/v1/cases?limit=200", as, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("list: %d %s", res.Status, res.Body)
	}
	var list struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	res.Decode(t, &list)
	return len(list.Items)
}

func TestIdempotencyKey(t *testing.T) {
	apptest.ForEachDB(t, func(t *testing.T, db *store.DB) {
		env := apptest.New(t, db)
		org := env.NewOrg(t, "RODNIK", "Almaty")
		cw := env.NewUser(t, org.ID, "cw@rodnik.example", "caseworker")
		other := env.NewUser(t, org.ID, "cw2@rodnik.example", "caseworker")
		body := map[string]any{"person": map[string]any{"sex": "female", "given_name": "Replay"}}

		first := env.Do(t, http.MethodPost, "/api/v1/cases", cw, body, "Idempotency-Key", "key-1")
		if first.Status != http.StatusCreated {
			t.Fatalf("first: %d %s", first.Status, first.Body)
		}
		replay := env.Do(t, http.MethodPost, "/api/v1/cases", cw, body, "Idempotency-Key", "key-1")
		if replay.Status != http.StatusCreated || string(replay.Body) != string(first.Body) {
			t.Fatalf("replay: %d %s, want the first response %s", replay.Status, replay.Body, first.Body)
		}
		if replay.Header.Get("Idempotent-Replayed") != "true" || replay.Header.Get("ETag") != first.Header.Get("ETag") ||
			replay.Header.Get("Location") != first.Header.Get("Location") {
			t.Errorf("replay headers %v, first %v", replay.Header, first.Header)
		}
		if n := idemCountCases(t, env, cw); n != 1 {
			t.Fatalf("%d cases after a replay, want 1", n)
		}

		changed := env.Do(t, http.MethodPost, "/api/v1/cases", cw, map[string]any{"person": map[string]any{"sex": "male"}}, "Idempotency-Key", "key-1")
		if changed.Status != http.StatusUnprocessableEntity || changed.Problem(t).Errors[0].Field != "Idempotency-Key" {
			t.Fatalf("same key, other body: %d %s", changed.Status, changed.Body)
		}

		// Keys are scoped to the caller: another user's key-1 is its own.
		mine := env.Do(t, http.MethodPost, "/api/v1/cases", other, body, "Idempotency-Key", "key-1")
		if mine.Status != http.StatusCreated || string(mine.Body) == string(first.Body) {
			t.Fatalf("other caller, same key: %d %s", mine.Status, mine.Body)
		}

		// A failed request does not hold the key: the corrected retry succeeds.
		bad := env.Do(t, http.MethodPost, "/api/v1/cases", cw, map[string]any{"person": map[string]any{"citizenships": []string{"XX"}}}, "Idempotency-Key", "key-2")
		if bad.Status != http.StatusUnprocessableEntity {
			t.Fatalf("invalid create: %d %s", bad.Status, bad.Body)
		}
		retry := env.Do(t, http.MethodPost, "/api/v1/cases", cw, map[string]any{"person": map[string]any{"citizenships": []string{"KZ"}}}, "Idempotency-Key", "key-2")
		if retry.Status != http.StatusCreated {
			t.Fatalf("retry after a failure: %d %s", retry.Status, retry.Body)
		}

		// Concurrent uses of one key create one case; the others are told
		// it is in flight (409) or get the replay.
		before := idemCountCases(t, env, cw)
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := env.Do(t, http.MethodPost, "/api/v1/cases", cw, body, "Idempotency-Key", "key-3")
				mu.Lock()
				statuses[res.Status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if statuses[http.StatusCreated] < 1 || statuses[http.StatusCreated]+statuses[http.StatusConflict] != 8 {
			t.Errorf("concurrent statuses %v, want 201s and 409s only", statuses)
		}
		if n := idemCountCases(t, env, cw); n != before+1 {
			t.Errorf("%d cases after 8 concurrent uses of one key, want %d", n, before+1)
		}

		// The stored response holds identifying data; it is not stored in clear.
		var plain int
		if err := db.SQL().QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM idempotency_keys WHERE body LIKE '%%%s%%'", "Replay")).Scan(&plain); err != nil {
			t.Fatal(err)
		}
		if plain != 0 {
			t.Errorf("%d stored responses hold the name in clear", plain)
		}
	})
}
