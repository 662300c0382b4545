package auth0

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter paces the requests to one tenant. Auth0 rate-limits per tenant, so every client and
// worker of a tenant shares one limiter (see Provider).
//
// Before any response has been seen it paces at an optional static rate. Once responses carry
// Auth0's x-ratelimit-limit/-remaining/-reset headers it spends only the announced budget minus
// a reserve left for the tenant's other clients (dashboards, deploy pipelines, the applications
// themselves), and spreads that budget evenly over the time left until the reset rather than
// bursting it: a resync of many objects then never drains the tenant, and other clients still
// find requests left. When the budget is used up it waits for the reset. After a 429 every
// request of the tenant waits for the announced reset (throttle).
type limiter struct {
	mu sync.Mutex

	staticInterval time.Duration // between requests before any header is seen (0: none)
	reserve        float64       // share of the announced limit left to other clients

	next     time.Time // earliest start of the next request: requests are spread, not burst
	inFlight int       // requests admitted in this window whose responses are not recorded
	gen      uint64    // window generation: a request admitted in an earlier one is not counted

	seen      bool
	limit     int
	remaining int           // as announced for the window ending at reset
	reset     time.Time     // end of the current window
	window    time.Duration // longest time-to-reset announced: the length of the tenant's window
	blocked   time.Time     // after a 429, nothing is sent before this

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

func newLimiter(requestsPerSecond, reserve float64) *limiter {
	l := &limiter{reserve: min(max(reserve, 0), 0.9), window: time.Second, now: time.Now, sleep: sleepCtx}
	if requestsPerSecond > 0 {
		l.staticInterval = time.Duration(float64(time.Second) / requestsPerSecond)
	}
	return l
}

// ticket identifies an admitted request to done and cancel.
type ticket uint64

// wait blocks until a request may start and returns how long it waited. When err is nil the
// request is admitted, and done (or cancel, if it is not sent) must follow with the ticket.
func (l *limiter) wait(ctx context.Context) (ticket, time.Duration, error) {
	var waited time.Duration
	for {
		l.mu.Lock()
		now := l.now()
		at, admitted := l.admit(now)
		tk := ticket(l.gen)
		l.mu.Unlock()
		if d := at.Sub(now); d > 0 {
			if err := l.sleep(ctx, d); err != nil {
				if admitted {
					l.cancel(tk)
				}
				return 0, waited, err
			}
			waited += d
		}
		if admitted {
			return tk, waited, nil
		}
		// Not admitted: the budget was exhausted until at; look again, as responses that
		// arrived in the meantime may have changed it.
	}
}

// admit decides, under l.mu, when a request may start. admitted=true reserves a slot at the
// returned time; admitted=false means: look again at the returned time.
func (l *limiter) admit(now time.Time) (at time.Time, admitted bool) {
	if now.Before(l.blocked) {
		return l.blocked, false
	}
	if !l.seen {
		l.inFlight++
		if l.staticInterval <= 0 {
			return now, true
		}
		slot := maxTime(now, l.next)
		l.next = slot.Add(l.staticInterval)
		return slot, true
	}
	if !now.Before(l.reset) {
		// The announced window is over. Assume a new one of the same length with the whole
		// limit, until a response announces the real figures. Requests still in flight were
		// counted in the old window.
		periods := now.Sub(l.reset)/l.window + 1
		l.reset = l.reset.Add(periods * l.window)
		l.remaining, l.inFlight = l.limit, 0
		l.gen++
	}
	budget := l.remaining - l.inFlight - l.reserved()
	if budget <= 0 {
		return l.reset, false
	}
	slot := maxTime(now, l.next)
	// Spread what is left evenly over the rest of the window.
	if slot.Before(l.reset) {
		l.next = slot.Add(l.reset.Sub(slot) / time.Duration(budget))
	}
	l.inFlight++
	return slot, true
}

// reserved is the number of requests per window left to the tenant's other clients; at least
// one request per window always remains usable.
func (l *limiter) reserved() int {
	r := int(l.reserve*float64(l.limit) + 0.5)
	return max(min(r, l.limit-1), 0)
}

// cancel releases an admitted request that was not sent.
func (l *limiter) cancel(tk ticket) {
	l.mu.Lock()
	l.release(tk)
	l.mu.Unlock()
}

func (l *limiter) release(tk ticket) {
	if uint64(tk) == l.gen {
		l.inFlight = max(l.inFlight-1, 0)
	}
}

// done records the end of an admitted request and what its response said about the budget
// (h is nil when there was no response).
func (l *limiter) done(tk ticket, h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.release(tk)
	if h == nil {
		return
	}
	limit, errL := strconv.Atoi(h.Get("X-Ratelimit-Limit"))
	remaining, errR := strconv.Atoi(h.Get("X-Ratelimit-Remaining"))
	reset, errT := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64)
	if errL != nil || errR != nil || errT != nil || limit <= 0 {
		return
	}
	now := l.now()
	resetAt := time.Unix(reset, 0)
	if d := resetAt.Sub(now); d > l.window {
		// Auth0 announces per-second and per-minute windows; remember the longest to size the
		// windows assumed between responses.
		l.window = min(d.Round(time.Second), time.Minute)
	}
	if !l.seen {
		// The static pacing gives way to the announced budget.
		l.next = time.Time{}
	}
	switch {
	case !l.seen || resetAt.After(l.reset):
		// A newer window.
		l.remaining, l.reset = remaining, resetAt
	case resetAt.Equal(l.reset):
		// Responses of one window arrive out of order: keep the most pessimistic figure.
		l.remaining = min(l.remaining, remaining)
	case resetAt.After(now):
		// A window that ends earlier than assumed (the assumption made after a reset).
		l.remaining, l.reset = remaining, resetAt
	default:
		// A late response from a window that is over: nothing to learn.
	}
	l.limit, l.seen = limit, true
}

// throttle stops every request of the tenant until the reset announced by a 429's headers.
func (l *limiter) throttle(h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if until := now.Add(retryAfter(h, now)); until.After(l.blocked) {
		l.blocked = until
	}
	if l.seen {
		l.remaining = 0
	}
}

// retryAfter is how long to wait after a 429: until x-ratelimit-reset, at least a moment and
// at most a minute (Auth0's windows are per second or per minute). The SDK's own retry would cap
// this at 10 s, which is too short for per-minute windows.
func retryAfter(h http.Header, now time.Time) time.Duration {
	d := 500 * time.Millisecond
	if reset, err := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
		d = time.Unix(reset, 0).Sub(now)
	}
	return min(max(d, 100*time.Millisecond), time.Minute)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
