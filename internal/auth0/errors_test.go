package auth0

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		name                          string
		err                           error
		retryable, notFound, conflict bool
	}{
		{"no error is nothing", nil, false, false, false},
		{"a missing user is not found, and final", &Error{StatusCode: 404}, false, true, false},
		{"a duplicate user is a conflict, and final", &Error{StatusCode: 409, Message: "The user already exists."}, false, false, true},
		{"a bad body is final", &Error{StatusCode: 400, Code: "invalid_body"}, false, false, false},
		{"a missing scope is final", &Error{StatusCode: 403, Code: "insufficient_scope"}, false, false, false},
		{"a rate limit is retryable", &Error{StatusCode: 429}, true, false, false},
		{"a server error is retryable", &Error{StatusCode: 503}, true, false, false},
		{"a wrapped error keeps its class", fmt.Errorf("cannot get user: %w", &Error{StatusCode: 404}), false, true, false},
		{"a dropped connection is retryable", errors.New("connection reset by peer"), true, false, false},
		{"a timeout is retryable", fmt.Errorf("auth0 request failed: %w", context.DeadlineExceeded), true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsRetryable(tt.err); got != tt.retryable {
				t.Errorf("IsRetryable = %v", got)
			}
			if got := IsNotFound(tt.err); got != tt.notFound {
				t.Errorf("IsNotFound = %v", got)
			}
			if got := IsConflict(tt.err); got != tt.conflict {
				t.Errorf("IsConflict = %v", got)
			}
		})
	}
}

func TestAuth0ErrorBodiesBecomeErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Error
	}{
		{"Auth0's message and errorCode are kept", 400,
			`{"statusCode":400,"error":"Bad Request","message":"Payload validation error: 'Invalid format' on property email.","errorCode":"invalid_body"}`,
			Error{StatusCode: 400, Code: "invalid_body", Message: "Payload validation error: 'Invalid format' on property email."}},
		{"a conflict keeps Auth0's message", 409,
			`{"statusCode":409,"error":"Conflict","message":"The user already exists.","errorCode":"auth0_idp_error"}`,
			Error{StatusCode: 409, Code: "auth0_idp_error", Message: "The user already exists."}},
		{"a body without errorCode keeps the message", 404,
			`{"statusCode":404,"error":"Not Found","message":"The user does not exist."}`,
			Error{StatusCode: 404, Message: "The user does not exist."}},
		{"a proxy's HTML page becomes the status text", 502, `<html>bad gateway</html>`,
			Error{StatusCode: 502, Message: "Bad Gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/oauth/token" {
					fmt.Fprint(w, `{"access_token":"tok","expires_in":86400}`)
					return
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			c, _ := NewProvider(ProviderOptions{}).ClientFor(context.Background(), Tenant{Domain: srv.URL, ClientID: "id", ClientSecret: secret})
			_, err := c.CreateUser(context.Background(), UserCreate{Connection: "c", Profile: Profile{Email: "a@example.com"}})
			var a0 *Error
			if !errors.As(err, &a0) || *a0 != tt.want {
				t.Errorf("err = %#v, want %#v", err, &tt.want)
			}
		})
	}
}

func TestNoErrorTextContainsASecret(t *testing.T) {
	sensitive := []string{secret, "eyJhbGciOi.token"}
	tests := []struct {
		name string
		err  error
	}{
		{"a plain error", fmt.Errorf("oauth2: cannot fetch token: body %s", secret)},
		{"an Auth0 error", &Error{StatusCode: 401, Message: "bad token eyJhbGciOi.token"}},
		{"a wrapped context error", fmt.Errorf("%s: %w", secret, context.Canceled)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redact(tt.err, sensitive)
			for _, s := range sensitive {
				if strings.Contains(got.Error(), s) {
					t.Errorf("%q still holds %q", got, s)
				}
			}
			if IsRetryable(got) != IsRetryable(tt.err) || errors.Is(got, context.Canceled) != errors.Is(tt.err, context.Canceled) {
				t.Errorf("redaction changed the class of %v", tt.err)
			}
		})
	}
	if err := errors.New("harmless"); redact(err, sensitive) != err {
		t.Error("an error without secrets was replaced")
	}
}

func TestRoute(t *testing.T) {
	tests := []struct{ method, path, want string }{
		{"GET", "/api/v2/users/auth0|123", "GET /api/v2/users/{id}"},
		{"GET", "/api/v2/users", "GET /api/v2/users"},
		{"GET", "/api/v2/users-by-email", "GET /api/v2/users-by-email"},
		{"POST", "/api/v2/roles/rol_1/users", "POST /api/v2/roles/{id}/users"},
		{"DELETE", "/api/v2/users/google-oauth2|1/permissions", "DELETE /api/v2/users/{id}/permissions"},
		{"GET", "/api/v2/resource-servers/https:%2F%2Fapi.example.com", "GET /api/v2/resource-servers/{id}"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://x"+tt.path, nil)
			if got := route(req); got != tt.want {
				t.Errorf("route = %q", got)
			}
		})
	}
}

func TestFakeAnswersNotImplemented(t *testing.T) {
	f := &Fake{}
	if _, err := f.GetUser(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "GetUser not implemented") {
		t.Errorf("GetUser = %v", err)
	}
	f.GetUserFunc = func(context.Context, string) (*User, error) { return &User{ID: "x"}, nil }
	if u, err := f.GetUser(context.Background(), "x"); err != nil || u.ID != "x" {
		t.Errorf("GetUser = %v, %v", u, err)
	}
}

func TestNeverApplied(t *testing.T) {
	for name, c := range map[string]struct {
		err  error
		want bool
	}{
		"Auth0 refused the request":                {fmt.Errorf("cannot create user: %w", &Error{StatusCode: 400}), true},
		"throttled":                                {&Error{StatusCode: 429}, true},
		"a server error may follow a commit":       {&Error{StatusCode: 503}, false},
		"a dropped connection may follow a commit": {io.ErrUnexpectedEOF, false},
		"a timeout may follow a commit":            {context.DeadlineExceeded, false},
		"a connection never opened":                {&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
	} {
		if got := NeverApplied(c.err); got != c.want {
			t.Errorf("%s: NeverApplied = %v, want %v", name, got, c.want)
		}
	}
	// Through the real client: a tenant nobody listens on.
	c, err := NewProvider(ProviderOptions{}).ClientFor(context.Background(), Tenant{Domain: "http://127.0.0.1:1", ClientID: "id", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateUser(context.Background(), UserCreate{Connection: "db", Profile: Profile{Email: "a@x.io"}})
	if err == nil || !NeverApplied(err) {
		t.Fatalf("a create to an unreachable tenant: %v, NeverApplied = %v", err, NeverApplied(err))
	}
}
