// Command manager runs the operator: the controllers that reconcile Auth0User and
// Auth0RoleBinding objects against the Auth0 Management API (built by internal/manager).
// `manager export` writes Auth0User YAML for existing users of a tenant (see export.go).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/usersync/auth0-operator/internal/manager"
)

// options are the manager's flags.
type options struct {
	metricsAddr, probeAddr  string
	secureMetrics           bool
	leaderElect             bool
	defaultTenantSecret     string
	clusterName             string
	resyncInterval          time.Duration
	observeInterval         time.Duration
	fullSweepInterval       time.Duration
	pprofAddr               string
	maxConcurrentReconciles int
	maxBindingPasses        int
	auth0RequestsPerSecond  float64
	auth0Reserve            float64
	requireTenancyPolicy    bool
	watchNamespaces         string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "export" {
		if err := runExport(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "export:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", "0", "Address the metrics endpoint binds to, e.g. :8443 (HTTPS) or :8080 (HTTP); 0 disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	flag.BoolVar(&o.secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorisation by the API server.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles at a time.")
	flag.StringVar(&o.defaultTenantSecret, "default-tenant-secret", "", "NAMESPACE/NAME of the Secret (domain, clientID, clientSecret) used by objects without spec.tenantRef; empty: no default tenant.")
	flag.StringVar(&o.clusterName, "cluster-name", "default", "Name of this cluster in the owner marker written to Auth0 users; give each cluster sharing a tenant its own.")
	flag.DurationVar(&o.resyncInterval, "resync-interval", 5*time.Minute, "Default interval between drift observations of an unchanged object (jittered by up to 10%).")
	flag.DurationVar(&o.observeInterval, "observe-interval", 30*time.Second, "Interval between searches for the managed users changed in Auth0 (and a count of them): a change made in Auth0 is corrected or reported within about this long.")
	flag.DurationVar(&o.fullSweepInterval, "full-sweep-interval", time.Hour, "Interval between full observations of every managed user (a users search per 50), besides the ones a restart or a drop in the count of managed users triggers.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "0", "Address of the Go profiling endpoints (/debug/pprof), e.g. 127.0.0.1:6060; 0 disables them. Never expose it outside the pod.")
	flag.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", 8, "Workers of the Auth0User controller; Auth0 calls are paced by the per-tenant rate limiter whatever this is.")
	flag.IntVar(&o.maxBindingPasses, "max-concurrent-binding-reconciles", 2, "Auth0RoleBinding passes at once, for all tenants: each holds all its subjects' grants (3 to 5 MB for 1,000 subjects); raise it when the bindings of many tenants must not wait on each other.")
	flag.Float64Var(&o.auth0RequestsPerSecond, "auth0-requests-per-second", 2, "Request rate per tenant until Auth0's x-ratelimit headers have been seen (2 is a free tenant's limit).")
	flag.Float64Var(&o.auth0Reserve, "auth0-rate-reserve", 0.1, "Share of each tenant's rate limit left for other clients of the tenant (0 to 0.9).")
	flag.BoolVar(&o.requireTenancyPolicy, "require-tenancy-policy", true, "Refuse Auth0User and Auth0RoleBinding objects in namespaces that no Auth0TenancyPolicy selects; false leaves such namespaces unrestricted (a cluster with one team).")
	flag.StringVar(&o.watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces to reconcile (a namespaced install: RBAC and Secret access only there); empty: all namespaces.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if percent := collectSooner(); percent > 0 {
		ctrl.Log.Info("garbage collection when the heap grows by a fraction of what is live (GOGC unset)", "gcPercent", percent)
	}
	if limit := limitMemory(); limit > 0 {
		ctrl.Log.Info("heap kept under the container's memory limit", "softLimitBytes", limit)
	}

	if err := run(o); err != nil {
		ctrl.Log.Error(err, "manager exited")
		os.Exit(1)
	}
}

func run(o options) error {
	var defaultTenant types.NamespacedName
	if o.defaultTenantSecret != "" {
		ns, name, ok := strings.Cut(o.defaultTenantSecret, "/")
		if !ok || ns == "" || name == "" {
			return fmt.Errorf("--default-tenant-secret must be NAMESPACE/NAME, got %q", o.defaultTenantSecret)
		}
		defaultTenant = types.NamespacedName{Namespace: ns, Name: name}
		// The default tenant's Secret is the operator's: teams must not be able to write it.
		if own := os.Getenv("POD_NAMESPACE"); own != "" && own != ns {
			return fmt.Errorf("--default-tenant-secret must be in the operator's namespace %s, got %s", own, ns)
		}
	}
	var watchNamespaces []string
	for _, ns := range strings.Split(o.watchNamespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			watchNamespaces = append(watchNamespaces, ns)
		}
	}

	mgr, err := manager.New(ctrl.GetConfigOrDie(), manager.Options{
		Auth0RequestsPerSecond:  o.auth0RequestsPerSecond,
		Auth0RateReserve:        o.auth0Reserve,
		DefaultTenant:           defaultTenant,
		ClusterName:             o.clusterName,
		RequireTenancyPolicy:    o.requireTenancyPolicy,
		ResyncInterval:          o.resyncInterval,
		ObserveInterval:         o.observeInterval,
		FullSweepInterval:       o.fullSweepInterval,
		PprofAddr:               o.pprofAddr,
		MaxConcurrentReconciles: o.maxConcurrentReconciles,
		MaxBindingPasses:        o.maxBindingPasses,
		WatchNamespaces:         watchNamespaces,
		MetricsAddr:             o.metricsAddr,
		SecureMetrics:           o.secureMetrics,
		ProbeAddr:               o.probeAddr,
		LeaderElection:          o.leaderElect,
	})
	if err != nil {
		return err
	}
	ctrl.Log.Info("starting manager")
	return mgr.Start(ctrl.SetupSignalHandler())
}
