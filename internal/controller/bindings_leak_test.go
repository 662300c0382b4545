package controller_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
)

// The specs of issue 13, "bindings never leak access": each one breaks when the case it is
// named after comes back. They read only what Auth0 holds (the emulator), the conditions and
// events kstatus and people read, and the per-subject status.

var readReports = []v1alpha1.PermissionReference{{ResourceServerIdentifier: reportsAPI, Name: "read:reports"}}

// editBinding changes a binding's spec, retrying on conflicts.
func editBinding(obj client.Object, mutate func(*v1alpha1.Auth0RoleBinding)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &v1alpha1.Auth0RoleBinding{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
			return err
		}
		mutate(cur)
		return k8s.Update(ctx, cur)
	})).To(Succeed())
}

// touch changes an annotation of an object: an event for its watchers, no change of spec.
func touch(obj client.Object, n int) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		obj.SetAnnotations(map[string]string{"spec.example/touch": fmt.Sprint(n)})
		return k8s.Update(ctx, obj)
	})).To(Succeed())
}

// stalledReason is the reason of the binding's Stalled condition, or "" when it is not stalled.
func stalledReason(obj client.Object) func() string {
	return func() string {
		got := &v1alpha1.Auth0RoleBinding{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
			return "error: " + err.Error()
		}
		if st := condition(got.Status.Conditions, v1alpha1.ConditionStalled); st != nil && st.Status == metav1.ConditionTrue {
			return st.Reason
		}
		if r := condition(got.Status.Conditions, v1alpha1.ConditionReady); r != nil && r.Status == metav1.ConditionTrue {
			return "Ready"
		}
		return ""
	}
}

// requestsMatching counts the emulator's logged requests after index start with the prefix that
// contain s, raw or escaped (`@` and `|` as the URIs carry them).
func requestsMatching(start int, prefix, s string) int {
	escaped := strings.NewReplacer("@", "%40", "|", "%7C").Replace(s)
	n := 0
	for _, line := range tenant.Requests()[start:] {
		if strings.HasPrefix(line, prefix) && (strings.Contains(line, s) || strings.Contains(line, escaped)) {
			n++
		}
	}
	return n
}

