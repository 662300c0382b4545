package controllers

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/usersync/auth0-operator/internal/auth0"
)

// Options configure the controllers; main.go fills them from flags and tests set them directly.
type Options struct {
	Provider      ClientProvider
	DefaultTenant types.NamespacedName
	ClusterName   string
	// RequireTenancyPolicy refuses objects in namespaces that no Auth0TenancyPolicy selects.
	RequireTenancyPolicy    bool
	ResyncInterval          time.Duration
	MaxConcurrentReconciles int
}

// Setup registers every controller of the operator with the manager.
func Setup(mgr ctrl.Manager, o Options) error {
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = 5 * time.Minute
	}
	if o.ClusterName == "" {
		o.ClusterName = "default"
	}
	tenants := &TenantResolver{Reader: mgr.GetClient(), Metadata: mgr.GetCache(), Provider: o.Provider, Default: o.DefaultTenant}
	policies := &TenancyPolicies{Reader: mgr.GetClient(), Required: o.RequireTenancyPolicy}
	snapshots := auth0.NewSnapshots()
	swept := make(chan event.GenericEvent, 1024)
	if err := mgr.Add(&UserSweeper{Reader: mgr.GetClient(), Tenants: tenants, Snapshots: snapshots, Interval: o.ResyncInterval, Events: swept}); err != nil {
		return fmt.Errorf("cannot add the user sweeper: %w", err)
	}
	users := &Auth0UserReconciler{
		Snapshots:               snapshots,
		Swept:                   swept,
		Client:                  mgr.GetClient(),
		Tenants:                 tenants,
		Policies:                policies,
		Recorder:                mgr.GetEventRecorder("auth0-operator"),
		ClusterName:             o.ClusterName,
		ResyncInterval:          o.ResyncInterval,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}
	if err := users.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("cannot set up the Auth0User controller: %w", err)
	}
	bindings := &Auth0RoleBindingReconciler{
		Client:                  mgr.GetClient(),
		Tenants:                 tenants,
		Policies:                policies,
		Recorder:                mgr.GetEventRecorder("auth0-operator"),
		ResyncInterval:          o.ResyncInterval,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}
	if err := bindings.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("cannot set up the Auth0RoleBinding controller: %w", err)
	}
	return nil
}

// ClientOptions are the manager client's: Secrets are read on demand and never cached, so the
// operator holds no copy of every Secret in its namespaces and reads only the ones it needs.
func ClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// CacheOptions are the manager cache's. managedFields are never read and, on objects whose
// status is rewritten every resync, are a large share of each cached object: they are dropped
// (a third less memory at 10,000 users). With watchNamespaces (a namespaced install), namespaced
// objects are watched only there; policies and namespace labels are cluster-scoped.
func CacheOptions(watchNamespaces []string) cache.Options {
	o := cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if len(watchNamespaces) > 0 {
		o.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range watchNamespaces {
			o.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return o
}
