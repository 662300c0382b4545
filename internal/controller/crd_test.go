package controller_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
)

var _ = Describe("CRDs", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("round-trip every Auth0User field", func() {
		in := &v1alpha1.Auth0User{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "roundtrip"},
			Spec: v1alpha1.Auth0UserSpec{
				TenantRef:         &v1alpha1.TenantReference{SecretName: "no-such-tenant"},
				Connection:        "Username-Password-Authentication",
				Email:             "round@example.com",
				Username:          "round",
				PhoneNumber:       "+14155550100",
				Name:              "Round Trip",
				GivenName:         "Round",
				FamilyName:        "Trip",
				Nickname:          "rt",
				Picture:           "https://example.com/rt.png",
				EmailVerified:     ptr.To(true),
				VerifyEmail:       ptr.To(false),
				Blocked:           ptr.To(false),
				PasswordSecretRef: &v1alpha1.SecretKeyReference{Name: "pw", Key: "secret"},
				UserMetadata:      map[string]apiextensionsv1.JSON{"nested": {Raw: []byte(`{"a":[1,"two",{"b":null}]}`)}},
				AppMetadata:       map[string]apiextensionsv1.JSON{"flag": {Raw: []byte(`true`)}},
				AdoptExisting:     true,
				DeletionPolicy:    v1alpha1.DeletionPolicyOrphan,
				DriftPolicy:       v1alpha1.DriftPolicyReport,
				ResyncInterval:    &metav1.Duration{Duration: 90_000_000_000},
			},
		}
		want := in.Spec.DeepCopy()
		Expect(k8s.Create(ctx, in)).To(Succeed())
		out := &v1alpha1.Auth0User{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(in), out)).To(Succeed())
		Expect(out.Spec).To(Equal(*want))
	})

	It("round-trip every Auth0RoleBinding field and apply its defaults", func() {
		in := &v1alpha1.Auth0RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "roundtrip"},
			Spec: v1alpha1.Auth0RoleBindingSpec{
				TenantRef:   &v1alpha1.TenantReference{SecretName: "no-such-tenant"},
				Roles:       []v1alpha1.RoleReference{{Name: "admin"}, {ID: "rol_0123456789abcdef"}},
				Permissions: []v1alpha1.PermissionReference{{ResourceServerIdentifier: "https://api.example.com", Name: "read:reports"}},
				Subjects: []v1alpha1.Subject{
					{UserRef: "alice"}, {UserID: "auth0|abc"}, {Email: "bob@example.com", Connection: "db"},
				},
				ResyncInterval: &metav1.Duration{Duration: 60_000_000_000},
			},
		}
		want := in.Spec.DeepCopy()
		want.DriftPolicy = v1alpha1.DriftPolicyCorrect
		Expect(k8s.Create(ctx, in)).To(Succeed())
		out := &v1alpha1.Auth0RoleBinding{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(in), out)).To(Succeed())
		Expect(out.Spec).To(Equal(*want))
	})

	DescribeTable("refuse an Auth0RoleBinding that names things ambiguously",
		func(spec v1alpha1.Auth0RoleBindingSpec, message string) {
			in := &v1alpha1.Auth0RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "invalid"}, Spec: spec}
			err := k8s.Create(ctx, in)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("a binding that grants nothing",
			v1alpha1.Auth0RoleBindingSpec{Subjects: []v1alpha1.Subject{{UserID: "auth0|1"}}},
			"at least one role or permission"),
		Entry("a binding without subjects",
			v1alpha1.Auth0RoleBindingSpec{Roles: []v1alpha1.RoleReference{{Name: "admin"}}},
			"spec.subjects"),
		Entry("a role named both by name and by id",
			v1alpha1.Auth0RoleBindingSpec{Roles: []v1alpha1.RoleReference{{Name: "admin", ID: "rol_1"}}, Subjects: []v1alpha1.Subject{{UserID: "auth0|1"}}},
			"exactly one of name or id"),
		Entry("a subject named two ways",
			v1alpha1.Auth0RoleBindingSpec{Roles: []v1alpha1.RoleReference{{Name: "admin"}}, Subjects: []v1alpha1.Subject{{UserID: "auth0|1", Email: "a@example.com"}}},
			"exactly one of userRef, userID or email"),
		Entry("a connection on a subject that is not an email",
			v1alpha1.Auth0RoleBindingSpec{Roles: []v1alpha1.RoleReference{{Name: "admin"}}, Subjects: []v1alpha1.Subject{{UserID: "auth0|1", Connection: "db"}}},
			"connection applies only"),
	)

	It("keep Auth0TenancyPolicy cluster-scoped, and refuse adoption domains without adoption", func() {
		p := &v1alpha1.Auth0TenancyPolicy{ObjectMeta: metav1.ObjectMeta{Name: "crd-" + ns}, Spec: v1alpha1.Auth0TenancyPolicySpec{
			Adoption: &v1alpha1.AdoptionRule{EmailDomains: []string{"example.com"}},
		}}
		err := k8s.Create(ctx, p)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
		Expect(err.Error()).To(ContainSubstring("adoption.emailDomains needs adoption.allowed: true"))

		p.Spec.Adoption.Allowed = true
		p.Spec.Permissions = []v1alpha1.PermissionRule{{ResourceServerIdentifier: "https://api.example.com"}}
		err = k8s.Create(ctx, p)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a permission rule without scopes: %v", err)

		p.Spec.Permissions[0].Scopes = []string{"read:*"}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		Expect(p.Namespace).To(BeEmpty())
		Expect(k8s.Delete(ctx, p)).To(Succeed())
	})
})
