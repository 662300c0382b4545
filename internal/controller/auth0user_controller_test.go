package controller_test

import (
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

func jsonValue(v any) apiextensionsv1.JSON {
	raw, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return apiextensionsv1.JSON{Raw: raw}
}

func newUser(ns, name, email string) *v1alpha1.Auth0User {
	return &v1alpha1.Auth0User{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.Auth0UserSpec{
			Connection:        dbConnection,
			Email:             email,
			PasswordSecretRef: &v1alpha1.SecretKeyReference{Name: name + "-password"},
		},
	}
}

// createUser creates the object and its password Secret.
func createUser(u *v1alpha1.Auth0User) {
	Expect(k8s.Create(ctx, passwordSecret(u.Namespace, u.Spec.PasswordSecretRef.Name, testPassword))).To(Succeed())
	Expect(k8s.Create(ctx, u)).To(Succeed())
}

func update(obj *v1alpha1.Auth0User, mutate func(*v1alpha1.Auth0User)) {
	Eventually(func(g Gomega) {
		cur := &v1alpha1.Auth0User{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), cur)).To(Succeed())
		mutate(cur)
		g.Expect(k8s.Update(ctx, cur)).To(Succeed())
	}).Should(Succeed())
}

var _ = Describe("Auth0User", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("creates the user with its profile and metadata, claimed by this object", func() {
		u := newUser(ns, "alice", "alice@example.com")
		u.Spec.Name = "Alice Liddell"
		u.Spec.GivenName = "Alice"
		u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"team": jsonValue("platform")}
		u.Spec.AppMetadata = map[string]apiextensionsv1.JSON{"plan": jsonValue(map[string]any{"tier": "pro", "seats": 5})}
		createUser(u)

		got := readyUser(u)
		Expect(got.Status.UserID).To(HavePrefix("auth0|"))
		Expect(got.Status.ManagedUserMetadataKeys).To(Equal([]string{"team"}))
		Expect(got.Status.ManagedAppMetadataKeys).To(Equal([]string{"plan"}))
		Expect(got.Status.Password).NotTo(BeNil())
		Expect(got.Finalizers).To(ContainElement("auth0.usersync.io/finalizer"))

		remote := emuUser(got.Status.UserID)
		Expect(remote["email"]).To(Equal("alice@example.com"))
		Expect(remote["name"]).To(Equal("Alice Liddell"))
		Expect(remote["user_metadata"]).To(Equal(map[string]any{"team": "platform"}))
		Expect(remote["app_metadata"]).To(HaveKeyWithValue("plan", map[string]any{"tier": "pro", "seats": float64(5)}))
		Expect(remote["app_metadata"]).To(HaveKeyWithValue("usersync_owner", "envtest/"+ns+"/alice/"+string(readyUser(u).UID)))
		Expect(emuPasswordIs(got.Status.UserID, testPassword)).To(BeTrue())

		statusJSON, err := json.Marshal(got.Status)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(statusJSON)).NotTo(ContainSubstring(testPassword))
	})

	It("keeps kubectl's last-applied annotation, which its cache leaves out, through its own writes", func() {
		u := newUser(ns, "applied", "applied@example.com")
		u.Annotations = map[string]string{corev1.LastAppliedConfigAnnotation: `{"kind":"Auth0User"}`, "team": "identity"}
		createUser(u)
		got := readyUser(u) // the finalizer and status were written meanwhile
		Expect(got.Finalizers).To(ContainElement("auth0.usersync.io/finalizer"))
		Expect(got.Annotations).To(Equal(u.Annotations))
	})

	It("never touches metadata keys written by applications, and removes keys that leave the spec", func() {
		u := newUser(ns, "bob", "bob@example.com")
		u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"team": jsonValue("platform"), "oncall": jsonValue(true)}
		createUser(u)
		id := readyUser(u).Status.UserID

		By("an application writing its own key, as the seed article's theme preference")
		emuPatch(id, map[string]any{"user_metadata": map[string]any{"theme": "dark"}})

		By("changing one owned key and removing another from the spec")
		update(u, func(cur *v1alpha1.Auth0User) {
			cur.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"team": jsonValue("identity")}
		})
		Eventually(func(g Gomega) {
			g.Expect(emuUser(id)["user_metadata"]).To(Equal(map[string]any{"team": "identity", "theme": "dark"}))
		}).Should(Succeed())
		got := readyUser(u)
		Expect(got.Status.ManagedUserMetadataKeys).To(Equal([]string{"team"}))

		By("several resyncs later the application's key is still there")
		Consistently(func(g Gomega) {
			g.Expect(emuUser(id)["user_metadata"]).To(HaveKeyWithValue("theme", "dark"))
		}, 3*resync, resync/2).Should(Succeed())
	})

	It("reports drift made in Auth0 within one resync and corrects it under policy Correct", func() {
		u := newUser(ns, "carol", "carol@example.com")
		u.Spec.Name = "Carol"
		u.Spec.AppMetadata = map[string]apiextensionsv1.JSON{"tier": jsonValue("gold")}
		createUser(u)
		id := readyUser(u).Status.UserID

		emuPatch(id, map[string]any{"name": "Mallory", "app_metadata": map[string]any{"tier": "free"}})
		Eventually(func(g Gomega) {
			got := getUser(u)(g)
			g.Expect(got.Status.Drift).To(ContainElements(
				HaveField("Field", "name"), HaveField("Field", "appMetadata.tier")))
			g.Expect(condition(got.Status.Conditions, v1alpha1.ConditionDrifted).Status).To(Equal(metav1.ConditionTrue))
		}).WithTimeout(4 * resync).Should(Succeed())
		Eventually(func(g Gomega) {
			remote := emuUser(id)
			g.Expect(remote["name"]).To(Equal("Carol"))
			g.Expect(remote["app_metadata"]).To(HaveKeyWithValue("tier", "gold"))
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			got := getUser(u)(g)
			g.Expect(got.Status.Drift).To(BeEmpty())
			g.Expect(condition(got.Status.Conditions, v1alpha1.ConditionDrifted).Status).To(Equal(metav1.ConditionFalse))
		}).WithTimeout(4 * resync).Should(Succeed())
	})

	It("only reports drift under policy Report", func() {
		u := newUser(ns, "dave", "dave@example.com")
		u.Spec.Nickname = "dave"
		u.Spec.DriftPolicy = v1alpha1.DriftPolicyReport
		createUser(u)
		id := readyUser(u).Status.UserID

		emuPatch(id, map[string]any{"nickname": "davey"})
		Eventually(func(g Gomega) {
			got := getUser(u)(g)
			g.Expect(got.Status.Drift).To(ConsistOf(And(
				HaveField("Field", "nickname"), HaveField("Desired", `"dave"`), HaveField("Observed", `"davey"`))))
			g.Expect(got.Status.DriftCount).To(Equal(1))
		}).WithTimeout(4 * resync).Should(Succeed())
		Consistently(func() any { return emuUser(id)["nickname"] }, 2*resync, resync/2).Should(Equal("davey"))
		Expect(emuEvents(ns, "dave")).To(ContainElement(ContainSubstring("nickname")))
	})

	It("creates exactly one user when the create response is lost", func() {
		emuLoseNextCreate()
		u := newUser(ns, "erin", "erin@example.com")
		createUser(u)
		got := readyUser(u)
		users := emuUsersByEmail("erin@example.com")
		Expect(users).To(HaveLen(1))
		Expect(users[0]["user_id"]).To(Equal(got.Status.UserID))
	})

	It("refuses a second object naming the same user, in any namespace", func() {
		first := newUser(ns, "frank", "frank@example.com")
		createUser(first)
		id := readyUser(first).Status.UserID

		other := newNamespace()
		second := newUser(other, "frank-again", "frank@example.com")
		second.Spec.AdoptExisting = true
		createUser(second)
		got := stalledUser(second, conditions.ReasonOwnedElsewhere)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring(ns + "/frank"))
		Expect(got.Status.UserID).To(BeEmpty())
		Expect(emuUser(id)["app_metadata"]).To(HaveKeyWithValue("usersync_owner", "envtest/"+ns+"/frank/"+string(readyUser(first).UID)))
	})

	It("adopts a pre-existing user only when asked", func() {
		id := emuCreateUser("grace@example.com", map[string]any{"theme": "light"})
		u := newUser(ns, "grace", "grace@example.com")
		u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"team": jsonValue("data")}
		createUser(u)
		got := stalledUser(u, conditions.ReasonUserExists)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring("adoptExisting"))

		update(u, func(cur *v1alpha1.Auth0User) { cur.Spec.AdoptExisting = true })
		got = readyUser(u)
		Expect(got.Status.UserID).To(Equal(id))
		Expect(emuUser(id)["user_metadata"]).To(Equal(map[string]any{"theme": "light", "team": "data"}))
		Expect(emuUsersByEmail("grace@example.com")).To(HaveLen(1))
	})

	It("re-sends the password when its Secret changes and at no other time", func() {
		u := newUser(ns, "heidi", "heidi@example.com")
		createUser(u)
		id := readyUser(u).Status.UserID
		Expect(emuPasswordIs(id, testPassword)).To(BeTrue())

		By("a spec change and several resyncs send no password")
		emuSetPassword(id, "Changed-By-The-User-1")
		update(u, func(cur *v1alpha1.Auth0User) { cur.Spec.Nickname = "heidi" })
		readyUser(u)
		Consistently(func() bool { return emuPasswordIs(id, "Changed-By-The-User-1") }, 2*resync, resync/2).Should(BeTrue())

		By("changing the Secret sends the new password")
		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "heidi-password"}, secret)).To(Succeed())
		secret.Data["password"] = []byte("N3w-Secret-Passw0rd!")
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		Eventually(func() bool { return emuPasswordIs(id, "N3w-Secret-Passw0rd!") }).Should(BeTrue())
		Eventually(func(g Gomega) {
			g.Expect(getUser(u)(g).Status.Password.SecretResourceVersion).To(Equal(secret.ResourceVersion))
		}).Should(Succeed())
		Expect(logSink.String()).NotTo(ContainSubstring("N3w-Secret-Passw0rd!"))
	})

	It("stalls with Auth0's message on a wrong client secret", func() {
		Expect(k8s.Create(ctx, tenantSecret(ns, "bad-tenant", testClientID, "wrong-secret-value"))).To(Succeed())
		u := newUser(ns, "ivan", "ivan@example.com")
		u.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "bad-tenant"}
		createUser(u)
		got := stalledUser(u, conditions.ReasonAuth0Rejected)
		msg := condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message
		Expect(msg).To(ContainSubstring("401"))
		Expect(msg).NotTo(ContainSubstring("wrong-secret-value"))
		Expect(logSink.String()).NotTo(ContainSubstring("wrong-secret-value"))
	})

	It("stalls with Auth0's message when the credential lacks a scope", func() {
		Expect(k8s.Create(ctx, tenantSecret(ns, "read-only", "read-only", "read-only-secret"))).To(Succeed())
		u := newUser(ns, "judy", "judy@example.com")
		u.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "read-only"}
		createUser(u)
		got := stalledUser(u, conditions.ReasonAuth0Rejected)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring("create:users"))
		Expect(emuUsersByEmail("judy@example.com")).To(BeEmpty())
	})

	It("stalls with Auth0's message on a field a social connection cannot change, without a hot loop", func() {
		id, err := tenant.CreateUser(emulator.SeedUser{Email: "social@example.com", Connection: "google-oauth2"})
		Expect(err).NotTo(HaveOccurred())
		u := newUser(ns, "social", "social@example.com")
		u.Spec.Connection = "google-oauth2"
		u.Spec.PasswordSecretRef = nil
		u.Spec.AdoptExisting = true
		u.Spec.Username = "cannot-change"
		Expect(k8s.Create(ctx, u)).To(Succeed())
		got := stalledUser(u, conditions.ReasonAuth0Rejected)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring("Cannot update username for non-database connections"))
		Expect(got.Status.UserID).To(Equal(id))
		calls := emuCallsFor(func() { time.Sleep(3 * resync) }, id)
		GinkgoWriter.Printf("a stalled social user over 3 resyncs: %+v\n", calls)
		Expect(calls.reads+calls.writes).To(BeNumerically("<=", 2*4), "at most a read and a write per resync")
	})

	It("stalls until a missing tenant Secret appears", func() {
		u := newUser(ns, "kate", "kate@example.com")
		u.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "later"}
		createUser(u)
		stalledUser(u, conditions.ReasonTenantUnavailable)
		Expect(k8s.Create(ctx, tenantSecret(ns, "later", testClientID, testClientSecret))).To(Succeed())
		readyUser(u)
	})

	It("deletes the Auth0 user with the object, and only releases it under Orphan", func() {
		del := newUser(ns, "leo", "leo@example.com")
		createUser(del)
		delID := readyUser(del).Status.UserID
		orphan := newUser(ns, "mia", "mia@example.com")
		orphan.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		orphan.Spec.AppMetadata = map[string]apiextensionsv1.JSON{"plan": jsonValue("team")}
		createUser(orphan)
		orphanID := readyUser(orphan).Status.UserID

		Expect(k8s.Delete(ctx, del)).To(Succeed())
		Expect(k8s.Delete(ctx, orphan)).To(Succeed())
		for _, obj := range []client.Object{del, orphan} {
			Eventually(func() bool {
				return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(obj), &v1alpha1.Auth0User{}))
			}).Should(BeTrue())
		}
		Expect(emuUsersByEmail("leo@example.com")).To(BeEmpty())
		remote := emuUser(orphanID)
		Expect(remote).NotTo(BeNil())
		Expect(remote["app_metadata"]).To(Equal(map[string]any{"plan": "team"}), "the claim is gone, the data stays")
		Expect(emuUser(delID)).To(BeNil())
	})

	It("recreates a user deleted in Auth0 out of band", func() {
		u := newUser(ns, "nina", "nina@example.com")
		createUser(u)
		id := readyUser(u).Status.UserID
		emuDeleteUser(id)
		Eventually(func(g Gomega) {
			got := getUser(u)(g)
			g.Expect(got.Status.UserID).NotTo(BeEmpty())
			g.Expect(got.Status.UserID).NotTo(Equal(id))
		}).WithTimeout(4 * resync).Should(Succeed())
		Expect(emuUsersByEmail("nina@example.com")).To(HaveLen(1))
	})

	It("makes one read and no write per steady-state resync of an unchanged user", func() {
		u := newUser(ns, "oscar", "oscar@example.com")
		u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"team": jsonValue("sre")}
		createUser(u)
		ready := readyUser(u)
		// Let the first resync after the create pass, then count the calls of the next one.
		time.Sleep(resync + resync/5)
		calls := emuCallsFor(func() {
			time.Sleep(resync + resync/5)
		}, ready.Status.UserID)
		GinkgoWriter.Printf("steady-state calls for one user over one resync: %v\n", calls)
		Expect(calls.writes).To(BeZero())
		Expect(getUser(u)(Default).ResourceVersion).To(Equal(ready.ResourceVersion), "a resync that changed nothing writes no status")
		Expect(calls.reads).To(BeNumerically(">=", 1))
		Expect(calls.reads).To(BeNumerically("<=", 2))
	})
})

