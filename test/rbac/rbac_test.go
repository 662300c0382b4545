// Package rbac runs the manager under the RBAC rules it ships, as its service account, against a
// kube-apiserver that enforces RBAC (envtest does): once with the cluster-wide role generated from
// the controllers' markers (config/rbac), once as a namespaced install (config/namespaced). Each
// must reconcile its objects without a single forbidden request, and the namespaced one must not
// be able to read Secrets outside its namespaces.
package rbac

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/manager"
	"github.com/usersync/auth0-operator/internal/testenv"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// operatorNS and the service account are those of config/rbac before kustomize's prefixes.
const (
	operatorNS   = "system"
	operatorUser = "system:serviceaccount:system:controller-manager"
	clientID     = "rbac-suite"
	clientSecret = "rbac-suite-secret-51d0"
)

func TestShippedRBACIsEnough(t *testing.T) {
	g := NewWithT(t)
	logs := &testenv.LogBuffer{}
	logf.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
	// client-go reports refused events (leader election's, for one) through klog, not the
	// manager's logger: they are scanned for "forbidden" too.
	klog.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	env, cfg, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = env.Stop() }()
	operator, err := env.AddUser(envtest.User{Name: operatorUser, Groups: []string{"system:serviceaccounts", "system:authenticated"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	operatorCfg := operator.Config()

	scheme := testenv.Scheme()
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	asOperator, err := client.New(operatorCfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())

	tenant, err := emulator.New(emulator.Config{Clients: map[string]emulator.Client{clientID: {Secret: clientSecret}}})
	g.Expect(err).NotTo(HaveOccurred())
	tenantURL, err := tenant.Start("127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer tenant.Close()
	g.Expect(tenant.Seed(emulator.Seed{Roles: []emulator.SeedRole{{Name: "viewer"}}})).To(Succeed())

	for _, ns := range []string{operatorNS, "team-a", "team-b"} {
		g.Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		g.Expect(admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "password"},
			StringData: map[string]string{"password": "Rbac-Passw0rd-" + ns}})).To(Succeed())
	}
	g.Expect(admin.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: "auth0-tenant"},
		StringData: map[string]string{"domain": tenantURL, "clientID": clientID, "clientSecret": clientSecret}})).To(Succeed())
	g.Expect(admin.Create(ctx, &v1alpha1.Auth0TenancyPolicy{ObjectMeta: metav1.ObjectMeta{Name: "all"}, Spec: v1alpha1.Auth0TenancyPolicySpec{
		DefaultTenant: true, Connections: []string{"*"}, Roles: []string{"*"}}})).To(Succeed())

	err = asOperator.List(ctx, &corev1.SecretList{}, client.InNamespace("team-a"))
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "RBAC must be enforced before any role is bound: %v", err)

	t.Run("cluster-wide role from the markers", func(t *testing.T) {
		g := NewWithT(t)
		bindings := apply(ctx, g, admin, "", "../../config/rbac/role.yaml", "../../config/rbac/role_binding.yaml",
			"../../config/rbac/leader_election_role.yaml", "../../config/rbac/leader_election_role_binding.yaml")
		stop := startManager(ctx, t, operatorCfg, nil)
		converges(ctx, g, admin, tenant, "team-b", "cluster")
		stop()
		for _, b := range bindings {
			g.Expect(admin.Delete(ctx, b)).To(Succeed())
		}
	})

	t.Run("namespaced install", func(t *testing.T) {
		g := NewWithT(t)
		apply(ctx, g, admin, "", "../../config/namespaced/cluster_reader_role.yaml", "../../config/namespaced/cluster_reader_role_binding.yaml",
			"../../config/namespaced/default_tenant_role.yaml", "../../config/namespaced/default_tenant_role_binding.yaml",
			"../../config/rbac/leader_election_role.yaml", "../../config/rbac/leader_election_role_binding.yaml")
		apply(ctx, g, admin, "team-a", "../../config/namespaced/team/role.yaml", "../../config/namespaced/team/role_binding.yaml")
		stop := startManager(ctx, t, operatorCfg, []string{"team-a"})
		defer stop()
		converges(ctx, g, admin, tenant, "team-a", "namespaced")

		err := asOperator.Get(ctx, types.NamespacedName{Namespace: "team-b", Name: "password"}, &corev1.Secret{})
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a Secret outside the watched namespaces: %v", err)
		err = asOperator.Get(ctx, types.NamespacedName{Namespace: operatorNS, Name: "password"}, &corev1.Secret{})
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a Secret of the operator's namespace other than the tenant's: %v", err)

		outside := user("team-b", "outside")
		g.Expect(admin.Create(ctx, outside)).To(Succeed())
		g.Consistently(func() []string { return finalizersOf(ctx, admin, outside) }, 3*time.Second).Should(BeEmpty(), "an object outside the watched namespaces was reconciled")
	})

	g.Expect(strings.ToLower(logs.String())).NotTo(ContainSubstring("forbidden"), "the manager was refused something")
	g.Expect(logs.String()).NotTo(ContainSubstring("unknown namespace for the cache"), "the namespaced install complained about namespaces it does not watch")
	g.Expect(logs.String()).NotTo(ContainSubstring(clientSecret))
}

