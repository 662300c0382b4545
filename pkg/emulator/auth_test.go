package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
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
