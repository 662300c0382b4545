package emulator

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestUsersSearchOverHTTP(t *testing.T) {
	h := startHTTP(t, Config{})
	var ids []string
	for i, name := range []string{"carol", "alice", "bob"} {
		id, err := h.CreateUser(SeedUser{Email: name + "@example.com", Name: name, AppMetadata: map[string]any{"rank": fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	search := func(params string) (int, string) {
		resp, body := h.do("GET", "/api/v2/users?search_engine=v3&"+params, "")
		return resp.StatusCode, body
	}
	names := func(body string) string {
		var users []map[string]any
		if err := json.Unmarshal([]byte(body), &users); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		var out []string
		for _, u := range users {
			out = append(out, fmt.Sprint(u["name"]))
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		name   string
		params string
		want   string
	}{
		{"sort ascending by a field", "sort=name:1", "alice,bob,carol"},
		{"sort descending by a field", "sort=name:-1", "carol,bob,alice"},
		{"sort by an app_metadata field", "sort=app_metadata.rank:-1", "bob,alice,carol"},
		{"a prefix wildcard", "q=" + url.QueryEscape("name:b*") + "&sort=name:1", "bob"},
		{"a user id batch", "q=" + url.QueryEscape(fmt.Sprintf("user_id:(%q OR %q)", ids[0], ids[2])) + "&sort=name:1", "bob,carol"},
		{"paging takes the requested page", "sort=name:1&per_page=1&page=1", "bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := search(tt.params)
			if status != 200 || names(body) != tt.want {
				t.Fatalf("got %d %s, want %s", status, body, tt.want)
			}
		})
	}

	t.Run("fields with include_fields keeps only those fields", func(t *testing.T) {
		_, body := search("fields=user_id,email&include_fields=true&per_page=1")
		var users []map[string]any
		_ = json.Unmarshal([]byte(body), &users)
		if len(users) != 1 || len(users[0]) != 2 || users[0]["email"] == nil {
			t.Fatalf("users = %v", users)
		}
	})
	t.Run("include_totals wraps the page with its totals", func(t *testing.T) {
		_, body := search("include_totals=true&per_page=2")
		var page struct {
			Start, Limit, Length, Total int
			Users                       []map[string]any
		}
		_ = json.Unmarshal([]byte(body), &page)
		if page.Total != 3 || page.Length != 2 || page.Limit != 2 || len(page.Users) != 2 {
			t.Fatalf("page = %+v", page)
		}
	})
}
