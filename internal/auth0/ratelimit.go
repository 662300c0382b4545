package auth0

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter paces the requests to one tenant. Auth0 rate-limits per tenant, so every client and
// worker of a tenant shares one limiter. It starts from a static rate and, once responses carry
// Auth0's x-ratelimit-* headers, spends only the budget they announce minus a reserve left for
// the tenant's other clients; when that is used up it waits for x-ratelimit-reset.
type limiter struct {
	mu sync.Mutex
	// interval between requests before any header has been seen (0: none).
	interval time.Duration
	reserve  float64
	next     time.Time // earliest start of the next request under the static rate

	seen      bool
	limit     int
	remaining int
	reset     time.Time

	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

func newLimiter(requestsPerSecond, reserve float64) *limiter {
	l := &limiter{reserve: min(max(reserve, 0), 0.9), now: time.Now, sleep: sleepCtx}
	if requestsPerSecond > 0 {
		l.interval = time.Duration(float64(time.Second) / requestsPerSecond)
	}
	return l
}

// wait blocks until a request may start; done must follow with the response's headers.
func (l *limiter) wait(ctx context.Context) (time.Duration, error) {
	var waited time.Duration
	for {
		l.mu.Lock()
		now := l.now()
		var until time.Time
		if l.seen && now.Before(l.reset) {
			// remaining is decremented for every request sent, so it already accounts for the
			// ones in flight until their responses bring fresher figures.
			budget := l.remaining - int(l.reserve*float64(l.limit)+0.5)
			if budget <= 0 {
				until = l.reset
			}
		} else if l.seen {
			// The window has reset: the announced budget is back until the next response says
			// otherwise.
			l.remaining = l.limit
		}
		if until.IsZero() && !l.seen && l.interval > 0 {
			slot := maxTime(now, l.next)
			l.next = slot.Add(l.interval)
			until = slot
		}
		if !until.After(now) {
			if l.seen {
				l.remaining--
			}
			l.mu.Unlock()
			return waited, nil
		}
		l.mu.Unlock()
		d := until.Sub(now)
		if err := l.sleep(ctx, d); err != nil {
			return waited, err
		}
		waited += d
		if !l.seen && l.interval > 0 {
			return waited, nil // the static slot was reserved above
		}
	}
}

// done records the end of a request and what the response said about the budget.
func (l *limiter) done(h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	limit, errL := strconv.Atoi(h.Get("X-Ratelimit-Limit"))
	remaining, errR := strconv.Atoi(h.Get("X-Ratelimit-Remaining"))
	reset, errT := strconv.ParseInt(h.Get("X-Ratelimit-Reset"), 10, 64)
	if errL != nil || errR != nil || errT != nil {
		return
	}
	resetAt := time.Unix(reset, 0)
	// Responses arrive out of order: keep the most pessimistic view of the current window.
	if !l.seen || resetAt.After(l.reset) || remaining < l.remaining {
		l.remaining = remaining
	}
	if resetAt.After(l.reset) {
		l.reset = resetAt
	}
	l.limit, l.seen = limit, true
}

// retryAfter is how long to wait after a 429: until x-ratelimit-reset, at least a moment and
// at most a minute (Auth0's windows are per second or per minute).
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
