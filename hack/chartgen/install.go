package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// install installs the chart with helm on a real kube-apiserver (the envtest control plane of
// $KUBEBUILDER_ASSETS, which enforces RBAC and admission policies): the cluster-wide install and,
// as a second release, the namespaced one. It checks that helm installs both (printing the
// notes), that the Secret policy refuses each release's service account any change but its
// finalizer, that the metadata policy refuses a dotted key, that each mode's RBAC lets the
// service account do its work and nothing wider (namespaced mode: Secrets only in the watched
// namespaces, and the default tenant's by name), and that helm uninstall leaves only the CRDs.
func install(args []string) error {
	fs := flag.NewFlagSet("install", flag.ExitOnError)
	c := &checker{}
	fs.StringVar(&c.helm, "helm", "bin/helm", "helm binary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return errors.New("set KUBEBUILDER_ASSETS to the envtest control plane (hack/envtest-toolchain.sh prints it)")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("cannot start the envtest control plane: %w", err)
	}
	defer func() { _ = env.Stop() }()
	cleanups = append(cleanups, func() { _ = env.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	adminUser, err := env.AddUser(envtest.User{Name: "chart-test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := adminUser.KubeConfig()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "chart-test-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
	t := &tester{checker: c, ctx: ctx, env: env, admin: admin, kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := os.WriteFile(t.kubeconfig, kubeconfig, 0o600); err != nil {
		return err
	}

	// The cluster-wide install.
	t.helmRun("install", release, chartDir, "--namespace", namespace, "--create-namespace", "--set", "defaultTenantSecret=auth0-tenant")
	sa := t.as(namespace, release+"-controller-manager")
	t.waitPolicies(namespace, sa)
	t.secret(namespace, "auth0-tenant")
	t.secret("default", "elsewhere")
	t.allowed("cluster-wide: get a Secret in any namespace", sa.Get(ctx, key2("default", "elsewhere"), &corev1.Secret{}))
	t.allowed("cluster-wide: list Auth0Users", sa.List(ctx, list("auth0.usersync.io", "v1alpha1", "Auth0UserList")))
	t.allowed("cluster-wide: list Auth0TenancyPolicies", sa.List(ctx, list("auth0.usersync.io", "v1alpha1", "Auth0TenancyPolicyList")))
	t.allowed("cluster-wide: create a core Event (leader election)", sa.Create(ctx, event(namespace)))
	t.allowed("the Secret policy: the operator adds its finalizer",
		sa.Patch(ctx, secretRef(namespace, "auth0-tenant"), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":["auth0.usersync.io/tenant-in-use"]}}`))))
	t.refused("the Secret policy: the operator changes a label", "may change nothing on a Secret",
		sa.Patch(ctx, secretRef(namespace, "auth0-tenant"), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`))))
	t.refused("the Secret policy: the operator changes data", "may change nothing on a Secret",
		sa.Patch(ctx, secretRef("default", "elsewhere"), client.RawPatch(types.MergePatchType, []byte(`{"stringData":{"k":"v"}}`))))
	t.allowed("the Secret policy: an administrator changes a label",
		admin.Patch(ctx, secretRef(namespace, "auth0-tenant"), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`))))
	t.refused("the metadata policy: a dotted key", "must not contain", admin.Create(ctx, user("default", "dotted", `{"a.b":"c"}`)))
	t.allowed("the metadata policy: a plain key", admin.Create(ctx, user("default", "plain", `{"team":"platform"}`)))

	// The namespaced install, as another release in another namespace.
	const rel2, ns2 = "scoped-auth0-operator", "scoped"
	for _, ns := range []string{"team-a", "team-b"} {
		t.namespace(ns)
		t.secret(ns, "password")
	}
	// The CRDs belong to the first release (Helm refuses to take them over).
	t.helmRun("install", rel2, chartDir, "--namespace", ns2, "--create-namespace", "--set", "crds.install=false",
		"-f", filepath.Join(chartDir, "ci", "namespaced-values.yaml"))
	sa2 := t.as(ns2, rel2+"-controller-manager")
	t.waitPolicies("team-a", sa2) // where its RBAC lets it patch Secrets
	t.secret(ns2, "auth0-tenant")
	t.secret(ns2, "other")
	t.allowed("namespaced: list Secrets in a watched namespace", sa2.List(ctx, &corev1.SecretList{}, client.InNamespace("team-b")))
	t.allowed("namespaced: list Auth0Users in a watched namespace", sa2.List(ctx, list("auth0.usersync.io", "v1alpha1", "Auth0UserList"), client.InNamespace("team-a")))
	t.allowed("namespaced: get the default tenant's Secret", sa2.Get(ctx, key2(ns2, "auth0-tenant"), &corev1.Secret{}))
	t.allowed("namespaced: list Auth0TenancyPolicies", sa2.List(ctx, list("auth0.usersync.io", "v1alpha1", "Auth0TenancyPolicyList")))
	t.allowed("namespaced: list namespaces", sa2.List(ctx, &corev1.NamespaceList{}))
	t.allowed("namespaced: create a core Event (leader election)", sa2.Create(ctx, event(ns2)))
	t.forbidden("namespaced: list Secrets outside the watched namespaces", sa2.List(ctx, &corev1.SecretList{}, client.InNamespace("default")))
	t.forbidden("namespaced: get another Secret of its own namespace", sa2.Get(ctx, key2(ns2, "other"), &corev1.Secret{}))
	t.forbidden("namespaced: list Secrets cluster-wide", sa2.List(ctx, &corev1.SecretList{}))
	t.forbidden("namespaced: list Auth0Users outside the watched namespaces", sa2.List(ctx, list("auth0.usersync.io", "v1alpha1", "Auth0UserList"), client.InNamespace("default")))
	t.refused("namespaced: the Secret policy follows the release", "may change nothing on a Secret",
		sa2.Patch(ctx, secretRef("team-a", "password"), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`))))

	// helm uninstall leaves the CRDs (crds.keep), and nothing else of either release.
	t.helmRun("uninstall", rel2, "--namespace", ns2)
	t.helmRun("uninstall", release, "--namespace", namespace)
	for _, k := range []struct{ group, version, kind string }{
		{"rbac.authorization.k8s.io", "v1", "ClusterRoleList"}, {"rbac.authorization.k8s.io", "v1", "ClusterRoleBindingList"},
		{"rbac.authorization.k8s.io", "v1", "RoleList"}, {"rbac.authorization.k8s.io", "v1", "RoleBindingList"},
		{"admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyList"}, {"admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBindingList"},
		{"admissionregistration.k8s.io", "v1", "MutatingAdmissionPolicyList"}, {"admissionregistration.k8s.io", "v1", "MutatingAdmissionPolicyBindingList"},
		{"apps", "v1", "DeploymentList"}, {"", "v1", "ServiceList"}, {"", "v1", "ServiceAccountList"},
	} {
		l := list(k.group, k.version, k.kind)
		t.must("list "+k.kind, t.admin.List(ctx, l, client.MatchingLabels{"app.kubernetes.io/managed-by": "Helm"}))
		t.checks++
		for _, o := range l.Items {
			t.errorf("helm uninstall left %s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		}
	}
	crds := list("apiextensions.k8s.io", "v1", "CustomResourceDefinitionList")
	t.must("list CRDs", t.admin.List(ctx, crds))
	t.checks++
	if len(crds.Items) != 3 {
		t.errorf("helm uninstall: want the 3 CRDs kept (crds.keep), found %d", len(crds.Items))
	}

	if len(c.problems) > 0 {
		return fmt.Errorf("the chart's installs misbehave on the API server (%d problems):\n- %s", len(c.problems), strings.Join(c.problems, "\n- "))
	}
	fmt.Printf("chart-apiserver-test: %d checks passed: both installs are accepted and enforce their RBAC and admission policies\n", c.checks)
	return nil
}

type tester struct {
	*checker
	ctx        context.Context
	env        *envtest.Environment
	admin      client.Client
	kubeconfig string
}

// helmRun runs helm against the envtest API server; installs must print the chart's notes.
func (t *tester) helmRun(args ...string) {
	out, err := run(t.checker.helm, append(args, "--kubeconfig", t.kubeconfig)...)
	if err != nil {
		fail("%v", err)
	}
	t.checks++
	if args[0] == "install" && !strings.Contains(string(out), "auth0-operator 0.1.0 is installed in") {
		t.errorf("helm %s: no notes in its output:\n%s", strings.Join(args, " "), out)
	}
}

func (t *tester) must(what string, err error) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

func (t *tester) namespace(ns string) {
	err := t.admin.Create(t.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if !apierrors.IsAlreadyExists(err) {
		t.must("create namespace "+ns, err)
	}
}

func (t *tester) secret(ns, name string) {
	t.must("create Secret "+ns+"/"+name, t.admin.Create(t.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		StringData: map[string]string{"domain": "example.eu.auth0.com"}}))
}

// waitPolicies waits until the API server enforces both admission policies (it loads them
// asynchronously): until a label change by sa to a Secret in ns (which its RBAC lets it patch)
// and a dotted metadata key are refused by the policies, each tried afresh (a no-op change would
// pass the Secret policy).
func (t *tester) waitPolicies(ns string, sa client.Client) {
	t.secret(ns, "probe")
	i := 0
	t.poll("the Secret admission policy enforced", func() bool {
		i++
		patch := fmt.Sprintf(`{"metadata":{"labels":{"probe":"%d"}}}`, i)
		err := sa.Patch(t.ctx, secretRef(ns, "probe"), client.RawPatch(types.MergePatchType, []byte(patch)))
		if apierrors.IsForbidden(err) && !strings.Contains(err.Error(), "may change nothing") {
			fail("waiting for the Secret policy: RBAC refuses %s", err)
		}
		return err != nil && strings.Contains(err.Error(), "may change nothing")
	})
	t.poll("the metadata admission policy enforced", func() bool {
		i++
		u := user("default", fmt.Sprintf("probe-%d", i), `{"a.b":"c"}`)
		err := t.admin.Create(t.ctx, u)
		if err == nil {
			_ = t.admin.Delete(t.ctx, u)
		}
		return err != nil && strings.Contains(err.Error(), "must not contain") // not before the CRD is served
	})
}

// poll waits up to 30 seconds for done.
func (t *tester) poll(what string, done func() bool) {
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) || t.ctx.Err() != nil {
			fail("timed out (30 s) waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// as returns a client authenticated as the service account ns/name (RBAC and admission policies
// see its username).
func (t *tester) as(ns, name string) client.Client {
	u, err := t.env.AddUser(envtest.User{Name: "system:serviceaccount:" + ns + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}, nil)
	t.must("add user", err)
	c, err := client.New(u.Config(), client.Options{})
	t.must("client", err)
	return c
}

func (t *tester) allowed(what string, err error) {
	t.checks++
	if err != nil {
		t.errorf("%s: refused: %v", what, err)
	}
}

func (t *tester) forbidden(what string, err error) {
	t.checks++
	if !apierrors.IsForbidden(err) {
		t.errorf("%s: want Forbidden, got %v", what, err)
	}
}

func (t *tester) refused(what, message string, err error) {
	t.checks++
	if err == nil || !strings.Contains(err.Error(), message) {
		t.errorf("%s: want a refusal saying %q, got %v", what, message, err)
	}
}

func key2(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

func secretRef(ns, name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func list(group, version, kind string) *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: version, Kind: kind})
	return l
}

func event(ns string) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, GenerateName: "chart-test-"},
		InvolvedObject: corev1.ObjectReference{Kind: "Lease", Namespace: ns, Name: "x"},
		Reason:         "LeaderElection", Message: "chart-test", Type: corev1.EventTypeNormal,
	}
}

func user(ns, name, userMetadata string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	_ = u.UnmarshalJSON([]byte(`{"apiVersion":"auth0.usersync.io/v1alpha1","kind":"Auth0User","metadata":{"namespace":"` + ns +
		`","name":"` + name + `"},"spec":{"connection":"Username-Password-Authentication","email":"` + name +
		`@example.com","userMetadata":` + userMetadata + `}}`))
	return u
}
