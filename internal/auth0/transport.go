package auth0

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"
)

// Observer receives what the client does, for metrics. Every method must be cheap and safe for
// concurrent use.
type Observer interface {
	// ObserveRequest is called once per HTTP response (or failure, with status 0).
	ObserveRequest(route string, status int, d time.Duration)
	// ObserveRateLimitWait is called when a request waited for the tenant's rate limit.
	ObserveRateLimitWait(d time.Duration)
}

type nopObserver struct{}

func (nopObserver) ObserveRequest(string, int, time.Duration) {}
func (nopObserver) ObserveRateLimitWait(time.Duration)        {}

// maxRateLimitRetries bounds the retries of one request answered 429; beyond it the 429 goes
// back to the controller, which requeues with backoff.
const maxRateLimitRetries = 5

// transport authenticates, paces and observes every request to one tenant. It sets the
// Authorization header itself (the SDK's own token handling is bypassed so that the token cache
// and the plain-HTTP emulator work the same way) and retries 429 after the announced reset.
type transport struct {
	base     http.RoundTripper
	tokens   *tokenSource
	limiter  *limiter
	observer Observer
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		token, err := t.tokens.Token(ctx)
		if err != nil {
			return nil, err
		}
		r := req.Clone(ctx)
		if attempt > 0 && req.GetBody != nil {
			if r.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		r.Header.Set("Authorization", "Bearer "+token)

		waited, err := t.limiter.wait(ctx)
		if waited > 0 {
			t.observer.ObserveRateLimitWait(waited)
		}
		if err != nil {
			return nil, err
		}
		start := time.Now()
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			t.limiter.done(nil)
			t.observer.ObserveRequest(route(req), 0, time.Since(start))
			return nil, err
		}
		t.limiter.done(resp.Header)
		t.observer.ObserveRequest(route(req), resp.StatusCode, time.Since(start))

		switch {
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			// The token may have been revoked or the tenant's signing key rotated: fetch a new
			// one once before giving up.
			t.tokens.invalidate()
		case resp.StatusCode == http.StatusTooManyRequests && attempt < maxRateLimitRetries && (req.Body == nil || req.GetBody != nil):
			d := retryAfter(resp.Header, time.Now())
			t.observer.ObserveRateLimitWait(d)
			if err := sleepCtx(ctx, d); err != nil {
				drain(resp)
				return nil, err
			}
		default:
			return resp, nil
		}
		drain(resp)
	}
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

var idSegment = regexp.MustCompile(`/(users|roles|resource-servers)/[^/]+`)

// route is the request's method and path with ids replaced, e.g. `GET /api/v2/users/{id}`, so
// that metrics have a bounded number of series.
func route(req *http.Request) string {
	return fmt.Sprintf("%s %s", req.Method, idSegment.ReplaceAllString(req.URL.Path, "/$1/{id}"))
}
