// Package manager builds the operator's controller-runtime manager: client and cache options,
// metrics, health checks, leader election and every controller. The manager binary, the envtest
// suites, `make dev` and hack/bench all build it here, so that each runs what production runs.
package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/controller/auth0rolebinding"
	"github.com/usersync/auth0-operator/internal/controller/auth0user"
	"github.com/usersync/auth0-operator/internal/metrics"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

// LeaderElectionID names the lease replicas compete for.
const LeaderElectionID = "auth0-operator.usersync.io"

// Options configure the manager; the manager binary fills them from its flags.
type Options struct {
	// Provider makes the Auth0 client of each tenant; nil: one pacing requests at
	// Auth0RequestsPerSecond, leaving Auth0RateReserve, and reporting to the metrics.
	Provider               controller.ClientProvider
	Auth0RequestsPerSecond float64
	Auth0RateReserve       float64
	// DefaultTenant names the Secret of objects without spec.tenantRef; empty: none.
	DefaultTenant types.NamespacedName
	// ClusterName goes into the owner marker on Auth0 users (default "default").
	ClusterName string
	// RequireTenancyPolicy refuses objects in namespaces that no Auth0TenancyPolicy selects.
	RequireTenancyPolicy bool
	// ResyncInterval is the default interval between observations (default 5m).
	ResyncInterval time.Duration
	// ObserveInterval is the interval between searches for the managed users changed in Auth0
	// (default 30s); FullSweepInterval the one between reads of every managed user (default 1h).
	ObserveInterval   time.Duration
	FullSweepInterval time.Duration
	// MaxConcurrentReconciles is the number of workers of the Auth0User controller (default 8).
	MaxConcurrentReconciles int
	// MaxBindingPasses is the number of Auth0RoleBinding passes at once (default 2): each holds
	// all its subjects' grants.
	MaxBindingPasses int
	// WatchNamespaces confines namespaced objects to these namespaces; empty: all.
	WatchNamespaces []string

	// MetricsAddr serves metrics ("0": off), over HTTPS with authentication and authorisation
	// by the API server when SecureMetrics.
	MetricsAddr   string
	SecureMetrics bool
	// PprofAddr serves the Go profiling endpoints ("" or "0": off).
	PprofAddr string
	// ProbeAddr serves /healthz and /readyz ("" or "0": off).
	ProbeAddr string
	// LeaderElection makes replicas take turns; LeaderElectionNamespace holds the lease (default:
	// the namespace the pod runs in).
	LeaderElection          bool
	LeaderElectionNamespace string
	// SeveralPerProcess lets more than one manager run in one process (the test suites).
	SeveralPerProcess bool
}

// Scheme knows the built-in kinds and the operator's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// New builds the manager with every controller, its metrics and health checks.
func New(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	metricsOpts := metricsserver.Options{
		BindAddress:   o.MetricsAddr,
		SecureServing: o.SecureMetrics,
		// HTTP/2 is off: it is exposed to the HTTP/2 Stream Cancellation and Rapid Reset CVEs.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if metricsOpts.BindAddress == "" {
		metricsOpts.BindAddress = "0"
	}
	if o.SecureMetrics {
		metricsOpts.FilterProvider = metrics.Authorized
	}
	probeAddr := o.ProbeAddr
	if probeAddr == "" {
		probeAddr = "0"
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 Scheme(),
		Metrics:                metricsOpts,
		HealthProbeBindAddress: probeAddr,
		PprofBindAddress:       o.PprofAddr,
		LeaderElection:         o.LeaderElection,
		LeaderElectionID:       LeaderElectionID,
		// The lease is released when the manager stops, so that a replacement takes over at
		// once instead of waiting for it to expire. Safe: the manager exits when it stops.
		LeaderElectionReleaseOnCancel: true,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		Client:                        clientOptions(),
		Cache:                         cacheOptions(o.WatchNamespaces),
		Controller:                    config.Controller{SkipNameValidation: &o.SeveralPerProcess},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create manager: %w", err)
	}
	if err := setup(mgr, o); err != nil {
		return nil, err
	}
	if err := metrics.RegisterManagedUsers(mgr.GetClient()); err != nil {
		return nil, fmt.Errorf("cannot register metrics: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("cannot add health check: %w", err)
	}
	// Ready once the informers hold the cluster's objects: before that a pod would be sent no
	// work anyway, and a rollout waits for the new replica to have something to stand on.
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("the informer caches have not synced yet")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("cannot add readiness check: %w", err)
	}
	return mgr, nil
}

