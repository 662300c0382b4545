package emulator

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestTokenAudience(t *testing.T) {
	h := startHTTP(t, Config{Domain: "tenant.example.com"})
	host := mustHost(t, h.base)
	tests := []struct {
		name     string
		audience string
		status   int
	}{
		{"the configured domain's audience is accepted", "https://tenant.example.com/api/v2/", 200},
		{"the audience of the host the client dialled is accepted", "https://" + host + "/api/v2/", 200},
		{"another tenant's audience is refused like Auth0 does", "https://other.example.com/api/v2/", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"grant_type":"client_credentials","client_id":"app","client_secret":"s","audience":%q}`, tt.audience)
			if resp, got := h.do("POST", "/oauth/token", body); resp.StatusCode != tt.status {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, got, tt.status)
			}
		})
	}
}

func TestTokenEndpointAcceptsFormBodies(t *testing.T) {
	h := startHTTP(t, Config{})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"s"}, "audience": {"https://" + mustHost(t, h.base) + "/api/v2/"}}
	resp, err := http.PostForm(h.base+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
}

func TestScopeChecks(t *testing.T) {
	h := startHTTP(t, Config{Clients: map[string]Client{
		"app":      {Secret: "s"},
		"metadata": {Secret: "m", Scopes: []string{"read:users", "update:users_app_metadata"}},
	}})
	id, err := h.CreateUser(SeedUser{Email: "scoped@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	h.token = h.tokenFor("metadata", "m")
	path := "/api/v2/users/" + url.PathEscape(id)
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
	}{
		{"update:users_app_metadata may change app_metadata alone", "PATCH", path, `{"app_metadata":{"plan":"pro"}}`, 200},
		{"update:users_app_metadata may not change anything else", "PATCH", path, `{"app_metadata":{"plan":"pro"},"blocked":true}`, 403},
		{"user_metadata needs update:users", "PATCH", path, `{"user_metadata":{"theme":"dark"}}`, 403},
		{"a read scope reads", "GET", path, "", 200},
		{"creating needs create:users", "POST", "/api/v2/users", fmt.Sprintf(createBody, "new@example.com"), 403},
		{"roles need read:roles", "GET", "/api/v2/roles", "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, got := h.do(tt.method, tt.path, tt.body); resp.StatusCode != tt.status {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, got, tt.status)
			}
		})
	}
}

func mustHost(t *testing.T, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestTokenClientSecretBasic checks client_secret_basic: the client's credentials in an HTTP
// Basic Authorization header (form-encoded, then base64-encoded, per RFC 6749 §2.3.1) rather
// than in the body. The Terraform provider tries it first.
func TestTokenClientSecretBasic(t *testing.T) {
	odd := "s+/: %&é"
	h := startHTTP(t, Config{Clients: map[string]Client{"app": {Secret: "s"}, "odd": {Secret: odd}}})
	audience := "https://" + mustHost(t, h.base) + "/api/v2/"
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	form := func(extra url.Values) string {
		v := url.Values{"grant_type": {"client_credentials"}, "audience": {audience}}
		for k, vs := range extra {
			v[k] = vs
		}
		return v.Encode()
	}
	tests := []struct {
		name          string
		authorization string
		contentType   string
		body          string
		status        int
	}{
		{"credentials in the header alone, form body", basic("app", "s"), "application/x-www-form-urlencoded", form(nil), 200},
		{"credentials in the header alone, JSON body", basic("app", "s"), "application/json",
			fmt.Sprintf(`{"grant_type":"client_credentials","audience":%q}`, audience), 200},
		{"form-encoded credentials are decoded", basic("odd", odd), "application/x-www-form-urlencoded", form(nil), 200},
		{"the header agreeing with the body's client_id", basic("app", "s"), "application/x-www-form-urlencoded", form(url.Values{"client_id": {"app"}}), 200},
		{"the header agreeing with the body's credentials", basic("app", "s"), "application/x-www-form-urlencoded",
			form(url.Values{"client_id": {"app"}, "client_secret": {"s"}}), 200},
		{"a wrong secret", basic("app", "wrong"), "application/x-www-form-urlencoded", form(nil), 401},
		{"an unknown client", basic("nobody", "s"), "application/x-www-form-urlencoded", form(nil), 401},
		{"a body secret disagreeing with the header", basic("app", "s"), "application/x-www-form-urlencoded",
			form(url.Values{"client_id": {"app"}, "client_secret": {"wrong"}}), 401},
		{"a body client_id disagreeing with the header", basic("app", "s"), "application/x-www-form-urlencoded",
			form(url.Values{"client_id": {"odd"}, "client_secret": {"s"}}), 401},
		{"a right body secret does not excuse a wrong header", basic("app", "wrong"), "application/x-www-form-urlencoded",
			form(url.Values{"client_id": {"app"}, "client_secret": {"s"}}), 401},
		{"a malformed header", "Basic not-base64!", "application/x-www-form-urlencoded", form(url.Values{"client_id": {"app"}, "client_secret": {"s"}}), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", h.base+"/oauth/token", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("Authorization", tt.authorization)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&got)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d (%v), want %d", resp.StatusCode, got, tt.status)
			}
			switch {
			case tt.status == 401 && got["error"] != "access_denied":
				t.Errorf("error = %v, want access_denied like client_secret_post", got["error"])
			case tt.status == 200:
				h.token, _ = got["access_token"].(string)
				if resp, body := h.do("GET", "/api/v2/users", ""); resp.StatusCode != 200 {
					t.Errorf("the token is refused: %d %s", resp.StatusCode, body)
				}
			}
		})
	}
}

// TestTokenWithOAuth2HeaderAuth uses golang.org/x/oauth2 in its header style, which sends the
// credentials the way the Terraform provider's first attempt does.
func TestTokenWithOAuth2HeaderAuth(t *testing.T) {
	h := startHTTP(t, Config{})
	cfg := clientcredentials.Config{
		ClientID: "app", ClientSecret: "s", TokenURL: h.base + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader,
		EndpointParams: url.Values{"audience": {"https://" + mustHost(t, h.base) + "/api/v2/"}},
	}
	if _, err := cfg.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg.ClientSecret = "wrong"
	var re *oauth2.RetrieveError
	if _, err := cfg.Token(context.Background()); !errors.As(err, &re) || re.Response.StatusCode != 401 || re.ErrorCode != "access_denied" {
		t.Fatalf("wrong secret: %v, want 401 access_denied", err)
	}
}
