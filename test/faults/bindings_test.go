package faults

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/testenv"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// TestBindingFaults runs overlapping bindings — shared roles and permissions, two namespaces
// (one on the default tenant, one on a Secret of its own naming the same domain), subjects named
// by email and by user id, users that held some of the grants before any binding — through lost
// responses, a manager restart and a 429 storm while bindings are created, edited and deleted.
// Two bindings that cannot act (denied by the policy; a bogus client secret for the same domain)
// name the same users throughout. The final check is the invariant of issue 13: every user holds
// exactly what it held before any binding plus the union of what the live bindings that can act
// grant it, nothing more.
func TestBindingFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the binding fault suite takes a minute")
	}
	g := NewWithT(t)
	logs := &testenv.LogBuffer{}
	logf.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	env, cfg, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = env.Stop() }()
	k8s, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())

	tenant, err := emulator.New(emulator.Config{
		Clients:   map[string]emulator.Client{clientID: {Secret: clientSecret}},
		RateLimit: emulator.RateLimit{PerSecond: 25},
	})
	g.Expect(err).NotTo(HaveOccurred())
	tenantURL, err := tenant.Start("127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer tenant.Close()
	g.Expect(tenant.Seed(emulator.Seed{
		ResourceServers: []emulator.SeedResourceServer{{Name: "Reports", Identifier: reportsAPI, Scopes: []string{"read:reports", "write:reports"}}},
		Roles:           []emulator.SeedRole{{Name: "viewer"}, {Name: "editor"}, {Name: "admin"}},
	})).To(Succeed())

	bw := newBindingWorkload(g, tenant)
	bw.createTenancy(ctx, g, k8s, tenantURL)
	before := bw.holdings(tenant)

	// --- Faults while the bindings are reconciled for the first time.
	stopFirst := startManager(ctx, t, cfg, "binding-faults", bindingResync)
	tenant.LoseNextResponses("POST /api/v2/roles/{id}/users", 3)
	tenant.LoseNextResponses("POST /api/v2/users/{id}/permissions", 6)
	tenant.LoseNextResponses("DELETE /api/v2/users/{id}/roles", 2)
	// Half the writes commit and lose their answer: the grants they made must stay the
	// bindings' own (write ahead), never turn into "external" grants that outlive them.
	tenant.SetFaults(emulator.Faults{Latency: 50 * time.Millisecond, LostResponseRate: 0.5, Seed: 21})
	for _, b := range bw.bindings {
		g.Expect(k8s.Create(ctx, b)).To(Succeed())
	}
	time.Sleep(4 * time.Second)

	t.Log("restarting the manager in the middle of its reconciles; lost responses now answered 504")
	stopFirst()
	tenant.SetFaults(emulator.Faults{Latency: 100 * time.Millisecond, ErrorRate: 0.2, ErrorStatus: 500, LostResponseRate: 0.3, LostAs504: true, Seed: 22})
	stopSecond := startManager(ctx, t, cfg, "binding-faults", bindingResync)
	defer func() { stopSecond() }()
	time.Sleep(3 * time.Second)

	t.Log("editing and deleting overlapping bindings under a 429 storm with lost responses")
	tenant.SetRateLimit(emulator.RateLimit{PerSecond: 4})
	tenant.SetFaults(emulator.Faults{ErrorRate: 0.5, ErrorStatus: 429, LostResponseRate: 0.3, Seed: 23})
	bw.editAndDelete(ctx, g, k8s)
	time.Sleep(6 * time.Second)

	t.Log("restarting the manager again, faults still on")
	stopSecond()
	tenant.SetRateLimit(emulator.RateLimit{PerSecond: 25})
	tenant.SetFaults(emulator.Faults{ErrorRate: 0.2, ErrorStatus: 503, LostResponseRate: 0.3, Seed: 24})
	stopSecond = startManager(ctx, t, cfg, "binding-faults", bindingResync)
	time.Sleep(3 * time.Second)
	tenant.SetFaults(emulator.Faults{})
	faultsOver := time.Now()

	// --- Convergence, then the invariant.
	g.Eventually(func() []string { return bw.notConverged(ctx, k8s) }).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(BeEmpty())
	t.Logf("every binding converged %s after the faults stopped", time.Since(faultsOver).Round(100*time.Millisecond))
	logFaultCounters(t, tenant)
	// One more resync: what a converged binding holds must not move (no late revocation of what
	// another binding still grants, no late grant).
	time.Sleep(bindingResync + time.Second)
	g.Expect(bw.notConverged(ctx, k8s)).To(BeEmpty())
	bw.checkHoldings(g, tenant, before)
	checkNoSecrets(ctx, g, k8s, logs.String(), []string{clientSecret})
}

