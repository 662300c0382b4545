package policy

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"viewer", "viewer", true},
		{"viewer", "viewers", false},
		{"*", "", true},
		{"*", "anything/at all", true},
		{"read:*", "read:reports", true},
		{"read:*", "write:reports", false},
		{"https://api.example.com/*", "https://api.example.com/v1", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.b.example.com", true},
		{"team-*-admin", "team-a-admin", true},
		{"team-*-admin", "team-admin", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"*b*b*", "abcb", true},
		{"*b*b*", "abc", false},
	} {
		if got := Match(c.pattern, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func pol(name string, sel map[string]string, spec v1alpha1.Auth0TenancyPolicySpec) v1alpha1.Auth0TenancyPolicy {
	spec.NamespaceSelector = metav1.LabelSelector{MatchLabels: sel}
	return v1alpha1.Auth0TenancyPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

func TestFor(t *testing.T) {
	policies := []v1alpha1.Auth0TenancyPolicy{
		pol("everyone", nil, v1alpha1.Auth0TenancyPolicySpec{Roles: []string{"viewer"}}),
		pol("platform", map[string]string{"team": "platform"}, v1alpha1.Auth0TenancyPolicySpec{Roles: []string{"admin"}}),
		{ObjectMeta: metav1.ObjectMeta{Name: "broken"}, Spec: v1alpha1.Auth0TenancyPolicySpec{NamespaceSelector: metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Bogus"}}}, Roles: []string{"*"}}},
	}
	e := For("web", map[string]string{"team": "web"}, policies, true)
	if strings.Join(e.Names, ",") != "everyone" {
		t.Fatalf("web is selected by %v, want only everyone (a broken selector selects nothing)", e.Names)
	}
	if e.CheckRole("admin", "rol_1") == nil {
		t.Error("web may grant admin")
	}
	e = For("ops", map[string]string{"team": "platform"}, policies, true)
	if e.CheckRole("admin", "rol_1") != nil || e.CheckRole("viewer", "") != nil {
		t.Error("platform is allowed the union of its policies")
	}
	if For("x", nil, nil, false).CheckRole("anything", "") != nil {
		t.Error("with no policy required, an unselected namespace is unrestricted")
	}
	err := For("x", nil, nil, true).CheckRole("viewer", "")
	if err == nil || !strings.Contains(err.Error(), `no Auth0TenancyPolicy selects namespace "x"`) {
		t.Errorf("unselected namespace with a policy required: %v", err)
	}
}

func TestChecks(t *testing.T) {
	spec := v1alpha1.Auth0TenancyPolicySpec{
		DefaultTenant: true,
		Connections:   []string{"Username-Password-Authentication"},
		Roles:         []string{"viewer", "rol_editor", "team-a-*"},
		Permissions:   []v1alpha1.PermissionRule{{ResourceServerIdentifier: "https://api.example.com/*", Scopes: []string{"read:*"}}},
		Adoption:      &v1alpha1.AdoptionRule{Allowed: true, EmailDomains: []string{"example.com", "*.corp.example"}},
	}
	e := For("team-a", nil, []v1alpha1.Auth0TenancyPolicy{pol("team-a", nil, spec)}, true)
	own := &v1alpha1.TenantReference{SecretName: "tenant"}
	user := func(mut func(*v1alpha1.Auth0UserSpec)) v1alpha1.Auth0UserSpec {
		u := v1alpha1.Auth0UserSpec{Connection: "Username-Password-Authentication", Email: "a@example.com"}
		mut(&u)
		return u
	}
	for name, c := range map[string]struct {
		err  error
		deny string // substring of the denial; empty: allowed
	}{
		"default tenant":           {e.CheckUser(user(func(*v1alpha1.Auth0UserSpec) {})), ""},
		"other connection":         {e.CheckUser(user(func(u *v1alpha1.Auth0UserSpec) { u.Connection = "google-oauth2" })), `use connection "google-oauth2"`},
		"adopt in domain":          {e.CheckUser(user(func(u *v1alpha1.Auth0UserSpec) { u.AdoptExisting = true })), ""},
		"adopt in subdomain":       {e.CheckUser(user(func(u *v1alpha1.Auth0UserSpec) { u.AdoptExisting, u.Email = true, "b@x.corp.example" })), ""},
		"adopt bare parent domain": {e.CheckUser(user(func(u *v1alpha1.Auth0UserSpec) { u.AdoptExisting, u.Email = true, "b@corp.example" })), "adopt an existing user"},
		"adopt case-insensitive":   {e.CheckUser(user(func(u *v1alpha1.Auth0UserSpec) { u.AdoptExisting, u.Email = true, "B@Example.COM" })), ""},
		"adopt other domain":       {e.CheckUser(user(func(u *v1alpha1.Auth0UserSpec) { u.AdoptExisting, u.Email = true, "owner@tenant.io" })), `adopt an existing user with email "owner@tenant.io"`},
		"role by name":             {e.CheckRole("viewer", "rol_1"), ""},
		"role by id":               {e.CheckRole("editor", "rol_editor"), ""},
		"role by pattern":          {e.CheckRole("team-a-ops", ""), ""},
		"admin role":               {e.CheckRole("admin", "rol_admin"), `grant role "admin"`},
		"permission":               {e.CheckPermission("https://api.example.com/v1", "read:reports"), ""},
		"write permission":         {e.CheckPermission("https://api.example.com/v1", "write:reports"), `grant permission "write:reports"`},
		"other api":                {e.CheckPermission("https://billing.example.com", "read:x"), "of API https://billing.example.com"},
	} {
		switch {
		case c.deny == "" && c.err != nil:
			t.Errorf("%s: denied: %v", name, c.err)
		case c.deny != "" && (c.err == nil || !strings.Contains(c.err.Error(), c.deny)):
			t.Errorf("%s: got %v, want a denial containing %q", name, c.err, c.deny)
		}
	}

	noDefault := For("team-b", nil, []v1alpha1.Auth0TenancyPolicy{pol("team-b", nil, v1alpha1.Auth0TenancyPolicySpec{Connections: []string{"*"}})}, true)
	if err := noDefault.CheckUser(user(func(*v1alpha1.Auth0UserSpec) {})); err == nil || !strings.Contains(err.Error(), "use the default tenant") {
		t.Errorf("default tenant without defaultTenant: %v", err)
	}
	if err := noDefault.CheckUser(user(func(u *v1alpha1.Auth0UserSpec) { u.TenantRef = own })); err != nil {
		t.Errorf("own tenant Secret: %v", err)
	}
	if err := noDefault.CheckUser(user(func(u *v1alpha1.Auth0UserSpec) { u.TenantRef, u.AdoptExisting = own, true })); err == nil {
		t.Error("adoption without an adoption rule is allowed")
	}
	if err := For("c", nil, []v1alpha1.Auth0TenancyPolicy{pol("c", nil, v1alpha1.Auth0TenancyPolicySpec{
		Connections: []string{"*"}, Adoption: &v1alpha1.AdoptionRule{Allowed: true}})}, true).
		CheckUser(user(func(u *v1alpha1.Auth0UserSpec) { u.TenantRef, u.AdoptExisting, u.Email = own, true, "anyone@any.where" })); err != nil {
		t.Errorf("adoption without domains allows any email: %v", err)
	}
}
