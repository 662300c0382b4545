package controller_test

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/config/argocd"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/testenv"
)

// live reads an object as Argo CD and kstatus see it: unstructured JSON.
func live(obj client.Object, kind string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(v1alpha1.GroupVersion.String())
	u.SetKind(kind)
	ExpectWithOffset(1, k8s.Get(ctx, client.ObjectKeyFromObject(obj), u)).To(Succeed())
	return u
}

// expectHealth checks Argo CD's health and kstatus's status of a live object; with
// UPDATE_ARGOCD_TESTDATA set it also saves the object as config/argocd testdata.
func expectHealth(obj client.Object, kind, argo string, kstatus status.Status) {
	u := live(obj, kind)
	health, message, err := argocd.Health(u.Object)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, health).To(Equal(argo), message)
	res, err := status.Compute(u)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, res.Status).To(Equal(kstatus), res.Message)

	if os.Getenv("UPDATE_ARGOCD_TESTDATA") != "" {
		unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
		for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "namespace"} {
			unstructured.RemoveNestedField(u.Object, "metadata", f)
		}
		raw, err := yaml.Marshal(u.Object)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		name := strings.ToLower(argo) + "-" + strings.ToLower(kind) + "-" + obj.GetName() + ".yaml"
		ExpectWithOffset(1, os.WriteFile(filepath.Join(testenv.Root(), "config", "argocd", "testdata", name), raw, 0o644)).To(Succeed())
	}
}

var _ = Describe("Health as Argo CD and kstatus read it", func() {
	It("reports Ready objects healthy, stalled ones degraded and waiting ones progressing", func() {
		ns := newNamespace()
		ready := newUser(ns, "ready", "health-ready@example.com")
		createUser(ready)
		readyUser(ready)
		expectHealth(ready, "Auth0User", "Healthy", status.CurrentStatus)

		invalid := newUser(ns, "invalid", "health-invalid@example.com")
		invalid.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"list": jsonValue([]any{map[string]any{"a.b": 1}})}
		createUser(invalid)
		stalledUser(invalid, conditions.ReasonInvalidSpec)
		expectHealth(invalid, "Auth0User", "Degraded", status.FailedStatus)

		waiting := newBinding(ns, "waiting", byName("viewer"), v1alpha1.Subject{UserRef: "nobody-yet"})
		Expect(k8s.Create(ctx, waiting)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &v1alpha1.Auth0RoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(waiting), got)).To(Succeed())
			g.Expect(condition(got.Status.Conditions, v1alpha1.ConditionReconciling)).NotTo(BeNil())
		}).Should(Succeed())
		expectHealth(waiting, "Auth0RoleBinding", "Progressing", status.InProgressStatus)

		bound := newBinding(ns, "bound", byName("viewer"), v1alpha1.Subject{UserRef: "ready"})
		Expect(k8s.Create(ctx, bound)).To(Succeed())
		readyBinding(bound)
		expectHealth(bound, "Auth0RoleBinding", "Healthy", status.CurrentStatus)

		unknown := newBinding(ns, "unknown", byName("no-such-role"), v1alpha1.Subject{UserRef: "ready"})
		Expect(k8s.Create(ctx, unknown)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &v1alpha1.Auth0RoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(unknown), got)).To(Succeed())
			g.Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled)).NotTo(BeNil())
		}).Should(Succeed())
		expectHealth(unknown, "Auth0RoleBinding", "Degraded", status.FailedStatus)
	})

	// Flux's rule: a terminal stall is a conclusion about the current spec. A Ready object edited
	// into a stall must show the new generation as observed, or kstatus reads InProgress for ever
	// and Flux and Argo CD wait for their timeouts.
	It("reports an object edited into a stall as Failed at its new generation", func() {
		ns := newNamespace()
		user := newUser(ns, "edited", "health-edited@example.com")
		createUser(user)
		readyUser(user)
		update(user, func(u *v1alpha1.Auth0User) {
			u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"list": jsonValue([]any{map[string]any{"a.b": 1}})}
		})
		Eventually(func(g Gomega) {
			got := getUser(user)(g)
			g.Expect(got.Generation).To(BeNumerically(">=", 2))
			g.Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled)).NotTo(BeNil())
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		}).Should(Succeed())
		expectHealth(user, "Auth0User", "Degraded", status.FailedStatus)

		binding := newBinding(ns, "edited", byName("viewer"), v1alpha1.Subject{UserRef: "edited"})
		Expect(k8s.Create(ctx, binding)).To(Succeed())
		readyBinding(binding)
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(binding), binding)).To(Succeed())
		binding.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "no-such-secret"}
		Expect(k8s.Update(ctx, binding)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &v1alpha1.Auth0RoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(binding), got)).To(Succeed())
			g.Expect(got.Generation).To(BeNumerically(">=", 2))
			st := condition(got.Status.Conditions, v1alpha1.ConditionStalled)
			g.Expect(st).NotTo(BeNil())
			g.Expect(st.Reason).To(Equal(conditions.ReasonTenantUnavailable), st.Message)
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		}).Should(Succeed())
		expectHealth(binding, "Auth0RoleBinding", "Degraded", status.FailedStatus)
	})
})
