package webhooks

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeStore is an in-memory outbox that leases honestly.
type fakeStore struct {
	mu        sync.Mutex
	rows      map[string]*fakeRow
	claims    int
	delivered []outcome
	failed    []outcome
}

type fakeRow struct {
	d           Delivery
	status      string // pending, delivered, failed
	leasedUntil time.Time
}

type outcome struct {
	id     string
	at     time.Time
	status int
	reason string
	next   *time.Time
}

func newFakeStore(ds ...Delivery) *fakeStore {
	s := &fakeStore{rows: map[string]*fakeRow{}}
	for _, d := range ds {
		s.rows[d.ID] = &fakeRow{d: d, status: "pending"}
	}
	return s
}

func (s *fakeStore) Claim(_ context.Context, now, leaseUntil time.Time, n int) ([]Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	var due []*fakeRow
	for _, r := range s.rows {
		if r.status == "pending" && !r.d.NextAttemptAt.After(now) && !r.leasedUntil.After(now) {
			due = append(due, r)
		}
	}
	slices.SortFunc(due, func(a, b *fakeRow) int {
		return cmp.Or(a.d.NextAttemptAt.Compare(b.d.NextAttemptAt), strings.Compare(a.d.ID, b.d.ID))
	})
	var out []Delivery
	for _, r := range due[:min(n, len(due))] {
		r.leasedUntil = leaseUntil
		out = append(out, r.d)
	}
	return out, nil
}

func (s *fakeStore) Delivered(_ context.Context, id string, at time.Time, status int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rows[id]
	r.status, r.leasedUntil = "delivered", time.Time{}
	r.d.Attempts++
	s.delivered = append(s.delivered, outcome{id: id, at: at, status: status})
	return nil
}

func (s *fakeStore) Failed(_ context.Context, id string, at time.Time, status int, reason string, next *time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rows[id]
	r.leasedUntil = time.Time{}
	r.d.Attempts++
	if next == nil {
		r.status = "failed"
	} else {
		r.d.NextAttemptAt = *next
	}
	s.failed = append(s.failed, outcome{id: id, at: at, status: status, reason: reason, next: next})
	return nil
}

func (s *fakeStore) row(id string) fakeRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.rows[id]
}

func (s *fakeStore) outcomes() (delivered, failed []outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.delivered), slices.Clone(s.failed)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

var (
	t0     = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	secret = []byte("test-secret")
)

func delivery(id, url string, at time.Time) Delivery {
	return Delivery{
		ID: id, WebhookID: "wh1", OrganizationID: "org1", URL: url, Secret: secret,
		Body:    []byte(`{"id":"ev-` + id + `","type":"case.created"}`),
		EventID: "ev-" + id, EventType: CaseCreated, NextAttemptAt: at,
	}
}

// receiver is a webhook endpoint that checks each request and answers with
// the status respond returns for the n-th request (from 1).
func receiver(t *testing.T, clk *clock, respond func(n int) int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(hits.Add(1))
		body, _ := io.ReadAll(r.Body)
		if err := Verify(secret, body, r.Header.Get(SignatureHeader), clk.Now(), 5*time.Minute); err != nil {
			t.Errorf("request %d: %v", n, err)
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("User-Agent") != "Casework-Webhooks/1" || r.Header.Get(EventHeader) != CaseCreated ||
			r.Header.Get(DeliveryHeader) == "" {
			t.Errorf("request %d: %s with headers %v", n, r.Method, r.Header)
		}
		w.WriteHeader(respond(n))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// withJitter replaces the backoff jitter for one test.
func withJitter(t *testing.T, f func(time.Duration) time.Duration) {
	old := jitter
	jitter = f
	t.Cleanup(func() { jitter = old })
}

func fullJitter(d time.Duration) time.Duration { return d }

func runOnce(t *testing.T, d *Dispatcher, want int) {
	t.Helper()
	n, err := d.RunOnce(context.Background())
	if err != nil || n != want {
		t.Fatalf("RunOnce = %d, %v; want %d, nil", n, err, want)
	}
}

func TestBackoff(t *testing.T) {
	withJitter(t, func(time.Duration) time.Duration { return 0 })
	want := map[int]time.Duration{
		1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 7: 32 * time.Minute,
		10: 15360 * time.Second, 11: 6 * time.Hour, 1000: 6 * time.Hour,
	}
	for n, w := range want {
		if got := Backoff(n); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, w)
		}
	}
	withJitter(t, fullJitter)
	if got := Backoff(2); got != 66*time.Second {
		t.Errorf("Backoff(2) with full jitter = %v, want 66s", got)
	}
}

