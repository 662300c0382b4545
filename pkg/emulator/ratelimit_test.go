package emulator

import (
	"testing"
	"time"
)

// fakeClock is a settable clock for the rate limiter.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestTokenBuckets(t *testing.T) {
	type step struct {
		after     time.Duration // clock advance before the request
		route     string
		allowed   bool
		remaining int
	}
	const user, search = "GET /api/v2/users/{id}", "GET /api/v2/users"
	tests := []struct {
		name  string
		cfg   RateLimit
		steps []step
	}{
		{"a full bucket lets a burst through, then refuses", RateLimit{PerSecond: 2}, []step{
			{0, user, true, 1}, {0, user, true, 0}, {0, user, false, 0},
		}},
		{"tokens come back at the refill rate", RateLimit{PerSecond: 2}, []step{
			{0, user, true, 1}, {0, user, true, 0}, {499 * time.Millisecond, user, false, 0}, {2 * time.Millisecond, user, true, 0},
		}},
		{"the per-minute bucket binds when tighter", RateLimit{PerSecond: 10, PerMinute: 2}, []step{
			{0, user, true, 1}, {time.Second, user, true, 0}, {time.Second, user, false, 0}, {30 * time.Second, user, true, 0},
		}},
		{"a class bucket limits only its class", RateLimit{Classes: map[string]RateLimit{"search": {PerSecond: 1}}}, []step{
			{0, search, true, 0}, {0, search, false, 0}, {0, user, true, 999},
		}},
		{"refused requests spend no tokens", RateLimit{PerSecond: 1, PerMinute: 60}, []step{
			{0, user, true, 0}, {0, user, false, 0}, {0, user, false, 0}, {time.Second, user, true, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			l := newRateLimiter(tt.cfg, clock.now)
			for i, s := range tt.steps {
				clock.advance(s.after)
				d := l.take(s.route)
				if d.allowed != s.allowed || d.remaining != s.remaining {
					t.Fatalf("step %d: allowed=%v remaining=%d, want %v %d", i, d.allowed, d.remaining, s.allowed, s.remaining)
				}
				if d.reset <= clock.t.Unix() {
					t.Fatalf("step %d: reset %d is not in the future", i, d.reset)
				}
			}
		})
	}
}

func TestResetIsWhenTheBucketIsFullAgain(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newRateLimiter(RateLimit{PerMinute: 60}, clock.now)
	var d rateDecision
	for range 30 {
		d = l.take("GET /api/v2/users/{id}")
	}
	if want := clock.t.Unix() + 30; d.reset != want || d.limit != 60 || d.remaining != 30 {
		t.Fatalf("limit=%d remaining=%d reset=%d, want 60 30 %d", d.limit, d.remaining, d.reset, want)
	}
}
