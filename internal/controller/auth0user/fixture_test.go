package auth0user

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// The fixture of these tests: a fake API server (controller-runtime's fake client) holding a
// namespace, a tenant Secret, a password Secret and a policy allowing everything, and an
// in-process Auth0 emulator reached over HTTP by the real Auth0 client.

const (
	testNS          = "team"
	lockedNS        = "locked" // selected by no policy: everything is denied there
	tenantSecret    = "tenant"
	passwordSecret  = "alice-password"
	testPassword    = "Corr3ct-Horse-Battery-Staple"
	newTestPassword = "An0ther-Horse-Battery-Staple"
	dbConnection    = "Username-Password-Authentication"
	clusterName     = "unit"
)

type fixture struct {
	t        *testing.T
	ctx      context.Context
	emu      *emulator.Emulator
	c        client.Client
	r        *Reconciler
	recorder *events.FakeRecorder
	shell    *controller.Reconciler[*v1alpha1.Auth0User]

	// secretReads counts the Secrets whose content was read (metadata reads are not counted).
	secretReads atomic.Int64
	// statusPatches counts the status writes.
	statusPatches atomic.Int64

	mu sync.Mutex
	// onStatusPatch, when set, sees every status write before it is applied.
	onStatusPatch func(obj client.Object, patch []byte)
}

func newFixture(t *testing.T, options ...func(*emulator.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background()}

	cfg := emulator.Config{Clients: map[string]emulator.Client{"operator": {Secret: "operator-secret"}}}
	for _, o := range options {
		o(&cfg)
	}
	emu, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, err := emu.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	f.emu = emu

	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: lockedNS, Labels: map[string]string{"restricted": "true"}}},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: tenantSecret, UID: "uid-tenant"},
			Data:       map[string][]byte{"domain": []byte(url), "clientID": []byte("operator"), "clientSecret": []byte("operator-secret")},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: lockedNS, Name: tenantSecret, UID: "uid-tenant-locked"},
			Data:       map[string][]byte{"domain": []byte(url), "clientID": []byte("operator"), "clientSecret": []byte("operator-secret")},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: passwordSecret, UID: "uid-password"},
			Data:       map[string][]byte{"password": []byte(testPassword)},
		},
		&v1alpha1.Auth0TenancyPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "allow-all"},
			Spec: v1alpha1.Auth0TenancyPolicySpec{
				NamespaceSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "restricted", Operator: metav1.LabelSelectorOpDoesNotExist}}},
				DefaultTenant: true,
				Connections:   []string{"*"},
				Roles:         []string{"*"},
				Permissions:   []v1alpha1.PermissionRule{{ResourceServerIdentifier: "*", Scopes: []string{"*"}}},
				Adoption:      &v1alpha1.AdoptionRule{Allowed: true},
			},
		},
	}
	f.c = fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.Auth0User{}).
		WithInterceptorFuncs(interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if _, ok := obj.(*corev1.Secret); ok {
					f.secretReads.Add(1)
				}
				return c.Get(ctx, key, obj, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
				f.statusPatches.Add(1)
				f.mu.Lock()
				hook := f.onStatusPatch
				f.mu.Unlock()
				if hook != nil {
					data, err := p.Data(obj)
					if err != nil {
						return err
					}
					hook(obj, data)
				}
				return c.SubResource(sub).Patch(ctx, obj, p, opts...)
			},
		}).Build()

	f.recorder = events.NewFakeRecorder(100)
	f.r = &Reconciler{
		Client:         f.c,
		Tenants:        &controller.TenantResolver{Reader: f.c, Metadata: f.c, Provider: auth0.NewProvider(auth0.ProviderOptions{Timeout: 5 * time.Second})},
		Policies:       &controller.TenancyPolicies{Reader: f.c, Required: true},
		Recorder:       f.recorder,
		ClusterName:    clusterName,
		ResyncInterval: time.Minute,
	}
	f.shell = &controller.Reconciler[*v1alpha1.Auth0User]{
		Client: f.c, Recorder: f.recorder, Kind: f.r,
		New: func() *v1alpha1.Auth0User { return &v1alpha1.Auth0User{} },
	}
	return f
}

