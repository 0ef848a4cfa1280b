package webhooks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxAttempts is how many times a delivery is tried (first try included)
// before it is failed for good.
const MaxAttempts = 8

const (
	batchSize    = 20
	leaseFor     = time.Minute
	workers      = 4
	maxReadBody  = 4 << 10
	maxReasonLen = 200
	userAgent    = "Casework-Webhooks/1"
	firstBackoff = 30 * time.Second
	maxBackoff   = 6 * time.Hour
)

// jitter returns a random duration in [0, limit]; tests replace it.
var jitter = func(limit time.Duration) time.Duration { return rand.N(limit + 1) }

// Backoff is the wait after the n-th failed attempt (n ≥ 1): 30 s × 2^(n-1)
// capped at 6 h, plus up to 10% jitter.
func Backoff(n int) time.Duration {
	d := firstBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d + jitter(d/10)
}

// Dispatcher posts due deliveries.
type Dispatcher struct {
	store  Store
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	wake   chan struct{}
}

// NewDispatcher returns a Dispatcher that posts with client (normally
// Guard.Client()). now is the clock (nil means time.Now); a nil log discards.
func NewDispatcher(store Store, client *http.Client, log *slog.Logger, now func() time.Time) *Dispatcher {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{store: store, client: client, log: log, now: now, wake: make(chan struct{}, 1)}
}

// Notify wakes Run early (non-blocking), e.g. after a change enqueued
// deliveries.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run calls RunOnce every interval (which must be positive) until ctx ends,
// immediately again when a batch was full, and early on Notify.
func (d *Dispatcher) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		n, err := d.RunOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.log.Error("webhook dispatch failed", "err", err)
		} else if n == batchSize {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.wake:
		}
	}
}

// RunOnce claims due deliveries (a batch of 20, leased for a minute), posts
// them a few at a time, and records each outcome. It returns how many it
// attempted, and any error from claiming or recording.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	now := d.now()
	batch, err := d.store.Claim(ctx, now, now.Add(leaseFor), batchSize)
	if err != nil {
		return 0, err
	}
	work := make(chan int)
	errs := make([]error, len(batch))
	var wg sync.WaitGroup
	for range min(workers, len(batch)) {
		wg.Go(func() {
			for i := range work {
				errs[i] = d.deliver(ctx, batch[i])
			}
		})
	}
	for i := range batch {
		work <- i
	}
	close(work)
	wg.Wait()
	return len(batch), errors.Join(errs...)
}

// deliver posts one delivery and records the outcome. Once ctx has ended
// nothing is recorded: the lease runs out and the delivery is tried again
// (receivers dedupe on the event id).
func (d *Dispatcher) deliver(ctx context.Context, dl Delivery) error {
	start := d.now()
	status, reason := d.post(ctx, dl)
	at := d.now()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	attrs := []any{"delivery_id", dl.ID, "webhook_id", dl.WebhookID, "event_type", dl.EventType,
		"host", host(dl.URL), "status", status, "duration", at.Sub(start)}
	if reason == "" {
		d.log.Debug("webhook delivered", attrs...)
		return d.store.Delivered(ctx, dl.ID, at, status)
	}
	attempt := dl.Attempts + 1
	var next *time.Time
	if attempt < MaxAttempts {
		t := at.Add(Backoff(attempt))
		next = &t
	}
	d.log.Warn("webhook delivery failed", append(attrs, "reason", reason, "attempt", attempt, "final", next == nil)...)
	return d.store.Failed(ctx, dl.ID, at, status, reason, next)
}

// post sends one attempt; it returns the response status (0 when there was
// none) and, when the attempt failed, a short reason.
func (d *Dispatcher) post(ctx context.Context, dl Delivery) (status int, reason string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.URL, bytes.NewReader(dl.Body))
	if err != nil {
		return 0, "invalid URL"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(SignatureHeader, Sign(dl.Secret, dl.Body, d.now()))
	req.Header.Set(EventHeader, dl.EventType)
	req.Header.Set(DeliveryHeader, dl.ID)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, failureReason(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReadBody))
	switch resp.StatusCode / 100 {
	case 2:
		return resp.StatusCode, ""
	case 3:
		return resp.StatusCode, "redirect not followed (HTTP " + strconv.Itoa(resp.StatusCode) + ")"
	default:
		return resp.StatusCode, "HTTP " + strconv.Itoa(resp.StatusCode)
	}
}

// failureReason describes a failed request without its URL.
func failureReason(err error) string {
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.Is(err, errAddressRefused):
		return "address not allowed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ue):
		err = ue.Err // url.Error's own text includes the URL
	}
	reason := "request failed: " + err.Error()
	if len(reason) > maxReasonLen {
		reason = strings.ToValidUTF8(reason[:maxReasonLen], "")
	}
	return reason
}

// host returns the host of a target URL, for logs: query strings and paths
// may carry tokens.
func host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
