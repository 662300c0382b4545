package controller_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
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
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			break
		} else {
			Expect(err).NotTo(HaveOccurred())
		}
		if len(obj.Object) > 0 {
			Expect(k8s.Create(ctx, obj)).To(Succeed())
		}
	}
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
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
				break
			}
			Expect(err).NotTo(HaveOccurred())
			Expect(k8s.Create(ctx, obj)).To(Succeed())
		}
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
