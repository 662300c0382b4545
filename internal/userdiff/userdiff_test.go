package userdiff

import (
	"reflect"
	"testing"

	"github.com/usersync/auth0-operator/internal/auth0"
)

func ptr[T any](v T) *T { return &v }

func TestCompare(t *testing.T) {
	tests := []struct {
		name         string
		desired      Desired
		observed     auth0.User
		managed      Managed
		wantFields   []string
		wantReleased []string
		wantUser     map[string]any
		wantApp      map[string]any
		check        func(t *testing.T, u auth0.UserUpdate)
	}{
		{
			name:     "an unchanged user needs no update",
			desired:  Desired{Profile: auth0.Profile{Email: "a@example.com", Name: "A"}, UserMetadata: map[string]any{"theme": "dark"}},
			observed: auth0.User{Profile: auth0.Profile{Email: "a@example.com", Name: "A"}, UserMetadata: map[string]any{"theme": "dark"}},
		},
		{
			name:     "fields the spec leaves empty are not managed",
			desired:  Desired{Profile: auth0.Profile{Email: "a@example.com"}},
			observed: auth0.User{Profile: auth0.Profile{Email: "a@example.com", Name: "set by an app", Nickname: "nick", Blocked: ptr(true)}},
		},
		{
			name:       "a changed profile field is a difference and is patched",
			desired:    Desired{Profile: auth0.Profile{Email: "a@example.com", Name: "Alice"}},
			observed:   auth0.User{Profile: auth0.Profile{Email: "a@example.com", Name: "Mallory"}},
			wantFields: []string{"name"},
			check: func(t *testing.T, u auth0.UserUpdate) {
				if u.Profile != (auth0.Profile{Name: "Alice"}) {
					t.Errorf("update = %+v, want only name", u)
				}
			},
		},
		{
			name:     "emails compare case-insensitively because Auth0 lowercases them",
			desired:  Desired{Profile: auth0.Profile{Email: "Alice@Example.com"}},
			observed: auth0.User{Profile: auth0.Profile{Email: "alice@example.com"}},
		},
		{
			name:       "a false boolean in the spec matches an absent one in Auth0, a true one does not",
			desired:    Desired{Profile: auth0.Profile{Blocked: ptr(false), EmailVerified: ptr(true)}},
			observed:   auth0.User{},
			wantFields: []string{"emailVerified"},
		},
		{
			name:     "metadata keys written by applications are never compared or removed",
			desired:  Desired{UserMetadata: map[string]any{"team": "platform"}},
			observed: auth0.User{UserMetadata: map[string]any{"team": "platform", "theme": "dark"}},
			managed:  Managed{UserMetadataKeys: []string{"team"}},
		},
		{
			name:         "a managed key that left the spec is removed with null",
			desired:      Desired{UserMetadata: map[string]any{"team": "platform"}},
			observed:     auth0.User{UserMetadata: map[string]any{"team": "platform", "oncall": true, "theme": "dark"}},
			managed:      Managed{UserMetadataKeys: []string{"oncall", "team"}},
			wantReleased: []string{"userMetadata.oncall"},
			wantUser:     map[string]any{"oncall": nil},
		},
		{
			name:     "a managed key that left the spec and is already gone needs nothing",
			desired:  Desired{},
			observed: auth0.User{AppMetadata: map[string]any{"plan": "pro"}},
			managed:  Managed{AppMetadataKeys: []string{"tier"}},
		},
		{
			name:       "a nested object is compared and written whole, as Auth0 replaces it",
			desired:    Desired{AppMetadata: map[string]any{"limits": map[string]any{"seats": float64(5)}}},
			observed:   auth0.User{AppMetadata: map[string]any{"limits": map[string]any{"seats": float64(5), "extra": "x"}}},
			wantFields: []string{"appMetadata.limits"},
			wantApp:    map[string]any{"limits": map[string]any{"seats": float64(5)}},
		},
		{
			name:     "numbers compare equal whatever their Go type",
			desired:  Desired{AppMetadata: map[string]any{"seats": 5}},
			observed: auth0.User{AppMetadata: map[string]any{"seats": float64(5)}},
		},
		{
			name:       "a missing desired key is a difference with an empty observed value",
			desired:    Desired{UserMetadata: map[string]any{"lang": "fr"}},
			observed:   auth0.User{},
			wantFields: []string{"userMetadata.lang"},
			wantUser:   map[string]any{"lang": "fr"},
		},
		{
			name:       "differences are sorted by field",
			desired:    Desired{Profile: auth0.Profile{Nickname: "n", Email: "e@x.io"}, AppMetadata: map[string]any{"b": 1.0, "a": 2.0}},
			observed:   auth0.User{},
			wantFields: []string{"appMetadata.a", "appMetadata.b", "email", "nickname"},
			wantApp:    map[string]any{"a": 2.0, "b": 1.0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Compare(tt.desired, &tt.observed, tt.managed)
			var fields []string
			for _, d := range p.Differences {
				fields = append(fields, d.Field)
			}
			if !reflect.DeepEqual(fields, tt.wantFields) {
				t.Errorf("fields = %v, want %v", fields, tt.wantFields)
			}
			if !reflect.DeepEqual(p.Released, tt.wantReleased) {
				t.Errorf("released = %v, want %v", p.Released, tt.wantReleased)
			}
			if tt.wantUser != nil && !reflect.DeepEqual(p.Update.UserMetadata, tt.wantUser) {
				t.Errorf("user_metadata patch = %v, want %v", p.Update.UserMetadata, tt.wantUser)
			}
			if tt.wantApp != nil && !reflect.DeepEqual(p.Update.AppMetadata, tt.wantApp) {
				t.Errorf("app_metadata patch = %v, want %v", p.Update.AppMetadata, tt.wantApp)
			}
			if want := len(tt.wantFields) > 0 || len(tt.wantReleased) > 0; p.NeedsUpdate() != want {
				t.Errorf("NeedsUpdate = %v, want %v", p.NeedsUpdate(), want)
			}
			if tt.check != nil {
				tt.check(t, p.Update)
			}
		})
	}
}

