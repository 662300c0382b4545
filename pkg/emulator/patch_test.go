package emulator

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func TestPatchUserRules(t *testing.T) {
	h := startHTTP(t, Config{MaxMetadataBytes: 1024})
	if err := h.Seed(Seed{Connections: []Connection{
		{Name: "google-oauth2", Strategy: "google-oauth2"},
		{Name: "okta", Strategy: "okta", SetUserRootAttributes: "on_first_login"},
	}}); err != nil {
		t.Fatal(err)
	}
	db, _ := h.CreateUser(SeedUser{Email: "db@example.com", UserMetadata: map[string]any{"theme": "dark", "prefs": map[string]any{"a": 1.0, "b": 2.0}}})
	social, _ := h.CreateUser(SeedUser{Email: "social@example.com", Connection: "google-oauth2"})
	synced, _ := h.CreateUser(SeedUser{Email: "synced@example.com", Connection: "okta"})
	tests := []struct {
		name    string
		user    string
		body    string
		status  int
		message string // a part of Auth0's message, for errors
	}{
		{"an empty body is refused", db, `{}`, 400, "Too few properties"},
		{"a dotted metadata key is refused", db, `{"user_metadata":{"a.b":1}}`, 400, "must not contain"},
		{"a reserved app_metadata key is refused", db, `{"app_metadata":{"email":"x"}}`, 400, "reserved"},
		{"metadata beyond the size limit is refused", db, `{"app_metadata":{"blob":"` + strings.Repeat("x", 1100) + `"}}`, 400, "must not exceed"},
		{"a weak password is refused", db, `{"password":"short","connection":"Username-Password-Authentication"}`, 400, "PasswordStrengthError: Password is too weak"},
		{"a strong password is accepted", db, `{"password":"Str0ng-Passw0rd","connection":"Username-Password-Authentication"}`, 200, ""},
		{"a social user's email cannot change", social, `{"email":"new@example.com"}`, 400, "Cannot update email for non-database connections"},
		{"a social user's profile cannot change while the connection syncs it", social, `{"name":"N","picture":"https://p"}`, 400, "The following user attributes cannot be updated: name, picture. The connection (google-oauth2)"},
		{"a social user's metadata can change", social, `{"user_metadata":{"k":"v"},"blocked":true}`, 200, ""},
		{"a profile synced only on first login can change", synced, `{"name":"Synced Once"}`, 200, ""},
		{"an unknown user is 404 inexistent_user", "auth0|000000000000000000000000", `{"blocked":true}`, 404, "The user does not exist."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do("PATCH", "/api/v2/users/"+url.PathEscape(tt.user), tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.message) {
				t.Fatalf("got %d %s, want %d with %q", resp.StatusCode, body, tt.status, tt.message)
			}
		})
	}

	t.Run("metadata merges at the top level, null deletes, nested objects are replaced", func(t *testing.T) {
		resp, body := h.do("PATCH", "/api/v2/users/"+url.PathEscape(db), `{"user_metadata":{"theme":null,"prefs":{"c":3},"lang":"fr"}}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var got struct {
			UserMetadata map[string]any `json:"user_metadata"`
		}
		_ = json.Unmarshal([]byte(body), &got)
		want := `{"lang":"fr","prefs":{"c":3}}`
		if raw, _ := json.Marshal(got.UserMetadata); string(raw) != want {
			t.Fatalf("user_metadata = %s, want %s", raw, want)
		}
		if strings.Contains(body, "Str0ng-Passw0rd") || strings.Contains(body, `"password"`) {
			t.Fatal("a password was returned")
		}
	})
}

func TestInProcessHelpersDoNotCountAsCalls(t *testing.T) {
	h := startHTTP(t, Config{})
	h.ResetCounters()
	id, err := h.CreateUser(SeedUser{Email: "oob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.PatchUser(id, map[string]any{"app_metadata": map[string]any{"drift": true}}); err != nil {
		t.Fatal(err)
	}
	if users := h.Users(); len(users) != 1 || users[0]["app_metadata"].(map[string]any)["drift"] != true {
		t.Fatalf("Users() = %v", users)
	}
	if n := len(h.Counters()); n != 0 {
		t.Fatalf("in-process helpers were counted: %v", h.Counters())
	}
}