// bindingResync is short so that several full observations happen during the faults.
const bindingResync = 5 * time.Second

const (
	bindingUsers = 30
	nsDefault    = "grants-a"      // bindings on the default tenant
	nsOwnSecret  = "grants-b"      // bindings on a Secret of their own naming the same domain
	nsDenied     = "grants-denied" // no policy selects it
	nsBogus      = "grants-bogus"  // its Secret names the same domain with a bogus client secret
)

// bindingWorkload is the set of bindings the suite declares, the users they name, and what it
// expects every live binding to grant at the end.
type bindingWorkload struct {
	ids      []string // user ids, by index
	emails   []string
	bindings []*v1alpha1.Auth0RoleBinding
	deleted  map[string]bool // namespace/name
	// stalled are the bindings that cannot act, with the reason they must stall with.
	stalled map[string]string
	roleIDs map[string]string
}

func bindingEmail(i int) string { return fmt.Sprintf("grantee-%02d@bindings.faults.example", i) }

// newBindingWorkload creates the users in the tenant, some of them holding grants before any
// binding (made outside the operator), and declares the bindings.
func newBindingWorkload(g *WithT, tenant *emulator.Emulator) *bindingWorkload {
	bw := &bindingWorkload{deleted: map[string]bool{}, roleIDs: map[string]string{}}
	for _, r := range []string{"viewer", "editor", "admin"} {
		bw.roleIDs[r] = tenant.RoleID(r)
	}
	for i := range bindingUsers {
		id, err := tenant.CreateUser(emulator.SeedUser{Email: bindingEmail(i), Password: "Grantee-Passw0rd-1"})
		g.Expect(err).NotTo(HaveOccurred())
		bw.ids = append(bw.ids, id)
		bw.emails = append(bw.emails, bindingEmail(i))
		switch {
		case i%7 == 0: // a role some bindings grant too
			tenant.GrantRole(id, bw.roleIDs["editor"])
		case i%7 == 3: // a permission some bindings grant too
			tenant.GrantPermission(id, reportsAPI, "read:reports")
		case i%7 == 5: // something no binding grants
			tenant.GrantRole(id, bw.roleIDs["admin"])
		}
	}
	// Overlapping: every user is named by two or three bindings, in both namespaces, by email in
	// one and by id in another; roles and the permissions are shared.
	bw.add(nsDefault, "viewers", []string{"viewer"}, []string{"read:reports"}, byID, 0, 15)
	bw.add(nsDefault, "editors", []string{"editor"}, nil, byEmail, 0, 10)
	bw.add(nsDefault, "admins", []string{"admin"}, nil, byID, 20, 30)
	bw.add(nsOwnSecret, "viewers", []string{"viewer"}, nil, byEmail, 10, 25)
	bw.add(nsOwnSecret, "writers", nil, []string{"read:reports", "write:reports"}, byID, 5, 20)
	bw.add(nsOwnSecret, "mixed", []string{"editor", "viewer"}, []string{"write:reports"}, byEmail, 25, 30)
	bw.add(nsOwnSecret, "mixed-ids", []string{"editor"}, []string{"write:reports"}, byID, 0, 5)
	// Bindings that cannot act: one in a namespace no policy selects, one whose Secret names the
	// same domain with a bogus client secret. They grant nothing and keep nothing alive.
	bw.add(nsDenied, "denied", []string{"admin", "editor"}, []string{"write:reports"}, byID, 0, 10)
	bw.add(nsBogus, "bogus", []string{"viewer"}, []string{"read:reports"}, byEmail, 20, 30)
	bw.stalled = map[string]string{nsDenied + "/denied": "PolicyDenied", nsBogus + "/bogus": "Auth0Rejected"}
	return bw
}

