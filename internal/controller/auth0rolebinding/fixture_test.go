package auth0rolebinding

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// The fixture of these tests: a fake API server (controller-runtime's fake client) holding a
// namespace, two tenant Secrets (the emulator's, and one naming another tenant) and a policy
// allowing everything, and an in-process Auth0 emulator with roles and an API, reached over
// HTTP by the real Auth0 client.

const (
	testNS       = "team"
	tenantSecret = "tenant"
	otherTenant  = "other-tenant" // names another tenant domain
	api          = "https://api.example.com"
	testPassword = "Corr3ct-Horse-Battery-Staple"
)

type fixture struct {
	t   *testing.T
	ctx context.Context
	emu *emulator.Emulator
	c   client.Client
	r   *Reconciler
	// ahead is how far the catalog's clock runs ahead of the real one (later).
	ahead atomic.Int64
}

// later lets d pass for the catalog (the age of its role listings) without waiting for it.
func (f *fixture) later(d time.Duration) { f.ahead.Add(int64(d)) }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background()}

	emu, err := emulator.New(emulator.Config{Clients: map[string]emulator.Client{"operator": {Secret: "operator-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	if err := emu.Seed(emulator.Seed{
		ResourceServers: []emulator.SeedResourceServer{{Name: "Reports API", Identifier: api, Scopes: []string{"read:reports", "write:reports"}}},
		Roles: []emulator.SeedRole{
			{Name: "admin", Permissions: []string{api + " write:reports"}},
			{Name: "viewer", Permissions: []string{api + " read:reports"}},
			{Name: "editor"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	f.emu = emu

	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	f.c = fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}},
			&corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: tenantSecret, UID: "uid-tenant"},
				Data:       map[string][]byte{"domain": []byte(url), "clientID": []byte("operator"), "clientSecret": []byte("operator-secret")},
			},
			&corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: otherTenant, UID: "uid-other"},
				Data:       map[string][]byte{"domain": []byte("https://other.example.com"), "clientID": []byte("x"), "clientSecret": []byte("y")},
			},
			&v1alpha1.Auth0TenancyPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "allow-all"},
				Spec: v1alpha1.Auth0TenancyPolicySpec{
					DefaultTenant: true,
					Connections:   []string{"*"},
					Roles:         []string{"*"},
					Permissions:   []v1alpha1.PermissionRule{{ResourceServerIdentifier: "*", Scopes: []string{"*"}}},
				},
			},
		).
		WithStatusSubresource(&v1alpha1.Auth0RoleBinding{}, &v1alpha1.Auth0User{}).
		Build()

	f.r = &Reconciler{
		Client:         f.c,
		Tenants:        &controller.TenantResolver{Reader: f.c, Provider: auth0.NewProvider(auth0.ProviderOptions{Timeout: 5 * time.Second})},
		Policies:       &controller.TenancyPolicies{Reader: f.c, Required: true},
		Recorder:       events.NewFakeRecorder(100),
		ResyncInterval: time.Minute,
		Catalog:        auth0.NewCatalogWithClock(func() time.Time { return time.Now().Add(time.Duration(f.ahead.Load())) }),
	}
	return f
}

// user creates an Auth0 user out of band and returns its id.
func (f *fixture) user(email string) string {
	f.t.Helper()
	id, err := f.emu.CreateUser(emulator.SeedUser{Email: email, Password: testPassword})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) roleID(name string) string {
	f.t.Helper()
	id := f.emu.RoleID(name)
	if id == "" {
		f.t.Fatalf("no role %s", name)
	}
	return id
}

// binding is a binding of the test namespace and tenant granting roles (by name) to subjects.
func binding(name string, roles []string, subjects ...v1alpha1.Subject) *v1alpha1.Auth0RoleBinding {
	b := &v1alpha1.Auth0RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, Generation: 1},
		Spec: v1alpha1.Auth0RoleBindingSpec{
			TenantRef: &v1alpha1.TenantReference{SecretName: tenantSecret},
			Subjects:  subjects,
		},
	}
	for _, r := range roles {
		b.Spec.Roles = append(b.Spec.Roles, v1alpha1.RoleReference{Name: r})
	}
	return b
}

func byID(id string) v1alpha1.Subject { return v1alpha1.Subject{UserID: id} }

// verified marks a binding as having reached the fixture's tenant with its own credentials, as
// its status says after a pass that called Auth0.
func (f *fixture) verified(b *v1alpha1.Auth0RoleBinding) *v1alpha1.Auth0RoleBinding {
	f.t.Helper()
	domain, err := f.r.Tenants.Domain(f.ctx, testNS, &v1alpha1.TenantReference{SecretName: tenantSecret})
	if err != nil {
		f.t.Fatal(err)
	}
	b.Status.Tenant = domain
	return b
}

// store puts a binding, with its status, into the fake API server.
func (f *fixture) store(b *v1alpha1.Auth0RoleBinding) {
	f.t.Helper()
	status := b.Status.DeepCopy()
	if err := f.c.Create(f.ctx, b); err != nil {
		f.t.Fatal(err)
	}
	b.Status = *status
	if err := f.c.Status().Update(f.ctx, b); err != nil {
		f.t.Fatal(err)
	}
}

// resolved runs the resolve phase on a fresh scope.
func (f *fixture) resolved(b *v1alpha1.Auth0RoleBinding) *bindingScope {
	f.t.Helper()
	s := &bindingScope{obj: b, desired: grants.Set{}}
	if err := f.r.resolve(f.ctx, s); err != nil {
		f.t.Fatalf("resolve: %v", err)
	}
	return s
}

// calls counts the Management API requests answered since the counters were reset whose
// method and path match (a path may hold one %s, standing for any path segment).
func (f *fixture) calls(method, path string) int {
	prefix, suffix, _ := strings.Cut(path, "%s")
	n := 0
	for _, line := range f.emu.Requests() {
		m, rest, _ := strings.Cut(line, " ")
		p, _, _ := strings.Cut(rest, " ")
		p, _, _ = strings.Cut(p, "?")
		if m != method || !strings.HasPrefix(p, prefix) {
			continue
		}
		if strings.Contains(path, "%s") {
			mid := strings.TrimPrefix(p, prefix)
			if !strings.HasSuffix(mid, suffix) || strings.Contains(strings.TrimSuffix(mid, suffix), "/") {
				continue
			}
		} else if p != path {
			continue
		}
		n++
	}
	return n
}

// resyncLater lets a resync interval pass for the bindings: their last full observations, and
// the catalog's role listings, are that old.
func (f *fixture) resyncLater(bs ...*v1alpha1.Auth0RoleBinding) {
	f.t.Helper()
	for _, b := range bs {
		key := client.ObjectKeyFromObject(b)
		last, ok := f.r.observedAt.Load(key)
		if !ok {
			f.t.Fatalf("%s was never observed", key)
		}
		o := last.(observation)
		o.at = o.at.Add(-f.r.ResyncInterval)
		f.r.observedAt.Store(key, o)
	}
	f.later(f.r.ResyncInterval)
}
