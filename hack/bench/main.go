// Command bench measures the operator at scale: it starts the local control plane, the emulated
// tenant with a rate limit and the manager (as its own process, so that its memory is its own),
// installs config/admission's finalizer policy (as make deploy and the chart do), creates N
// Auth0User objects and bindings (each granting its own role and, with --permissions,
// a direct permission of a seeded API), and prints:
//
//   - convergence: the time until all objects are Ready against the lower bound (write calls
//     needed / rate limit), the calls made in that time against the write calls, by route, and
//     the 429 answers;
//   - the CPU each process used while converging (the API server, etcd, the manager, the bench
//     with the emulator: what bounds convergence on a fast tenant), the manager's and the API
//     server's CPU profiles over the first --cpu-profile-seconds of convergence (top 20 by
//     cumulative time) and the manager's heap right after convergence (in-use total, top 15);
//   - one steady-state resync (a --resync window with nothing changed): the calls of each short
//     interval (--observe-interval) and of the whole window, by route, and the writes it caused
//     to the API server (status patches, events, anything: 0 when nothing changed);
//   - drift latency: the names of --drift-sample users changed in Auth0 at random moments over
//     two short intervals, and the time until the operator has put each back (p50, p95, max,
//     and how many were not corrected), with the calls and the API server writes of that phase;
//   - at the end, the manager's heap (in-use total, top 15, the runtime's figures), its peak
//     memory (VmHWM, which counts the pages of its binary mapped in: some 27 MiB before it holds
//     any object, printed at the start) and the peak of its own, anonymous memory (sampled).
//
// The manager serves pprof on a free local port; profiles are written to $TMPDIR and its log
// to $TMPDIR/auth0-bench-manager.log.
//
//	go run ./hack/bench --users 1000 --rate 50 --resync 60s [--permissions]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/testenv"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

const (
	ns       = "bench"
	systemNS = "auth0-operator-system"
	// benchAPI is the resource server whose scopes the bindings grant with --permissions.
	benchAPI = "https://bench.example.com/api"
)

// options are the bench's flags.
type options struct {
	users, bindings, rate, workers int
	resync, observe, fullSweep     time.Duration
	searchLag                      time.Duration
	memLimit                       string
	reserve                        float64
	permissions                    bool
	cpuProfile                     time.Duration
	timeout                        time.Duration
	driftSample                    int
}

func main() {
	ctrllog.SetLogger(logr.Discard()) // the bench's own informers; the manager logs to its file
	var o options
	flag.IntVar(&o.users, "users", 1000, "Auth0User objects to create")
	flag.IntVar(&o.bindings, "bindings", 10, "bindings, each granting its own role to an equal share of the users")
	flag.IntVar(&o.rate, "rate", 50, "the tenant's rate limit, requests per second")
	flag.DurationVar(&o.resync, "resync", time.Minute, "the manager's --resync-interval; one steady-state resync is measured over it")
	flag.DurationVar(&o.observe, "observe-interval", 30*time.Second, "the manager's --observe-interval (search for managed users changed in Auth0); the steady-state window is sampled at it")
	flag.DurationVar(&o.fullSweep, "full-sweep-interval", time.Hour, "the manager's --full-sweep-interval (full read of every managed user)")
	flag.DurationVar(&o.searchLag, "search-lag", time.Second, "how far the emulated tenant's search index lags its writes, as Auth0's does")
	flag.StringVar(&o.memLimit, "gomemlimit", "", "the manager's GOMEMLIMIT (e.g. 100MiB), as a pod's memory limit would set it; empty: none")
	flag.IntVar(&o.workers, "workers", 16, "the manager's --max-concurrent-reconciles")
	flag.Float64Var(&o.reserve, "reserve", 0.1, "the manager's --auth0-rate-reserve (share of the budget left for other clients)")
	flag.BoolVar(&o.permissions, "permissions", false, "seed an API with a scope per binding, and have each binding also grant its scope directly")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "how long to wait for every object to be Ready before giving up (the figures so far are printed)")
	cpuSeconds := flag.Int("cpu-profile-seconds", 30, "seconds of the manager's CPU profile, from the start of the objects' creation; 0: none")
	flag.IntVar(&o.driftSample, "drift-sample", 20, "users whose name is changed in Auth0 to measure the drift correction latency; 0: none")
	flag.Parse()
	o.cpuProfile = time.Duration(*cpuSeconds) * time.Second
	if o.observe <= 0 || o.bindings <= 0 || o.users <= 0 || o.timeout <= 0 {
		log.Fatal("--users, --bindings, --observe-interval and --timeout must be positive")
	}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

