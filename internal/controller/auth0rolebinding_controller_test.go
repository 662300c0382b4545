package controller_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

const reportsAPI = "https://api.example.com"

func newBinding(ns, name string, roles []v1alpha1.RoleReference, subjects ...v1alpha1.Subject) *v1alpha1.Auth0RoleBinding {
	return &v1alpha1.Auth0RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.Auth0RoleBindingSpec{Roles: roles, Subjects: subjects},
	}
}

func byName(names ...string) []v1alpha1.RoleReference {
	var out []v1alpha1.RoleReference
	for _, n := range names {
		out = append(out, v1alpha1.RoleReference{Name: n})
	}
	return out
}

func deleteAndWait(obj client.Object) {
	ExpectWithOffset(1, k8s.Delete(ctx, obj)).To(Succeed())
	EventuallyWithOffset(1, func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj))
	}).Should(BeTrue())
}

func roleNames(userID string) []string {
	var names []string
	for _, id := range tenant.UserRoleIDs(userID) {
		for _, n := range []string{"admin", "viewer", "editor"} {
			if tenant.RoleID(n) == id {
				names = append(names, n)
			}
		}
	}
	return names
}

var _ = Describe("Auth0RoleBinding", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("grants roles by name and by id, and API permissions, to users named every way", func() {
		u := newUser(ns, "ada", "ada@example.com")
		createUser(u)
		adaID := readyUser(u).Status.UserID
		byID := emuCreateUser("grace.h@example.com", nil)
		byEmail := emuCreateUser("linus@example.com", nil)

		b := newBinding(ns, "team", []v1alpha1.RoleReference{{Name: "viewer"}, {ID: tenant.RoleID("editor")}},
			v1alpha1.Subject{UserRef: "ada"}, v1alpha1.Subject{UserID: byID}, v1alpha1.Subject{Email: "linus@example.com"})
		b.Spec.Permissions = []v1alpha1.PermissionReference{{ResourceServerIdentifier: reportsAPI, Name: "write:reports"}}
		Expect(k8s.Create(ctx, b)).To(Succeed())

		got := readyBinding(b)
		Expect(got.Status.SubjectCount).To(Equal(3))
		Expect(got.Status.RoleCount).To(Equal(2))
		for _, id := range []string{adaID, byID, byEmail} {
			Expect(roleNames(id)).To(ConsistOf("viewer", "editor"), id)
			Expect(tenant.UserPermissions(id)).To(Equal([]string{reportsAPI + " write:reports"}), id)
		}
		Expect(got.Status.Subjects).To(HaveLen(3))
		Expect(got.Status.Subjects[0].UserID).To(Equal(adaID))
		Expect(got.Status.Subjects[0].Permissions).To(Equal([]string{reportsAPI + " write:reports"}))
	})

	It("composes: a role two bindings grant stays until both are gone", func() {
		id := emuCreateUser("shared@example.com", nil)
		first := newBinding(ns, "first", byName("admin"), v1alpha1.Subject{UserID: id})
		second := newBinding(ns, "second", byName("admin", "viewer"), v1alpha1.Subject{UserID: id})
		Expect(k8s.Create(ctx, first)).To(Succeed())
		Expect(k8s.Create(ctx, second)).To(Succeed())
		readyBinding(first)
		readyBinding(second)
		Expect(roleNames(id)).To(ConsistOf("admin", "viewer"))

		deleteAndWait(second)
		Expect(roleNames(id)).To(ConsistOf("admin"), "viewer was second's alone; admin is still first's")
		Consistently(func() []string { return roleNames(id) }, 2*resync, resync/2).Should(ConsistOf("admin"))

		deleteAndWait(first)
		Expect(roleNames(id)).To(BeEmpty())
	})

	It("composes across namespaces and tenant Secrets of the same domain when bindings drop the role from their spec", func() {
		id := emuCreateUser("crossns@example.com", nil)
		here := newBinding(ns, "here", byName("editor"), v1alpha1.Subject{UserID: id})
		otherNs := newNamespace()
		// The default tenant here, a Secret of its own there: the same tenant domain.
		Expect(k8s.Create(ctx, tenantSecret(otherNs, "tenant", testClientID, testClientSecret))).To(Succeed())
		there := newBinding(otherNs, "there", byName("editor"), v1alpha1.Subject{UserID: id})
		there.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "tenant"}
		Expect(k8s.Create(ctx, here)).To(Succeed())
		Expect(k8s.Create(ctx, there)).To(Succeed())
		readyBinding(here)
		readyBinding(there)

		setRoles := func(obj client.Object, roles []v1alpha1.RoleReference) {
			Eventually(func(g Gomega) {
				cur := &v1alpha1.Auth0RoleBinding{}
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), cur)).To(Succeed())
				cur.Spec.Roles = roles
				g.Expect(k8s.Update(ctx, cur)).To(Succeed())
			}).Should(Succeed())
			readyBinding(obj)
		}
		setRoles(here, byName("viewer"))
		Expect(roleNames(id)).To(ConsistOf("editor", "viewer"), "editor is still there's")
		Consistently(func() []string { return roleNames(id) }, 2*resync, resync/2).Should(ConsistOf("editor", "viewer"))

		setRoles(there, byName("viewer"))
		Expect(roleNames(id)).To(ConsistOf("viewer"), "no binding grants editor any more")
	})

	It("keeps a role the user held before the binding granted it too", func() {
		id := emuCreateUser("before@example.com", nil)
		tenant.GrantRole(id, tenant.RoleID("editor"))
		b := newBinding(ns, "before", byName("editor", "viewer"), v1alpha1.Subject{UserID: id})
		Expect(k8s.Create(ctx, b)).To(Succeed())
		got := readyBinding(b)
		Expect(got.Status.Subjects).To(HaveLen(1))
		Expect(got.Status.Subjects[0].Roles).To(ConsistOf(tenant.RoleID("viewer")))
		Expect(got.Status.Subjects[0].ExternalRoles).To(ConsistOf(tenant.RoleID("editor")))
		Expect(roleNames(id)).To(ConsistOf("editor", "viewer"))

		deleteAndWait(b)
		Expect(roleNames(id)).To(ConsistOf("editor"), "editor was granted outside the operator")
	})

	It("never removes grants made outside the operator", func() {
		id := emuCreateUser("manual@example.com", nil)
		tenant.GrantRole(id, tenant.RoleID("admin"))
		tenant.GrantPermission(id, reportsAPI, "read:reports")
		b := newBinding(ns, "viewer", byName("viewer"), v1alpha1.Subject{UserID: id})
		b.Spec.Permissions = []v1alpha1.PermissionReference{{ResourceServerIdentifier: reportsAPI, Name: "write:reports"}}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		readyBinding(b)
		Expect(roleNames(id)).To(ConsistOf("admin", "viewer"))

		deleteAndWait(b)
		Expect(roleNames(id)).To(ConsistOf("admin"))
		Expect(tenant.UserPermissions(id)).To(Equal([]string{reportsAPI + " read:reports"}))
	})

	It("names an unknown role, API or permission in a condition and applies the rest", func() {
		id := emuCreateUser("partial@example.com", nil)
		b := newBinding(ns, "partial", byName("viewer", "no-such-role"), v1alpha1.Subject{UserID: id})
		b.Spec.Permissions = []v1alpha1.PermissionReference{
			{ResourceServerIdentifier: reportsAPI, Name: "delete:everything"},
			{ResourceServerIdentifier: "https://unknown.example.com", Name: "read:x"},
			{ResourceServerIdentifier: reportsAPI, Name: "read:reports"},
		}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &v1alpha1.Auth0RoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), got)).To(Succeed())
			st := condition(got.Status.Conditions, v1alpha1.ConditionStalled)
			g.Expect(st).NotTo(BeNil())
			g.Expect(st.Reason).To(Equal(conditions.ReasonUnresolved))
			g.Expect(st.Message).To(And(ContainSubstring(`role "no-such-role"`), ContainSubstring("delete:everything"), ContainSubstring("https://unknown.example.com")))
		}).Should(Succeed())
		Eventually(func() []string { return roleNames(id) }).Should(ConsistOf("viewer"))
		Expect(tenant.UserPermissions(id)).To(Equal([]string{reportsAPI + " read:reports"}))
	})

	It("reports a role deleted in Auth0 after it was bound as unresolved and keeps the rest", func() {
		id := emuCreateUser("gone@example.com", nil)
		Expect(tenant.Seed(emulator.Seed{Roles: []emulator.SeedRole{{Name: "short-lived"}}})).To(Succeed())
		b := newBinding(ns, "gone", byName("short-lived", "viewer"), v1alpha1.Subject{UserID: id})
		Expect(k8s.Create(ctx, b)).To(Succeed())
		readyBinding(b)
		Expect(roleNames(id)).To(ConsistOf("viewer"))
		Expect(tenant.UserRoleIDs(id)).To(ContainElement(tenant.RoleID("short-lived")))

		rbDeleteRole(tenant.RoleID("short-lived"))
		Eventually(func(g Gomega) {
			got := &v1alpha1.Auth0RoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), got)).To(Succeed())
			st := condition(got.Status.Conditions, v1alpha1.ConditionStalled)
			g.Expect(st).NotTo(BeNil())
			g.Expect(st.Reason).To(Equal(conditions.ReasonUnresolved))
			g.Expect(st.Message).To(ContainSubstring(`role "short-lived"`))
			g.Expect(got.Status.Subjects).To(HaveLen(1))
			g.Expect(got.Status.Subjects[0].Roles).To(ConsistOf(tenant.RoleID("viewer")))
		}).WithTimeout(4 * resync).Should(Succeed())
		Expect(roleNames(id)).To(ConsistOf("viewer"))
	})

	It("reports a grant removed out of band within one resync and restores it", func() {
		id := emuCreateUser("drift@example.com", nil)
		b := newBinding(ns, "drift", byName("admin"), v1alpha1.Subject{UserID: id})
		Expect(k8s.Create(ctx, b)).To(Succeed())
		readyBinding(b)

		tenant.RevokeRole(id, tenant.RoleID("admin"))
		Eventually(func(g Gomega) {
			got := &v1alpha1.Auth0RoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), got)).To(Succeed())
			g.Expect(got.Status.Drift).To(ContainElement(HaveField("Field", fmt.Sprintf("subjects[%s].roles.%s", id, tenant.RoleID("admin")))))
		}).WithTimeout(4 * resync).Should(Succeed())
		Eventually(func() []string { return roleNames(id) }).Should(ConsistOf("admin"))
		Expect(emuEvents(ns, "drift")).To(ContainElement(ContainSubstring("grants removed in Auth0")))
	})

	It("only reports a grant removed out of band under policy Report", func() {
		id := emuCreateUser("report@example.com", nil)
		b := newBinding(ns, "report", byName("viewer"), v1alpha1.Subject{UserID: id})
		b.Spec.DriftPolicy = v1alpha1.DriftPolicyReport
		Expect(k8s.Create(ctx, b)).To(Succeed())
		readyBinding(b)
		tenant.RevokeRole(id, tenant.RoleID("viewer"))
		Eventually(func(g Gomega) {
			got := &v1alpha1.Auth0RoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), got)).To(Succeed())
			g.Expect(got.Status.DriftCount).To(Equal(1))
		}).WithTimeout(4 * resync).Should(Succeed())
		Consistently(func() []string { return roleNames(id) }, 2*resync, resync/2).Should(BeEmpty())
	})

	It("converges as soon as a subject created after it is ready, without waiting for a resync", func() {
		b := newBinding(ns, "early", byName("editor"), v1alpha1.Subject{UserRef: "late"})
		b.Spec.ResyncInterval = &metav1.Duration{Duration: time.Hour}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &v1alpha1.Auth0RoleBinding{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), got)).To(Succeed())
			r := condition(got.Status.Conditions, v1alpha1.ConditionReconciling)
			g.Expect(r).NotTo(BeNil())
			g.Expect(r.Reason).To(Equal(conditions.ReasonSubjectsPending))
		}).Should(Succeed())

		u := newUser(ns, "late", "late@example.com")
		createUser(u)
		id := readyUser(u).Status.UserID
		readyBinding(b)
		Expect(roleNames(id)).To(ConsistOf("editor"))
	})

	It("records as external a role a late subject held before, and keeps it when the binding goes", func() {
		first := newUser(ns, "first", "first@example.com")
		createUser(first)
		firstID := readyUser(first).Status.UserID
		b := newBinding(ns, "late-external", byName("editor"), v1alpha1.Subject{UserRef: "first"}, v1alpha1.Subject{UserRef: "adopted-late"})
		b.Spec.ResyncInterval = &metav1.Duration{Duration: time.Hour}
		Expect(k8s.Create(ctx, b)).To(Succeed())
		Eventually(func() []string { return roleNames(firstID) }).Should(ConsistOf("editor"))

		// A user who already holds the role outside the operator becomes the second subject
		// shortly after the binding observed its roles.
		id := emuCreateUser("adopted-late@example.com", nil)
		tenant.GrantRole(id, tenant.RoleID("editor"))
		late := newUser(ns, "adopted-late", "adopted-late@example.com")
		late.Spec.AdoptExisting = true
		createUser(late)
		Expect(readyUser(late).Status.UserID).To(Equal(id))
		got := readyBinding(b)
		Expect(got.Status.Subjects).To(ContainElement(And(HaveField("UserID", id), HaveField("ExternalRoles", ConsistOf(tenant.RoleID("editor"))))))

		deleteAndWait(b)
		Expect(roleNames(id)).To(ConsistOf("editor"), "editor was granted outside the operator before the binding named this user")
		Expect(roleNames(firstID)).To(BeEmpty())
	})

	It("binds one role to 100 users in a few calls and re-observes them in three", func() {
		var subjects []v1alpha1.Subject
		for i := range 100 {
			id, err := tenant.CreateUser(emulator.SeedUser{Email: fmt.Sprintf("bulk-%03d@example.com", i), Password: testPassword})
			Expect(err).NotTo(HaveOccurred())
			subjects = append(subjects, v1alpha1.Subject{UserID: id})
		}
		// A role of its own, so that the calls counted are this binding's alone.
		Expect(tenant.Seed(emulator.Seed{Roles: []emulator.SeedRole{{Name: "bulk-readers"}}})).To(Succeed())
		roleID := tenant.RoleID("bulk-readers")
		b := newBinding(ns, "bulk", byName("bulk-readers"), subjects...)
		b.Spec.ResyncInterval = &metav1.Duration{Duration: 10 * time.Second}
		ids := map[string]bool{}
		for _, s := range subjects {
			ids[s.UserID] = true
		}
		start := len(tenant.Requests())
		Expect(k8s.Create(ctx, b)).To(Succeed())
		got := readyBinding(b)
		initial := callsSince(start, roleID, ids)
		for _, s := range subjects {
			Expect(tenant.UserRoleIDs(s.UserID)).To(ConsistOf(roleID))
		}

		// One steady-state resync: wait until it has read the role's members, then a little more
		// for anything else it would do; it must write nothing, to Auth0 or to the API server.
		start = len(tenant.Requests())
		Eventually(func() int {
			return callsSince(start, roleID, ids).byRoute["GET /api/v2/roles/{id}/users"]
		}).WithTimeout(30 * time.Second).Should(BeNumerically(">=", 1))
		time.Sleep(time.Second)
		after := &v1alpha1.Auth0RoleBinding{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(b), after)).To(Succeed())
		Expect(after.ResourceVersion).To(Equal(got.ResourceVersion), "a resync that changed nothing writes no status")
		resyncCalls := callsSince(start, roleID, ids)
		// GET /api/v2/roles lists the roles of the tenant for name resolution; other specs'
		// bindings naming unknown roles refresh that list too, so it is shown but not asserted.
		GinkgoWriter.Printf("binding 1 role to 100 users: initial %v, one steady-state resync %v (GET /api/v2/roles includes other bindings' refreshes)\n", initial, resyncCalls)
		Expect(initial.total()).To(BeNumerically("<=", 8))
		Expect(initial.byRoute["POST /api/v2/roles/{id}/users"]).To(Equal(1), "one bulk assignment")
		Expect(resyncCalls.byRoute["GET /api/v2/roles/{id}/users"]).To(Equal(1))
		Expect(resyncCalls.byRoute["GET /api/v2/users (search)"]).To(Equal(2), "the subjects are verified with one search per 50 ids")
		for route := range resyncCalls.byRoute {
			Expect(route).NotTo(HavePrefix("GET /api/v2/users/"), "a resync reads no user one by one")
		}
		Expect(resyncCalls.writes).To(BeZero())
	})
})

