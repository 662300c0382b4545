package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auth0/go-auth0/management"
	"golang.org/x/oauth2"
)

// startTLS starts an emulator over HTTPS and returns it, its host:port, and an HTTP client that
// trusts only its CA, the way a user's suite would configure an unmodified SDK.
func startTLS(t *testing.T, cfg Config) (*Emulator, string, *http.Client) {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	base, err := e.StartTLS("127.0.0.1:0", caFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the CA file holds no certificate")
	}
	u, _ := url.Parse(base)
	return e, u.Host, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func sdk(t *testing.T, host string, hc *http.Client, id, secret string) *management.Management {
	t.Helper()
	// The SDK fetches tokens with the oauth2 package, which takes its HTTP client from the
	// context: both it and the API calls trust the emulator's CA.
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	m, err := management.New(host, management.WithClientCredentials(tokenCtx, id, secret), management.WithClient(hc), management.WithNoRetries())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUnmodifiedSDKOverTLS(t *testing.T) {
	ctx := context.Background()
	e, host, hc := startTLS(t, Config{Clients: map[string]Client{"app": {Secret: "s3cret"}, "reader": {Secret: "r", Scopes: []string{"read:users"}}}})
	if err := e.Seed(Seed{ResourceServers: []SeedResourceServer{{Name: "API", Identifier: "https://api.example.com", Scopes: []string{"read:x", "write:x"}}}}); err != nil {
		t.Fatal(err)
	}
	m := sdk(t, host, hc, "app", "s3cret")

	conn, email, pw := "Username-Password-Authentication", "chuck@example.com", "Roundhouse-Kick-42"
	u := &management.User{Connection: &conn, Email: &email, Password: &pw, UserMetadata: &map[string]any{"theme": "dark", "lang": "fr"}}
	if err := m.User.Create(ctx, u); err != nil {
		t.Fatalf("create: %v", err)
	}
	if !strings.HasPrefix(u.GetID(), "auth0|") || u.GetNickname() != "chuck" {
		t.Fatalf("created user = %+v", u)
	}
	if u.Password != nil && *u.Password != pw {
		t.Fatal("the password came back")
	}
	if err := m.User.Create(ctx, &management.User{Connection: &conn, Email: &email, Password: &pw}); err == nil || err.(management.Error).Status() != 409 {
		t.Fatalf("duplicate create: %v, want 409", err)
	}

	patch := &management.User{UserMetadata: &map[string]any{"lang": nil, "team": "platform"}}
	if err := m.User.Update(ctx, u.GetID(), patch); err != nil {
		t.Fatalf("update: %v", err)
	}
	got, err := m.User.Read(ctx, u.GetID())
	if err != nil {
		t.Fatal(err)
	}
	if md := *got.UserMetadata; md["theme"] != "dark" || md["team"] != "platform" || md["lang"] != nil {
		t.Fatalf("user_metadata after merge = %v", md)
	}

	list, err := m.User.List(ctx, management.Query(`email:"chuck@example.com"`), management.Parameter("search_engine", "v3"))
	if err != nil || len(list.Users) != 1 || list.Total != 1 {
		t.Fatalf("search = %+v, %v", list, err)
	}
	// users-by-email is exact and case-sensitive, as Auth0 documents it: the database user's
	// email is stored lower-cased, so only the lower-cased address finds it.
	byEmail, err := m.User.ListByEmail(ctx, "chuck@example.com")
	if err != nil || len(byEmail) != 1 {
		t.Fatalf("users-by-email = %v, %v", byEmail, err)
	}
	if byEmail, err := m.User.ListByEmail(ctx, "CHUCK@example.com"); err != nil || len(byEmail) != 0 {
		t.Fatalf("users-by-email in another case = %v, %v, want none", byEmail, err)
	}

	name, desc := "readers", "Readers"
	role := &management.Role{Name: &name, Description: &desc}
	if err := m.Role.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	api, scope := "https://api.example.com", "read:x"
	if err := m.Role.AssociatePermissions(ctx, role.GetID(), []*management.Permission{{ResourceServerIdentifier: &api, Name: &scope}}); err != nil {
		t.Fatal(err)
	}
	var others []*management.User
	for _, addr := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		ou := &management.User{Connection: &conn, Email: &addr, Password: &pw}
		if err := m.User.Create(ctx, ou); err != nil {
			t.Fatal(err)
		}
		others = append(others, &management.User{ID: ou.ID})
	}
	if err := m.Role.AssignUsers(ctx, role.GetID(), append(others, &management.User{ID: u.ID})); err != nil {
		t.Fatal(err)
	}
	var members []string
	opts := []management.RequestOption{management.Take(3)}
	for pages := 0; ; pages++ {
		page, err := m.Role.Users(ctx, role.GetID(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, mu := range page.Users {
			members = append(members, mu.GetID())
		}
		if page.Next == "" {
			if pages != 1 {
				t.Errorf("checkpoint paging took %d pages, want 2", pages+1)
			}
			break
		}
		opts = []management.RequestOption{management.Take(3), management.From(page.Next)}
	}
	if len(members) != 4 {
		t.Fatalf("role members = %v", members)
	}

	write := "write:x"
	if err := m.User.AssignPermissions(ctx, u.GetID(), []*management.Permission{{ResourceServerIdentifier: &api, Name: &write}}); err != nil {
		t.Fatal(err)
	}
	perms, err := m.User.Permissions(ctx, u.GetID())
	if err != nil || len(perms.Permissions) != 2 {
		t.Fatalf("user permissions (direct and through the role) = %+v, %v", perms, err)
	}
	roles, err := m.User.Roles(ctx, u.GetID())
	if err != nil || len(roles.Roles) != 1 || roles.Roles[0].GetName() != "readers" {
		t.Fatalf("user roles = %+v, %v", roles, err)
	}

	if err := m.User.Delete(ctx, u.GetID()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.User.Read(ctx, u.GetID()); err == nil || err.(management.Error).Status() != 404 {
		t.Fatalf("read after delete: %v, want 404", err)
	}

	t.Run("a wrong secret is refused with access_denied", func(t *testing.T) {
		_, err := sdk(t, host, hc, "app", "wrong").User.Read(ctx, "auth0|x")
		if err == nil || !strings.Contains(err.Error(), `"access_denied" "Unauthorized"`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a missing scope gets 403 insufficient_scope", func(t *testing.T) {
		err := sdk(t, host, hc, "reader", "r").User.Create(ctx, &management.User{Connection: &conn, Email: &email, Password: &pw})
		if err == nil || err.(management.Error).Status() != 403 || !strings.Contains(err.Error(), "create:users") {
			t.Fatalf("err = %v", err)
		}
	})
}
