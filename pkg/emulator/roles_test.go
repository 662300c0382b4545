package emulator

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
)

// A bulk role assignment naming one user that does not exist is refused whole with 404, and
// assigns nobody: Auth0 does not document it, but a client that verifies user ids first never
// depends on it either way, and one that does not is caught by this.
func TestBulkRoleAssignmentNamingAMissingUserIsRefusedWhole(t *testing.T) {
	h := startHTTP(t, Config{})
	if err := h.Seed(Seed{Roles: []SeedRole{{Name: "viewer"}}}); err != nil {
		t.Fatal(err)
	}
	alice, err := h.CreateUser(SeedUser{Email: "alice@example.com", Password: "Str0ng-Passw0rd!"})
	if err != nil {
		t.Fatal(err)
	}
	role := h.RoleID("viewer")
	path := "/api/v2/roles/" + url.PathEscape(role) + "/users"

	resp, body := h.do("POST", path, fmt.Sprintf(`{"users":[%q,"auth0|no-such-user"]}`, alice))
	if resp.StatusCode != 404 {
		t.Fatalf("want 404 for a bulk assignment naming a missing user, got %d %s", resp.StatusCode, body)
	}
	if got := h.UserRoleIDs(alice); len(got) != 0 {
		t.Fatalf("a refused bulk assignment assigned %v", got)
	}

	resp, body = h.do("POST", path, fmt.Sprintf(`{"users":[%q]}`, alice))
	if resp.StatusCode != 200 {
		t.Fatalf("the same assignment without the missing user: %d %s", resp.StatusCode, body)
	}
	if got := h.UserRoleIDs(alice); !slices.Equal(got, []string{role}) {
		t.Fatalf("alice holds %v", got)
	}
}
