// Command bench measures the operator at scale: it starts the local control plane, the emulated
// tenant with a rate limit and the manager (as its own process, so that its memory is its own),
// creates N Auth0User objects and bindings, and prints the time until all are Ready against the
// lower bound (write calls needed / rate limit), the calls by route, the 429 answers, the calls
// of one steady-state resync, and the manager's peak memory.
//
//	go run ./hack/bench --users 1000 --rate 50 --resync 60s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/testenv"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

const (
	ns       = "bench"
	systemNS = "auth0-operator-system"
)

func main() {
	users := flag.Int("users", 1000, "Auth0User objects to create")
	bindings := flag.Int("bindings", 10, "bindings, each granting its own role to an equal share of the users")
	rate := flag.Int("rate", 50, "the tenant's rate limit, requests per second")
	resync := flag.Duration("resync", time.Minute, "the manager's --resync-interval; one steady-state resync is measured over it")
	workers := flag.Int("workers", 16, "the manager's --max-concurrent-reconciles")
	reserve := flag.Float64("reserve", 0.1, "the manager's --auth0-rate-reserve (share of the budget left for other clients)")
	flag.Parse()
	if err := run(*users, *bindings, *rate, *resync, *workers, *reserve); err != nil {
		log.Fatal(err)
	}
}

func run(n, nb, rate int, resync time.Duration, workers int, reserve float64) error {
	ctx := context.Background()
	out, err := exec.Command("go", "build", "-o", "bin/manager", "./cmd/manager").CombinedOutput()
	if err != nil {
		return fmt.Errorf("cannot build the manager: %v: %s", err, out)
	}
	env, cfg, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	admin, err := env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(os.TempDir(), "auth0-bench-kubeconfig")
	raw, _ := admin.KubeConfig()
	if err := os.WriteFile(kubeconfig, raw, 0o600); err != nil {
		return err
	}

	tenant, err := emulator.New(emulator.Config{
		Clients:   map[string]emulator.Client{"bench": {Secret: "bench-secret"}},
		RateLimit: emulator.RateLimit{PerSecond: rate},
	})
	if err != nil {
		return err
	}
	defer tenant.Close()
	tenantURL, err := tenant.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	seed := emulator.Seed{}
	for i := range nb {
		seed.Roles = append(seed.Roles, emulator.SeedRole{Name: fmt.Sprintf("role-%d", i)})
	}
	if err := tenant.Seed(seed); err != nil {
		return err
	}

	k8s, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return err
	}
	for _, name := range []string{ns, systemNS} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			return err
		}
	}
	// The workload runs under a tenancy policy, so that its evaluation is part of the figures.
	if err := k8s.Create(ctx, &v1alpha1.Auth0TenancyPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: v1alpha1.Auth0TenancyPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			DefaultTenant:     true, Connections: []string{"*"}, Roles: []string{"*"},
		}}); err != nil {
		return err
	}
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: "tenant"},
		StringData: map[string]string{"domain": tenantURL, "clientID": "bench", "clientSecret": "bench-secret"}}); err != nil {
		return err
	}
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "password"},
		StringData: map[string]string{"password": "Bench-Passw0rd!"}}); err != nil {
		return err
	}

	logFile, err := os.Create(filepath.Join(os.TempDir(), "auth0-bench-manager.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	manager := exec.Command("bin/manager",
		"--default-tenant-secret="+systemNS+"/tenant", "--cluster-name=bench",
		"--resync-interval="+resync.String(), "--max-concurrent-reconciles="+strconv.Itoa(workers),
		"--auth0-requests-per-second="+strconv.Itoa(rate), "--auth0-rate-reserve="+strconv.FormatFloat(reserve, 'f', -1, 64),
		"--metrics-bind-address=0", "--health-probe-bind-address=0")
	manager.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	manager.Stdout, manager.Stderr = logFile, logFile
	if err := manager.Start(); err != nil {
		return err
	}
	defer func() { _ = manager.Process.Kill(); _ = manager.Wait() }()

	fmt.Printf("N=%d users, %d bindings, tenant limit %d req/s, reserve %.0f%%, resync %s, %d workers\n", n, nb, rate, 100*reserve, resync, workers)
	tenant.ResetCounters()
	start := time.Now()
	if err := createObjects(ctx, k8s, n, nb); err != nil {
		return err
	}
	created := time.Since(start)
	if err := waitReady(ctx, k8s, n, nb, 30*time.Minute); err != nil {
		return err
	}
	converged := time.Since(start)

	counts := tenant.Counters()
	writes := n // one create per user
	per := (n + nb - 1) / nb
	writes += nb * ((per + 99) / 100) // bulk role assignments, 100 users a call
	bound := time.Duration(float64(writes) / float64(rate) * float64(time.Second))
	total, limited := summarise(counts)
	fmt.Printf("\nall %d objects Ready in %s (objects created in %s)\n", n+nb, converged.Round(10*time.Millisecond), created.Round(10*time.Millisecond))
	fmt.Printf("lower bound: %d write calls / %d req/s = %s; ratio %.2f\n", writes, rate, bound, converged.Seconds()/bound.Seconds())
	fmt.Printf("Management API calls: %d, answered 429: %d (%.2f%%)\n", total, limited, 100*float64(limited)/float64(max(total, 1)))
	printRoutes(counts)

	// One steady-state resync: every object is observed once per interval.
	time.Sleep(5 * time.Second) // let the last Ready transitions settle
	// The API server's writes are watched over the same window: a resync that changes nothing in
	// Auth0 should change nothing in the cluster either (no status churn, no events).
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	watches := make([]*writeWatch, len(watched))
	for i, w := range watched {
		if watches[i], err = startWatch(ctx, dyn, w.label, w.gvr, w.namespace); err != nil {
			return err
		}
	}
	tenant.ResetCounters()
	time.Sleep(resync)
	counts = tenant.Counters()
	for _, w := range watches {
		if err := w.stop(); err != nil {
			return err
		}
	}
	total, limited = summarise(counts)
	fmt.Printf("\none steady-state resync (%s) of %d unchanged users and %d bindings: %d calls, %.3f per user, %d answered 429\n",
		resync, n, nb, total, float64(total)/float64(n), limited)
	fmt.Printf("per-object polling would take %d calls (one read per user), Terraform-style refresh %d (user, roles, permissions): %.0fx and %.0fx more\n",
		n, 3*n, float64(n)/float64(max(total, 1)), float64(3*n)/float64(max(total, 1)))
	printRoutes(counts)
	printWrites(watches)
	fmt.Printf("\nmanager peak memory (VmHWM): %s\n", peakMemory(manager.Process.Pid))
	return nil
}

