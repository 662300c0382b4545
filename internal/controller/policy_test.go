package controller_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

// restrictedLabel takes a namespace out of the suite's allow-everything policy.
const restrictedLabel = "auth0.usersync.io/restricted"

// restrictedNamespace creates a namespace that only the policies of a spec govern.
func restrictedNamespace(labels map[string]string) string {
	name := fmt.Sprintf("restricted-%d", namespaceCounter.Add(1))
	l := map[string]string{restrictedLabel: "true"}
	for k, v := range labels {
		l[k] = v
	}
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}})).To(Succeed())
	return name
}

func tenancyPolicy(name string, selector map[string]string, spec v1alpha1.Auth0TenancyPolicySpec) *v1alpha1.Auth0TenancyPolicy {
	spec.NamespaceSelector = metav1.LabelSelector{MatchLabels: selector}
	p := &v1alpha1.Auth0TenancyPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	Expect(k8s.Create(ctx, p)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, p))).To(Succeed()) })
	return p
}

func dbUser(ns, name, email string) *v1alpha1.Auth0User {
	return &v1alpha1.Auth0User{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.Auth0UserSpec{Connection: "Username-Password-Authentication", Email: email, PasswordSecretRef: &v1alpha1.SecretKeyReference{Name: "pw"}},
	}
}

var _ = Describe("Tenancy policy", func() {
	It("refuses a namespace no policy selects, without a call to Auth0, until its labels bring it under one", func() {
		team := fmt.Sprintf("team-%d", namespaceCounter.Add(1))
		tenancyPolicy(team, map[string]string{"team": team}, v1alpha1.Auth0TenancyPolicySpec{
			DefaultTenant: true, Connections: []string{"Username-Password-Authentication"},
		})
		ns := restrictedNamespace(nil)
		Expect(k8s.Create(ctx, passwordSecret(ns, "pw", testPassword))).To(Succeed())
		u := dbUser(ns, "carol", "carol@"+ns+".example.com")

		calls := emuCallsMatching(func() {
			Expect(k8s.Create(ctx, u)).To(Succeed())
			got := stalledUser(u, conditions.ReasonPolicyDenied)
			Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring(
				fmt.Sprintf("no Auth0TenancyPolicy selects namespace %q", ns)))
			Consistently(func() string { return getUser(u)(Default).Status.UserID }, 2*resync).Should(BeEmpty())
		}, u.Spec.Email)
		Expect(calls).To(BeZero(), "a denied object made Auth0 calls")
		Expect(emuUsersByEmail(u.Spec.Email)).To(BeEmpty())

		By("labelling the namespace so that the team's policy selects it")
		var nsObj corev1.Namespace
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, &nsObj)).To(Succeed())
		nsObj.Labels["team"] = team
		Expect(k8s.Update(ctx, &nsObj)).To(Succeed())
		readyUser(u)
	})

	It("limits connections, and adoption to the allowed email domains", func() {
		ns := restrictedNamespace(nil)
		tenancyPolicy(ns, map[string]string{"kubernetes.io/metadata.name": ns}, v1alpha1.Auth0TenancyPolicySpec{
			DefaultTenant: true,
			Connections:   []string{"Username-Password-Authentication"},
			Adoption:      &v1alpha1.AdoptionRule{Allowed: true, EmailDomains: []string{"partner.example"}},
		})
		Expect(k8s.Create(ctx, passwordSecret(ns, "pw", testPassword))).To(Succeed())
		ownerID := emuCreateUser("owner-"+ns+"@tenant-admins.example", nil)
		partnerID := emuCreateUser("p-"+ns+"@partner.example", nil)

		By("refusing to adopt the tenant owner's account")
		takeover := dbUser(ns, "takeover", "owner-"+ns+"@tenant-admins.example")
		takeover.Spec.AdoptExisting = true
		Expect(k8s.Create(ctx, takeover)).To(Succeed())
		got := stalledUser(takeover, conditions.ReasonPolicyDenied)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring("may not adopt an existing user"))
		Consistently(func() any { return emuUser(ownerID)["app_metadata"] }, 2*resync).Should(BeNil())
		Expect(emuPasswordIs(ownerID, testPassword)).To(BeTrue())

		By("refusing a connection the policy does not list")
		social := &v1alpha1.Auth0User{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "social"},
			Spec: v1alpha1.Auth0UserSpec{Connection: "google-oauth2", Email: "s-" + ns + "@partner.example"}}
		Expect(k8s.Create(ctx, social)).To(Succeed())
		got = stalledUser(social, conditions.ReasonPolicyDenied)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring(`may not use connection "google-oauth2"`))

		By("refusing the default tenant to a namespace whose policy does not grant it")
		other := restrictedNamespace(nil)
		tenancyPolicy(other, map[string]string{"kubernetes.io/metadata.name": other}, v1alpha1.Auth0TenancyPolicySpec{
			Connections: []string{"Username-Password-Authentication"},
		})
		Expect(k8s.Create(ctx, passwordSecret(other, "pw", testPassword))).To(Succeed())
		noDefault := dbUser(other, "no-default", "nd-"+other+"@partner.example")
		Expect(k8s.Create(ctx, noDefault)).To(Succeed())
		got = stalledUser(noDefault, conditions.ReasonPolicyDenied)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring("may not use the default tenant"))
		Expect(emuUsersByEmail(noDefault.Spec.Email)).To(BeEmpty())

		By("adopting within the allowed domain")
		partner := dbUser(ns, "partner", "p-"+ns+"@partner.example")
		partner.Spec.AdoptExisting = true
		Expect(k8s.Create(ctx, partner)).To(Succeed())
		Expect(readyUser(partner).Status.UserID).To(Equal(partnerID))
		Expect(emuUser(partnerID)["app_metadata"]).To(HaveKey(userdiff.OwnerKey))
	})

	It("refuses a binding with a role or permission the policy does not allow, writing nothing", func() {
		ns := restrictedNamespace(nil)
		p := tenancyPolicy(ns, map[string]string{"kubernetes.io/metadata.name": ns}, v1alpha1.Auth0TenancyPolicySpec{
			DefaultTenant: true,
			Roles:         []string{"viewer"},
			Permissions:   []v1alpha1.PermissionRule{{ResourceServerIdentifier: reportsAPI, Scopes: []string{"read:*"}}},
		})
		uid := emuCreateUser("b-"+ns+"@example.com", nil)

		escalate := newBinding(ns, "escalate", byName("viewer", "admin"), v1alpha1.Subject{UserID: uid})
		Expect(k8s.Create(ctx, escalate)).To(Succeed())
		got := stalledBinding(escalate, conditions.ReasonPolicyDenied)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring(`may not grant role "admin"`))

		write := newBinding(ns, "write", nil, v1alpha1.Subject{UserID: uid})
		write.Spec.Permissions = []v1alpha1.PermissionReference{{ResourceServerIdentifier: reportsAPI, Name: "write:reports"}}
		Expect(k8s.Create(ctx, write)).To(Succeed())
		got = stalledBinding(write, conditions.ReasonPolicyDenied)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring(`may not grant permission "write:reports"`))
		Consistently(func() []string { return roleNames(uid) }, 2*resync).Should(BeEmpty(), "a denied binding granted a role")

		By("allowing the admin role by its id: the binding is applied whole")
		adminID := tenant.RoleID("admin")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		p.Spec.Roles = append(p.Spec.Roles, adminID)
		Expect(k8s.Update(ctx, p)).To(Succeed())
		readyBinding(escalate)
		Expect(roleNames(uid)).To(ConsistOf("viewer", "admin"))
	})
})
