package controller_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// Issue "users: ownership holds through namespace deletion, reused names, outages and tenant
// moves": each spec is one of its cases.
var _ = Describe("Auth0User ownership", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	withTenant := func(u *v1alpha1.Auth0User, secret string) *v1alpha1.Auth0User {
		u.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: secret}
		return u
	}
	gone := func(obj client.Object) func() bool {
		return func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object)))
		}
	}
	It("deletes the users of a namespace whose tenant Secret is deleted first", func() {
		secret := tenantSecret(ns, "tenant", testClientID, testClientSecret)
		Expect(k8s.Create(ctx, secret)).To(Succeed())
		u := withTenant(newUser(ns, "first-gone", "secret-first@example.com"), "tenant")
		createUser(u)
		id := readyUser(u).Status.UserID
		Eventually(func(g Gomega) {
			cur := &corev1.Secret{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), cur)).To(Succeed())
			g.Expect(cur.Finalizers).To(ContainElement(controller.TenantSecretFinalizer))
		}).Should(Succeed())

		// The order a namespace deletion may take: the Secret first, then the object.
		Expect(k8s.Delete(ctx, secret)).To(Succeed())
		Consistently(gone(secret), time.Second).Should(BeFalse(), "the Secret went while an object needed it")
		Expect(k8s.Delete(ctx, u)).To(Succeed())
		Eventually(gone(u)).Should(BeTrue())
		Expect(emuUser(id)).To(BeNil(), "the Auth0 user outlived its object")
		Eventually(gone(secret)).Should(BeTrue(), "the Secret is released once nothing needs it")
	})

	// What a namespace deleted with its finalizers force-removed leaves: a user marked by an object
	// that is gone, under either marker format (with the object's UID, and the earlier one
	// without). A new object of the same name is a stranger to it.
	DescribeTable("takes over nothing an earlier object of the same name left behind, and sends it no password",
		func(name string, marker func(ns string) string) {
			email := name + "@left-behind.example.com"
			id, err := tenant.CreateUser(emulator.SeedUser{Email: email, Password: testPassword,
				AppMetadata: map[string]any{"usersync_owner": marker(ns)}})
			Expect(err).NotTo(HaveOccurred())

			stranger := newUser(ns, name, email)
			stranger.Spec.PasswordSecretRef = &v1alpha1.SecretKeyReference{Name: "stranger-password"}
			Expect(k8s.Create(ctx, passwordSecret(ns, "stranger-password", "Str4nger-Passw0rd!"))).To(Succeed())
			Expect(k8s.Create(ctx, stranger)).To(Succeed())
			got := stalledUser(stranger, conditions.ReasonUserExists)
			Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring("left by an earlier object"))
			Expect(got.Status.UserID).To(BeEmpty())
			Expect(emuPasswordIs(id, testPassword)).To(BeTrue(), "the stranger's password reached the old user")

			// Adoption, which the tenancy policy governs, is the way to take it over.
			update(stranger, func(u *v1alpha1.Auth0User) { u.Spec.AdoptExisting = true })
			Expect(readyUser(stranger).Status.UserID).To(Equal(id))
		},
		Entry("marked with the earlier object's UID", "reused-uid", func(ns string) string { return "envtest/" + ns + "/reused-uid/0f6c-gone" }),
		Entry("marked in the format without a UID", "reused-name", func(ns string) string { return "envtest/" + ns + "/reused-name" }),
	)

	It("lets an object that never created anything go at once, even with its tenant out of reach", func() {
		unreachable := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nowhere"},
			StringData: map[string]string{"domain": "http://127.0.0.1:1", "clientID": testClientID, "clientSecret": testClientSecret}}
		Expect(k8s.Create(ctx, unreachable)).To(Succeed())
		u := withTenant(newUser(ns, "never", "never-created@example.com"), "nowhere")
		createUser(u)
		Eventually(func(g Gomega) {
			got := getUser(u)(g)
			g.Expect(condition(got.Status.Conditions, v1alpha1.ConditionReconciling)).NotTo(BeNil())
		}).Should(Succeed())
		Expect(k8s.Delete(ctx, u)).To(Succeed())
		Eventually(gone(u)).Should(BeTrue())
	})

	It("keeps retrying a deletion it cannot make yet, says so, and lets go once told to orphan", func() {
		secret := tenantSecret(ns, "tenant", testClientID, testClientSecret)
		Expect(k8s.Create(ctx, secret)).To(Succeed())
		u := withTenant(newUser(ns, "blocked", "deletion-blocked@example.com"), "tenant")
		createUser(u)
		id := readyUser(u).Status.UserID
		// The tenant's credentials stop working (a rotated client secret, say).
		Eventually(func(g Gomega) {
			cur := &corev1.Secret{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), cur)).To(Succeed())
			cur.Data["clientSecret"] = []byte("rotated-away")
			g.Expect(k8s.Update(ctx, cur)).To(Succeed())
		}).Should(Succeed())
		Expect(k8s.Delete(ctx, u)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getUser(u)(g)
			c := condition(got.Status.Conditions, v1alpha1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(conditions.ReasonDeletionBlocked))
			g.Expect(c.Message).To(ContainSubstring("deletionPolicy"))
		}).Should(Succeed())
		Consistently(gone(u), 2*time.Second).Should(BeFalse())
		Expect(emuUser(id)).NotTo(BeNil())

		update(u, func(cur *v1alpha1.Auth0User) { cur.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan })
		Eventually(gone(u)).Should(BeTrue())
		Expect(emuUser(id)).NotTo(BeNil(), "Orphan leaves the user")
	})

	It("releases, not deletes, metadata keys it found in place when they leave the spec", func() {
		id := emuCreateUser("found-keys@example.com", map[string]any{"theme": "dark", "lang": "fr"})
		u := newUser(ns, "adopter", "found-keys@example.com")
		u.Spec.AdoptExisting = true
		u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"theme": jsonValue("dark"), "team": jsonValue("sre")}
		createUser(u)
		got := readyUser(u)
		Expect(got.Status.FoundUserMetadataKeys).To(ConsistOf("theme"))
		Expect(got.Status.ManagedUserMetadataKeys).To(ConsistOf("team"))

		update(u, func(cur *v1alpha1.Auth0User) { cur.Spec.UserMetadata = nil })
		Eventually(func(g Gomega) {
			got := getUser(u)(g)
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(got.Status.FoundUserMetadataKeys).To(BeEmpty())
			g.Expect(got.Status.ManagedUserMetadataKeys).To(BeEmpty())
		}).Should(Succeed())
		Expect(emuUser(id)["user_metadata"]).To(Equal(map[string]any{"theme": "dark", "lang": "fr"}),
			"the key it wrote is deleted, the keys it found are the application's")
	})

	It("finds a mixed-case email as Auth0 keeps it: after a lost create, and on deletion", func() {
		emuLoseNextCreate()
		u := newUser(ns, "mixed", "Mixed.Case@Example.com")
		createUser(u)
		id := readyUser(u).Status.UserID
		Expect(emuUsersByEmail("mixed.case@example.com")).To(HaveLen(1), "a lost create made a second user")
		Expect(k8s.Delete(ctx, u)).To(Succeed())
		Eventually(gone(u)).Should(BeTrue())
		Expect(emuUser(id)).To(BeNil())
	})

	It("does not follow a tenant Secret repointed at another tenant", func() {
		other, err := emulator.New(emulator.Config{Clients: map[string]emulator.Client{testClientID: {Secret: testClientSecret}}})
		Expect(err).NotTo(HaveOccurred())
		otherURL, err := other.Start("127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		defer other.Close()

		secret := tenantSecret(ns, "tenant", testClientID, testClientSecret)
		Expect(k8s.Create(ctx, secret)).To(Succeed())
		u := withTenant(newUser(ns, "mover", "tenant-mover@example.com"), "tenant")
		createUser(u)
		readyUser(u)
		repoint := func(url string) {
			Eventually(func(g Gomega) {
				cur := &corev1.Secret{}
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), cur)).To(Succeed())
				cur.Data["domain"] = []byte(url)
				g.Expect(k8s.Update(ctx, cur)).To(Succeed())
			}).Should(Succeed())
		}
		repoint(otherURL)
		stalledUser(u, conditions.ReasonTenantChanged)
		Expect(other.Users()).To(BeEmpty(), "the user was created again in the other tenant")
		repoint(tenantURL)
		readyUser(u)
	})

	It("keeps reconciling when the password Secret is deleted after the password was set", func() {
		u := newUser(ns, "bootstrap", "bootstrap-password@example.com")
		createUser(u)
		id := readyUser(u).Status.UserID
		Expect(k8s.Delete(ctx, passwordSecret(ns, u.Spec.PasswordSecretRef.Name, ""))).To(Succeed())
		update(u, func(cur *v1alpha1.Auth0User) { cur.Spec.Name = "Renamed After Bootstrap" })
		got := readyUser(u)
		Expect(emuUser(id)["name"]).To(Equal("Renamed After Bootstrap"))
		Eventually(func(g Gomega) {
			got = getUser(u)(g)
			g.Expect(got.Status.Password).NotTo(BeNil())
			g.Expect(got.Status.Password.Unmanaged).To(ContainSubstring("not found"))
		}).Should(Succeed())
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionReady).Message).To(ContainSubstring("not managed"))

		// The Secret returns with a new password: it is sent, and managed again.
		Expect(k8s.Create(ctx, passwordSecret(ns, u.Spec.PasswordSecretRef.Name, "Returned-Passw0rd!"))).To(Succeed())
		Eventually(func() bool { return emuPasswordIs(id, "Returned-Passw0rd!") }).Should(BeTrue())
		Eventually(func(g Gomega) {
			g.Expect(getUser(u)(g).Status.Password.Unmanaged).To(BeEmpty())
		}).Should(Succeed())
	})
})
