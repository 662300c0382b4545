package auth0

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// Observer receives what the client does, for metrics. Every method must be cheap and safe for
// concurrent use. A nil Observer in ProviderOptions observes nothing.
type Observer interface {
	// ObserveRequest is called once per HTTP attempt with its route (method and path pattern,
	// e.g. `GET /api/v2/users/{id}`), its status (0 when no response came) and its duration.
	ObserveRequest(route string, status int, d time.Duration)
	// ObserveRateLimitWait is called each time a request waited for the tenant's rate limit.
	ObserveRateLimitWait(d time.Duration)
}

type nopObserver struct{}

func (nopObserver) ObserveRequest(string, int, time.Duration) {}
func (nopObserver) ObserveRateLimitWait(time.Duration)        {}

// maxRateLimitRetries bounds the retries of one request answered 429; beyond it the 429 goes
// back to the controller, which requeues with backoff.
const maxRateLimitRetries = 5

// transport authenticates, paces and observes every request to one tenant.
//
// It sets the Authorization header itself, overriding the placeholder the SDK puts there, so
// that one token cache serves HTTPS tenants and the plain-HTTP emulator alike (the SDK's
// WithInsecure would otherwise send a static "insecure" token). It retries 429 after the
// announced reset, and nothing else: 5xx and transport errors go back to the controller, whose
// backoff is the retry. It also keeps Auth0's error body (the SDK drops its errorCode) for
// translate, through the request's context.
type transport struct {
	base     http.RoundTripper
	tokens   *tokenSource
	limiter  *limiter
	observer Observer
	// timeout bounds each attempt (not the waits for the rate limit, which an http.Client
	// timeout would include).
	timeout time.Duration
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	rt := route(req)
	// A request whose body cannot be rebuilt is sent once.
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	for attempt := 0; ; attempt++ {
		token, err := t.tokens.Token(ctx)
		if err != nil {
			return nil, err
		}
		tk, waited, err := t.limiter.wait(ctx)
		if waited > 0 {
			t.observer.ObserveRateLimitWait(waited)
		}
		if err != nil {
			return nil, err
		}

		start := time.Now()
		resp, err := t.send(ctx, req, token, attempt)
		if err != nil {
			t.limiter.done(tk, nil)
			t.observer.ObserveRequest(rt, 0, time.Since(start))
			return nil, err
		}
		t.limiter.done(tk, resp.Header)
		t.observer.ObserveRequest(rt, resp.StatusCode, time.Since(start))

		switch {
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0 && replayable:
			// The token may have been revoked or the tenant's signing key rotated: fetch a new
			// one once before giving up.
			t.tokens.invalidate(token)
		case resp.StatusCode == http.StatusTooManyRequests && attempt < maxRateLimitRetries && replayable:
			// Every request of the tenant waits for the reset, this one included (the limiter
			// does the waiting, at the top of the loop, honouring ctx).
			t.limiter.throttle(resp.Header)
		default:
			if resp.StatusCode >= http.StatusBadRequest {
				keepAPIError(ctx, resp)
			}
			return resp, nil
		}
		drain(resp)
	}
}

// send makes one attempt, bounded by the attempt timeout until its body is closed.
func (t *transport) send(ctx context.Context, req *http.Request, token string, attempt int) (*http.Response, error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if t.timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, t.timeout)
	}
	r := req.Clone(actx)
	if attempt > 0 && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			cancel()
			return nil, err
		}
		r.Body = body
	}
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// apiErrorSlot carries the last error answered to one Client call, from the transport to
// translate: the SDK decodes Auth0's error body itself and drops its errorCode.
type apiErrorSlot struct {
	mu  sync.Mutex
	err *Error
}

type apiErrorKey struct{}

func withAPIErrorSlot(ctx context.Context) (context.Context, *apiErrorSlot) {
	s := &apiErrorSlot{}
	return context.WithValue(ctx, apiErrorKey{}, s), s
}

func (s *apiErrorSlot) get() *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// keepAPIError decodes Auth0's error body, e.g. {"statusCode":400,"error":"Bad Request",
// "message":"...","errorCode":"invalid_body"}, into the call's slot, and puts the body back for
// the SDK.
func keepAPIError(ctx context.Context, resp *http.Response) {
	slot, _ := ctx.Value(apiErrorKey{}).(*apiErrorSlot)
	if slot == nil {
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	var body struct {
		Message   string `json:"message"`
		ErrorCode string `json:"errorCode"`
	}
	e := &Error{StatusCode: resp.StatusCode}
	if json.Unmarshal(raw, &body) == nil && body.Message != "" {
		e.Code, e.Message = body.ErrorCode, body.Message
	} else {
		// Not Auth0's JSON (a proxy's HTML page, say): its text is no message for a condition.
		e.Message = http.StatusText(resp.StatusCode)
	}
	slot.mu.Lock()
	slot.err = e
	slot.mu.Unlock()
}

var idSegment = regexp.MustCompile(`/(users|roles|resource-servers)/[^/]+`)

// route is the request's method and path with ids replaced, e.g. `GET /api/v2/users/{id}`, so
// that metrics have a bounded number of series. The escaped path keeps an id that contains `/`
// (a resource server's identifier is a URL) in one segment.
func route(req *http.Request) string {
	return fmt.Sprintf("%s %s", req.Method, idSegment.ReplaceAllString(req.URL.EscapedPath(), "/$1/{id}"))
}
