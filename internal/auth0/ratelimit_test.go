package auth0

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
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

// admitN admits n requests without recording their responses (they stay in flight) and returns
// how long each waited.
func admitN(t *testing.T, l *limiter, n int) []time.Duration {
	t.Helper()
	var waits []time.Duration
	for range n {
		_, w, err := l.wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, w)
	}
	return waits
}

func TestLimiter(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		rps     float64
		reserve float64
		// setup runs with the clock at t0 after one admitted request; it may record responses.
		setup func(l *limiter, t0 time.Time)
		n     int
		want  []time.Duration
	}{
		{
			name: "before any header it paces at the static rate",
			rps:  10, setup: func(l *limiter, _ time.Time) { l.done(0, nil) },
			n: 3, want: []time.Duration{100 * ms, 100 * ms, 100 * ms},
		},
		{
			name:  "without a static rate or headers it does not wait",
			setup: func(l *limiter, _ time.Time) { l.done(0, nil) },
			n:     3, want: []time.Duration{0, 0, 0},
		},
		{
			name:  "the announced budget is spread evenly over the time to the reset",
			setup: func(l *limiter, t0 time.Time) { l.done(0, headers(10, 10, t0.Add(time.Second))) },
			n:     4, want: []time.Duration{0, 100 * ms, 100 * ms, 100 * ms},
		},
		{
			name: "the static rate is only a starting point: headers replace it",
			rps:  1, setup: func(l *limiter, t0 time.Time) { l.done(0, headers(100, 100, t0.Add(time.Second))) },
			n: 3, want: []time.Duration{0, 10 * ms, 10 * ms},
		},
		{
			name:  "an exhausted window waits for its reset",
			setup: func(l *limiter, t0 time.Time) { l.done(0, headers(50, 0, t0.Add(2*time.Second))) },
			n:     1, want: []time.Duration{2 * time.Second},
		},
		{
			name: "the reserve is left for the tenant's other clients",
			// 10 left of 50, 20% = 10 reserved: nothing for us until the reset.
			reserve: 0.2, setup: func(l *limiter, t0 time.Time) { l.done(0, headers(50, 10, t0.Add(time.Second))) },
			n: 1, want: []time.Duration{time.Second},
		},
		{
			name: "the reserve never takes the whole limit",
			// A limit of 1 with 90% reserved still lets one request a window through.
			reserve: 0.9, setup: func(l *limiter, t0 time.Time) { l.done(0, headers(1, 1, t0.Add(time.Second))) },
			n: 1, want: []time.Duration{0},
		},
		{
			name:  "requests in flight count against the budget",
			setup: func(l *limiter, t0 time.Time) { l.done(0, headers(50, 2, t0.Add(time.Second))) },
			// Two admitted (the second spread to half the window), the third waits for the reset.
			n: 3, want: []time.Duration{0, 500 * ms, 500 * ms},
		},
		{
			name: "after a 429 every request waits until the announced reset",
			setup: func(l *limiter, t0 time.Time) {
				l.done(0, headers(50, 0, t0.Add(3*time.Second)))
				l.throttle(headers(50, 0, t0.Add(3*time.Second)))
			},
			n: 1, want: []time.Duration{3 * time.Second},
		},
		{
			name: "a 429 without headers still holds the tenant back",
			setup: func(l *limiter, t0 time.Time) {
				l.done(0, nil)
				l.throttle(http.Header{})
			},
			n: 1, want: []time.Duration{500 * ms},
		},
		{
			name: "a late response from a finished window does not restore its budget",
			setup: func(l *limiter, t0 time.Time) {
				l.done(0, headers(50, 2, t0.Add(time.Second)))
				l.done(0, headers(50, 40, t0)) // its window ended at t0
			},
			n: 3, want: []time.Duration{0, 500 * ms, 500 * ms},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, clock := newTestLimiter(tt.rps, tt.reserve)
			admitN(t, l, 1)
			t0 := clock.now
			tt.setup(l, t0)
			got := admitN(t, l, tt.n)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("waits = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLimiterAssumesAFreshWindowAfterTheReset(t *testing.T) {
	l, clock := newTestLimiter(0, 0)
	admitN(t, l, 1)
	l.done(0, headers(4, 0, clock.now.Add(time.Second)))
	if w := admitN(t, l, 1); w[0] != time.Second {
		t.Fatalf("waited %v for the reset, want 1s", w[0])
	}
	// No response yet from the new window: it is assumed as long as the last, with the whole
	// limit, and spread: 4 requests over 1s, one of them in flight already.
	if got := admitN(t, l, 3); fmt.Sprint(got) != fmt.Sprint([]time.Duration{time.Second / 4, time.Second / 4, time.Second / 4}) {
		t.Errorf("waits in the assumed window = %v", got)
	}
	if got := admitN(t, l, 1); got[0] == 0 {
		t.Error("a fifth request in a window of 4 did not wait")
	}
}

func TestLimiterStopsWaitingWhenTheContextEnds(t *testing.T) {
	l := newLimiter(0, 0)
	_, _, _ = l.wait(context.Background())
	l.done(0, headers(50, 0, time.Now().Add(time.Minute)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := l.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("wait = %v, want the context's error", err)
	}
	if l.inFlight != 0 {
		t.Errorf("a cancelled wait left %d requests in flight", l.inFlight)
	}
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

// windowServer is a tenant with a fixed per-second window, answering Auth0's headers and 429.
type windowServer struct {
	limit   int
	mu      sync.Mutex
	second  int64
	count   int
	ok      atomic.Int32
	limited atomic.Int32
	always  bool // answer 429 to everything
}

func (s *windowServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/oauth/token" {
		fmt.Fprint(w, `{"access_token":"tok","expires_in":86400}`)
		return
	}
	s.mu.Lock()
	now := time.Now()
	if now.Unix() != s.second {
		s.second, s.count = now.Unix(), 0
	}
	allowed := s.count < s.limit && !s.always
	if allowed {
		s.count++
	}
	remaining := max(s.limit-s.count, 0)
	s.mu.Unlock()
	w.Header().Set("X-Ratelimit-Limit", strconv.Itoa(s.limit))
	w.Header().Set("X-Ratelimit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("X-Ratelimit-Reset", strconv.FormatInt(now.Unix()+1, 10))
	if !allowed {
		s.limited.Add(1)
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}`)
		return
	}
	s.ok.Add(1)
	fmt.Fprint(w, `{"user_id":"auth0|1"}`)
}

type countingObserver struct {
	requests, waits atomic.Int32
	waited          atomic.Int64
}

func (o *countingObserver) ObserveRequest(string, int, time.Duration) { o.requests.Add(1) }
func (o *countingObserver) ObserveRateLimitWait(d time.Duration) {
	o.waits.Add(1)
	o.waited.Add(int64(d))
}

func TestTransportPacesFromHeadersAndRetries429(t *testing.T) {
	srv := &windowServer{limit: 5}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	obs := &countingObserver{}
	c, err := NewProvider(ProviderOptions{Observer: obs}).ClientFor(context.Background(), Tenant{Domain: hs.URL, ClientID: "id", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if _, err := c.GetUser(context.Background(), "auth0|1"); err != nil {
					t.Errorf("GetUser: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("12 reads at 5/s: %v, %d answered 429 and retried, %d waits (%v)", time.Since(start).Round(time.Millisecond),
		srv.limited.Load(), obs.waits.Load(), time.Duration(obs.waited.Load()).Round(time.Millisecond))
	if srv.ok.Load() != 12 {
		t.Errorf("%d reads succeeded, want 12", srv.ok.Load())
	}
	// The pacing keeps within the windows; at most the window boundaries race.
	if srv.limited.Load() > 2 {
		t.Errorf("%d requests answered 429: the limiter does not pace from the headers", srv.limited.Load())
	}
	if obs.waits.Load() == 0 {
		t.Error("no rate-limit wait was observed")
	}
}

func TestTransportGivesUpOn429WhenTheContextEnds(t *testing.T) {
	srv := &windowServer{limit: 5, always: true}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c, _ := NewProvider(ProviderOptions{}).ClientFor(context.Background(), Tenant{Domain: hs.URL, ClientID: "id", ClientSecret: "secret"})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetUser(ctx, "auth0|1")
	if !errors.Is(err, context.DeadlineExceeded) || !IsRetryable(err) {
		t.Errorf("GetUser = %v, want the context's deadline, retryable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

func TestTransportReturnsThe429AfterBoundedRetries(t *testing.T) {
	srv := &windowServer{limit: 5, always: true}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	p := NewProvider(ProviderOptions{})
	c, _ := p.ClientFor(context.Background(), Tenant{Domain: hs.URL, ClientID: "id", ClientSecret: "secret"})
	// Make the retries instant: the limiter's waits move its clock instead of sleeping.
	var ahead atomic.Int64
	for _, l := range p.limiters {
		l.now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
		l.sleep = func(_ context.Context, d time.Duration) error { ahead.Add(int64(d)); return nil }
	}
	_, err := c.GetUser(context.Background(), "auth0|1")
	var a0 *Error
	if !errors.As(err, &a0) || a0.StatusCode != 429 || a0.Code != "too_many_requests" || !IsRetryable(err) {
		t.Fatalf("GetUser = %#v, want a retryable 429 with Auth0's errorCode", err)
	}
	if n := srv.limited.Load(); n != maxRateLimitRetries+1 {
		t.Errorf("%d attempts, want %d", n, maxRateLimitRetries+1)
	}
}