type subjectForm int

const (
	byID subjectForm = iota
	byEmail
)

func (bw *bindingWorkload) add(ns, name string, roles, perms []string, form subjectForm, from, to int) {
	b := &v1alpha1.Auth0RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if ns == nsOwnSecret || ns == nsBogus {
		b.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "tenant"}
	}
	for _, r := range roles {
		b.Spec.Roles = append(b.Spec.Roles, v1alpha1.RoleReference{Name: r})
	}
	for _, p := range perms {
		b.Spec.Permissions = append(b.Spec.Permissions, v1alpha1.PermissionReference{ResourceServerIdentifier: reportsAPI, Name: p})
	}
	b.Spec.Subjects = bw.subjects(form, from, to)
	bw.bindings = append(bw.bindings, b)
}

func (bw *bindingWorkload) subjects(form subjectForm, from, to int) []v1alpha1.Subject {
	var out []v1alpha1.Subject
	for i := from; i < to; i++ {
		if form == byID {
			out = append(out, v1alpha1.Subject{UserID: bw.ids[i]})
		} else {
			out = append(out, v1alpha1.Subject{Email: bw.emails[i]})
		}
	}
	return out
}

func (bw *bindingWorkload) binding(ns, name string) *v1alpha1.Auth0RoleBinding {
	for _, b := range bw.bindings {
		if b.Namespace == ns && b.Name == name {
			return b
		}
	}
	panic("no binding " + ns + "/" + name)
}

func (bw *bindingWorkload) createTenancy(ctx context.Context, g *WithT, k8s client.Client, tenantURL string) {
	secret := func(ns string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenant"},
			StringData: map[string]string{"domain": tenantURL, "clientID": clientID, "clientSecret": clientSecret}}
	}
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNS}})).To(Succeed())
	g.Expect(k8s.Create(ctx, secret(systemNS))).To(Succeed())
	g.Expect(k8s.Create(ctx, &v1alpha1.Auth0TenancyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "grants"},
		Spec: v1alpha1.Auth0TenancyPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"faults.example/grants": "yes"}},
			DefaultTenant:     true,
			Roles:             []string{"viewer", "editor", "admin"},
			Permissions:       []v1alpha1.PermissionRule{{ResourceServerIdentifier: reportsAPI, Scopes: []string{"*"}}},
		},
	})).To(Succeed())
	for _, ns := range []string{nsDefault, nsOwnSecret} {
		g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"faults.example/grants": "yes"}}})).To(Succeed())
	}
	g.Expect(k8s.Create(ctx, secret(nsOwnSecret))).To(Succeed())
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsDenied}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsBogus, Labels: map[string]string{"faults.example/grants": "yes"}}})).To(Succeed())
	bogus := secret(nsBogus)
	bogus.StringData["clientSecret"] = "not-the-client-secret"
	g.Expect(k8s.Create(ctx, bogus)).To(Succeed())
}