func TestBackoffJitterRange(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := Backoff(1)
		if d < 30*time.Second || d > 33*time.Second {
			t.Fatalf("Backoff(1) = %v, want within [30s, 33s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Fatal("Backoff has no jitter")
	}
}

func TestDispatcherRetriesUntilSuccess(t *testing.T) {
	withJitter(t, fullJitter)
	clk := &clock{t: t0}
	srv, hits := receiver(t, clk, func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	store := newFakeStore(delivery("d1", srv.URL+"/hook?token=x", t0))
	d := NewDispatcher(store, Guard{AllowPrivate: true}.Client(), nil, clk.Now)

	for attempt := 1; attempt <= 4; attempt++ {
		runOnce(t, d, 1)
		runOnce(t, d, 0) // not due again yet
		if next := store.row("d1").d.NextAttemptAt; next.After(clk.Now()) {
			clk.Set(next)
		}
	}
	runOnce(t, d, 0)

	delivered, failed := store.outcomes()
	if hits.Load() != 4 || len(failed) != 3 || len(delivered) != 1 {
		t.Fatalf("hits %d, failed %d, delivered %d; want 4, 3, 1", hits.Load(), len(failed), len(delivered))
	}
	var prev time.Time
	for i, f := range failed {
		if f.next == nil || f.status != 500 || f.reason != "HTTP 500" {
			t.Fatalf("failure %d = %+v", i+1, f)
		}
		if wait := f.next.Sub(f.at); wait != Backoff(i+1) {
			t.Errorf("failure %d: next attempt after %v, want %v", i+1, wait, Backoff(i+1))
		}
		if !f.next.After(prev) {
			t.Errorf("failure %d: next %v not after %v", i+1, f.next, prev)
		}
		prev = *f.next
	}
	if delivered[0].status != http.StatusNoContent || store.row("d1").status != "delivered" {
		t.Fatalf("delivered = %+v, row %+v", delivered[0], store.row("d1"))
	}
}

func TestDispatcherGivesUpAfterMaxAttempts(t *testing.T) {
	clk := &clock{t: t0}
	srv, hits := receiver(t, clk, func(int) int { return http.StatusServiceUnavailable })
	store := newFakeStore(delivery("d1", srv.URL, t0))
	d := NewDispatcher(store, Guard{AllowPrivate: true}.Client(), nil, clk.Now)

	for range 2 * MaxAttempts {
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.Set(store.row("d1").d.NextAttemptAt)
	}
	clk.Set(t0.Add(365 * 24 * time.Hour))
	runOnce(t, d, 0)

	_, failed := store.outcomes()
	if hits.Load() != MaxAttempts || len(failed) != MaxAttempts {
		t.Fatalf("hits %d, failures %d; want %d", hits.Load(), len(failed), MaxAttempts)
	}
	for i, f := range failed {
		if last := i == MaxAttempts-1; (f.next == nil) != last {
			t.Errorf("failure %d: next = %v", i+1, f.next)
		}
	}
	if store.row("d1").status != "failed" {
		t.Fatalf("status = %q, want failed", store.row("d1").status)
	}
}

func TestDispatcherLastAttempt(t *testing.T) {
	clk := &clock{t: t0}
	srv, _ := receiver(t, clk, func(int) int { return http.StatusBadRequest })
	dl := delivery("d1", srv.URL, t0)
	dl.Attempts = MaxAttempts - 1
	store := newFakeStore(dl)
	runOnce(t, NewDispatcher(store, Guard{AllowPrivate: true}.Client(), nil, clk.Now), 1)
	if _, failed := store.outcomes(); len(failed) != 1 || failed[0].next != nil {
		t.Fatalf("failed = %+v, want one final failure", failed)
	}
}

func TestDispatcherTimeout(t *testing.T) {
	clk := &clock{t: t0}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	client := Guard{AllowPrivate: true}.Client()
	client.Timeout = 100 * time.Millisecond
	store := newFakeStore(delivery("d1", srv.URL, t0))
	runOnce(t, NewDispatcher(store, client, nil, clk.Now), 1)

	delivered, failed := store.outcomes()
	if len(delivered) != 0 || len(failed) != 1 {
		t.Fatalf("delivered %d, failed %d; want 0, 1", len(delivered), len(failed))
	}
	if f := failed[0]; f.reason != "timeout" || f.status != 0 || f.next == nil {
		t.Fatalf("failure = %+v, want a retriable timeout", f)
	}
}

func TestDispatcherFailures(t *testing.T) {
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
	}))
	defer redirect.Close()
	var reached atomic.Bool
	loopback := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Store(true) }))
	defer loopback.Close()

	cases := []struct {
		name   string
		guard  Guard
		url    string
		status int
		reason string
	}{
		{"redirect", Guard{AllowPrivate: true}, redirect.URL, http.StatusFound, "redirect not followed (HTTP 302)"},
		{"refused address", Guard{}, loopback.URL, 0, "address not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			store := newFakeStore(delivery("d1", c.url+"/hook?token=s3cr3t", t0))
			runOnce(t, NewDispatcher(store, c.guard.Client(), log, func() time.Time { return t0 }), 1)
			_, failed := store.outcomes()
			if len(failed) != 1 || failed[0].status != c.status || failed[0].reason != c.reason {
				t.Fatalf("failed = %+v, want status %d, reason %q", failed, c.status, c.reason)
			}
			if strings.Contains(logs.String(), "s3cr3t") || strings.Contains(logs.String(), "/hook") {
				t.Fatalf("the log shows the URL's path or query: %s", logs.String())
			}
		})
	}
	if reached.Load() {
		t.Fatal("the loopback receiver was reached")
	}
}