func run(o options) error {
	n, nb, rate := o.users, o.bindings, o.rate
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
		Clients:        map[string]emulator.Client{"bench": {Secret: "bench-secret"}},
		RateLimit:      emulator.RateLimit{PerSecond: rate},
		SearchIndexLag: o.searchLag,
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
	if o.permissions {
		api := emulator.SeedResourceServer{Name: "bench", Identifier: benchAPI}
		for i := range nb {
			api.Scopes = append(api.Scopes, scopeOf(i))
		}
		seed.ResourceServers = append(seed.ResourceServers, api)
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
	if err := installFinalizerPolicy(ctx, k8s); err != nil {
		return err
	}
	// The workload runs under a tenancy policy, so that its evaluation is part of the figures.
	policy := &v1alpha1.Auth0TenancyPolicy{ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: v1alpha1.Auth0TenancyPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			DefaultTenant:     true, Connections: []string{"*"}, Roles: []string{"*"},
		}}
	if o.permissions {
		policy.Spec.Permissions = []v1alpha1.PermissionRule{{ResourceServerIdentifier: benchAPI, Scopes: []string{"*"}}}
	}
	if err := k8s.Create(ctx, policy); err != nil {
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
	pprofAddr, err := freeAddress()
	if err != nil {
		return err
	}
	manager := exec.Command("bin/manager",
		"--default-tenant-secret="+systemNS+"/tenant", "--cluster-name=bench",
		"--resync-interval="+o.resync.String(), "--observe-interval="+o.observe.String(),
		"--full-sweep-interval="+o.fullSweep.String(), "--max-concurrent-reconciles="+strconv.Itoa(o.workers),
		"--auth0-requests-per-second="+strconv.Itoa(rate), "--auth0-rate-reserve="+strconv.FormatFloat(o.reserve, 'f', -1, 64),
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--pprof-bind-address="+pprofAddr)
	manager.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if o.memLimit != "" {
		manager.Env = append(manager.Env, "GOMEMLIMIT="+o.memLimit)
	}
	manager.Stdout, manager.Stderr = logFile, logFile
	if err := manager.Start(); err != nil {
		return err
	}
	defer func() { _ = manager.Process.Kill(); _ = manager.Wait() }()
	prof := profiler{addr: pprofAddr, binary: "bin/manager"}
	// The CPU profile must cover convergence from its first object: wait until the manager's
	// pprof endpoint answers (it is served as soon as the manager starts, before its caches sync).
	if err := prof.waitUp(time.Minute); err != nil {
		return err
	}

	perms := ""
	if o.permissions {
		perms = ", a direct permission per binding"
	}
	fmt.Printf("N=%d users, %d bindings%s, tenant limit %d req/s, search index lag %s, GOMEMLIMIT %q, reserve %.0f%%, resync %s, observe %s, full sweep %s, %d Auth0User workers and the default Auth0RoleBinding passes at once\n",
		n, nb, perms, rate, o.searchLag, o.memLimit, 100*o.reserve, o.resync, o.observe, o.fullSweep, o.workers)
	fmt.Printf("manager in memory before any object: %s\n", residentMemory(manager.Process.Pid))
	ready, err := watchReadiness(ctx, cfg)
	if err != nil {
		return err
	}
	defer ready.stop()
	anonPeak := sampleAnonPeak(manager.Process.Pid, 200*time.Millisecond)
	tenant.ResetCounters()
	cpu := prof.startCPU(o.cpuProfile, filepath.Join(os.TempDir(), "auth0-bench-cpu.pprof"))
	apiCPU := apiServerCPU(cfg, o.cpuProfile, filepath.Join(os.TempDir(), "auth0-bench-apiserver-cpu.pprof"))
	cpuBefore := readCPUTimes(manager.Process.Pid)
	stopSampling := make(chan struct{})
	peak := prof.sampleLivePeak(2*time.Second, filepath.Join(os.TempDir(), "auth0-bench-heap-peak.pprof"), stopSampling)
	start := time.Now()
	if err := createObjects(ctx, k8s, n, nb, o.permissions); err != nil {
		return err
	}
	created := time.Since(start)
	waitErr := ready.wait(ctx, n, nb, o.timeout)
	converged := time.Since(start)
	cpuUsed := readCPUTimes(manager.Process.Pid).since(cpuBefore, converged)
	close(stopSampling)
	counts := tenant.Counters()
	printCost := func() {
		total, limited := summarise(counts)
		fmt.Printf("Management API calls: %d, answered 429: %d (%.2f%%)\n", total, limited, 100*float64(limited)/float64(max(total, 1)))
		printRoutes(counts)
		fmt.Printf("API server writes meanwhile (objects as written, watched): %s\n", &ready.written)
		fmt.Printf("CPU used meanwhile: %s\n", cpuUsed)
	}
	if waitErr != nil {
		// What the machine did before the bench gave up: enough to tell a slow convergence
		// from a stuck one, and what it cost.
		fmt.Printf("\n%v (objects created in %s)\n", waitErr, created.Round(10*time.Millisecond))
		printCost()
		peak.print(prof, "before the bench gave up", "the start")
		fmt.Printf("\nmanager peak memory: %s; its own at most %s\n", peakMemory(manager.Process.Pid), anonPeak)
		return waitErr
	}
	// Taken before anything else, so that it shows what convergence left behind.
	convergedHeap, convergedHeapErr := prof.heap(filepath.Join(os.TempDir(), "auth0-bench-heap-converged.pprof"))

	lb := lowerBound(n, nb, o.permissions)
	bound := time.Duration(float64(lb.total()) / float64(rate) * float64(time.Second))
	total, _ := summarise(counts)
	fmt.Printf("\nall %d objects Ready in %s (objects created in %s)\n", n+nb, converged.Round(10*time.Millisecond), created.Round(10*time.Millisecond))
	fmt.Printf("lower bound: %d write calls (%s) / %d req/s = %s; ratio %.2f\n", lb.total(), lb, rate, bound, converged.Seconds()/bound.Seconds())
	fmt.Printf("calls during convergence: %d = %.2f x the write calls (%d)\n", total, float64(total)/float64(lb.total()), lb.total())
	printCost()

	if cpu != nil {
		fmt.Printf("\nmanager CPU profile, %s from the start of the objects' creation", o.cpuProfile)
		if o.cpuProfile > converged {
			fmt.Printf(" (it converged after %s: the rest is the quiet time after)", converged.Round(100*time.Millisecond))
		} else {
			fmt.Printf(" (of %s to converge)", converged.Round(100*time.Millisecond))
		}
		fmt.Printf(", top 20 by cumulative time:\n")
		if err := cpu.wait(); err != nil {
			fmt.Printf("  unavailable: %v\n", err)
		} else {
			printTop(prof.top(cpu.file, "-cum", "-nodecount=20"))
		}
	}
	if apiCPU != nil {
		fmt.Printf("\nAPI server CPU profile over the same %s, top 20 by cumulative time:\n", o.cpuProfile)
		if err := apiCPU.wait(); err != nil {
			fmt.Printf("  unavailable: %v\n", err)
		} else {
			printTop(profiler{}.top(apiCPU.file, "-cum", "-nodecount=20"))
		}
	}
	fmt.Println()
	peak.print(prof, "while converging", "the start")
	fmt.Printf("\nmanager heap right after convergence (after a GC), top 15 by inuse_space:\n")
	printHeap(prof, convergedHeap, convergedHeapErr)

	// One steady-state resync: every object is observed once per interval. The window opens
	// once the observer has looked at the tenant after the convergence (one interval, and the
	// 10 s it overlaps for the search index's lag): the operator's own writes are then behind it.
	time.Sleep(o.observe + 10*time.Second)
	// The API server's writes are watched over the same window: a resync that changes nothing in
	// Auth0 should change nothing in the cluster either (no status churn, no events).
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	watches, err := startWatches(ctx, dyn)
	if err != nil {
		return err
	}
	tenant.ResetCounters()
	stopSteadySampling := make(chan struct{})
	steadyPeak := prof.sampleLivePeak(2*time.Second, filepath.Join(os.TempDir(), "auth0-bench-heap-peak-steady.pprof"), stopSteadySampling)
	intervals := sampleCounters(tenant, o.resync, o.observe)
	close(stopSteadySampling)
	counts = tenant.Counters()
	if err := stopWatches(watches); err != nil {
		return err
	}
	total, limited := summarise(counts)
	fmt.Printf("\none steady-state resync (%s) of %d unchanged users and %d bindings: %d calls, %.3f per user, %d answered 429\n",
		o.resync, n, nb, total, float64(total)/float64(n), limited)
	printIntervals(intervals, o.observe)
	fmt.Printf("one long interval (resync %s): %d calls\n", o.resync, total)
	printRoutes(counts)
	fmt.Printf("per-object polling would take %d calls (one read per user), Terraform-style refresh %d (user, roles, permissions): %s and %s more\n",
		n, 3*n, times(float64(n)/float64(max(total, 1))), times(float64(3*n)/float64(max(total, 1))))
	printWrites("one steady-state resync", watches)
	steadyPeak.print(prof, "during it", "it began")

	if o.driftSample > 0 {
		if err := measureDrift(ctx, tenant, dyn, min(o.driftSample, n), n, o.observe); err != nil {
			return err
		}
	}

	fmt.Printf("\nmanager heap at the end (after a GC), top 15 by inuse_space:\n")
	endHeap, endHeapErr := prof.heap(filepath.Join(os.TempDir(), "auth0-bench-heap-end.pprof"))
	printHeap(prof, endHeap, endHeapErr)
	fmt.Printf("\nmanager peak memory: %s; its own (anonymous: heap, stacks, the runtime; without its binary's pages) at most %s; in memory now: %s\n",
		peakMemory(manager.Process.Pid), anonPeak, residentMemory(manager.Process.Pid))
	fmt.Printf("manager Go heap at the end: %s\n", prof.runtimeHeap())
	return nil
}

// times shows a ratio, with a decimal when it is small: a resync that costs about as much as
// polling (with --permissions, say) should not read as "1x" either way.
func times(r float64) string {
	if r < 10 {
		return fmt.Sprintf("%.1fx", r)
	}
	return fmt.Sprintf("%.0fx", r)
}

// scopeOf is the permission that binding i grants with --permissions.
func scopeOf(i int) string { return fmt.Sprintf("bench:%d", i) }

// writeBound is the least number of write calls convergence needs, by kind.
type writeBound struct{ creates, roleAssignments, permissionGrants int }

func lowerBound(n, nb int, permissions bool) writeBound {
	per := (n + nb - 1) / nb
	b := writeBound{
		creates:         n,                       // one create per user
		roleAssignments: nb * ((per + 99) / 100), // bulk role assignments, 100 users a call
	}
	if permissions {
		// Auth0 assigns direct permissions per user (POST /users/{id}/permissions, every
		// permission of the user in one call); each user is the subject of one binding only.
		b.permissionGrants = n
	}
	return b
}

func (b writeBound) total() int { return b.creates + b.roleAssignments + b.permissionGrants }

func (b writeBound) String() string {
	s := fmt.Sprintf("%d creates + %d role assignments", b.creates, b.roleAssignments)
	if b.permissionGrants > 0 {
		s += fmt.Sprintf(" + %d permission grants", b.permissionGrants)
	}
	return s
}

// freeAddress returns a local address with a port free at the time of the call.
func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// userName is the name of the i-th Auth0User object; its spec's name is "Bench " + userName(i).
func userName(i int) string { return fmt.Sprintf("user-%05d", i) }

func createObjects(ctx context.Context, k8s client.Client, n, nb int, permissions bool) error {
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
		name := userName(i)
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
		spec := v1alpha1.Auth0RoleBindingSpec{Roles: []v1alpha1.RoleReference{{Name: fmt.Sprintf("role-%d", b)}}, Subjects: subjects[b]}
		if permissions {
			spec.Permissions = []v1alpha1.PermissionReference{{ResourceServerIdentifier: benchAPI, Name: scopeOf(b)}}
		}
		jobs <- &v1alpha1.Auth0RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("binding-%d", b)}, Spec: spec}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs
}

