package controller_test

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// badInput is one object the operator must refuse. Each gets a tenant of its own, so that the
// Auth0 calls it causes are counted exactly.
type badInput struct {
	name string
	// object builds the object in ns; tenantRef is the case's own tenant Secret.
	object func(ns string, tenantRef *v1alpha1.TenantReference, emu *emulator.Emulator) client.Object
	// tenantSecret, when set, replaces the case's good tenant Secret data.
	tenantSecret map[string]string
	// rejected is part of the API server's refusal; empty when the object is admitted.
	rejected string
	reason   string // the Stalled reason
	message  string // part of the Stalled message
	// perResync bounds the Auth0 calls of one retry (the object is retried once per resync).
	perResync int

	emu         *emulator.Emulator
	obj         client.Object
	usersBefore int // the users the case put into its tenant before the object existed
	untilStall  int // calls until the object was seen Stalled
	windowStart int
}

func badUser(ns, name string, ref *v1alpha1.TenantReference, mut func(*v1alpha1.Auth0UserSpec)) *v1alpha1.Auth0User {
	u := &v1alpha1.Auth0User{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.Auth0UserSpec{
		TenantRef: ref, Connection: "Username-Password-Authentication", Email: name + "@bad.example",
		PasswordSecretRef: &v1alpha1.SecretKeyReference{Name: "pw"},
	}}
	mut(&u.Spec)
	return u
}

