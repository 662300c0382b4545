package auth0

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tokenServer answers the client-credentials grant: a token of the given lifetime, or status
// with Auth0's error body.
func tokenServer(t *testing.T, lifetime int, status int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := fetches.Add(1)
		if status != http.StatusOK {
			w.WriteHeader(status)
			fmt.Fprint(w, `{"error":"access_denied","error_description":"Unauthorized","echo":"`+secret+`"}`)
			return
		}
		fmt.Fprintf(w, `{"access_token":"tok-%d","expires_in":%d,"token_type":"Bearer"}`, n, lifetime)
	}))
	t.Cleanup(srv.Close)
	return srv, &fetches
}

func newTestTokenSource(srv *httptest.Server) (*tokenSource, *time.Time) {
	base, _ := url.Parse(srv.URL)
	ts := newTokenSource(srv.Client(), base, "op", secret, 5*time.Second)
	now := time.Unix(1_700_000_000, 0)
	ts.now = func() time.Time { return now }
	return ts, &now
}

func TestTokenIsCachedUntilNearExpiry(t *testing.T) {
	tests := []struct {
		name     string
		lifetime int
		after    time.Duration
		fetches  int32
	}{
		{"a day-long token is reused after an hour", 86400, time.Hour, 1},
		{"a day-long token is renewed at 80% of its life", 86400, 20 * time.Hour, 2},
		{"a 10-minute token is reused after 7 minutes", 600, 7 * time.Minute, 1},
		{"a 10-minute token is renewed at least a minute before it expires", 600, 9 * time.Minute, 2},
		{"a 1-minute token is renewed at half its life", 60, 31 * time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, fetches := tokenServer(t, tt.lifetime, http.StatusOK)
			ts, now := newTestTokenSource(srv)
			first, err := ts.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			*now = now.Add(tt.after)
			second, err := ts.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if fetches.Load() != tt.fetches || (tt.fetches == 1) != (first == second) {
				t.Errorf("%d fetches (tokens %s, %s), want %d", fetches.Load(), first, second, tt.fetches)
			}
		})
	}
}

func TestRejectedCredentialsGiveAnErrorWithoutTheSecret(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv, fetches := tokenServer(t, 0, status)
			ts, now := newTestTokenSource(srv)
			_, err := ts.Token(context.Background())
			var a0 *Error
			if !errors.As(err, &a0) || a0.StatusCode != status || a0.Code != "access_denied" || !strings.Contains(a0.Message, "Unauthorized") {
				t.Fatalf("Token = %v, want an *Error %d with Auth0's description", err, status)
			}
			if strings.Contains(err.Error(), secret) || IsRetryable(err) {
				t.Errorf("error %q: leaks the secret or is retryable", err)
			}
			// The same credentials are not tried again at once.
			*now = now.Add(failureMemory / 2)
			_, _ = ts.Token(context.Background())
			*now = now.Add(failureMemory)
			_, _ = ts.Token(context.Background())
			if fetches.Load() != 2 {
				t.Errorf("%d fetches, want 2 (one remembered failure, one retry later)", fetches.Load())
			}
		})
	}
}

func TestAWaiterThatGivesUpDoesNotFailTheFetch(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprint(w, `{"access_token":"tok","expires_in":86400}`)
	}))
	defer srv.Close()
	ts, _ := newTestTokenSource(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := ts.Token(ctx); done <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	close(release)
	if tok, err := ts.Token(context.Background()); err != nil || tok != "tok" {
		t.Errorf("Token = %q, %v", tok, err)
	}
}
