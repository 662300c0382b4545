package emulator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStateFileKeepsTheTenantAcrossRestarts(t *testing.T) {
	state := filepath.Join(t.TempDir(), "tenant.json")
	h := startHTTP(t, Config{StateFile: state})
	if err := h.Seed(Seed{ResourceServers: []SeedResourceServer{{Name: "API", Identifier: "https://api", Scopes: []string{"read:x"}}}, Roles: []SeedRole{{Name: "reader", Permissions: []string{"https://api read:x"}}}}); err != nil {
		t.Fatal(err)
	}
	resp, body := h.do("POST", "/api/v2/users", `{"connection":"Username-Password-Authentication","email":"kept@example.com","password":"Str0ng-Passw0rd","user_metadata":{"theme":"dark"}}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	id := h.UsersByEmail("kept@example.com")[0]["user_id"].(string)
	h.GrantRole(id, h.RoleID("reader"))

	t.Run("a change is saved without waiting for Close", func(t *testing.T) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			raw, _ := os.ReadFile(state)
			if strings.Contains(string(raw), "kept@example.com") && strings.Contains(string(raw), "userRoles") {
				if strings.Contains(string(raw), "Str0ng-Passw0rd") {
					t.Fatal("the state file holds a password")
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("state file after 5s: %s", raw)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("a new emulator on the same file has the users, roles and grants", func(t *testing.T) {
		e, err := New(Config{StateFile: state})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		u := e.User(id)
		if u == nil || u["user_metadata"].(map[string]any)["theme"] != "dark" {
			t.Fatalf("user after restart = %v", u)
		}
		if roles := e.UserRoleIDs(id); len(roles) != 1 || roles[0] != e.RoleID("reader") {
			t.Fatalf("roles after restart = %v", roles)
		}
	})
}
