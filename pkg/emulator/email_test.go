package emulator

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
)

// Auth0 stores the email of a database user lower-cased, keeps a social or enterprise user's as
// the identity provider gave it, and answers users-by-email with an exact, case-sensitive match
// ("Email address to search for (case-sensitive)"). Search v3 matches email without case.

// emailsOf decodes a users list and returns its user ids and emails.
func emailsOf(t *testing.T, body string) (ids, emails []string) {
	t.Helper()
	var users []struct {
		UserID string `json:"user_id"`
		Email  string `json:"email"`
	}
	if err := json.Unmarshal([]byte(body), &users); err != nil {
		t.Fatalf("not a users list: %s", body)
	}
	for _, u := range users {
		ids, emails = append(ids, u.UserID), append(emails, u.Email)
	}
	return ids, emails
}

func TestDatabaseEmailIsStoredLowerCasedAndLookedUpExactly(t *testing.T) {
	h := startHTTP(t, Config{})
	resp, body := h.do("POST", "/api/v2/users", fmt.Sprintf(createBody, "Alice@Example.com"))
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var created struct {
		UserID string `json:"user_id"`
		Email  string `json:"email"`
	}
	_ = json.Unmarshal([]byte(body), &created)
	if created.Email != "alice@example.com" {
		t.Errorf("created email = %q, want it lower-cased", created.Email)
	}
	if _, body := h.do("GET", "/api/v2/users/"+url.PathEscape(created.UserID), ""); !jsonHas(body, "email", "alice@example.com") {
		t.Errorf("read back: %s", body)
	}

	byEmail := func(email string) []string {
		t.Helper()
		resp, body := h.do("GET", "/api/v2/users-by-email?email="+url.QueryEscape(email), "")
		if resp.StatusCode != 200 {
			t.Fatalf("users-by-email %s: %d %s", email, resp.StatusCode, body)
		}
		ids, _ := emailsOf(t, body)
		return ids
	}
	if got := byEmail("Alice@Example.com"); len(got) != 0 {
		t.Errorf("users-by-email with the case as created = %v, want none: the match is case-sensitive", got)
	}
	if got := byEmail("alice@example.com"); len(got) != 1 || got[0] != created.UserID {
		t.Errorf("users-by-email lower-cased = %v, want [%s]", got, created.UserID)
	}
	if got := h.UsersByEmail("Alice@Example.com"); len(got) != 0 {
		t.Errorf("the UsersByEmail helper with the case as created = %v, want none, like the API", got)
	}
	if got := h.UsersByEmail("alice@example.com"); len(got) != 1 {
		t.Errorf("the UsersByEmail helper lower-cased = %v, want the user", got)
	}

	t.Run("a duplicate differing only in case is the same user", func(t *testing.T) {
		resp, body := h.do("POST", "/api/v2/users", fmt.Sprintf(createBody, "ALICE@example.COM"))
		if resp.StatusCode != 409 || !jsonHas(body, "message", "The user already exists.") {
			t.Errorf("create = %d %s, want 409 The user already exists.", resp.StatusCode, body)
		}
		if _, err := h.CreateUser(SeedUser{Email: "aLiCe@example.com"}); err == nil {
			t.Error("the CreateUser helper accepted a duplicate differing only in case")
		}
	})

	t.Run("a PATCHed email is stored lower-cased, and conflicts without case", func(t *testing.T) {
		resp, body := h.do("POST", "/api/v2/users", fmt.Sprintf(createBody, "bob@example.com"))
		if resp.StatusCode != 201 {
			t.Fatalf("create: %d %s", resp.StatusCode, body)
		}
		var bob struct {
			UserID string `json:"user_id"`
		}
		_ = json.Unmarshal([]byte(body), &bob)
		path := "/api/v2/users/" + url.PathEscape(bob.UserID)
		if resp, body := h.do("PATCH", path, `{"email":"Alice@EXAMPLE.com"}`); resp.StatusCode != 409 {
			t.Errorf("PATCH to another user's email in other case = %d %s, want 409", resp.StatusCode, body)
		}
		if resp, body := h.do("PATCH", path, `{"email":"Robert@Example.com"}`); resp.StatusCode != 200 || !jsonHas(body, "email", "robert@example.com") {
			t.Errorf("PATCH = %d %s, want the email lower-cased", resp.StatusCode, body)
		}
		if got := byEmail("robert@example.com"); len(got) != 1 || got[0] != bob.UserID {
			t.Errorf("users-by-email after PATCH = %v", got)
		}
		if got := byEmail("Robert@Example.com"); len(got) != 0 {
			t.Errorf("users-by-email with the PATCHed case = %v, want none", got)
		}
		if err := h.PatchUser(bob.UserID, map[string]any{"email": "Bob@Example.com"}); err != nil {
			t.Fatal(err)
		}
		if got := h.User(bob.UserID)["email"]; got != "bob@example.com" {
			t.Errorf("email after the PatchUser helper = %v, want it lower-cased", got)
		}
	})

	t.Run("search v3 matches email without case, as Auth0 documents", func(t *testing.T) {
		for _, q := range []string{`email:"Alice@Example.com"`, `email:"alice@example.com"`, `email:ALICE@EXAMPLE.COM`} {
			_, body := h.do("GET", "/api/v2/users?search_engine=v3&q="+url.QueryEscape(q), "")
			if ids, emails := emailsOf(t, body); len(ids) != 1 || ids[0] != created.UserID || emails[0] != "alice@example.com" {
				t.Errorf("q=%s found %v %v, want alice", q, ids, emails)
			}
		}
	})
}

