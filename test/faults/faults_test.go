// Package faults runs a mixed workload against the real manager, a real kube-apiserver (envtest)
// and the Auth0 emulator while injecting what production throws at an operator: 429 storms,
// 5xx answers, latency, responses lost after the write committed, a manager restart in the middle
// of its reconciles and a cut of its connections to the kube-apiserver. It then checks that
// every object converged and that the tenant holds exactly what was declared, nothing more.
package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/manager"
	"github.com/usersync/auth0-operator/internal/testenv"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

const (
	clientID     = "fault-suite"
	clientSecret = "fault-suite-client-secret-9f2c"
	systemNS     = "auth0-operator-system"
	reportsAPI   = "https://api.example.com"

	namespaces     = 4
	usersPerNS     = 50
	bindingsPerNS  = 4 // each binds 10 users; users 40-49 of a namespace are bound by none
	adoptedPerNS   = 10
	deletedFrom    = 45 // users 45-49 of each namespace are deleted during the faults
	changedFrom    = 20 // users 20-29 get a spec change during the faults
	changedTo      = 30
	releasedBefore = 25 // users 20-24 also drop an app_metadata key, which must be released
)

func password(ns string) string { return "Fault-Passw0rd-" + ns + "-7Q" }

func email(ns string, i int) string { return fmt.Sprintf("user-%02d@%s.faults.example", i, ns) }