// setup registers every controller of the operator, and the observer feeding Auth0Users.
func setup(mgr ctrl.Manager, o Options) error {
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = 5 * time.Minute
	}
	if o.ObserveInterval <= 0 {
		o.ObserveInterval = 30 * time.Second
	}
	if o.FullSweepInterval <= 0 {
		o.FullSweepInterval = time.Hour
	}
	if o.ClusterName == "" {
		o.ClusterName = "default"
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 8
	}
	if o.MaxBindingPasses <= 0 {
		o.MaxBindingPasses = 2
	}
	if o.Provider == nil {
		o.Provider = auth0.NewProvider(auth0.ProviderOptions{
			RequestsPerSecond: o.Auth0RequestsPerSecond,
			Reserve:           o.Auth0RateReserve,
			Observer:          metrics.Observer{},
		})
	}
	tenants := &controller.TenantResolver{Reader: mgr.GetClient(), Metadata: mgr.GetCache(), Writer: mgr.GetClient(), Provider: o.Provider, Default: o.DefaultTenant}
	policies := &controller.TenancyPolicies{Reader: mgr.GetClient(), Required: o.RequireTenancyPolicy}
	recorder := mgr.GetEventRecorder("auth0-operator")

	if err := controller.IndexTenantSecrets(mgr); err != nil {
		return err
	}
	snapshots := auth0.NewSnapshots(userdiff.MarkedBy(o.ClusterName))
	swept := make(chan event.GenericEvent, 1024)
	if err := mgr.Add(&auth0user.UserObserver{Reader: mgr.GetClient(), Informers: mgr.GetCache(), Tenants: tenants, Snapshots: snapshots, ClusterName: o.ClusterName,
		Interval: o.ObserveInterval, FullInterval: o.FullSweepInterval, Events: swept}); err != nil {
		return fmt.Errorf("cannot add the user observer: %w", err)
	}
	users := &auth0user.Reconciler{
		Client:                  mgr.GetClient(),
		Tenants:                 tenants,
		Policies:                policies,
		Recorder:                recorder,
		ClusterName:             o.ClusterName,
		ResyncInterval:          o.ResyncInterval,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		Snapshots:               snapshots,
		Swept:                   swept,
	}
	if err := users.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("cannot set up the Auth0User controller: %w", err)
	}
	bindings := &auth0rolebinding.Reconciler{
		Client:                  mgr.GetClient(),
		Tenants:                 tenants,
		Policies:                policies,
		Recorder:                recorder,
		ResyncInterval:          o.ResyncInterval,
		MaxConcurrentReconciles: o.MaxBindingPasses,
		Catalog:                 auth0.NewCatalog(),
		Snapshots:               snapshots,
	}
	if err := bindings.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("cannot set up the Auth0RoleBinding controller: %w", err)
	}
	releaser := &controller.TenantSecretReleaser{Client: mgr.GetClient(), Default: o.DefaultTenant}
	if err := releaser.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("cannot set up the tenant Secret controller: %w", err)
	}
	return nil
}

// clientOptions: Secrets are read on demand and never cached, so the operator holds no copy of
// every Secret in its namespaces and reads only the ones it needs.
func clientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// cacheOptions: managedFields are never read and, on objects whose status is rewritten, are a
// large share of each cached object: they are dropped (a third less memory at 10,000 users), and
// so is kubectl's copy of the whole object in an annotation (as large again, for objects applied
// client-side). The operator writes metadata only with patches computed against the cached
// object, which never mention what the cache dropped. The strings most Auth0Users repeat are
// shared (intern.go). With watchNamespaces (a namespaced install), namespaced objects are watched
// only there; policies and namespace labels are cluster-scoped.
func cacheOptions(watchNamespaces []string) cache.Options {
	stripManagedFields := cache.TransformStripManagedFields()
	shared := newInterner()
	o := cache.Options{DefaultTransform: func(in any) (any, error) {
		if obj, ok := in.(metav1.Object); ok {
			if a := obj.GetAnnotations(); a[corev1.LastAppliedConfigAnnotation] != "" {
				delete(a, corev1.LastAppliedConfigAnnotation)
			}
		}
		if u, ok := in.(*v1alpha1.Auth0User); ok {
			shared.user(u)
		}
		return stripManagedFields(in)
	}}
	if len(watchNamespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range watchNamespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o
}
