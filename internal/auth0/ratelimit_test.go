package auth0

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// fakeClock lets the limiter's waits be checked without sleeping.
type fakeClock struct {
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}

func headers(limit, remaining int, reset time.Time) http.Header {
	h := http.Header{}
	h.Set("X-Ratelimit-Limit", strconv.Itoa(limit))
	h.Set("X-Ratelimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-Ratelimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	return h
}

func newTestLimiter(rps, reserve float64) (*limiter, *fakeClock) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := newLimiter(rps, reserve)
	l.now, l.sleep = clock.Now, clock.Sleep
	return l, clock
}

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	t.Run("before any header it paces at the static rate", func(t *testing.T) {
		l, clock := newTestLimiter(10, 0)
		for range 3 {
			if _, err := l.wait(ctx); err != nil {
				t.Fatal(err)
			}
			l.done(nil)
		}
		if want := []time.Duration{100 * time.Millisecond, 100 * time.Millisecond}; len(clock.slept) != 2 || clock.slept[0] != want[0] || clock.slept[1] != want[1] {
			t.Errorf("slept %v, want %v", clock.slept, want)
		}
	})
	t.Run("with budget left in the window it does not wait", func(t *testing.T) {
		l, clock := newTestLimiter(0, 0)
		_, _ = l.wait(ctx)
		l.done(headers(50, 40, clock.now.Add(time.Second)))
		if waited, _ := l.wait(ctx); waited != 0 {
			t.Errorf("waited %v", waited)
		}
	})
	t.Run("an exhausted window waits for its reset", func(t *testing.T) {
		l, clock := newTestLimiter(0, 0)
		_, _ = l.wait(ctx)
		reset := clock.now.Add(2 * time.Second)
		l.done(headers(50, 0, reset))
		waited, _ := l.wait(ctx)
		if waited != 2*time.Second {
			t.Errorf("waited %v, want 2s", waited)
		}
	})
	t.Run("the reserve is left for the tenant's other clients", func(t *testing.T) {
		l, clock := newTestLimiter(0, 0.2)
		_, _ = l.wait(ctx)
		l.done(headers(50, 10, clock.now.Add(time.Second))) // 10 left, 10 reserved
		if waited, _ := l.wait(ctx); waited != time.Second {
			t.Errorf("waited %v, want the reset (1s)", waited)
		}
	})
	t.Run("requests in flight count against the budget", func(t *testing.T) {
		l, clock := newTestLimiter(0, 0)
		_, _ = l.wait(ctx)
		l.done(headers(50, 2, clock.now.Add(time.Second)))
		_, _ = l.wait(ctx) // in flight, remaining 1
		_, _ = l.wait(ctx) // in flight, remaining 0
		if waited, _ := l.wait(ctx); waited != time.Second {
			t.Errorf("third request waited %v, want the reset", waited)
		}
	})
	t.Run("a cancelled context stops the wait", func(t *testing.T) {
		l := newLimiter(0, 0)
		_, _ = l.wait(ctx)
		l.done(headers(50, 0, time.Now().Add(time.Minute)))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := l.wait(cctx); err == nil {
			t.Error("want the context's error")
		}
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"waits until the announced reset", headers(50, 0, now.Add(3*time.Second)), 3 * time.Second},
		{"a reset in the past still waits a moment", headers(50, 0, now.Add(-time.Second)), 100 * time.Millisecond},
		{"a far reset is capped at a minute", headers(50, 0, now.Add(time.Hour)), time.Minute},
		{"without headers it waits half a second", http.Header{}, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(tt.h, now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
