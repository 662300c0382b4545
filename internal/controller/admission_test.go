package controller_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/testenv"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

const admissionPolicyFile = "../../config/admission/metadata_policy.yaml"

// installAdmissionPolicy creates the ValidatingAdmissionPolicy of config/admission and waits
// until the API server enforces it.
func installAdmissionPolicy() {
	raw, err := os.ReadFile(filepath.Clean(admissionPolicyFile))
	Expect(err).NotTo(HaveOccurred())
	Expect(testenv.CreateFromYAML(ctx, k8s, raw, nil)).To(Succeed())
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "admission-probe"}})).To(Succeed())
	probe := &v1alpha1.Auth0User{ObjectMeta: metav1.ObjectMeta{Namespace: "admission-probe", Name: "probe"}, Spec: v1alpha1.Auth0UserSpec{
		Connection: "Username-Password-Authentication", Email: "probe@example.com",
		UserMetadata: map[string]apiextensionsv1.JSON{"a.b": {Raw: []byte("1")}},
	}}
	Eventually(func() bool {
		err := k8s.Create(ctx, probe.DeepCopy())
		if err == nil {
			Expect(k8s.Delete(ctx, probe.DeepCopy())).To(Succeed())
		}
		return apierrors.IsInvalid(err)
	}).WithTimeout(30*time.Second).Should(BeTrue(), "the admission policy is never enforced")
}

var _ = Describe("Admission policy", func() {
	DescribeTable("refuses metadata Auth0 would refuse, with a message naming it",
		func(user, app map[string]any, messages ...string) {
			u := &v1alpha1.Auth0User{ObjectMeta: metav1.ObjectMeta{Namespace: newNamespace(), Name: "refused"}, Spec: v1alpha1.Auth0UserSpec{
				Connection: "Username-Password-Authentication", Email: "refused@example.com"}}
			u.Spec.UserMetadata, u.Spec.AppMetadata = jsonMap(user), jsonMap(app)
			err := k8s.Create(ctx, u)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
			for _, m := range messages {
				Expect(err.Error()).To(ContainSubstring(m))
			}
		},
		Entry("a dotted key", map[string]any{"a.b": 1}, nil, "spec.userMetadata: key names must not contain '.' or '$' (Auth0 refuses them), under: a.b"),
		Entry("a dollar key two levels down", map[string]any{"prefs": map[string]any{"ui": map[string]any{"$set": 1}}}, nil, "under: prefs"),
		Entry("a dotted key in app metadata", nil, map[string]any{"x": map[string]any{"k.v": true}}, "spec.appMetadata: key names must not contain"),
		Entry("a reserved app metadata key", nil, map[string]any{"usersync_owner": "me", "blocked": true}, "spec.appMetadata: reserved keys: ", "blocked", "usersync_owner"),
	)

	It("admits what Auth0 accepts, and leaves deeper keys to the operator's own check", func() {
		ns := newNamespace()
		ok := &v1alpha1.Auth0User{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fine"}, Spec: v1alpha1.Auth0UserSpec{
			Connection: "Username-Password-Authentication", Email: "fine@example.com",
			UserMetadata: jsonMap(map[string]any{"prefs": map[string]any{"theme": "dark", "list": []any{"a.b"}}}),
			AppMetadata:  jsonMap(map[string]any{"plan": "pro"}),
		}}
		Expect(k8s.Create(ctx, ok)).To(Succeed())
	})

	It("lists the reserved app_metadata keys the operator refuses", func() {
		raw, err := os.ReadFile(filepath.Clean(admissionPolicyFile))
		Expect(err).NotTo(HaveOccurred())
		list := regexp.MustCompile(`(?s)k in \[(.*?)\]`).FindSubmatch(raw)
		Expect(list).NotTo(BeNil())
		var keys []string
		for _, k := range strings.Split(string(list[1]), ",") {
			keys = append(keys, strings.Trim(strings.TrimSpace(k), "'"))
		}
		Expect(keys).To(ConsistOf(userdiff.ReservedAppMetadataKeys))
	})
})

func jsonMap(m map[string]any) map[string]apiextensionsv1.JSON {
	if m == nil {
		return nil
	}
	out := map[string]apiextensionsv1.JSON{}
	for k, v := range m {
		out[k] = jsonValue(v)
	}
	return out
}

