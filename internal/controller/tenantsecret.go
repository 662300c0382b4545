package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
)

// TenantSecretFinalizer keeps a tenant Secret while Auth0User or Auth0RoleBinding objects that
// may still need its credentials reference it: Kubernetes deletes a namespace's Secrets and
// custom objects in no set order, and without the credentials a deleted object could neither
// delete its Auth0 user nor revoke its grants.
const TenantSecretFinalizer = "auth0.usersync.io/tenant-in-use"

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;patch

// hold puts TenantSecretFinalizer on a tenant Secret that lacks it. It reads the Secret's
// metadata from the cache when it can (a steady reconcile then writes nothing), and leaves a
// Secret alone that is already being deleted: Kubernetes accepts no new finalizer then.
func (t *TenantResolver) hold(ctx context.Context, key types.NamespacedName) error {
	if t.Writer == nil {
		return nil
	}
	m, err := t.cachedMetadata(ctx, key)
	if err != nil {
		// Not in the cache (a namespaced install does not watch the operator's namespace, or
		// the cache has not seen it yet): read the metadata from the API server.
		m = secretMetadata()
		if err = t.Reader.Get(ctx, key, m); err != nil {
			if apierrors.IsNotFound(err) {
				return Stalled(conditions.ReasonTenantUnavailable, "tenant Secret %s not found", key)
			}
			return KubernetesError("cannot get tenant Secret %s: %w", key, err)
		}
	}
	if controllerutil.ContainsFinalizer(m, TenantSecretFinalizer) || !m.DeletionTimestamp.IsZero() {
		return nil
	}
	base := m.DeepCopy()
	controllerutil.AddFinalizer(m, TenantSecretFinalizer)
	err = t.Writer.Patch(ctx, m, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) {
		// Many workers find a new tenant's Secret without the finalizer at once, and all but
		// one lose the race: one that finds it there now is done, without a failed reconcile
		// and its backoff.
		fresh := secretMetadata()
		if getErr := t.Reader.Get(ctx, key, fresh); getErr == nil && (controllerutil.ContainsFinalizer(fresh, TenantSecretFinalizer) || !fresh.DeletionTimestamp.IsZero()) {
			return nil
		}
	}
	if err != nil {
		return KubernetesError("cannot put the finalizer %s on tenant Secret %s: %w", TenantSecretFinalizer, key, err)
	}
	return nil
}

func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// TenantSecretIndex indexes Auth0Users and Auth0RoleBindings by the tenant Secret they use
// (TenantKey): the releaser, and the bindings' Secret watch, look them up by it.
const TenantSecretIndex = ".spec.tenantRef.secret"

// IndexTenantSecrets registers TenantSecretIndex for both kinds.
func IndexTenantSecrets(mgr ctrl.Manager) error {
	for _, obj := range []client.Object{&v1alpha1.Auth0User{}, &v1alpha1.Auth0RoleBinding{}} {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), obj, TenantSecretIndex, func(o client.Object) []string {
			return []string{TenantKey(o.GetNamespace(), tenantRefOf(o))}
		}); err != nil {
			return fmt.Errorf("cannot index tenant Secret references: %w", err)
		}
	}
	return nil
}

// TenantSecretKeys are the TenantSecretIndex values of the objects that use a Secret: those that
// name it, and, for the default tenant's Secret, those that name none.
func TenantSecretKeys(secret, defaultTenant types.NamespacedName) []string {
	keys := []string{TenantKey(secret.Namespace, &v1alpha1.TenantReference{SecretName: secret.Name})}
	if secret == defaultTenant {
		keys = append(keys, TenantKey("", nil))
	}
	return keys
}

// TenantSecretReleaser removes TenantSecretFinalizer from a tenant Secret once no Auth0User or
// Auth0RoleBinding references it any more: the last one has finished deleting what it made in
// Auth0 (an object being deleted still counts until its own finalizer is gone).
type TenantSecretReleaser struct {
	Client client.Client
	// Default names the default tenant's Secret, which every object without tenantRef uses.
	Default types.NamespacedName
}

// SetupWithManager watches the Secrets carrying the finalizer (metadata only) and the objects
// that reference them (TenantSecretIndex, registered by IndexTenantSecrets).
func (r *TenantSecretReleaser) SetupWithManager(mgr ctrl.Manager) error {
	toSecret := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: r.secretOf(o.GetNamespace(), tenantRefOf(o))}}
	})
	held := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return controllerutil.ContainsFinalizer(o, TenantSecretFinalizer)
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("tenantsecret").
		WatchesMetadata(&corev1.Secret{}, &handler.EnqueueRequestForObject{}, builder.WithPredicates(held)).
		Watches(&v1alpha1.Auth0User{}, toSecret, builder.WithPredicates(referenceGone())).
		Watches(&v1alpha1.Auth0RoleBinding{}, toSecret, builder.WithPredicates(referenceGone())).
		Complete(r)
}

// referenceGone passes the events after which an object may no longer reference its Secret:
// its deletion, and a spec change (a new tenantRef).
func referenceGone() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool { return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() },
	}
}

// Reconcile removes the finalizer from a Secret no object references.
func (r *TenantSecretReleaser) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := secretMetadata()
	if err := r.Client.Get(ctx, req.NamespacedName, m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !controllerutil.ContainsFinalizer(m, TenantSecretFinalizer) {
		return ctrl.Result{}, nil
	}
	for _, key := range TenantSecretKeys(req.NamespacedName, r.Default) {
		for _, list := range []client.ObjectList{&v1alpha1.Auth0UserList{}, &v1alpha1.Auth0RoleBindingList{}} {
			if err := r.Client.List(ctx, list, client.MatchingFields{TenantSecretIndex: key}, client.Limit(1)); err != nil {
				return ctrl.Result{}, fmt.Errorf("cannot list the objects using tenant Secret %s: %w", req.NamespacedName, err)
			}
			if meta.LenList(list) > 0 {
				return ctrl.Result{}, nil // still needed
			}
		}
	}
	base := m.DeepCopy()
	controllerutil.RemoveFinalizer(m, TenantSecretFinalizer)
	if err := r.Client.Patch(ctx, m, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return ctrl.Result{}, nil
}

func (r *TenantSecretReleaser) secretOf(ns string, ref *v1alpha1.TenantReference) types.NamespacedName {
	if ref == nil {
		return r.Default
	}
	return types.NamespacedName{Namespace: ns, Name: ref.SecretName}
}

func tenantRefOf(o client.Object) *v1alpha1.TenantReference {
	switch o := o.(type) {
	case *v1alpha1.Auth0User:
		return o.Spec.TenantRef
	case *v1alpha1.Auth0RoleBinding:
		return o.Spec.TenantRef
	}
	return nil
}
