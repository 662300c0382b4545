package auth0

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/auth0/go-auth0/management"

	"github.com/usersync/auth0-operator/pkg/emulator"
)

const secret = "client-secret-never-in-errors"

func startTenant(t *testing.T, cfg emulator.Config) (*emulator.Emulator, Tenant) {
	t.Helper()
	if cfg.Clients == nil {
		cfg.Clients = map[string]emulator.Client{"op": {Secret: secret}}
	}
	e, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base, err := e.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if err := e.Seed(emulator.Seed{
		ResourceServers: []emulator.SeedResourceServer{{Name: "API", Identifier: "https://api.example.com", Scopes: []string{"read:x", "write:x"}}},
		Roles:           []emulator.SeedRole{{Name: "admin", Permissions: []string{"https://api.example.com write:x"}}},
	}); err != nil {
		t.Fatal(err)
	}
	return e, Tenant{Domain: base, ClientID: "op", ClientSecret: secret}
}

func calls(e *emulator.Emulator, route string) int64 {
	var n int64
	for _, c := range e.Counters()[route] {
		n += c
	}
	return n
}

func TestClientAgainstTheEmulator(t *testing.T) {
	ctx := context.Background()
	e, tenant := startTenant(t, emulator.Config{})
	c, err := NewProvider(ProviderOptions{}).ClientFor(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}

	created, err := c.CreateUser(ctx, UserCreate{Connection: "Username-Password-Authentication", Profile: Profile{Email: "a@example.com"}, Password: "Str0ng-Passw0rd",
		UserMetadata: map[string]any{"theme": "dark", "team": "x"}, AppMetadata: map[string]any{"plan": "pro"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.Connection != "Username-Password-Authentication" || created.ID == "" {
		t.Fatalf("created = %+v", created)
	}
	if _, err := c.CreateUser(ctx, UserCreate{Connection: "Username-Password-Authentication", Profile: Profile{Email: "a@example.com"}, Password: "Str0ng-Passw0rd"}); !IsConflict(err) {
		t.Fatalf("duplicate create: %v, want a conflict", err)
	}

	updated, err := c.UpdateUser(ctx, created.ID, UserUpdate{UserMetadata: map[string]any{"team": nil, "lang": "fr"}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(updated.UserMetadata) != "map[lang:fr theme:dark]" {
		t.Errorf("user_metadata after null-delete = %v", updated.UserMetadata)
	}

	var ids []string
	for i := range 120 {
		u, err := c.CreateUser(ctx, UserCreate{Connection: "Username-Password-Authentication", Profile: Profile{Email: fmt.Sprintf("u%d@example.com", i)}, Password: "Str0ng-Passw0rd"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	e.ResetCounters()
	got, err := c.GetUsers(ctx, append(ids, "auth0|doesnotexist"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 120 || calls(e, "GET /api/v2/users") != 3 {
		t.Errorf("GetUsers found %d users in %d calls, want 120 in 3", len(got), calls(e, "GET /api/v2/users"))
	}

	if found, err := c.UsersByEmail(ctx, "a@example.com"); err != nil || len(found) != 1 {
		t.Errorf("UsersByEmail = %v, %v", found, err)
	}
	// Exact and case-sensitive, as in Auth0: database emails are stored lower-cased.
	if found, err := c.UsersByEmail(ctx, "A@example.com"); err != nil || len(found) != 0 {
		t.Errorf("UsersByEmail with another case = %v, %v", found, err)
	}
	if found, err := c.SearchUsers(ctx, "email:u1*", 5); err != nil || len(found) != 5 {
		t.Errorf("SearchUsers = %d, %v", len(found), err)
	}

	roles, err := c.ListRoles(ctx)
	if err != nil || len(roles) != 1 {
		t.Fatalf("ListRoles = %v, %v", roles, err)
	}
	e.ResetCounters()
	if err := c.AssignRoleToUsers(ctx, roles[0].ID, ids); err != nil {
		t.Fatal(err)
	}
	if n := calls(e, "POST /api/v2/roles/{id}/users"); n != 2 {
		t.Errorf("assigning 120 users took %d calls, want 2", n)
	}
	members, err := c.RoleUserIDs(ctx, roles[0].ID)
	if err != nil || len(members) != 120 {
		t.Errorf("RoleUserIDs = %d, %v", len(members), err)
	}
	if err := c.AssignUserRoles(ctx, created.ID, []string{roles[0].ID}); err != nil {
		t.Fatal(err)
	}
	if ur, err := c.UserRoles(ctx, created.ID); err != nil || len(ur) != 1 {
		t.Errorf("UserRoles = %v, %v", ur, err)
	}

	perm := Permission{ResourceServerIdentifier: "https://api.example.com", Name: "read:x"}
	if err := c.AssignUserPermissions(ctx, created.ID, []Permission{perm}); err != nil {
		t.Fatal(err)
	}
	direct, err := c.UserPermissions(ctx, created.ID)
	if err != nil || len(direct) != 1 || direct[0] != perm {
		t.Errorf("UserPermissions = %v, %v (want only the direct one, not the role's write:x)", direct, err)
	}
	if err := c.RemoveUserPermissions(ctx, created.ID, []Permission{perm}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveUserRoles(ctx, created.ID, []string{roles[0].ID}); err != nil {
		t.Fatal(err)
	}
	rs, err := c.GetResourceServer(ctx, "https://api.example.com")
	if err != nil || len(rs.Scopes) != 2 {
		t.Errorf("GetResourceServer = %+v, %v", rs, err)
	}

	if err := c.DeleteUser(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, created.ID); !IsNotFound(err) {
		t.Errorf("GetUser after delete: %v, want not found", err)
	}
	if err := c.DeleteUser(ctx, created.ID); err != nil {
		t.Errorf("deleting a missing user: %v", err)
	}
	if n := calls(e, "POST /oauth/token"); n > 1 {
		t.Errorf("%d token requests after the counter reset; the token must be cached", n)
	}
}

func TestErrorsCarryAuth0sMessageAndNoSecret(t *testing.T) {
	ctx := context.Background()
	_, tenant := startTenant(t, emulator.Config{Clients: map[string]emulator.Client{"op": {Secret: secret}, "ro": {Secret: "ro-secret", Scopes: []string{"read:users"}}}})

	wrong := tenant
	wrong.ClientSecret = "wrong-" + secret
	c, _ := NewProvider(ProviderOptions{}).ClientFor(ctx, wrong)
	_, err := c.GetUser(ctx, "auth0|x")
	var a0 *Error
	if !errors.As(err, &a0) || a0.StatusCode != 401 || IsRetryable(err) {
		t.Fatalf("wrong secret: %v, want a terminal 401", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the error leaks the secret: %v", err)
	}

	ro := tenant
	ro.ClientID, ro.ClientSecret = "ro", "ro-secret"
	c, _ = NewProvider(ProviderOptions{}).ClientFor(ctx, ro)
	_, err = c.CreateUser(ctx, UserCreate{Connection: "Username-Password-Authentication", Profile: Profile{Email: "x@example.com"}, Password: "Str0ng-Passw0rd"})
	if !errors.As(err, &a0) || a0.StatusCode != 403 || !strings.Contains(err.Error(), "create:users") {
		t.Fatalf("missing scope: %v", err)
	}
}

func TestRateLimitedTenantIsWaitedOutNotFailed(t *testing.T) {
	ctx := context.Background()
	e, tenant := startTenant(t, emulator.Config{RateLimit: emulator.RateLimit{PerSecond: 5}})
	c, _ := NewProvider(ProviderOptions{}).ClientFor(ctx, tenant)
	var wg sync.WaitGroup
	var failures atomic.Int32
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := c.GetUser(ctx, "auth0|nobody"); !IsNotFound(err) {
					failures.Add(1)
					t.Errorf("GetUser: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	var limited int64
	for _, byStatus := range e.Counters() {
		limited += byStatus[429]
	}
	t.Logf("20 reads at 5 req/s: %d answered 429 (and retried)", limited)
	if failures.Load() > 0 {
		t.Fatal("a rate-limited request failed instead of waiting")
	}
}

func TestTokenIsFetchedOnceForConcurrentCalls(t *testing.T) {
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			fetches.Add(1)
			fmt.Fprint(w, `{"access_token":"tok","expires_in":86400,"token_type":"Bearer"}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			return
		}
		fmt.Fprint(w, `{"user_id":"auth0|1"}`)
	}))
	defer srv.Close()
	c, err := NewProvider(ProviderOptions{}).ClientFor(context.Background(), Tenant{Domain: srv.URL, ClientID: "id", ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.GetUser(context.Background(), "auth0|1"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d token fetches, want 1", n)
	}
}

func TestProviderReusesClientsAndSeparatesSecrets(t *testing.T) {
	p := NewProvider(ProviderOptions{})
	ctx := context.Background()
	a, _ := p.ClientFor(ctx, Tenant{Domain: "t.example.com", ClientID: "id", ClientSecret: "one"})
	b, _ := p.ClientFor(ctx, Tenant{Domain: "t.example.com", ClientID: "id", ClientSecret: "one"})
	c, _ := p.ClientFor(ctx, Tenant{Domain: "t.example.com", ClientID: "id", ClientSecret: "two"})
	if a != b || a == c {
		t.Error("want one client per credential, and a new one for a rotated secret")
	}
	if _, err := p.ClientFor(ctx, Tenant{Domain: "ftp://nope"}); err == nil {
		t.Error("want an error for a bad domain")
	}
}

func TestTLSTrustsOnlyTheTenantsCA(t *testing.T) {
	ctx := context.Background()
	e, err := emulator.New(emulator.Config{Clients: map[string]emulator.Client{"op": {Secret: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	base, err := e.StartTLS("127.0.0.1:0", caFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	domain := strings.TrimPrefix(base, "https://") // a bare host means HTTPS

	c, err := NewProvider(ProviderOptions{}).ClientFor(ctx, Tenant{Domain: domain, ClientID: "op", ClientSecret: secret, CACertPEM: ca})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, "auth0|nobody"); !IsNotFound(err) {
		t.Errorf("GetUser over TLS with the tenant's CA: %v, want not found", err)
	}

	c, _ = NewProvider(ProviderOptions{}).ClientFor(ctx, Tenant{Domain: domain, ClientID: "op", ClientSecret: secret})
	if _, err := c.GetUser(ctx, "auth0|nobody"); err == nil || IsNotFound(err) || strings.Contains(err.Error(), secret) {
		t.Errorf("GetUser without the CA: %v, want a certificate error", err)
	}
	if _, err := NewProvider(ProviderOptions{}).ClientFor(ctx, Tenant{Domain: domain, CACertPEM: []byte("not a certificate")}); err == nil {
		t.Error("a CA that is no PEM was accepted")
	}
}

func TestUpdateSendsTheConnectionWithIdentifyingFields(t *testing.T) {
	ctx := context.Background()
	e, tenant := startTenant(t, emulator.Config{})
	c, _ := NewProvider(ProviderOptions{}).ClientFor(ctx, tenant)
	u, err := c.CreateUser(ctx, UserCreate{Connection: "Username-Password-Authentication", Profile: Profile{Email: "old@example.com", Name: "Old"}, Password: "Str0ng-Passw0rd"})
	if err != nil {
		t.Fatal(err)
	}
	email, name, verified := "new@example.com", "New", true
	got, err := c.UpdateUser(ctx, u.ID, UserUpdate{Connection: "Username-Password-Authentication", Profile: Profile{Email: email, Name: name, EmailVerified: &verified},
		AppMetadata: map[string]any{"plan": "pro", "tags": []any{"a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != email || got.Name != name || got.EmailVerified == nil || !*got.EmailVerified || got.AppMetadata["plan"] != "pro" {
		t.Errorf("updated = %+v", got)
	}
	read, err := c.GetUser(ctx, u.ID)
	if err != nil || read.Email != email || fmt.Sprint(read.AppMetadata) != "map[plan:pro tags:[a]]" || e.User(u.ID) == nil {
		t.Errorf("GetUser = %+v, %v", read, err)
	}
	if found, err := c.UsersByEmail(ctx, "old@example.com"); err != nil || len(found) != 0 {
		t.Errorf("UsersByEmail(old) = %v, %v", found, err)
	}
}

// TestProfileFieldsCoverProfile checks the table every walk of the profile goes through: each
// field of Profile is in it exactly once, under a name of its own, and reaches the SDK's user
// and back.
func TestProfileFieldsCoverProfile(t *testing.T) {
	yes := true
	names := map[string]bool{}
	for _, f := range ProfileFields {
		if names[f.Name] || (f.Text == nil) == (f.Flag == nil) || (f.Text == nil) != (f.sdkText == nil) || (f.Flag == nil) != (f.sdkFlag == nil) {
			t.Errorf("field %q is listed twice or has not exactly one kind of accessor", f.Name)
		}
		names[f.Name] = true
	}
	profile := reflect.TypeFor[Profile]()
	var full Profile
	for i := range profile.NumField() {
		var one Profile
		v := reflect.ValueOf(&one).Elem().Field(i)
		if v.Kind() == reflect.String {
			v.SetString(profile.Field(i).Name)
		} else {
			v.Set(reflect.ValueOf(&yes))
		}
		reflect.ValueOf(&full).Elem().Field(i).Set(v)
		var seen []string
		for _, f := range ProfileFields {
			if !reflect.ValueOf(f.Addr(&one)).Elem().IsZero() {
				seen = append(seen, f.Name)
			}
		}
		if len(seen) != 1 {
			t.Errorf("Profile.%s is reached by the fields %v of ProfileFields, want one", profile.Field(i).Name, seen)
		}
	}
	var u management.User
	full.toSDK(&u)
	if back := profileFromSDK(&u); !reflect.DeepEqual(back, full) {
		t.Errorf("through the SDK's user %+v became %+v", full, back)
	}
}

// TestRequestsSendOnlyWhatIsSet checks the bodies the SDK adapter sends: no empty profile field,
// and the connection with a PATCH only when a field that identifies a database user changes.
func TestRequestsSendOnlyWhatIsSet(t *testing.T) {
	var sent atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			fmt.Fprint(w, `{"access_token":"tok","expires_in":86400}`)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
		}
		sent.Store(r.Method + " " + strings.Join(slices.Sorted(maps.Keys(body)), ","))
		fmt.Fprint(w, `{"user_id":"auth0|1"}`)
	}))
	defer srv.Close()
	ctx := context.Background()
	c, _ := NewProvider(ProviderOptions{}).ClientFor(ctx, Tenant{Domain: srv.URL, ClientID: "id", ClientSecret: secret})
	yes, pw := true, "Str0ng-Passw0rd"
	tests := []struct {
		create *UserCreate
		update *UserUpdate
		want   string
	}{
		{create: &UserCreate{Connection: "db", Profile: Profile{Email: "a@x.io", Blocked: &yes}, Password: pw},
			want: "POST blocked,connection,email,password"},
		{create: &UserCreate{Connection: "sms", Profile: Profile{PhoneNumber: "+15550100"}, VerifyEmail: &yes, AppMetadata: map[string]any{"a": 1}},
			want: "POST app_metadata,connection,phone_number,verify_email"},
		{update: &UserUpdate{Connection: "db", Profile: Profile{Name: "N", GivenName: "G", EmailVerified: &yes}},
			want: "PATCH email_verified,given_name,name"},
		{update: &UserUpdate{Connection: "db", Profile: Profile{Email: "b@x.io"}, VerifyEmail: &yes},
			want: "PATCH connection,email,verify_email"},
		{update: &UserUpdate{Connection: "db", Profile: Profile{Username: "u"}}, want: "PATCH connection,username"},
		{update: &UserUpdate{Connection: "db", Profile: Profile{PhoneNumber: "+15550100"}}, want: "PATCH connection,phone_number"},
		{update: &UserUpdate{Connection: "db", Password: &pw}, want: "PATCH connection,password"},
		{update: &UserUpdate{AppMetadata: map[string]any{"usersync_owner": nil}}, want: "PATCH app_metadata"},
	}
	for _, tt := range tests {
		var err error
		if tt.create != nil {
			_, err = c.CreateUser(ctx, *tt.create)
		} else {
			_, err = c.UpdateUser(ctx, "auth0|1", *tt.update)
		}
		if got := sent.Load(); err != nil || got != tt.want {
			t.Errorf("sent %q (%v), want %q", got, err, tt.want)
		}
	}
}