func TestSocialEmailKeepsItsCase(t *testing.T) {
	h := startHTTP(t, Config{})
	if err := h.Seed(Seed{
		Connections: []Connection{{Name: "google-oauth2", Strategy: "google-oauth2"}},
		Users:       []SeedUser{{Email: "Carol@Example.com", Connection: "google-oauth2"}},
	}); err != nil {
		t.Fatal(err)
	}
	// The same email in the database connection is another user, stored lower-cased.
	dbID, err := h.CreateUser(SeedUser{Email: "Carol@Example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.User(dbID)["email"]; got != "carol@example.com" {
		t.Errorf("database user's email = %v, want it lower-cased", got)
	}

	_, body := h.do("GET", "/api/v2/users-by-email?email="+url.QueryEscape("Carol@Example.com"), "")
	ids, emails := emailsOf(t, body)
	if len(ids) != 1 || ids[0] == dbID || emails[0] != "Carol@Example.com" {
		t.Errorf("users-by-email with the provider's case = %v %v, want the social user alone, its case kept", ids, emails)
	}
	_, body = h.do("GET", "/api/v2/users-by-email?email="+url.QueryEscape("carol@example.com"), "")
	if ids, _ := emailsOf(t, body); len(ids) != 1 || ids[0] != dbID {
		t.Errorf("users-by-email lower-cased = %v, want the database user alone", ids)
	}
	if got := h.UsersByEmail("Carol@Example.com"); len(got) != 1 || got[0]["email"] != "Carol@Example.com" {
		t.Errorf("the UsersByEmail helper = %v", got)
	}
	socialID := ids[0]
	if err := h.PatchUser(socialID, map[string]any{"email": "Carol.New@Example.com"}); err != nil {
		t.Fatal(err)
	}
	if got := h.User(socialID)["email"]; got != "Carol.New@Example.com" {
		t.Errorf("social email after the PatchUser helper = %v, want its case kept", got)
	}

	_, body = h.do("GET", "/api/v2/users?search_engine=v3&q="+url.QueryEscape(`email:"carol@example.com"`), "")
	if ids, _ := emailsOf(t, body); len(ids) != 1 || ids[0] != dbID {
		t.Errorf("search = %v, want the database user", ids)
	}
	_, body = h.do("GET", "/api/v2/users?search_engine=v3&q="+url.QueryEscape(`email:"carol.new@example.com"`), "")
	if ids, _ := emailsOf(t, body); len(ids) != 1 || ids[0] != socialID {
		t.Errorf("search without case = %v, want the social user", ids)
	}
}

// jsonHas reports whether body is a JSON object whose key holds want.
func jsonHas(body, key, want string) bool {
	var m map[string]any
	return json.Unmarshal([]byte(body), &m) == nil && m[key] == want
}