func TestConcurrentRunOnceNeverPostsTwice(t *testing.T) {
	clk := &clock{t: t0}
	var mu sync.Mutex
	posts := map[string]int{}
	srv, _ := receiver(t, clk, func(int) int { return http.StatusOK })
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts[r.Header.Get(DeliveryHeader)]++
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer counting.Close()

	const total = 70
	var ds []Delivery
	for i := range total {
		ds = append(ds, delivery(fmt.Sprintf("d%02d", i), counting.URL, t0))
	}
	store := newFakeStore(ds...)
	d := NewDispatcher(store, Guard{AllowPrivate: true}.Client(), nil, clk.Now)

	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			<-start
			for {
				n, err := d.RunOnce(context.Background())
				if err != nil {
					t.Error(err)
				}
				if n == 0 {
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()

	if len(posts) != total {
		t.Fatalf("%d deliveries posted, want %d", len(posts), total)
	}
	for id, n := range posts {
		if n != 1 {
			t.Errorf("%s posted %d times", id, n)
		}
	}
}

func TestRunDrainsFullBatchesAndWakesOnNotify(t *testing.T) {
	clk := &clock{t: t0}
	srv, hits := receiver(t, clk, func(int) int { return http.StatusOK })
	var ds []Delivery
	for i := range 45 {
		ds = append(ds, delivery(fmt.Sprintf("d%02d", i), srv.URL, t0))
	}
	store := newFakeStore(ds...)
	d := NewDispatcher(store, Guard{AllowPrivate: true}.Client(), nil, clk.Now)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		d.Run(ctx, time.Hour)
		close(done)
	}()
	waitFor(t, "the backlog to drain", func() bool { return hits.Load() == 45 })

	store.mu.Lock()
	store.rows["late"] = &fakeRow{d: delivery("late", srv.URL, t0), status: "pending"}
	store.mu.Unlock()
	d.Notify()
	d.Notify() // never blocks
	waitFor(t, "Notify to wake Run", func() bool { return store.row("late").status == "delivered" })

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