// apply creates the RBAC objects of the given manifests (namespace: "" keeps theirs). Their
// subjects are pointed at the suite's service account identity, as kustomize's prefixes would.
func apply(ctx context.Context, g *WithT, admin client.Client, namespace string, files ...string) []client.Object {
	var created []client.Object
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: operatorUser}}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		g.Expect(err).NotTo(HaveOccurred())
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			u := map[string]any{}
			if err := dec.Decode(&u); errors.Is(err, io.EOF) {
				break
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}
			if len(u) == 0 {
				continue
			}
			obj, err := decodeRBAC(raw, u)
			g.Expect(err).NotTo(HaveOccurred(), file)
			if namespace != "" {
				obj.SetNamespace(namespace)
			}
			switch b := obj.(type) {
			case *rbacv1.RoleBinding:
				b.Subjects = subject
			case *rbacv1.ClusterRoleBinding:
				b.Subjects = subject
			}
			g.Expect(admin.Create(ctx, obj)).To(Succeed(), file)
			created = append(created, obj)
		}
	}
	return created
}

func decodeRBAC(_ []byte, u map[string]any) (client.Object, error) {
	var obj client.Object
	switch u["kind"] {
	case "Role":
		obj = &rbacv1.Role{}
	case "ClusterRole":
		obj = &rbacv1.ClusterRole{}
	case "RoleBinding":
		obj = &rbacv1.RoleBinding{}
	case "ClusterRoleBinding":
		obj = &rbacv1.ClusterRoleBinding{}
	default:
		return nil, errors.New("not an RBAC object")
	}
	return obj, runtime.DefaultUnstructuredConverter.FromUnstructured(u, obj)
}

func startManager(ctx context.Context, t *testing.T, cfg *rest.Config, watchNamespaces []string) (stop func()) {
	stop, err := testenv.StartManager(ctx, t, cfg, manager.Options{
		Provider:             auth0.NewProvider(auth0.ProviderOptions{}),
		DefaultTenant:        types.NamespacedName{Namespace: operatorNS, Name: "auth0-tenant"},
		ClusterName:          "rbac",
		ResyncInterval:       time.Minute,
		RequireTenancyPolicy: true,
		WatchNamespaces:      watchNamespaces,
		// As deployed: leader election records a core-group event, which the Role must allow.
		LeaderElection:          true,
		LeaderElectionNamespace: operatorNS,
	})
	if err != nil {
		t.Fatal(err)
	}
	return stop
}

func user(ns, name string) *v1alpha1.Auth0User {
	return &v1alpha1.Auth0User{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.Auth0UserSpec{
		Connection: "Username-Password-Authentication", Email: name + "@" + ns + ".rbac.example",
		PasswordSecretRef: &v1alpha1.SecretKeyReference{Name: "password"},
	}}
}

// converges creates a user and a binding in ns, waits for both to be Ready, then deletes the
// user and waits for it to be gone from Kubernetes and Auth0: every verb the operator uses.
func converges(ctx context.Context, g *WithT, admin client.Client, tenant *emulator.Emulator, ns, name string) {
	u := user(ns, name)
	g.Expect(admin.Create(ctx, u)).To(Succeed())
	b := &v1alpha1.Auth0RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.Auth0RoleBindingSpec{
		Roles: []v1alpha1.RoleReference{{Name: "viewer"}}, Subjects: []v1alpha1.Subject{{UserRef: name}}}}
	g.Expect(admin.Create(ctx, b)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(u), u)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(u.Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue(), "%v", u.Status.Conditions)
		g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
		g.Expect(meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue(), "%v", b.Status.Conditions)
	}).WithTimeout(20 * time.Second).Should(Succeed())
	id := u.Status.UserID
	g.Expect(tenant.UserRoleIDs(id)).To(ConsistOf(tenant.RoleID("viewer")))
	g.Expect(admin.Delete(ctx, b)).To(Succeed())
	g.Expect(admin.Delete(ctx, u)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(admin.Get(ctx, client.ObjectKeyFromObject(u), u)) }).WithTimeout(20 * time.Second).Should(BeTrue())
	g.Expect(tenant.User(id)).To(BeNil(), "the user is deleted from Auth0")
}

func finalizersOf(ctx context.Context, c client.Client, obj client.Object) []string {
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return []string{"error: " + err.Error()}
	}
	return obj.GetFinalizers()
}