var _ = Describe("Auth0User validation", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	rejected := func(mutate func(*v1alpha1.Auth0User), message string) {
		u := newUser(ns, "invalid", "valid@example.com")
		mutate(u)
		err := k8s.Create(ctx, u)
		ExpectWithOffset(1, apierrors.IsInvalid(err)).To(BeTrue(), "want Invalid, got %v", err)
		ExpectWithOffset(1, err.Error()).To(ContainSubstring(message))
	}

	It("rejects an invalid email", func() {
		rejected(func(u *v1alpha1.Auth0User) { u.Spec.Email = "not-an-email" }, "spec.email")
	})
	It("stalls on metadata Auth0 would refuse that admission cannot see, before calling Auth0", func() {
		// The admission policy checks key names three levels deep and not inside lists, and
		// cannot measure size; the operator checks everything itself.
		u := newUser(ns, "dotted", "dotted@example.com")
		u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{"a": jsonValue(map[string]any{"b": map[string]any{"c": map[string]any{"preference.color": "pink"}}})}
		u.Spec.AppMetadata = map[string]apiextensionsv1.JSON{"items": jsonValue([]any{map[string]any{"$set": 1}}), "blob": jsonValue(strings.Repeat("x", 17<<10))}
		calls := emuCallsMatching(func() {
			createUser(u)
			got := stalledUser(u, conditions.ReasonInvalidSpec)
			msg := condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message
			Expect(msg).To(ContainSubstring(`"preference.color"`))
			Expect(msg).To(ContainSubstring(`"$set"`))
			Expect(msg).To(ContainSubstring("appMetadata is 17"))
		}, "dotted@example.com")
		Expect(calls).To(BeZero())
	})
	It("rejects too many metadata keys, a bad phone number and a short resync interval", func() {
		rejected(func(u *v1alpha1.Auth0User) {
			u.Spec.UserMetadata = map[string]apiextensionsv1.JSON{}
			for i := range 65 {
				u.Spec.UserMetadata[strings.Repeat("k", i+1)] = jsonValue(i)
			}
		}, "spec.userMetadata")
		rejected(func(u *v1alpha1.Auth0User) { u.Spec.PhoneNumber = "555-1234" }, "spec.phoneNumber")
		rejected(func(u *v1alpha1.Auth0User) { u.Spec.ResyncInterval = &metav1.Duration{Duration: time.Second} }, "at least 10s")
	})
	It("defaults the policies and keeps the connection immutable", func() {
		u := newUser(ns, "immutable", "immutable@example.com")
		u.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "does-not-exist"}
		Expect(k8s.Create(ctx, u)).To(Succeed())
		Expect(u.Spec.DeletionPolicy).To(Equal(v1alpha1.DeletionPolicyDelete))
		Expect(u.Spec.DriftPolicy).To(Equal(v1alpha1.DriftPolicyCorrect))
		Expect(u.Spec.PasswordSecretRef.Key).To(Equal("password"))
		var err error
		Eventually(func() bool {
			cur := &v1alpha1.Auth0User{}
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), cur)).To(Succeed())
			cur.Spec.Connection = "other"
			err = k8s.Update(ctx, cur)
			return apierrors.IsConflict(err) // the operator may be writing its finalizer meanwhile
		}).Should(BeFalse())
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("connection is immutable"))
		_ = ptr.To(true)
	})
})