// newUser is an Auth0User of the test namespace with its own tenant and password Secrets.
func newUser(name, email string) *v1alpha1.Auth0User {
	return &v1alpha1.Auth0User{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name, Generation: 1},
		Spec: v1alpha1.Auth0UserSpec{
			TenantRef:         &v1alpha1.TenantReference{SecretName: tenantSecret},
			Connection:        dbConnection,
			Email:             email,
			PasswordSecretRef: &v1alpha1.SecretKeyReference{Name: passwordSecret},
		},
	}
}

func jsonValue(t *testing.T, v any) apiextensionsv1.JSON {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return apiextensionsv1.JSON{Raw: raw}
}

// create stores the object in the fake API server.
func (f *fixture) create(obj *v1alpha1.Auth0User) {
	f.t.Helper()
	if err := f.c.Create(f.ctx, obj); err != nil {
		f.t.Fatal(err)
	}
}

// pass runs the shell once over the object, as controller-runtime would, and returns the
// object as the API server holds it afterwards.
func (f *fixture) pass(obj client.Object) (*v1alpha1.Auth0User, error) {
	f.t.Helper()
	_, err := f.shell.Reconcile(f.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
	return f.get(obj), err
}

// mustPass runs a pass that must succeed and leave the object Ready.
func (f *fixture) mustPass(obj client.Object) *v1alpha1.Auth0User {
	f.t.Helper()
	got, err := f.pass(obj)
	if err != nil {
		f.t.Fatalf("reconcile: %v", err)
	}
	if !conditions.IsTrue(got.Status.Conditions, v1alpha1.ConditionReady) {
		f.t.Fatalf("not Ready: %+v", got.Status.Conditions)
	}
	return got
}

func (f *fixture) get(obj client.Object) *v1alpha1.Auth0User {
	f.t.Helper()
	got := &v1alpha1.Auth0User{}
	if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(obj), got); err != nil {
		f.t.Fatal(err)
	}
	return got
}

// scope is a scope for calling phases directly.
func (f *fixture) scope(obj *v1alpha1.Auth0User) *userScope {
	return &userScope{obj: obj, owner: ownerOf(clusterName, obj), nameOwner: nameOwnerOf(clusterName, obj), persisted: obj.DeepCopy()}
}

// apiCalls are the Management API requests answered since the counters were last reset, each
// "METHOD /path?query STATUS"; token requests are left out.
func (f *fixture) apiCalls() []string {
	var out []string
	for _, line := range f.emu.Requests() {
		if !strings.HasPrefix(line, "POST /oauth/token") {
			out = append(out, line)
		}
	}
	return out
}

// writes are the Management API requests that change something.
func (f *fixture) writes() []string {
	var out []string
	for _, line := range f.apiCalls() {
		if !strings.HasPrefix(line, "GET ") {
			out = append(out, line)
		}
	}
	return out
}

func (f *fixture) setStatusHook(h func(obj client.Object, patch []byte)) {
	f.mu.Lock()
	f.onStatusPatch = h
	f.mu.Unlock()
}

// updatePassword changes the password Secret; the fake API server moves its resourceVersion.
func (f *fixture) updatePassword(pw string) {
	f.t.Helper()
	var s corev1.Secret
	if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: testNS, Name: passwordSecret}, &s); err != nil {
		f.t.Fatal(err)
	}
	s.Data["password"] = []byte(pw)
	if err := f.c.Update(f.ctx, &s); err != nil {
		f.t.Fatal(err)
	}
}

// recordingClient records the updates sent to Auth0.
type recordingClient struct {
	auth0.Client
	mu      sync.Mutex
	updates []auth0.UserUpdate
}

func (c *recordingClient) UpdateUser(ctx context.Context, id string, u auth0.UserUpdate) (*auth0.User, error) {
	c.mu.Lock()
	c.updates = append(c.updates, u)
	c.mu.Unlock()
	return c.Client.UpdateUser(ctx, id, u)
}