func createObjects(ctx context.Context, k8s client.Client, n, nb int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n+nb)
	jobs := make(chan client.Object)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for obj := range jobs {
				if err := k8s.Create(ctx, obj); err != nil {
					errs <- err
				}
			}
		}()
	}
	subjects := make([][]v1alpha1.Subject, nb)
	for i := range n {
		name := fmt.Sprintf("user-%05d", i)
		subjects[i%nb] = append(subjects[i%nb], v1alpha1.Subject{UserRef: name})
		jobs <- &v1alpha1.Auth0User{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1alpha1.Auth0UserSpec{
				Connection: "Username-Password-Authentication", Email: name + "@example.com", Name: "Bench " + name,
				PasswordSecretRef: &v1alpha1.SecretKeyReference{Name: "password"},
				UserMetadata:      map[string]apiextensionsv1.JSON{"team": {Raw: []byte(`"bench"`)}},
			},
		}
	}
	for b := range nb {
		jobs <- &v1alpha1.Auth0RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("binding-%d", b)},
			Spec:       v1alpha1.Auth0RoleBindingSpec{Roles: []v1alpha1.RoleReference{{Name: fmt.Sprintf("role-%d", b)}}, Subjects: subjects[b]},
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs
}

func waitReady(ctx context.Context, k8s client.Client, n, nb int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var users v1alpha1.Auth0UserList
		var bindings v1alpha1.Auth0RoleBindingList
		if err := k8s.List(ctx, &users, client.InNamespace(ns)); err != nil {
			return err
		}
		if err := k8s.List(ctx, &bindings, client.InNamespace(ns)); err != nil {
			return err
		}
		ready := 0
		for _, u := range users.Items {
			if meta.IsStatusConditionTrue(u.Status.Conditions, v1alpha1.ConditionReady) {
				ready++
			}
		}
		for _, b := range bindings.Items {
			if meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ConditionReady) && b.Status.SubjectCount == len(b.Spec.Subjects) {
				ready++
			}
		}
		if ready == n+nb {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d objects Ready after %s", ready, n+nb, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// watched are the resources whose writes are counted over the steady-state window, the
// operator's own two kinds first (printWrites relies on it). Events, Secrets and the
// (cluster-scoped) policies are watched in every namespace: envtest runs no other controller
// and the bench writes nothing during the window, so each write is the manager's.
var watched = []struct {
	label, namespace string
	gvr              schema.GroupVersionResource
}{
	{"Auth0User", ns, v1alpha1.GroupVersion.WithResource("auth0users")},
	{"Auth0RoleBinding", ns, v1alpha1.GroupVersion.WithResource("auth0rolebindings")},
	{"Auth0TenancyPolicy", "", v1alpha1.GroupVersion.WithResource("auth0tenancypolicies")},
	{"events", "", schema.GroupVersionResource{Group: "events.k8s.io", Version: "v1", Resource: "events"}},
	{"Secrets", "", corev1.SchemeGroupVersion.WithResource("secrets")},
}

// writeWatch counts the writes to one resource from the resourceVersion of a fresh List on, so
// that only the window's changes are seen. Every watch event is a write that changed the object:
// the API server sends none for a no-op update, which keeps the resourceVersion.
type writeWatch struct {
	label  string
	res    dynamic.ResourceInterface
	last   map[string]*unstructured.Unstructured // each object as last seen, to tell status writes
	rv     string                                // the last resourceVersion seen, to resume from
	status int                                   // updates that changed .status and nothing the user owns
	other  int                                   // every other create, update or delete
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

func startWatch(ctx context.Context, dyn dynamic.Interface, label string, gvr schema.GroupVersionResource, namespace string) (*writeWatch, error) {
	w := &writeWatch{label: label, res: dyn.Resource(gvr).Namespace(namespace), last: map[string]*unstructured.Unstructured{}, done: make(chan struct{})}
	list, err := w.res.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %w", label, err)
	}
	for i := range list.Items {
		w.last[key(&list.Items[i])] = &list.Items[i]
	}
	w.rv = list.GetResourceVersion()
	ctx, w.cancel = context.WithCancel(ctx)
	go w.run(ctx)
	return w, nil
}

func (w *writeWatch) run(ctx context.Context) {
	defer close(w.done)
	// The API server ends a watch after its request timeout (--min-request-timeout, 30 to 60
	// minutes): resume from the last resourceVersion seen, so that no write is missed. Bookmarks
	// keep that version recent; if it has been compacted away regardless, the new watch answers
	// 410 Gone and the bench fails rather than undercount.
	for ctx.Err() == nil {
		wi, err := w.res.Watch(ctx, metav1.ListOptions{ResourceVersion: w.rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() == nil {
				w.err = fmt.Errorf("cannot watch %s from resourceVersion %s: %w", w.label, w.rv, err)
			}
			return
		}
		for ev := range wi.ResultChan() {
			if ev.Type == watch.Error {
				if ctx.Err() != nil {
					return // stop cancelled the watch; client-go reports that as an error event too
				}
				w.err = fmt.Errorf("watch of %s failed: %w", w.label, apierrors.FromObject(ev.Object))
				wi.Stop()
				return
			}
			obj, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			w.rv = obj.GetResourceVersion()
			switch {
			case ev.Type == watch.Bookmark:
				continue
			case ev.Type == watch.Deleted && w.label == "events":
				continue // Events expire by their TTL: the API server's deletion, not the manager's
			case ev.Type == watch.Modified && statusOnly(w.last[key(obj)], obj):
				w.status++
			default:
				w.other++
			}
			w.last[key(obj)] = obj
		}
		wi.Stop()
	}
}

// stop ends the watch at the end of the window; a write made just before it may be delivered a
// few milliseconds late and missed, which is far below the figures' resolution.
func (w *writeWatch) stop() error {
	w.cancel()
	<-w.done
	return w.err
}

func key(obj *unstructured.Unstructured) string { return obj.GetNamespace() + "/" + obj.GetName() }

// statusOnly tells a status write (through the status subresource, or any update that changed
// .status alone) from a write to what the user or the manager's finalizer own.
func statusOnly(before, after *unstructured.Unstructured) bool {
	if before == nil {
		return false
	}
	same := func(fields ...string) bool {
		a, _, _ := unstructured.NestedFieldNoCopy(before.Object, fields...)
		b, _, _ := unstructured.NestedFieldNoCopy(after.Object, fields...)
		return equality.Semantic.DeepEqual(a, b)
	}
	return !same("status") && same("spec") && same("metadata", "finalizers") &&
		same("metadata", "labels") && same("metadata", "annotations")
}

// printWrites prints the status writes and other writes to the operator's own objects, then
// every write watched.
func printWrites(watches []*writeWatch) {
	var status, other, all []string
	var nstatus, nother, nall int
	for _, w := range watches[:2] { // Auth0User, Auth0RoleBinding
		status = append(status, fmt.Sprintf("%s %d", w.label, w.status))
		other = append(other, fmt.Sprintf("%s %d", w.label, w.other))
		nstatus, nother = nstatus+w.status, nother+w.other
	}
	for _, w := range watches {
		all = append(all, fmt.Sprintf("%s %d", w.label, w.status+w.other))
		nall += w.status + w.other
	}
	fmt.Printf("status writes during one steady-state resync: %d (%s)\n", nstatus, strings.Join(status, ", "))
	fmt.Printf("other writes to them (spec, metadata, create, delete): %d (%s)\n", nother, strings.Join(other, ", "))
	fmt.Printf("API server writes of any kind during it: %d (%s)\n", nall, strings.Join(all, ", "))
}

func summarise(counts map[string]map[int]int64) (total, limited int64) {
	for _, byStatus := range counts {
		for status, c := range byStatus {
			total += c
			if status == 429 {
				limited += c
			}
		}
	}
	return total, limited
}

func printRoutes(counts map[string]map[int]int64) {
	routes := make([]string, 0, len(counts))
	for r := range counts {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		var parts []string
		for status, c := range counts[r] {
			parts = append(parts, fmt.Sprintf("%d×%d", c, status))
		}
		sort.Strings(parts)
		fmt.Printf("  %-40s %s\n", r, strings.Join(parts, " "))
	}
}

func peakMemory(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "unknown"
}