type routeCalls struct {
	byRoute map[string]int
	writes  int
}

func (c routeCalls) total() int {
	n := 0
	for _, v := range c.byRoute {
		n += v
	}
	return n
}

func (c routeCalls) String() string { return fmt.Sprintf("%d calls %v", c.total(), c.byRoute) }

// callsSince groups by route the Management API calls logged after index start that concern
// one role (its members), the role list, or the given users (searches naming them, reads and
// writes of their roles and permissions). Other specs' objects keep resyncing in the
// background; their calls are about other roles and users and are left out.
func callsSince(start int, roleID string, users map[string]bool) routeCalls {
	c := routeCalls{byRoute: map[string]int{}}
	for _, line := range tenant.Requests()[start:] {
		method, rest, _ := strings.Cut(line, " ")
		uri, _, _ := strings.Cut(rest, " ")
		path, query, _ := strings.Cut(uri, "?")
		query, _ = url.QueryUnescape(query)
		var route string
		switch {
		case path == "/api/v2/roles/"+roleID+"/users":
			route = method + " /api/v2/roles/{id}/users"
		case path == "/api/v2/roles" && method == "GET":
			route = "GET /api/v2/roles"
		case path == "/api/v2/users" && method == "GET" && namesAny(query, users):
			route = "GET /api/v2/users (search)"
		case strings.HasPrefix(path, "/api/v2/users/"):
			rest := strings.TrimPrefix(path, "/api/v2/users/")
			id, sub, _ := strings.Cut(rest, "/")
			if id, _ = url.PathUnescape(id); !users[id] {
				continue
			}
			if sub != "" {
				sub = "/" + sub
			}
			route = method + " /api/v2/users/{id}" + sub
		default:
			continue
		}
		c.byRoute[route]++
		if method != "GET" {
			c.writes++
		}
	}
	return c
}

func namesAny(s string, users map[string]bool) bool {
	for id := range users {
		if strings.Contains(s, id) {
			return true
		}
	}
	return false
}

// rbDeleteRole deletes a role through the emulator's Management API, as an Auth0 admin would.
func rbDeleteRole(roleID string) {
	GinkgoHelper()
	host := strings.TrimPrefix(strings.TrimPrefix(tenantURL, "http://"), "https://")
	body, err := json.Marshal(map[string]string{
		"grant_type": "client_credentials", "client_id": testClientID, "client_secret": testClientSecret,
		"audience": "https://" + host + "/api/v2/",
	})
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.Post(tenantURL+"/oauth/token", "application/json", bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	Expect(json.NewDecoder(resp.Body).Decode(&tok)).To(Succeed())
	req, err := http.NewRequest(http.MethodDelete, tenantURL+"/api/v2/roles/"+url.PathEscape(roleID), nil)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	del, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer del.Body.Close()
	Expect(del.StatusCode).To(BeNumerically("<", 300))
}
