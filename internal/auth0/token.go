package auth0

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// tokenSource obtains Management API tokens with the client-credentials grant and caches each
// until shortly before it expires, so that workers share one token per credential.
type tokenSource struct {
	http         *http.Client
	tokenURL     string
	audience     string
	clientID     string
	clientSecret string

	mu      sync.Mutex // held during a fetch, so concurrent callers wait for one request
	token   string
	renewAt time.Time
	now     func() time.Time
}

func newTokenSource(hc *http.Client, base *url.URL, clientID, clientSecret string) *tokenSource {
	return &tokenSource{
		http:         hc,
		tokenURL:     base.String() + "/oauth/token",
		audience:     "https://" + base.Host + "/api/v2/",
		clientID:     clientID,
		clientSecret: clientSecret,
		now:          time.Now,
	}
}

// Token returns a valid access token, fetching a new one when the cached one is near expiry.
func (t *tokenSource) Token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && t.now().Before(t.renewAt) {
		return t.token, nil
	}
	token, expiresIn, err := t.fetch(ctx)
	if err != nil {
		return "", err
	}
	// Renew at 80% of the lifetime (at least a minute early for long-lived tokens) so that a
	// token never expires between being handed out and being used.
	lifetime := time.Duration(expiresIn) * time.Second
	t.token, t.renewAt = token, t.now().Add(min(lifetime*8/10, lifetime-time.Minute))
	if lifetime <= time.Minute {
		t.renewAt = t.now().Add(lifetime / 2)
	}
	return t.token, nil
}

// invalidate drops the cached token, after the API rejected it.
func (t *tokenSource) invalidate() {
	t.mu.Lock()
	t.token = ""
	t.mu.Unlock()
}

func (t *tokenSource) fetch(ctx context.Context) (string, int64, error) {
	body, _ := json.Marshal(map[string]string{
		"grant_type":    "client_credentials",
		"client_id":     t.clientID,
		"client_secret": t.clientSecret,
		"audience":      t.audience,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.tokenURL, strings.NewReader(string(body)))
	if err != nil {
		return "", 0, fmt.Errorf("cannot build token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.http.Do(req)
	if err != nil {
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
		msg := strings.TrimSpace(e.Error + ": " + e.Description)
		if e.Error == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return "", 0, &Error{StatusCode: resp.StatusCode, Code: e.Error, Message: "cannot get a Management API token for client " + t.clientID + ": " + msg}
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