// installFinalizerPolicy installs config/admission's finalizer policy, as make deploy and the
// chart do, and waits until the API server applies it (it loads policies asynchronously).
func installFinalizerPolicy(ctx context.Context, k8s client.Client) error {
	raw, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "admission", "finalizer_policy.yaml"))
	if err != nil {
		return err
	}
	if err := testenv.CreateFromYAML(ctx, k8s, raw, nil); err != nil {
		return err
	}
	start := time.Now()
	for time.Since(start) < time.Minute {
		time.Sleep(200 * time.Millisecond)
		probe := &v1alpha1.Auth0User{ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: "finalizer-probe"},
			Spec: v1alpha1.Auth0UserSpec{Connection: "Username-Password-Authentication", Email: "probe@example.com"}}
		err := k8s.Create(ctx, probe, client.DryRunAll)
		switch {
		case meta.IsNoMatchError(err), apierrors.IsServiceUnavailable(err):
			// The CRD is not served yet, or the policy cannot mutate it yet: the API server
			// answers 503 until its type converter knows a new CRD, a few seconds.
			continue
		case err != nil:
			return err
		}
		if len(probe.Finalizers) > 0 {
			fmt.Printf("finalizer policy applied %s after it was created\n", time.Since(start).Round(100*time.Millisecond))
			return nil
		}
	}
	return errors.New("the finalizer policy was not applied within a minute")
}

