package export

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/usersync/auth0-operator/internal/auth0"
)

func TestUniqueName(t *testing.T) {
	seen := map[string]int{}
	tests := []struct{ email, want string }{
		{"Jane.Doe@example.com", "jane-doe"},
		{"jane.doe@other.org", "jane-doe-2"},
		{"+++@example.com", "user"},
	}
	for _, tt := range tests {
		if got := uniqueName(tt.email, seen); got != tt.want {
			t.Errorf("uniqueName(%q) = %q, want %q", tt.email, got, tt.want)
		}
	}
}

func TestUsersSkipsWhatCannotBeExportedAndClaimsTheRest(t *testing.T) {
	users := []*auth0.User{
		{ID: "auth0|1", Profile: auth0.Profile{Email: "a@x.io"}, Connection: "db", UserMetadata: map[string]any{"theme": "dark"}, AppMetadata: map[string]any{"team": "platform"}},
		{ID: "auth0|2", Profile: auth0.Profile{Email: "b@x.io"}, Connection: "db", AppMetadata: map[string]any{"usersync_owner": "prod/other/b"}},
		{ID: "sms|3", Profile: auth0.Profile{PhoneNumber: "+15550100"}},
	}
	claimed := map[string]any{}
	f := &auth0.Fake{
		SearchUsersFunc: func(context.Context, string, int) ([]*auth0.User, error) { return users, nil },
		UpdateUserFunc: func(_ context.Context, id string, u auth0.UserUpdate) (*auth0.User, error) {
			claimed[id] = u.AppMetadata["usersync_owner"]
			return &auth0.User{ID: id}, nil
		},
	}
	res, err := Users(context.Background(), f, Options{Namespace: "team", ClusterName: "c", Claim: true})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteYAML(&buf, res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"name: a\n", "adoptExisting: true", "deletionPolicy: Orphan", "theme: dark", "team: platform",
		"# skipped auth0|2: managed by prod/other/b", "# skipped sms|3: no email"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "usersync_owner") || strings.Contains(out, "status:") {
		t.Errorf("output carries the owner marker or a status:\n%s", out)
	}
	if len(claimed) != 1 || claimed["auth0|1"] != "c/team/a" {
		t.Errorf("claims = %v", claimed)
	}
}
