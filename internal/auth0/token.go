package auth0

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// tokenSource obtains Management API tokens with the client-credentials grant and caches each
// until shortly before it expires, so that all workers share one token per credential.
//
// We do this ourselves rather than through the SDK's oauth2 token source so that (1) a failed
// fetch becomes an *Error carrying Auth0's error_description and nothing else (oauth2's errors
// quote whole response bodies), (2) concurrent callers wait for one fetch while each still
// honours its own context, and (3) the plain-HTTP emulator works the same way as Auth0.
type tokenSource struct {
	http         *http.Client
	tokenURL     string
	audience     string
	clientID     string
	clientSecret string
	timeout      time.Duration

	mu       sync.Mutex
	token    string
	renewAt  time.Time
	failed   *Error    // a terminal failure (bad credentials), remembered briefly
	failedAt time.Time //
	fetching *tokenFetch
	now      func() time.Time
}

// tokenFetch is one fetch in progress, shared by every caller that needs a token meanwhile.
type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

// failureMemory is how long a rejected credential is not retried: the same client ID and secret
// will be rejected again (a rotated secret makes a new tokenSource, see Provider), and asking
// again for every reconcile would only spend the tenant's authentication rate limit.
const failureMemory = 30 * time.Second

func newTokenSource(hc *http.Client, base *url.URL, clientID, clientSecret string, timeout time.Duration) *tokenSource {
	return &tokenSource{
		http:         hc,
		tokenURL:     base.String() + "/oauth/token",
		audience:     "https://" + base.Host + "/api/v2/",
		clientID:     clientID,
		clientSecret: clientSecret,
		timeout:      timeout,
		now:          time.Now,
	}
}

// Token returns a valid access token, fetching a new one when the cached one is near expiry.
func (t *tokenSource) Token(ctx context.Context) (string, error) {
	t.mu.Lock()
	now := t.now()
	if t.token != "" && now.Before(t.renewAt) {
		tok := t.token
		t.mu.Unlock()
		return tok, nil
	}
	if t.failed != nil && now.Sub(t.failedAt) < failureMemory {
		err := t.failed
		t.mu.Unlock()
		return "", err
	}
	f := t.fetching
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		t.fetching = f
		// The fetch does not belong to the first caller: its cancellation must not fail the
		// others waiting for the same token.
		go t.run(f)
	}
	t.mu.Unlock()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-f.done:
		return f.token, f.err
	}
}

func (t *tokenSource) run(f *tokenFetch) {
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	defer cancel()
	token, expiresIn, err := t.fetch(ctx)

	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.fetching = nil
	f.token, f.err = token, err
	t.failed = nil
	if err != nil {
		if a0, ok := err.(*Error); ok && (a0.StatusCode == http.StatusUnauthorized || a0.StatusCode == http.StatusForbidden) {
			t.failed, t.failedAt = a0, now
		}
	} else {
		t.token, t.renewAt = token, now.Add(renewAfter(time.Duration(expiresIn)*time.Second))
	}
	close(f.done)
}

// renewAfter is when to replace a token of the given lifetime: at 80% of it, and at least a
// minute before it expires, so that a token never expires between being handed out and being
// used (a request may wait for the rate limit first).
func renewAfter(lifetime time.Duration) time.Duration {
	if lifetime <= 2*time.Minute {
		return lifetime / 2
	}
	return min(lifetime*8/10, lifetime-time.Minute)
}

// invalidate drops the cached token after the API rejected it, unless it was already replaced.
func (t *tokenSource) invalidate(rejected string) {
	t.mu.Lock()
	if t.token == rejected {
		t.token = ""
	}
	t.mu.Unlock()
}

// sensitive lists the strings no error may contain: the secret and the current token.
func (t *tokenSource) sensitive() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return []string{t.clientSecret, t.token}
}

func (t *tokenSource) fetch(ctx context.Context) (string, int64, error) {
	body, err := json.Marshal(map[string]string{
		"grant_type":    "client_credentials",
		"client_id":     t.clientID,
		"client_secret": t.clientSecret,
		"audience":      t.audience,
	})
	if err != nil {
		return "", 0, fmt.Errorf("cannot encode the token request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.tokenURL, bytes.NewReader(body))
	if err != nil {
		return "", 0, fmt.Errorf("cannot build the token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.http.Do(req)
	if err != nil {
		// A *url.Error names the method and URL (no credentials: they travel in the body).
		return "", 0, fmt.Errorf("cannot get a Management API token: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		// Auth0 answers {"error":"access_denied","error_description":"Unauthorized"}; only those
		// two fields are kept, so that nothing the request carried can reach a message.
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(raw, &e)
		msg := e.Description
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return "", 0, &Error{StatusCode: resp.StatusCode, Code: e.Error,
			Message: "cannot get a Management API token for client " + t.clientID + ": " + msg}
	}
	var ok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(raw, &ok); err != nil || ok.AccessToken == "" {
		return "", 0, &Error{StatusCode: resp.StatusCode, Message: "the token endpoint answered without an access_token"}
	}
	if ok.ExpiresIn <= 0 {
		ok.ExpiresIn = 3600
	}
	return ok.AccessToken, ok.ExpiresIn, nil
}
