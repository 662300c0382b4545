package emulator

import (
	"testing"
)

func TestQueryMatching(t *testing.T) {
	blocked := true
	jane := &user{UserID: "auth0|aaa", Connection: "db", Email: "jane@example.com", Name: "Jane Doe", Nickname: "jd",
		Blocked: &blocked, CreatedAt: "2024-03-01T10:00:00.000Z",
		UserMetadata: map[string]any{"theme": "dark", "lang": "fr"},
		AppMetadata:  map[string]any{"team": "platform", "plan": map[string]any{"tier": "pro"}, "tags": []any{"a", "b"}, "seats": float64(5)},
		Identities:   []identity{{Connection: "db", Provider: "auth0"}}}
	tests := []struct {
		name  string
		query string
		want  bool
	}{
		{"a field matches its exact value", `email:jane@example.com`, true},
		{"a quoted phrase matches a field with spaces", `name:"Jane Doe"`, true},
		{"matching ignores case", `name:"jane doe"`, true},
		{"a different value does not match", `email:john@example.com`, false},
		{"a trailing star is a prefix", `email:ja*`, true},
		{"a prefix of another word does not match", `email:jo*`, false},
		{"a bare term searches the profile fields", `jd`, true},
		{"AND needs both sides", `email:jane@example.com AND nickname:zz`, false},
		{"OR needs either side", `email:john@example.com OR nickname:jd`, true},
		{"NOT negates", `NOT nickname:jd`, false},
		{"a leading minus negates", `-nickname:zz`, true},
		{"parentheses group", `(nickname:zz OR nickname:jd) AND email:jane*`, true},
		{"juxtaposition is AND", `nickname:jd email:nobody@x.io`, false},
		{"user_metadata fields are searchable", `user_metadata.theme:dark`, true},
		{"nested app_metadata fields are searchable", `app_metadata.plan.tier:pro`, true},
		{"array values match any element", `app_metadata.tags:b`, true},
		{"numbers match their decimal form", `app_metadata.seats:5`, true},
		{"_exists_ finds a present field", `_exists_:app_metadata.team`, true},
		{"_exists_ misses an absent field", `_exists_:user_metadata.team`, false},
		{"an inclusive range matches inside", `created_at:[2024-01-01 TO 2024-12-31]`, true},
		{"a range misses outside", `created_at:[2025-01-01 TO 2025-12-31]`, false},
		{"an open-ended range works", `created_at:[2024-01-01 TO *]`, true},
		{"a user id group matches its member", `user_id:("auth0|zzz" OR "auth0|aaa")`, true},
		{"user ids are case-sensitive", `user_id:"AUTH0|AAA"`, false},
		{"booleans match", `blocked:true`, true},
		{"the connection is searchable through identities", `identities.connection:db`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuery(tt.query)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tt.query, err)
			}
			if got := q.match(jane); got != tt.want {
				t.Errorf("match(%q) = %v, want %v", tt.query, got, tt.want)
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	for _, q := range []string{``, `(email:a`, `email:a)`, `created_at:[a TO`, `created_at:[a b c]`, `_exists_:`} {
		t.Run(q, func(t *testing.T) {
			if _, err := ParseQuery(q); err == nil {
				t.Errorf("ParseQuery(%q) succeeded, want an error", q)
			}
		})
	}
}

func TestUserIDQueriesAreLookups(t *testing.T) {
	q, err := ParseQuery(`user_id:("auth0|1" OR "auth0|2" OR "auth0|3")`)
	if err != nil {
		t.Fatal(err)
	}
	ids, ok := onlyUserIDs(q)
	if !ok || len(ids) != 3 || ids[0] != "auth0|1" {
		t.Errorf("onlyUserIDs = %v, %v", ids, ok)
	}
	if _, ok := onlyUserIDs(mustParse(t, `user_id:"auth0|1" OR email:x@y.z`)); ok {
		t.Error("a mixed query must be scanned, not looked up")
	}
}

func mustParse(t *testing.T, s string) node {
	t.Helper()
	n, err := ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{`email:"a@b.c"`, `name:j* AND NOT blocked:true`, `user_id:(a OR b)`, `created_at:[2020 TO *}`, `_exists_:app_metadata.x`, `((`, `a:b:c`, `"unterminated`, `-x`, `[`} {
		f.Add(s)
	}
	u := &user{UserID: "auth0|x", Email: "a@b.c", Identities: []identity{{Connection: "db", Provider: "auth0"}}, AppMetadata: map[string]any{"x": []any{1.0, "y"}}}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseQuery(s)
		if err != nil {
			return
		}
		_ = n.match(u) // must not panic
	})
}