var _ = Describe("Auth0RoleBinding never leaks access", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("case 1: keeps a grant whose answer was lost as its own, and revokes it when deleted", func() {
		id := emuCreateUser("lost-"+ns+"@example.com", nil)
		b := newBinding(ns, "lost", byName("editor"), v1alpha1.Subject{UserID: id})
		b.Spec.Permissions = readReports
		// The writes commit in Auth0 and their answers never arrive.
		tenant.LoseNextResponses("POST /api/v2/roles/{id}/users", 1)
		tenant.LoseNextResponses("POST /api/v2/users/{id}/permissions", 1)
		Expect(k8s.Create(ctx, b)).To(Succeed())

		got := readyBinding(b)
		Expect(got.Status.Subjects).To(HaveLen(1))
		sub := got.Status.Subjects[0]
		Expect(sub.Roles).To(ConsistOf(tenant.RoleID("editor")))
		Expect(sub.Permissions).To(ConsistOf(reportsAPI + " read:reports"))
		Expect(sub.ExternalRoles).To(BeEmpty(), "the binding's own grant, its answer lost, is not external")
		Expect(sub.ExternalPermissions).To(BeEmpty())

		deleteAndWait(b)
		Expect(tenant.UserRoleIDs(id)).To(BeEmpty())
		Expect(tenant.UserPermissions(id)).To(BeEmpty())
	})

	It("case 2: composes overlapping bindings created, edited and deleted at the same moment", func() {
		u1 := emuCreateUser("race-1-"+ns+"@example.com", nil)
		u2 := emuCreateUser("race-2-"+ns+"@example.com", nil)
		otherNs := newNamespace()
		Expect(k8s.Create(ctx, tenantSecret(otherNs, "tenant", testClientID, testClientSecret))).To(Succeed())
		a := newBinding(ns, "a", byName("editor"), v1alpha1.Subject{UserID: u1}, v1alpha1.Subject{Email: "race-2-" + ns + "@example.com"})
		a.Spec.Permissions = readReports
		b := newBinding(otherNs, "b", byName("editor"), v1alpha1.Subject{Email: "race-1-" + ns + "@example.com"}, v1alpha1.Subject{UserID: u2})
		b.Spec.Permissions = readReports
		b.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "tenant"}
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Expect(k8s.Create(ctx, b)).To(Succeed())
		for _, obj := range []client.Object{a, b} {
			for _, sub := range readyBinding(obj).Status.Subjects {
				Expect(sub.ExternalRoles).To(BeEmpty(), "%s: a grant the other binding made is not external", obj.GetName())
				Expect(sub.ExternalPermissions).To(BeEmpty())
			}
		}

		By("dropping u2 from both at the same moment")
		editBinding(a, func(cur *v1alpha1.Auth0RoleBinding) { cur.Spec.Subjects = cur.Spec.Subjects[:1] })
		editBinding(b, func(cur *v1alpha1.Auth0RoleBinding) { cur.Spec.Subjects = cur.Spec.Subjects[:1] })
		Eventually(func() []string { return tenant.UserRoleIDs(u2) }).Should(BeEmpty())
		Eventually(func() []string { return tenant.UserPermissions(u2) }).Should(BeEmpty())
		Expect(tenant.UserRoleIDs(u1)).To(ConsistOf(tenant.RoleID("editor")))

		By("deleting both at the same moment")
		Expect(k8s.Delete(ctx, a)).To(Succeed())
		Expect(k8s.Delete(ctx, b)).To(Succeed())
		Eventually(func() []string { return tenant.UserRoleIDs(u1) }).Should(BeEmpty())
		Eventually(func() []string { return tenant.UserPermissions(u1) }).Should(BeEmpty())
	})

	It("case 3: lets no stalled or denied binding keep another binding's grant alive", func() {
		u := emuCreateUser("held-"+ns+"@example.com", nil)
		v := emuCreateUser("other-"+ns+"@example.com", nil)
		real := newBinding(ns, "real", byName("editor"), v1alpha1.Subject{UserID: u})
		Expect(k8s.Create(ctx, real)).To(Succeed())
		readyBinding(real)

		By("a binding whose Secret names the same domain with a bogus client secret")
		bogusNs := newNamespace()
		Expect(k8s.Create(ctx, tenantSecret(bogusNs, "tenant", testClientID, "not-the-secret"))).To(Succeed())
		bogus := newBinding(bogusNs, "bogus", byName("editor"), v1alpha1.Subject{UserID: u})
		bogus.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "tenant"}
		Expect(k8s.Create(ctx, bogus)).To(Succeed())
		Eventually(stalledReason(bogus)).Should(Equal(conditions.ReasonAuth0Rejected))

		By("a binding the tenancy policy denies")
		deniedNs := restrictedNamespace(nil)
		denied := newBinding(deniedNs, "denied", byName("editor"), v1alpha1.Subject{UserID: u})
		Expect(k8s.Create(ctx, denied)).To(Succeed())
		stalledBinding(denied, conditions.ReasonPolicyDenied)

		By("removing the user from the real binding")
		editBinding(real, func(cur *v1alpha1.Auth0RoleBinding) { cur.Spec.Subjects = []v1alpha1.Subject{{UserID: v}} })
		readyBinding(real)
		Eventually(func() []string { return tenant.UserRoleIDs(u) }).Should(BeEmpty(), "neither a stalled nor a denied binding keeps the role alive")
		Expect(roleNames(v)).To(ConsistOf("editor"))
	})

	It("case 4: moves a grant to the new owner of a reassigned email and revokes it from the old one", func() {
		email := "reassigned-" + ns + "@example.com"
		old := emuCreateUser(email, nil)
		b := newBinding(ns, "by-email", byName("editor"), v1alpha1.Subject{Email: email})
		Expect(k8s.Create(ctx, b)).To(Succeed())
		readyBinding(b)
		Expect(roleNames(old)).To(ConsistOf("editor"))

		emuPatch(old, map[string]any{"email": "previously-" + email})
		newer := emuCreateUser(email, nil)
		Eventually(func() []string { return roleNames(newer) }).WithTimeout(4 * resync).Should(ConsistOf("editor"))
		Eventually(func() []string { return roleNames(old) }).Should(BeEmpty(), "the binding granted it; the old account no longer has the email")
		Eventually(func(g Gomega) {
			got := &v1alpha1.Auth0RoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), got)).To(Succeed())
			g.Expect(got.Status.Subjects).To(ConsistOf(HaveField("UserID", newer)))
		}).Should(Succeed())
	})

	It("case 4: reports a subject whose user was deleted and still grants every other subject", func() {
		a := emuCreateUser("gone-a-"+ns+"@example.com", nil)
		bID := emuCreateUser("gone-b-"+ns+"@example.com", nil)
		c := emuCreateUser("gone-c-"+ns+"@example.com", nil)
		b := newBinding(ns, "deleted-subject", byName("editor"), v1alpha1.Subject{UserID: a}, v1alpha1.Subject{UserID: bID})
		Expect(k8s.Create(ctx, b)).To(Succeed())
		readyBinding(b)

		emuDeleteUser(a)
		editBinding(b, func(cur *v1alpha1.Auth0RoleBinding) {
			cur.Spec.Subjects = append(cur.Spec.Subjects, v1alpha1.Subject{UserID: c})
			cur.Spec.Roles = byName("editor", "viewer")
		})
		got := stalledBinding(b, conditions.ReasonUnresolved)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring("userID:" + a))
		Eventually(func() []string { return roleNames(c) }).Should(ConsistOf("editor", "viewer"))
		Eventually(func() []string { return roleNames(bID) }).Should(ConsistOf("editor", "viewer"))
		Eventually(func(g Gomega) {
			cur := &v1alpha1.Auth0RoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), cur)).To(Succeed())
			g.Expect(cur.Status.Subjects).To(ContainElement(And(HaveField("Subject", "userID:"+a), HaveField("UserID", ""),
				HaveField("Message", "no Auth0 user has this id"))))
			g.Expect(cur.Status.ObservedGeneration).To(Equal(cur.Generation))
		}).Should(Succeed())
	})

	It("case 5: stays Stalled, without flapping, when a subject's user is deleted under Report, and keeps what it grants meanwhile its own", func() {
		u := newUser(ns, "reported", "reported-"+ns+"@example.com")
		u.Spec.DriftPolicy = v1alpha1.DriftPolicyReport
		createUser(u)
		uid := readyUser(u).Status.UserID
		v := emuCreateUser("bystander-"+ns+"@example.com", nil)
		b := newBinding(ns, "report-subject", byName("editor"), v1alpha1.Subject{UserRef: "reported"}, v1alpha1.Subject{UserID: v})
		Expect(k8s.Create(ctx, b)).To(Succeed())
		readyBinding(b)

		emuDeleteUser(uid)
		Eventually(stalledReason(b)).WithTimeout(4 * resync).Should(Equal(conditions.ReasonUnresolved))
		By("granting another role to the other subject meanwhile")
		editBinding(b, func(cur *v1alpha1.Auth0RoleBinding) { cur.Spec.Roles = byName("editor", "viewer") })
		Eventually(func() []string { return roleNames(v) }).Should(ConsistOf("editor", "viewer"))
		Consistently(stalledReason(b), 3*resync, 100*time.Millisecond).Should(Equal(conditions.ReasonUnresolved), "no flapping")
		got := stalledBinding(b, conditions.ReasonUnresolved)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring("userRef:reported"))
		Expect(got.Status.Subjects).To(ContainElement(And(HaveField("UserID", v), HaveField("ExternalRoles", BeEmpty()))))
		unresolvedEvents := 0
		for _, e := range emuEvents(ns, "report-subject") {
			if strings.HasPrefix(e, conditions.ReasonUnresolved+":") {
				unresolvedEvents++
			}
		}
		Expect(unresolvedEvents).To(Equal(1), "one Warning event for the stall, not one per resync")

		deleteAndWait(b)
		Expect(tenant.UserRoleIDs(v)).To(BeEmpty(), "what the binding granted while stalled was its own")
	})

	It("case 6: looks unknown emails up once per resync, not once per pass, and names a few of them in a short message", func() {
		ada := newUser(ns, "ada", "ada-"+ns+"@example.com")
		createUser(ada)
		readyUser(ada)
		subjects := []v1alpha1.Subject{{UserRef: "ada"}}
		for i := range 40 {
			subjects = append(subjects, v1alpha1.Subject{Email: fmt.Sprintf("nobody-with-a-rather-long-address-%02d@%s.example.com", i, ns)})
		}
		b := newBinding(ns, "unknown-emails", byName("viewer"), subjects...)
		Expect(k8s.Create(ctx, b)).To(Succeed())
		got := stalledBinding(b, conditions.ReasonUnresolved)
		msg := condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message
		Expect(len(msg)).To(BeNumerically("<", 1024))
		Expect(msg).To(And(ContainSubstring("(40 unresolved)"), ContainSubstring("and 35 more")))
		Eventually(func() []string { return emuEvents(ns, "unknown-emails") }).Should(ContainElement(And(HavePrefix("Unresolved:"), ContainSubstring("and 35 more"))))

		By("waking the binding ten times within one resync through its Auth0User")
		start := len(tenant.Requests())
		for i := range 10 {
			touch(ada, i)
			time.Sleep(resync / 10)
		}
		time.Sleep(resync / 2)
		lookups := requestsMatching(start, "GET /api/v2/users-by-email", "@"+ns+".example.com")
		GinkgoWriter.Printf("users-by-email calls for 40 unknown emails over %s: %d\n", resync+resync/2, lookups)
		Expect(lookups).To(BeNumerically("<=", 80), "at most one lookup per unknown email per resync (two resyncs may start in the window)")
	})

	It("case 6: reads the direct permissions of its subjects at most once per resync", func() {
		ada := newUser(ns, "ada", "ada-perm-"+ns+"@example.com")
		createUser(ada)
		readyUser(ada)
		subjects := []v1alpha1.Subject{{UserRef: "ada"}}
		var ids []string
		for i := range 30 {
			id := emuCreateUser(fmt.Sprintf("perm-%02d-%s@example.com", i, ns), nil)
			ids = append(ids, id)
			subjects = append(subjects, v1alpha1.Subject{UserID: id})
		}
		b := newBinding(ns, "permissions", nil, subjects...)
		b.Spec.Permissions = readReports
		Expect(k8s.Create(ctx, b)).To(Succeed())
		readyBinding(b)

		// Woken through its Auth0User more than half a resync after each full observation (as
		// the user observer's wake-ups do): such a pass reuses what the last one read. The reads of
		// one subject's permissions are timed by watching the emulator's log.
		first := ids[0]
		var readAt []time.Time
		seen := len(tenant.Requests())
		start := seen
		deadline := time.Now().Add(3 * resync)
		for i := 0; time.Now().Before(deadline); i++ {
			if i%12 == 0 {
				touch(ada, i)
			}
			time.Sleep(resync / 40)
			now := len(tenant.Requests())
			for range requestsMatching(seen, "GET /api/v2/users/", first+"/permissions") {
				readAt = append(readAt, time.Now())
			}
			seen = now
		}
		reads := 0
		for _, id := range ids {
			reads += requestsMatching(start, "GET /api/v2/users/", id+"/permissions")
		}
		GinkgoWriter.Printf("permission reads of 30 subjects over three resyncs, woken every %s: %d; one subject's at %v\n", resync*12/40, reads, readAt)
		Expect(reads).To(BeNumerically("<=", 30*4), "one read per subject per resync (the window may hold four)")
		for i := 1; i < len(readAt); i++ {
			Expect(readAt[i].Sub(readAt[i-1])).To(BeNumerically(">=", resync*9/10), "a subject's permissions are read at most once per resync")
		}
	})

	It("case 7: checks the policy for roles named by name before reading the tenant Secret or calling Auth0", func() {
		ns := restrictedNamespace(nil)
		tenancyPolicy(ns, map[string]string{"kubernetes.io/metadata.name": ns}, v1alpha1.Auth0TenancyPolicySpec{Roles: []string{"viewer"}})
		Expect(k8s.Create(ctx, tenantSecret(ns, "bad-credentials", testClientID, "not-the-secret"))).To(Succeed())
		b := newBinding(ns, "escalate", byName("admin"), v1alpha1.Subject{UserID: "auth0|nobody"})
		b.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "bad-credentials"}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		got := stalledBinding(b, conditions.ReasonPolicyDenied)
		Expect(condition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring(`may not grant role "admin"`))
		Consistently(stalledReason(b), 2*resync, resync/4).Should(Equal(conditions.ReasonPolicyDenied))
	})

	It("case 8: retries a binding stalled on a missing tenant Secret as soon as the Secret is created", func() {
		id := emuCreateUser("late-secret-"+ns+"@example.com", nil)
		b := newBinding(ns, "late-secret", byName("viewer"), v1alpha1.Subject{UserID: id})
		b.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "late-tenant"}
		b.Spec.ResyncInterval = &metav1.Duration{Duration: time.Hour}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		stalledBinding(b, conditions.ReasonTenantUnavailable)

		Expect(k8s.Create(ctx, tenantSecret(ns, "late-tenant", testClientID, testClientSecret))).To(Succeed())
		readyBinding(b)
		Expect(roleNames(id)).To(ConsistOf("viewer"))
	})

	It("case 9: refuses duplicate subjects, roles and permissions, and counts distinct users and roles", func() {
		id := emuCreateUser("dup-"+ns+"@example.com", nil)
		// A subject named twice is the operator's to refuse: the list must stay atomic for
		// server-side apply, and a schema rule comparing every pair of a thousand subjects would
		// exceed CEL's cost limit. It stalls before anything is granted.
		dupSubjects := newBinding(ns, "dup-subjects", byName("viewer"), v1alpha1.Subject{UserID: id}, v1alpha1.Subject{Email: "x@example.com"}, v1alpha1.Subject{UserID: id})
		Expect(k8s.Create(ctx, dupSubjects)).To(Succeed())
		st := condition(stalledBinding(dupSubjects, conditions.ReasonInvalidSpec).Status.Conditions, v1alpha1.ConditionStalled)
		Expect(st.Message).To(ContainSubstring("spec.subjects: userID:" + id + " is named more than once"))
		Expect(roleNames(id)).To(BeEmpty())
		dupEmails := newBinding(ns, "dup-emails", byName("viewer"), v1alpha1.Subject{Email: "x@example.com", Connection: "google-oauth2"}, v1alpha1.Subject{Email: "x@example.com"})
		Expect(k8s.Create(ctx, dupEmails)).To(Succeed())
		st = condition(stalledBinding(dupEmails, conditions.ReasonInvalidSpec).Status.Conditions, v1alpha1.ConditionStalled)
		Expect(st.Message).To(ContainSubstring("spec.subjects: email:x@example.com is named more than once"))
		// The most subjects the schema allows are accepted, by server-side apply as GitOps tools
		// use it too.
		most := make([]v1alpha1.Subject, 1000)
		for i := range most {
			most[i] = v1alpha1.Subject{UserRef: fmt.Sprintf("member-%04d", i)}
		}
		largest := newBinding(ns, "largest", byName("viewer"), most...)
		largest.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Auth0RoleBinding"))
		Expect(k8s.Patch(ctx, largest, client.Apply, client.FieldOwner("gitops"), client.DryRunAll)).To(Succeed())
		Expect(k8s.Create(ctx, largest.DeepCopy(), client.DryRunAll)).To(Succeed())
		dupRoles := newBinding(ns, "dup-roles", byName("viewer", "viewer"), v1alpha1.Subject{UserID: id})
		Expect(k8s.Create(ctx, dupRoles)).To(MatchError(ContainSubstring("each role is named once")))
		dupPerms := newBinding(ns, "dup-perms", nil, v1alpha1.Subject{UserID: id})
		dupPerms.Spec.Permissions = append(append([]v1alpha1.PermissionReference{}, readReports...), readReports...)
		Expect(k8s.Create(ctx, dupPerms)).To(MatchError(ContainSubstring("Duplicate value")))

		// The same user three ways, the same role two ways: one subject, one role.
		same := newBinding(ns, "same", []v1alpha1.RoleReference{{Name: "viewer"}, {ID: tenant.RoleID("viewer")}},
			v1alpha1.Subject{UserID: id}, v1alpha1.Subject{Email: "dup-" + ns + "@example.com"}, v1alpha1.Subject{Email: "DUP-" + ns + "@example.com"})
		Expect(k8s.Create(ctx, same)).To(Succeed())
		got := readyBinding(same)
		Expect(got.Status.SubjectCount).To(Equal(1))
		Expect(got.Status.RoleCount).To(Equal(1))
		Expect(roleNames(id)).To(ConsistOf("viewer"))
	})

	It("case 10: reports a userRef naming no Auth0User by name, with observedGeneration set", func() {
		v := emuCreateUser("present-"+ns+"@example.com", nil)
		b := newBinding(ns, "ghost-ref", byName("viewer"), v1alpha1.Subject{UserRef: "ghost"}, v1alpha1.Subject{UserID: v})
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &v1alpha1.Auth0RoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), got)).To(Succeed())
			st := condition(got.Status.Conditions, v1alpha1.ConditionStalled)
			g.Expect(st).NotTo(BeNil())
			g.Expect(st.Reason).To(Equal(conditions.ReasonUnresolved))
			g.Expect(st.Message).To(ContainSubstring("userRef:ghost"))
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(got.Status.Subjects).To(ContainElement(HaveField("Message", "Auth0User ghost not found")))
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(roleNames(v)).To(ConsistOf("viewer"), "the other subject is granted meanwhile")
		expectHealth(b, "Auth0RoleBinding", "Degraded", status.FailedStatus)

		By("creating the Auth0User")
		ghost := newUser(ns, "ghost", "ghost-"+ns+"@example.com")
		createUser(ghost)
		gid := readyUser(ghost).Status.UserID
		readyBinding(b)
		Expect(roleNames(gid)).To(ConsistOf("viewer"))
	})
})
