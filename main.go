// Command auth0-operator runs the manager that reconciles Auth0User and Auth0RoleBinding
// objects against the Auth0 Management API. `auth0-operator export` writes Auth0User YAML for
// existing users of a tenant (see export.go).
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/controllers"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/metrics"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
}

// options are the manager's flags.
type options struct {
	metricsAddr, probeAddr  string
	secureMetrics           bool
	leaderElect             bool
	defaultTenantSecret     string
	clusterName             string
	resyncInterval          time.Duration
	maxConcurrentReconciles int
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
	flag.IntVar(&o.maxConcurrentReconciles, "max-concurrent-reconciles", 8, "Workers per controller; Auth0 calls are paced by the per-tenant rate limiter whatever this is.")
	flag.Float64Var(&o.auth0RequestsPerSecond, "auth0-requests-per-second", 2, "Request rate per tenant until Auth0's x-ratelimit headers have been seen (2 is a free tenant's limit).")
	flag.Float64Var(&o.auth0Reserve, "auth0-rate-reserve", 0.1, "Share of each tenant's rate limit left for other clients of the tenant (0 to 0.9).")
	flag.BoolVar(&o.requireTenancyPolicy, "require-tenancy-policy", true, "Refuse Auth0User and Auth0RoleBinding objects in namespaces that no Auth0TenancyPolicy selects; false leaves such namespaces unrestricted (a cluster with one team).")
	flag.StringVar(&o.watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces to reconcile (a namespaced install: RBAC and Secret access only there); empty: all namespaces.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

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

	metricsOpts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.secureMetrics,
		// HTTP/2 is off: it is exposed to the HTTP/2 Stream Cancellation and Rapid Reset CVEs.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if o.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOpts,
		HealthProbeBindAddress: o.probeAddr,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       "auth0-operator.usersync.io",
		Client:                 controllers.ClientOptions(),
		Cache:                  controllers.CacheOptions(watchNamespaces),
	})
	if err != nil {
		return fmt.Errorf("cannot create manager: %w", err)
	}
	if err := controllers.Setup(mgr, controllers.Options{
		DefaultTenant:           defaultTenant,
		ClusterName:             o.clusterName,
		RequireTenancyPolicy:    o.requireTenancyPolicy,
		ResyncInterval:          o.resyncInterval,
		MaxConcurrentReconciles: o.maxConcurrentReconciles,
		Provider: auth0.NewProvider(auth0.ProviderOptions{
			RequestsPerSecond: o.auth0RequestsPerSecond,
			Reserve:           o.auth0Reserve,
			Observer:          metrics.Observer{},
		}),
	}); err != nil {
		return err
	}
	if err := metrics.RegisterManagedUsers(mgr.GetClient()); err != nil {
		return fmt.Errorf("cannot register metrics: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("cannot add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("cannot add readiness check: %w", err)
	}
	ctrl.Log.Info("starting manager")
	return mgr.Start(ctrl.SetupSignalHandler())
}
