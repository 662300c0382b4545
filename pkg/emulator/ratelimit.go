package emulator

import (
	"math"
	"strings"
	"sync"
	"time"
)

// RateLimit models a tenant's Management API limits as token buckets, the way Auth0 meters
// them: a global pair of buckets (per second, per minute) and, optionally, tighter pairs per
// endpoint class. Zero values are unlimited.
type RateLimit struct {
	// PerSecond is the capacity of a bucket refilled at PerSecond tokens a second (bursts of up
	// to PerSecond requests pass at once).
	PerSecond int
	// PerMinute is the capacity of a bucket refilled at PerMinute tokens a minute.
	PerMinute int
	// Classes limits endpoint classes on top of the global buckets, e.g. {"search": {PerSecond:
	// 10}}. Classes: token, users, users-by-email, search, roles, resource-servers.
	Classes map[string]RateLimit
}

// routeClass is the endpoint class of a route pattern, for per-class rate limits.
func routeClass(route string) string {
	switch {
	case route == "POST /oauth/token":
		return "token"
	case route == "GET /api/v2/users":
		return "search"
	case strings.Contains(route, "/users-by-email"):
		return "users-by-email"
	case strings.Contains(route, "/api/v2/roles"):
		return "roles"
	case strings.Contains(route, "/api/v2/resource-servers"):
		return "resource-servers"
	default:
		return "users"
	}
}

// rateLimiter holds the global buckets and those of the limited classes.
type rateLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	global  []*bucket
	classes map[string][]*bucket
}

// bucket is one token bucket: capacity tokens, refilled continuously over period.
type bucket struct {
	capacity float64
	period   time.Duration
	tokens   float64
	last     time.Time
}

func bucketsFor(cfg RateLimit) []*bucket {
	var out []*bucket
	if cfg.PerSecond > 0 {
		out = append(out, &bucket{capacity: float64(cfg.PerSecond), period: time.Second, tokens: float64(cfg.PerSecond)})
	}
	if cfg.PerMinute > 0 {
		out = append(out, &bucket{capacity: float64(cfg.PerMinute), period: time.Minute, tokens: float64(cfg.PerMinute)})
	}
	return out
}

func newRateLimiter(cfg RateLimit, now func() time.Time) *rateLimiter {
	l := &rateLimiter{now: now, global: bucketsFor(cfg), classes: map[string][]*bucket{}}
	for class, c := range cfg.Classes {
		l.classes[class] = bucketsFor(c)
	}
	return l
}

// rateDecision is the outcome of one request against the buckets, with the values of Auth0's
// x-ratelimit-limit, x-ratelimit-remaining and x-ratelimit-reset (unix seconds) headers.
type rateDecision struct {
	allowed   bool
	limit     int
	remaining int
	reset     int64
}

// unlimited is what an emulator without limits announces: generous, and never exhausted.
var unlimited = rateDecision{allowed: true, limit: 1000, remaining: 999}

// take spends one token from every bucket that applies to route, if each has one. The headers
// describe the tightest bucket: the one with the fewest tokens left.
func (l *rateLimiter) take(route string) rateDecision {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	buckets := append(l.global[:len(l.global):len(l.global)], l.classes[routeClass(route)]...)
	if len(buckets) == 0 {
		d := unlimited
		d.reset = now.Unix() + 1
		return d
	}
	allowed := true
	for _, b := range buckets {
		b.refill(now)
		allowed = allowed && b.tokens >= 1
	}
	if allowed {
		for _, b := range buckets {
			b.tokens--
		}
	}
	tightest := buckets[0]
	for _, b := range buckets[1:] {
		if b.tokens/b.capacity < tightest.tokens/tightest.capacity {
			tightest = b
		}
	}
	return rateDecision{
		allowed:   allowed,
		limit:     int(tightest.capacity),
		remaining: max(int(math.Floor(tightest.tokens)), 0),
		reset:     tightest.fullAt(now),
	}
}

func (b *bucket) refill(now time.Time) {
	if b.last.IsZero() {
		b.last = now
		return
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.capacity, b.tokens+elapsed.Seconds()*b.capacity/b.period.Seconds())
		b.last = now
	}
}

// fullAt is when the bucket holds its capacity again, in unix seconds rounded up: when the
// limit "resets", in the words of Auth0's documentation of x-ratelimit-reset.
func (b *bucket) fullAt(now time.Time) int64 {
	missing := b.capacity - b.tokens
	wait := time.Duration(missing / b.capacity * float64(b.period))
	t := now.Add(wait)
	sec := t.Unix()
	if t.Nanosecond() > 0 {
		sec++
	}
	return max(sec, now.Unix()+1)
}