func TestKeysAfter(t *testing.T) {
	d := Desired{UserMetadata: map[string]any{"theme": "dark", "lang": "fr", "team": "sre"}}
	tests := []struct {
		name     string
		previous Managed
		writing  map[string]any
		applied  bool
		want     Managed
	}{
		{
			name:    "a create writes every spec key",
			writing: d.UserMetadata, applied: true,
			want: Managed{UserMetadataKeys: []string{"lang", "team", "theme"}},
		},
		{
			name:    "on adoption keys that already matched are found, the ones written are the operator's",
			writing: map[string]any{"team": "sre"}, applied: true,
			want: Managed{UserMetadataKeys: []string{"team"}, FoundUserMetadataKeys: []string{"lang", "theme"}},
		},
		{
			name:     "a found key whose value the spec changes becomes written",
			previous: Managed{FoundUserMetadataKeys: []string{"lang", "team", "theme"}},
			writing:  map[string]any{"theme": "dark"}, applied: true,
			want: Managed{UserMetadataKeys: []string{"theme"}, FoundUserMetadataKeys: []string{"lang", "team"}},
		},
		{
			name:     "a found key that left the spec is forgotten, a written one is dropped once deleted",
			previous: Managed{UserMetadataKeys: []string{"gone", "team"}, FoundUserMetadataKeys: []string{"left", "theme"}},
			writing:  map[string]any{"gone": nil}, applied: true,
			want: Managed{UserMetadataKeys: []string{"team"}, FoundUserMetadataKeys: []string{"lang", "theme"}},
		},
		{
			name:     "before the write, or with its answer lost, written keys that left the spec are kept",
			previous: Managed{UserMetadataKeys: []string{"gone", "team"}},
			writing:  map[string]any{"gone": nil, "lang": "fr"}, applied: false,
			want: Managed{UserMetadataKeys: []string{"gone", "lang", "team"}, FoundUserMetadataKeys: []string{"theme"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := KeysAfter(d, tt.previous, tt.writing, nil, tt.applied)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCreateRequestClaimsTheUser(t *testing.T) {
	d := Desired{Connection: "db", Profile: auth0.Profile{Email: "a@x.io"}, AppMetadata: map[string]any{"plan": "pro"}}
	req := CreateRequest(d, "pw", nil, "c/ns/a")
	if req.AppMetadata[OwnerKey] != "c/ns/a" || req.AppMetadata["plan"] != "pro" {
		t.Errorf("app_metadata = %v", req.AppMetadata)
	}
	if _, leaked := d.AppMetadata[OwnerKey]; leaked {
		t.Error("CreateRequest modified the desired state")
	}
	if Owner(&auth0.User{AppMetadata: req.AppMetadata}) != "c/ns/a" {
		t.Error("Owner does not read back the claim")
	}
}