// readiness follows the objects through informers started before the first create. It counts
// the Ready ones as their events arrive (listing 10,000 objects from the cache every quarter
// second was most of the bench's own CPU), and every write it sees until convergence (the
// bench's creates, the manager's intents and results) with its size: what the API server had to
// decode, check, store and send.
type readiness struct {
	stop    context.CancelFunc
	written writeSizes

	mu    sync.Mutex
	ready map[kindKey]bool
	count int
}

// kindKey names an object of one of the watched kinds (a user and a binding may share a name).
type kindKey struct {
	kind string
	key  client.ObjectKey
}

// watchReadiness starts the informers and waits until they have synced. wait stops them.
func watchReadiness(ctx context.Context, cfg *rest.Config) (*readiness, error) {
	objects, err := cache.New(cfg, cache.Options{Scheme: testenv.Scheme(), DefaultNamespaces: map[string]cache.Config{ns: {}},
		DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(ctx)
	synced := false
	defer func() {
		if !synced {
			stop()
		}
	}()
	go func() { _ = objects.Start(ctx) }()
	r := &readiness{stop: stop, ready: map[kindKey]bool{}}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { r.observe(obj, true) },
		// A relist replays every object with its resourceVersion unchanged: not a write.
		UpdateFunc: func(old, obj any) {
			r.observe(obj, old.(client.Object).GetResourceVersion() != obj.(client.Object).GetResourceVersion())
		},
	}
	// Informers start on first use: ask for both before waiting for them.
	for _, obj := range []client.Object{&v1alpha1.Auth0User{}, &v1alpha1.Auth0RoleBinding{}} {
		inf, err := objects.GetInformer(ctx, obj)
		if err != nil {
			return nil, err
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, err
		}
	}
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if synced = objects.WaitForCacheSync(syncCtx); !synced {
		return nil, errors.New("the bench's informers did not sync within a minute")
	}
	return r, nil
}

// observe counts a write (when it is one) and notes whether the object is Ready.
func (r *readiness) observe(obj any, write bool) {
	var kind string
	var ready bool
	switch o := obj.(type) {
	case *v1alpha1.Auth0User:
		kind, ready = "Auth0User", meta.IsStatusConditionTrue(o.Status.Conditions, v1alpha1.ConditionReady)
	case *v1alpha1.Auth0RoleBinding:
		kind = "Auth0RoleBinding"
		ready = meta.IsStatusConditionTrue(o.Status.Conditions, v1alpha1.ConditionReady) && o.Status.SubjectCount == len(o.Spec.Subjects)
	default:
		return
	}
	o := obj.(client.Object)
	if write {
		r.written.count(kind, o)
	}
	key := kindKey{kind, client.ObjectKeyFromObject(o)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ready[key] != ready {
		r.ready[key] = ready
		if ready {
			r.count++
		} else {
			r.count--
		}
	}
}

func (r *readiness) readyCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// wait returns once n users and nb bindings are Ready, and stops the informers.
func (r *readiness) wait(ctx context.Context, n, nb int, timeout time.Duration) error {
	defer r.stop()
	deadline := time.After(timeout)
	for {
		ready := r.readyCount()
		if ready == n+nb {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("only %d of %d objects Ready after %s", ready, n+nb, timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// writeSizes counts the creates and updates of each kind, and their size as JSON (managed
// fields stripped).
type writeSizes struct {
	mu     sync.Mutex
	writes map[string]int
	bytes  map[string]int
}

func (w *writeSizes) count(kind string, o client.Object) {
	raw, _ := json.Marshal(o)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writes == nil {
		w.writes, w.bytes = map[string]int{}, map[string]int{}
	}
	w.writes[kind]++
	w.bytes[kind] += len(raw)
}

func (w *writeSizes) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var parts []string
	for _, kind := range []string{"Auth0User", "Auth0RoleBinding"} {
		parts = append(parts, fmt.Sprintf("%s %d (%.1f MB, %.1f KB each)", kind, w.writes[kind],
			float64(w.bytes[kind])/1e6, float64(w.bytes[kind])/1e3/float64(max(w.writes[kind], 1))))
	}
	return strings.Join(parts, ", ")
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
	for _, r := range sortedRoutes(counts) {
		var parts []string
		for status, c := range counts[r] {
			parts = append(parts, fmt.Sprintf("%d×%d", c, status))
		}
		sort.Strings(parts)
		fmt.Printf("  %-40s %s\n", r, strings.Join(parts, " "))
	}
}

func sortedRoutes(counts map[string]map[int]int64) []string {
	routes := make([]string, 0, len(counts))
	for r := range counts {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	return routes
}

func peakMemory(pid int) string { return memoryFigures(pid, "VmHWM") }

// sampleAnonPeak keeps the largest RssAnon of the process, sampled every interval until it
// exits: the kernel keeps a peak (VmHWM) only of the whole, which includes the pages of the
// binary's code that are mapped in (some 27 MiB for the manager before it holds any object).
// It also keeps when the peak was reached, from the start of sampling: the phases of the run
// (converging, the steady resync, the drift) hold different things.
func sampleAnonPeak(pid int, interval time.Duration) *anonPeak {
	p := &anonPeak{start: time.Now()}
	go func() {
		for {
			kb, ok := statusKB(pid, "RssAnon")
			if !ok {
				return
			}
			p.mu.Lock()
			if b := kb << 10; b > p.bytes {
				p.bytes, p.at = b, time.Since(p.start)
			}
			p.mu.Unlock()
			time.Sleep(interval)
		}
	}()
	return p
}

type anonPeak struct {
	start time.Time
	mu    sync.Mutex
	bytes int64
	at    time.Duration
}

func (p *anonPeak) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%.1f MiB (sampled every 200 ms), %s after the objects' creation began", float64(p.bytes)/(1<<20), p.at.Round(time.Second))
}

// statusKB reads one figure (in kB) of /proc/<pid>/status.
func statusKB(pid int, name string) (int64, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name+":" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

// residentMemory is what the manager holds in memory now: all of it, and of that its own data
// (anonymous) and the pages of its binary (file-backed), which no heap work reduces.
func residentMemory(pid int) string {
	return memoryFigures(pid, "VmRSS", "RssAnon", "RssFile")
}

// memoryFigures reads figures (in kB) of /proc/<pid>/status, in MiB.
func memoryFigures(pid int, names ...string) string {
	var parts []string
	for _, name := range names {
		if kb, ok := statusKB(pid, name); ok {
			parts = append(parts, fmt.Sprintf("%s %.1f MiB", name, float64(kb)/1024))
		}
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, ", ")
}
