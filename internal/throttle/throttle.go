// Package throttle slows down guessing of passwords and client secrets:
// failed attempts are counted per account, per account and address, and per
// address in sliding windows, and once a window is full further attempts wait
// until its oldest failure has left it. Windows are short, so an attacker can
// keep a person out of their account for minutes, not days, while guessing
// stays far below a hundred tries an hour per account.
//
// Counts live in the memory of each API instance.
package throttle

import (
	"sync"
	"time"
)

// Limit allows Max failures within Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// Limits are the windows of one kind of credential.
type Limits struct {
	// PerAccountAddress limits one address guessing one account: the
	// tightest window, and the only one a person's own typos usually meet.
	PerAccountAddress Limit
	// PerAccount limits guessing one account from many addresses.
	PerAccount Limit
	// PerAddress limits one address trying many accounts (spraying).
	PerAddress Limit
}

// Default is the limits for sign-in and the client-credentials grant: at
// most 20 failures per account per half hour (40 an hour), 5 per account and
// address per quarter hour, 50 per address per quarter hour.
var Default = Limits{
	PerAccountAddress: Limit{Max: 5, Window: 15 * time.Minute},
	PerAccount:        Limit{Max: 20, Window: 30 * time.Minute},
	PerAddress:        Limit{Max: 50, Window: 15 * time.Minute},
}

// maxKeys bounds the memory the counts take; beyond it the stalest keys go.
const maxKeys = 100_000

// Throttle counts failed attempts. The zero value is not usable; use New.
type Throttle struct {
	limits Limits
	now    func() time.Time
	mu     sync.Mutex
	fails  map[string][]time.Time
}

// New returns a Throttle with limits; now is the clock (time.Now when nil).
func New(limits Limits, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{limits: limits, now: now, fails: map[string][]time.Time{}}
}

type window struct {
	key   string
	limit Limit
}

func (t *Throttle) windows(account, addr string) []window {
	return []window{
		{"aa\x00" + account + "\x00" + addr, t.limits.PerAccountAddress},
		{"a\x00" + account, t.limits.PerAccount},
		{"i\x00" + addr, t.limits.PerAddress},
	}
}

// Wait returns how long an attempt on account from addr must wait; 0 when it
// may go ahead.
func (t *Throttle) Wait(account, addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, w := range t.windows(account, addr) {
		recent := t.recent(w, now)
		if len(recent) >= w.limit.Max {
			// The window frees up when its oldest counted failure leaves it.
			wait = max(wait, recent[len(recent)-w.limit.Max].Add(w.limit.Window).Sub(now))
		}
	}
	return wait
}

// Failed counts a failed attempt.
func (t *Throttle) Failed(account, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.fails) >= maxKeys {
		t.prune(now)
	}
	for _, w := range t.windows(account, addr) {
		t.fails[w.key] = append(t.recent(w, now), now)
	}
}

// Succeeded forgets the failures of account from addr (the person got it
// right); failures against the account from elsewhere still count.
func (t *Throttle) Succeeded(account, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, t.windows(account, addr)[0].key)
}

// recent returns the failures of w still inside its window (and keeps only
// those).
func (t *Throttle) recent(w window, now time.Time) []time.Time {
	list := t.fails[w.key]
	i := 0
	for i < len(list) && !list[i].After(now.Add(-w.limit.Window)) {
		i++
	}
	if i == len(list) {
		delete(t.fails, w.key)
		return nil
	}
	list = list[i:]
	t.fails[w.key] = list
	return list
}

// prune drops keys whose last failure is older than the longest window, and,
// if still too many, the keys with the oldest last failure.
func (t *Throttle) prune(now time.Time) {
	longest := max(t.limits.PerAccountAddress.Window, t.limits.PerAccount.Window, t.limits.PerAddress.Window)
	for k, list := range t.fails {
		if len(list) == 0 || list[len(list)-1].Before(now.Add(-longest)) {
			delete(t.fails, k)
		}
	}
	for k := range t.fails {
		if len(t.fails) < maxKeys*9/10 {
			break
		}
		delete(t.fails, k) // map order is arbitrary: a random eviction
	}
}