var _ = Describe("Secret policy", func() {
	// config/admission/secret_policy.yaml, bound to a stand-in for the operator's service account.
	It("lets the operator change nothing on a Secret but its own finalizer", func() {
		const operator = "auth0-operator-under-test"
		raw, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "admission", "secret_policy.yaml"))
		Expect(err).NotTo(HaveOccurred())
		raw = bytes.ReplaceAll(raw, []byte("system:serviceaccount:auth0-operator-system:auth0-operator-controller-manager"), []byte(operator))
		Expect(testenv.CreateFromYAML(ctx, k8s, raw, nil)).To(Succeed())
		user, err := testEnv.AddUser(envtest.User{Name: operator, Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		as, err := client.New(user.Config(), client.Options{Scheme: k8s.Scheme()})
		Expect(err).NotTo(HaveOccurred())

		ns := newNamespace()
		secret := tenantSecret(ns, "tenant", testClientID, testClientSecret)
		Expect(k8s.Create(ctx, secret)).To(Succeed())
		change := func(mutate func(*corev1.Secret)) error {
			cur := &corev1.Secret{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), cur)).To(Succeed())
			base := cur.DeepCopy()
			mutate(cur)
			return as.Patch(ctx, cur, client.MergeFrom(base))
		}
		attempt := 0 // each attempt writes a new value: one that changes nothing is not refused
		Eventually(func() error {
			attempt++
			return change(func(s *corev1.Secret) { s.Data["clientSecret"] = []byte(fmt.Sprintf("stolen-%d", attempt)) })
		}).WithTimeout(30*time.Second).Should(MatchError(ContainSubstring("may change nothing on a Secret but its own finalizer")), "the policy is never enforced")
		Expect(change(func(s *corev1.Secret) { s.Labels = map[string]string{"a": "b"} })).NotTo(Succeed())
		Expect(change(func(s *corev1.Secret) { s.Finalizers = append(s.Finalizers, "example.com/other") })).NotTo(Succeed())
		Expect(change(func(s *corev1.Secret) { s.Finalizers = append(s.Finalizers, controller.TenantSecretFinalizer) })).To(Succeed())
		Expect(change(func(s *corev1.Secret) { s.Finalizers = nil })).To(Succeed())
		// Anyone else is not concerned.
		cur := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), cur)).To(Succeed())
		cur.Labels = map[string]string{"team": "a"}
		Expect(k8s.Update(ctx, cur)).To(Succeed())
	})
})

var _ = Describe("Finalizer policy", func() {
	// config/admission/finalizer_policy.yaml, scoped to this spec's namespace: every other spec
	// runs without it, as on a cluster older than 1.36, where the operator adds the finalizer.
	It("gives new objects the finalizer as they are created: the operator writes only their status, and they delete as usual", func() {
		ns := newNamespace()
		raw, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "admission", "finalizer_policy.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var created []client.Object
		Expect(testenv.CreateFromYAML(ctx, k8s, raw, func(o *unstructured.Unstructured) {
			o.SetName("finalizer-" + ns)
			if o.GetKind() == "MutatingAdmissionPolicy" {
				// Fail, not Ignore: a mutation the API server cannot apply fails the spec.
				Expect(unstructured.SetNestedField(o.Object, "Fail", "spec", "failurePolicy")).To(Succeed())
				Expect(unstructured.SetNestedField(o.Object, map[string]any{"kubernetes.io/metadata.name": ns},
					"spec", "matchConstraints", "namespaceSelector", "matchLabels")).To(Succeed())
			} else {
				Expect(unstructured.SetNestedField(o.Object, "finalizer-"+ns, "spec", "policyName")).To(Succeed())
			}
			created = append(created, o)
		})).To(Succeed())
		DeferCleanup(func() {
			for _, o := range created {
				Expect(client.IgnoreNotFound(k8s.Delete(ctx, o))).To(Succeed())
			}
		})

		// The objects are created by a client of their own, so that the managed fields tell
		// what it wrote from what the operator did.
		author := client.WithFieldOwner(k8s, "spec-author")
		Expect(k8s.Create(ctx, passwordSecret(ns, "ada-password", testPassword))).To(Succeed())
		u := newUser(ns, "ada", "ada-"+ns+"@example.com") // the tenant is shared by every spec
		// The API server loads a new policy within a second or so: until then the probe objects
		// are created without the finalizer, and deleted.
		Eventually(func(g Gomega) {
			probe := newUser(ns, "probe", "probe-"+ns+"@example.com")
			probe.Spec.PasswordSecretRef = nil
			g.Expect(author.Create(ctx, probe)).To(Succeed())
			g.Expect(k8s.Delete(ctx, probe)).To(Succeed())
			g.Expect(probe.Finalizers).To(ContainElement(controller.Finalizer))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(author.Create(ctx, u)).To(Succeed())
		Expect(u.Finalizers).To(ConsistOf(controller.Finalizer), "the create's answer carries the finalizer")
		b := newBinding(ns, "team", byName("viewer"), v1alpha1.Subject{UserRef: "ada"})
		Expect(author.Create(ctx, b)).To(Succeed())
		Expect(b.Finalizers).To(ConsistOf(controller.Finalizer))

		id := readyUser(u).Status.UserID
		readyBinding(b)
		Expect(roleNames(id)).To(ConsistOf("viewer"))
		for _, obj := range []client.Object{&v1alpha1.Auth0User{}, &v1alpha1.Auth0RoleBinding{}} {
			key := client.ObjectKeyFromObject(u)
			if _, ok := obj.(*v1alpha1.Auth0RoleBinding); ok {
				key = client.ObjectKeyFromObject(b)
			}
			Expect(k8s.Get(ctx, key, obj)).To(Succeed())
			for _, f := range obj.GetManagedFields() {
				if f.Manager != "spec-author" {
					Expect(f.Subresource).To(Equal("status"), "%s wrote %s of %s", f.Manager, f.FieldsV1, key)
				}
			}
		}

		deleteAndWait(b)
		Expect(roleNames(id)).To(BeEmpty())
		deleteAndWait(u)
		Expect(tenant.User(id)).To(BeNil())
	})
})