var _ = Describe("Bad input", func() {
	It("is refused by validation or stalled with a message naming the problem, without a hot loop or an effect on other objects", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, passwordSecret(ns, "pw", testPassword))).To(Succeed())
		Expect(k8s.Create(ctx, passwordSecret(ns, "weak-pw", "abc"))).To(Succeed())
		cases := []*badInput{
			{name: "invalid-email", rejected: "spec.email", object: func(ns string, ref *v1alpha1.TenantReference, _ *emulator.Emulator) client.Object {
				return badUser(ns, "invalid-email", ref, func(s *v1alpha1.Auth0UserSpec) { s.Email = "not-an-email" })
			}},
			{name: "metadata-key-with-dot", rejected: "spec.userMetadata: key names must not contain '.' or '$' (Auth0 refuses them), under: prefs",
				object: func(ns string, ref *v1alpha1.TenantReference, _ *emulator.Emulator) client.Object {
					return badUser(ns, "metadata-key-with-dot", ref, func(s *v1alpha1.Auth0UserSpec) {
						s.UserMetadata = map[string]apiextensionsv1.JSON{"prefs": jsonValue(map[string]any{"a.b": 1})}
					})
				}},
			{name: "metadata-key-in-a-list", reason: conditions.ReasonInvalidSpec, message: `key names must not contain '.' or '$'`,
				object: func(ns string, ref *v1alpha1.TenantReference, _ *emulator.Emulator) client.Object {
					return badUser(ns, "metadata-key-in-a-list", ref, func(s *v1alpha1.Auth0UserSpec) {
						s.UserMetadata = map[string]apiextensionsv1.JSON{"prefs": jsonValue([]any{map[string]any{"a.b": 1}})}
					})
				}},
			{name: "reserved-app-metadata-key", rejected: "spec.appMetadata: reserved keys: usersync_owner",
				object: func(ns string, ref *v1alpha1.TenantReference, _ *emulator.Emulator) client.Object {
					return badUser(ns, "reserved-app-metadata-key", ref, func(s *v1alpha1.Auth0UserSpec) {
						s.AppMetadata = map[string]apiextensionsv1.JSON{"usersync_owner": jsonValue("someone-else")}
					})
				}},
			{name: "oversized-metadata", reason: conditions.ReasonInvalidSpec, message: "more than 16384",
				object: func(ns string, ref *v1alpha1.TenantReference, _ *emulator.Emulator) client.Object {
					return badUser(ns, "oversized-metadata", ref, func(s *v1alpha1.Auth0UserSpec) {
						s.UserMetadata = map[string]apiextensionsv1.JSON{"blob": jsonValue(strings.Repeat("x", 17<<10))}
					})
				}},
			{name: "unknown-connection", reason: conditions.ReasonAuth0Rejected, message: "connection", perResync: 1,
				object: func(ns string, ref *v1alpha1.TenantReference, _ *emulator.Emulator) client.Object {
					return badUser(ns, "unknown-connection", ref, func(s *v1alpha1.Auth0UserSpec) { s.Connection = "no-such-connection" })
				}},
			{name: "weak-password", reason: conditions.ReasonAuth0Rejected, message: "PasswordStrengthError", perResync: 1,
				object: func(ns string, ref *v1alpha1.TenantReference, _ *emulator.Emulator) client.Object {
					return badUser(ns, "weak-password", ref, func(s *v1alpha1.Auth0UserSpec) { s.PasswordSecretRef.Name = "weak-pw" })
				}},
			{name: "email-owned-by-another-object", reason: conditions.ReasonOwnedElsewhere, message: "is managed by envtest/other-ns/owner", perResync: 2,
				object: func(ns string, ref *v1alpha1.TenantReference, emu *emulator.Emulator) client.Object {
					_, err := emu.CreateUser(emulator.SeedUser{Email: "taken@bad.example", Password: testPassword,
						AppMetadata: map[string]any{"usersync_owner": "envtest/other-ns/owner"}})
					Expect(err).NotTo(HaveOccurred())
					return badUser(ns, "email-owned-by-another-object", ref, func(s *v1alpha1.Auth0UserSpec) { s.Email = "taken@bad.example" })
				}},
			{name: "unknown-role-api-and-scope", reason: conditions.ReasonUnresolved, perResync: 4,
				message: `not found in Auth0: role "no-such-role", permission "read:reports" of API https://no-such-api.example, permission "delete:everything" of API https://api.example.com;`,
				object: func(ns string, ref *v1alpha1.TenantReference, emu *emulator.Emulator) client.Object {
					uid, err := emu.CreateUser(emulator.SeedUser{Email: "subject@bad.example", Password: testPassword})
					Expect(err).NotTo(HaveOccurred())
					b := newBinding(ns, "unknown-role-api-and-scope", byName("no-such-role"), v1alpha1.Subject{UserID: uid})
					b.Spec.TenantRef = ref
					b.Spec.Permissions = []v1alpha1.PermissionReference{
						{ResourceServerIdentifier: "https://no-such-api.example", Name: "read:reports"},
						{ResourceServerIdentifier: reportsAPI, Name: "delete:everything"},
					}
					return b
				}},
			{name: "ambiguous-email-subject", reason: conditions.ReasonUnresolved, message: "email:twice@bad.example", perResync: 3,
				object: func(ns string, ref *v1alpha1.TenantReference, emu *emulator.Emulator) client.Object {
					for _, conn := range []string{"Username-Password-Authentication", "google-oauth2"} {
						_, err := emu.CreateUser(emulator.SeedUser{Email: "twice@bad.example", Connection: conn, Password: testPassword})
						Expect(err).NotTo(HaveOccurred())
					}
					b := newBinding(ns, "ambiguous-email-subject", byName("viewer"), v1alpha1.Subject{Email: "twice@bad.example"})
					b.Spec.TenantRef = ref
					return b
				}},
			{name: "tenant-secret-missing-keys", reason: conditions.ReasonTenantUnavailable, message: "lacks the keys [clientID clientSecret]",
				tenantSecret: map[string]string{"domain": "set-below"},
				object: func(ns string, ref *v1alpha1.TenantReference, _ *emulator.Emulator) client.Object {
					return badUser(ns, "tenant-secret-missing-keys", ref, func(*v1alpha1.Auth0UserSpec) {})
				}},
			{name: "wrong-credentials", reason: conditions.ReasonAuth0Rejected, message: "access_denied", perResync: 1,
				tenantSecret: map[string]string{"domain": "set-below", "clientID": testClientID, "clientSecret": "wrong-secret-value"},
				object: func(ns string, ref *v1alpha1.TenantReference, _ *emulator.Emulator) client.Object {
					return badUser(ns, "wrong-credentials", ref, func(*v1alpha1.Auth0UserSpec) {})
				}},
		}

		By("creating every bad object, each against a tenant of its own, and good neighbours on the shared tenant")
		for _, c := range cases {
			var err error
			c.emu, err = emulator.New(emulator.Config{Clients: map[string]emulator.Client{testClientID: {Secret: testClientSecret}}})
			Expect(err).NotTo(HaveOccurred())
			url, err := c.emu.Start("127.0.0.1:0")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(c.emu.Close)
			Expect(c.emu.Seed(seed())).To(Succeed())
			data := map[string]string{"domain": url, "clientID": testClientID, "clientSecret": testClientSecret}
			if c.tenantSecret != nil {
				data = c.tenantSecret
				data["domain"] = url
			}
			Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenant-" + c.name}, StringData: data})).To(Succeed())
			c.obj = c.object(ns, &v1alpha1.TenantReference{SecretName: "tenant-" + c.name}, c.emu)
			c.usersBefore = len(c.emu.Users())
			err = k8s.Create(ctx, c.obj)
			if c.rejected != "" {
				Expect(err).To(MatchError(ContainSubstring(c.rejected)), c.name)
				continue
			}
			Expect(err).NotTo(HaveOccurred(), c.name)
		}
		neighbour := badUser(ns, "good-neighbour", nil, func(s *v1alpha1.Auth0UserSpec) { s.Email = "neighbour@" + ns + ".example" })
		Expect(k8s.Create(ctx, neighbour)).To(Succeed())
		neighbourBinding := newBinding(ns, "good-neighbour", byName("viewer"), v1alpha1.Subject{UserRef: "good-neighbour"})
		Expect(k8s.Create(ctx, neighbourBinding)).To(Succeed())

		By("waiting for each to stall with its reason and message")
		for _, c := range cases {
			if c.rejected != "" {
				continue
			}
			Eventually(func(g Gomega) {
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(c.obj), c.obj)).To(Succeed())
				st := condition(statusConditions(c.obj), v1alpha1.ConditionStalled)
				g.Expect(st).NotTo(BeNil(), c.name)
				g.Expect(st.Reason).To(Equal(c.reason), c.name+": "+st.Message)
				g.Expect(st.Message).To(ContainSubstring(c.message), c.name)
				g.Expect(condition(statusConditions(c.obj), v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionFalse))
			}).Should(Succeed())
			c.untilStall = len(c.emu.Requests())
		}
		uid := readyUser(neighbour).Status.UserID
		readyBinding(neighbourBinding)
		Expect(roleNames(uid)).To(ConsistOf("viewer"))

		By("counting their calls over three resyncs: at most one retry each per resync")
		for _, c := range cases {
			c.windowStart = len(c.emu.Requests())
		}
		const resyncs = 3
		Consistently(func() bool { return true }, resyncs*resync).Should(BeTrue())
		var report []string
		for _, c := range cases {
			later := len(c.emu.Requests()) - c.windowStart
			report = append(report, fmt.Sprintf("%-30s %-28s calls until stalled: %d, over the next %d resyncs: %d",
				c.name, orRejected(c), c.untilStall, resyncs, later))
			// The jittered resync may fit one more retry into the window.
			Expect(later).To(BeNumerically("<=", (resyncs+1)*c.perResync), c.name+" retries too often: "+strings.Join(c.emu.Requests(), ", "))
			Expect(c.emu.Users()).To(HaveLen(c.usersBefore), c.name+" changed the users of its tenant")
		}
		AddReportEntry("bad input", strings.Join(report, "\n"))
		Expect(logSink.String()).NotTo(ContainSubstring("wrong-secret-value"))
	})
})

func orRejected(c *badInput) string {
	if c.rejected != "" {
		return "rejected by the API server"
	}
	return "Stalled/" + c.reason
}

func statusConditions(obj client.Object) []metav1.Condition {
	conds, _ := statusOf(obj)
	return conds
}