func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite takes a minute or two")
	}
	g := NewWithT(t)
	logs := &testenv.LogBuffer{}
	logf.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	env, cfg, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = env.Stop() }()
	apiURL, err := url.Parse(cfg.Host)
	g.Expect(err).NotTo(HaveOccurred())
	proxy, err := newAPIProxy(apiURL.Host)
	g.Expect(err).NotTo(HaveOccurred())
	defer proxy.Close()
	managerCfg := rest.CopyConfig(cfg)
	managerCfg.Host = "https://" + proxy.Addr()

	k8s, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())

	tenant, err := emulator.New(emulator.Config{
		Clients:   map[string]emulator.Client{clientID: {Secret: clientSecret}},
		RateLimit: emulator.RateLimit{PerSecond: 25}, // so that the first pass lasts through every fault
		// The search index lags its writes, as Auth0's does.
		SearchIndexLag: 700 * time.Millisecond,
	})
	g.Expect(err).NotTo(HaveOccurred())
	tenantURL, err := tenant.Start("127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer tenant.Close()
	g.Expect(tenant.Seed(emulator.Seed{
		ResourceServers: []emulator.SeedResourceServer{{Name: "Reports", Identifier: reportsAPI, Scopes: []string{"read:reports", "write:reports"}}},
		Roles:           []emulator.SeedRole{{Name: "viewer"}, {Name: "editor"}, {Name: "admin"}},
	})).To(Succeed())

	w := newWorkload(namespaces, usersPerNS)
	bystanders := w.seedTenant(g, tenant)
	w.createObjects(ctx, g, k8s, tenantURL)
	churn := newNamespaceChurn()
	churn.create(ctx, g, k8s, tenantURL)
	t.Logf("workload: %d Auth0Users (%d adopting an existing user), %d Auth0RoleBindings, in %d namespaces; %d users outside the operator",
		len(w.users), namespaces*adoptedPerNS, len(w.bindings), namespaces, len(bystanders))

	// --- Faults, while the objects are being reconciled for the first time.
	start := time.Now()
	stopFirst := startManager(ctx, t, managerCfg, "faults", 20*time.Second)
	tenant.LoseNextResponses("POST /api/v2/users", 8)
	tenant.LoseNextResponses("PATCH /api/v2/users/{id}", 8)
	tenant.LoseNextResponses("POST /api/v2/roles/{id}/users", 2)
	tenant.LoseNextResponses("POST /api/v2/users/{id}/permissions", 4)
	tenant.SetFaults(emulator.Faults{Latency: 150 * time.Millisecond, ErrorRate: 0.3, ErrorStatus: 503, LostResponseRate: 0.05, Seed: 8})
	time.Sleep(5 * time.Second)

	t.Logf("Auth0 calls so far: %d", len(tenant.Requests()))
	t.Log("restarting the manager in the middle of its reconciles, into a storm of 500s with lost responses answered 504")
	stopFirst()
	tenant.SetFaults(emulator.Faults{Latency: 300 * time.Millisecond, ErrorRate: 0.4, ErrorStatus: 500, LostResponseRate: 0.05, LostAs504: true, Seed: 9})
	stopSecond := startManager(ctx, t, managerCfg, "faults", 20*time.Second)
	defer func() { stopSecond() }()
	time.Sleep(5 * time.Second)

	t.Logf("Auth0 calls so far: %d", len(tenant.Requests()))
	t.Log("429 storm: the tenant's limit drops to 3 requests a second and other clients take half of it; specs change, objects are deleted and the application writes its own metadata keys meanwhile")
	tenant.SetRateLimit(emulator.RateLimit{PerSecond: 3})
	tenant.SetFaults(emulator.Faults{ErrorRate: 0.5, ErrorStatus: 429, Seed: 10})
	w.changeSpecs(ctx, g, k8s)
	w.deleteSome(ctx, g, k8s)
	churn.deleteSecretsFirst(ctx, g, k8s)
	w.applicationWrites(tenant)
	time.Sleep(4 * time.Second)
	tenant.SetRateLimit(emulator.RateLimit{PerSecond: 25})
	tenant.SetFaults(emulator.Faults{})

	t.Logf("Auth0 calls so far: %d", len(tenant.Requests()))
	closed := proxy.Drop(3 * time.Second)
	t.Logf("cut the manager's %d connections to the kube-apiserver and refused new ones for 3s", closed)
	time.Sleep(4 * time.Second)
	faultsOver := time.Now()
	w.applicationWrites(tenant) // users created since the first round get the application's keys too

	// --- Convergence.
	g.Eventually(func() []string { return append(w.notConverged(ctx, k8s), churn.notConverged(ctx, k8s)...) }).
		WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(BeEmpty())
	t.Logf("every object converged %s after the faults stopped (%s after the start)",
		time.Since(faultsOver).Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	t.Logf("apiserver connections refused during the cut: %d", proxy.Refused())
	logFaultCounters(t, tenant)

	t.Log("team-reused: finalizers force-removed, objects deleted, the same names declared again by a new team")
	churn.leakAndReuse(ctx, g, k8s)

	// --- What the tenant holds.
	churn.check(g, tenant)
	w.checkTenant(ctx, g, k8s, tenant, bystanders, len(churn.leaked))
	checkNoSecrets(ctx, g, k8s, logs.String(), append(w.passwords(), clientSecret))
}

// startManager starts the manager of a fault suite, on the default tenant of systemNS, as the
// cluster named clusterName.
func startManager(ctx context.Context, t *testing.T, cfg *rest.Config, clusterName string, resync time.Duration) (stop func()) {
	stop, err := testenv.StartManager(ctx, t, cfg, manager.Options{
		Provider:             auth0.NewProvider(auth0.ProviderOptions{RequestsPerSecond: 50}),
		DefaultTenant:        types.NamespacedName{Namespace: systemNS, Name: "tenant"},
		ClusterName:          clusterName,
		ResyncInterval:       resync,
		ObserveInterval:      resync,
		RequireTenancyPolicy: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return stop
}

func logFaultCounters(t *testing.T, tenant *emulator.Emulator) {
	byStatus := map[int]int64{}
	var total int64
	for _, statuses := range tenant.Counters() {
		for status, n := range statuses {
			byStatus[status] += n
			total += n
		}
	}
	statuses := make([]int, 0, len(byStatus))
	for s := range byStatus {
		statuses = append(statuses, s)
	}
	sort.Ints(statuses)
	var parts []string
	for _, s := range statuses {
		parts = append(parts, fmt.Sprintf("%d: %d", s, byStatus[s]))
	}
	t.Logf("Auth0 calls: %d in all; by status %s", total, strings.Join(parts, ", "))
}

// checkNoSecrets scans every log line, event and status for the client secret and passwords.
func checkNoSecrets(ctx context.Context, g *WithT, k8s client.Client, logs string, secrets []string) {
	var texts []string
	texts = append(texts, logs)
	var events eventsv1.EventList
	g.Expect(k8s.List(ctx, &events)).To(Succeed())
	var coreEvents corev1.EventList
	g.Expect(k8s.List(ctx, &coreEvents)).To(Succeed())
	var users v1alpha1.Auth0UserList
	g.Expect(k8s.List(ctx, &users)).To(Succeed())
	var bindings v1alpha1.Auth0RoleBindingList
	g.Expect(k8s.List(ctx, &bindings)).To(Succeed())
	for _, v := range []any{events, coreEvents} {
		raw, _ := json.Marshal(v)
		texts = append(texts, string(raw))
	}
	for _, u := range users.Items {
		raw, _ := json.Marshal(u.Status)
		texts = append(texts, string(raw))
	}
	for _, b := range bindings.Items {
		raw, _ := json.Marshal(b.Status)
		texts = append(texts, string(raw))
	}
	g.Expect(len(events.Items)+len(coreEvents.Items)).To(BeNumerically(">", 0), "the scan must see events")
	for _, text := range texts {
		for _, s := range secrets {
			g.Expect(text).NotTo(ContainSubstring(s))
		}
	}
}

func jsonOf(v any) apiextensionsv1.JSON {
	raw, _ := json.Marshal(v)
	return apiextensionsv1.JSON{Raw: raw}
}

func ready(conds []metav1.Condition, generation, observed int64) bool {
	c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && observed == generation
}