// editAndDelete changes overlapping bindings at the same moment: subjects move between
// bindings, a shared role and a shared permission are dropped by one binding of two, and two
// bindings go, one of them holding grants the others share.
func (bw *bindingWorkload) editAndDelete(ctx context.Context, g *WithT, k8s client.Client) {
	edit := func(ns, name string, mutate func(*v1alpha1.Auth0RoleBindingSpec)) {
		b := bw.binding(ns, name)
		mutate(&b.Spec)
		g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := &v1alpha1.Auth0RoleBinding{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(b), cur); err != nil {
				return err
			}
			cur.Spec = *b.Spec.DeepCopy()
			return k8s.Update(ctx, cur)
		})).To(Succeed())
	}
	edit(nsDefault, "viewers", func(s *v1alpha1.Auth0RoleBindingSpec) {
		s.Subjects = bw.subjects(byID, 0, 8) // users 8-14 keep viewer only through grants-b/viewers (10-24)
		s.Roles = append(s.Roles, v1alpha1.RoleReference{Name: "editor"})
	})
	edit(nsOwnSecret, "writers", func(s *v1alpha1.Auth0RoleBindingSpec) {
		s.Permissions = s.Permissions[:1] // write:reports stays only where mixed and mixed-ids grant it
	})
	edit(nsOwnSecret, "viewers", func(s *v1alpha1.Auth0RoleBindingSpec) {
		s.Subjects = append(bw.subjects(byEmail, 12, 20), bw.subjects(byID, 26, 28)...)
	})
	for _, name := range []types.NamespacedName{{Namespace: nsDefault, Name: "editors"}, {Namespace: nsOwnSecret, Name: "mixed"}} {
		g.Expect(k8s.Delete(ctx, bw.binding(name.Namespace, name.Name))).To(Succeed())
		bw.deleted[name.String()] = true
	}
}

// notConverged lists the live bindings not Ready at their generation and the deleted ones still
// present.
func (bw *bindingWorkload) notConverged(ctx context.Context, k8s client.Client) []string {
	var out []string
	for _, b := range bw.bindings {
		key := client.ObjectKeyFromObject(b)
		cur := &v1alpha1.Auth0RoleBinding{}
		err := k8s.Get(ctx, key, cur)
		switch {
		case bw.deleted[key.String()]:
			if !apierrors.IsNotFound(err) {
				out = append(out, "deleted "+key.String())
			}
		case bw.stalled[key.String()] != "":
			st := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionStalled)
			if err != nil || st == nil || st.Reason != bw.stalled[key.String()] {
				out = append(out, "stalled "+key.String())
			}
		case err != nil || !ready(cur.Status.Conditions, cur.Generation, cur.Status.ObservedGeneration):
			out = append(out, "binding "+key.String())
		}
	}
	return out
}

// holdings are the roles and permissions of every user, as sorted strings.
func (bw *bindingWorkload) holdings(tenant *emulator.Emulator) map[string][]string {
	out := map[string][]string{}
	for _, id := range bw.ids {
		var held []string
		for _, r := range tenant.UserRoleIDs(id) {
			held = append(held, "role "+r)
		}
		for _, p := range tenant.UserPermissions(id) {
			held = append(held, "permission "+p)
		}
		sort.Strings(held)
		out[id] = held
	}
	return out
}

// checkHoldings checks the invariant: each user holds exactly what it held before any binding
// plus the union of the live bindings' grants to it.
func (bw *bindingWorkload) checkHoldings(g *WithT, tenant *emulator.Emulator, before map[string][]string) {
	byEmail := map[string]string{}
	for i, e := range bw.emails {
		byEmail[e] = bw.ids[i]
	}
	want := map[string]map[string]bool{}
	for id, held := range before {
		want[id] = map[string]bool{}
		for _, h := range held {
			want[id][h] = true
		}
	}
	for _, b := range bw.bindings {
		if key := client.ObjectKeyFromObject(b).String(); bw.deleted[key] || bw.stalled[key] != "" {
			continue
		}
		for _, s := range b.Spec.Subjects {
			id := s.UserID
			if id == "" {
				id = byEmail[s.Email]
			}
			for _, r := range b.Spec.Roles {
				want[id]["role "+bw.roleIDs[r.Name]] = true
			}
			for _, p := range b.Spec.Permissions {
				want[id]["permission "+p.ResourceServerIdentifier+" "+p.Name] = true
			}
		}
	}
	got := bw.holdings(tenant)
	for _, id := range bw.ids {
		var expected []string
		for h := range want[id] {
			expected = append(expected, h)
		}
		sort.Strings(expected)
		g.Expect(got[id]).To(ConsistOf(expected), "user %s: what it held before (%v) plus the live bindings' grants, nothing more", id, before[id])
	}
}
