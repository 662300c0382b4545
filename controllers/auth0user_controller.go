package controllers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
)

// Finalizer keeps an object until what it made in Auth0 has been deleted or released.
const Finalizer = "auth0.usersync.io/finalizer"

// secretRefIndex indexes Auth0User objects by the names of the Secrets they read (tenant and
// password), so that a Secret change reaches exactly the objects that use it.
const secretRefIndex = ".spec.secretRefs"

// Auth0UserReconciler keeps one Auth0 user per Auth0User object in the declared state.
type Auth0UserReconciler struct {
	client.Client
	Tenants  *TenantResolver
	Policies *TenancyPolicies
	Recorder events.EventRecorder
	// ClusterName identifies this cluster in the owner marker recorded on Auth0 users; two
	// clusters managing the same tenant must use different names.
	ClusterName string
	// ResyncInterval is the default interval between observations of an unchanged user.
	ResyncInterval time.Duration
	// MaxConcurrentReconciles bounds the workers; Auth0 calls are paced by the tenant's limiter.
	MaxConcurrentReconciles int
	// Snapshots are users the UserSweeper read in bulk; Swept carries its wake-ups.
	Snapshots *auth0.Snapshots
	Swept     <-chan event.GenericEvent
}

// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0users,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0users/status,verbs=patch
// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0users/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile gets the object, defers the status patch, and runs the small steps of
// reconcileUser or reconcileUserDelete.
func (r *Auth0UserReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &v1alpha1.Auth0User{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if err := ensureFinalizer(ctx, r.Client, obj); err != nil {
		return ctrl.Result{}, err
	}

	before := obj.DeepCopy()
	defer func() {
		if err := patchStatusIfChanged(ctx, r.Client, before, obj, before.Status, obj.Status); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, err})
		}
	}()

	if !obj.DeletionTimestamp.IsZero() {
		return r.reconcileUserDelete(ctx, obj)
	}
	err := r.reconcileUser(ctx, obj)
	return r.finish(ctx, obj, err)
}

// finish turns the outcome of a reconcile into conditions and the next requeue.
func (r *Auth0UserReconciler) finish(ctx context.Context, obj *v1alpha1.Auth0User, err error) (ctrl.Result, error) {
	st := &obj.Status
	if err == nil {
		conditions.Ready(&st.Conditions, obj.Generation, readyMessage(obj))
		st.ObservedGeneration = obj.Generation
		now := metav1.Now()
		st.LastSyncTime = &now
		return ctrl.Result{RequeueAfter: r.nextResync(obj)}, nil
	}
	reason, message, terminal := classify(err)
	if !terminal {
		conditions.Reconciling(&st.Conditions, obj.Generation, reason, message)
		return ctrl.Result{}, err
	}
	stall(ctx, r.Recorder, obj, &st.Conditions, reason, message)
	// A stalled object waits for its spec or a Secret to change (both are watched), and is
	// retried on the resync interval in case the tenant itself was fixed.
	return ctrl.Result{RequeueAfter: jitter(resyncOf(obj.Spec.ResyncInterval, r.ResyncInterval))}, nil
}

// nextResync is when the object is observed again on its own. The UserSweeper wakes every object
// once per operator-wide interval, so the object's own requeue is only a safety net then, unless
// the object asks for a different interval.
func (r *Auth0UserReconciler) nextResync(obj *v1alpha1.Auth0User) time.Duration {
	if r.Swept != nil && obj.Spec.ResyncInterval == nil {
		return jitter(2 * r.ResyncInterval)
	}
	return jitter(resyncOf(obj.Spec.ResyncInterval, r.ResyncInterval))
}

func readyMessage(obj *v1alpha1.Auth0User) string {
	if obj.Status.DriftCount > 0 && obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport {
		return fmt.Sprintf("user %s observed; %d fields drifted (policy Report)", obj.Status.UserID, obj.Status.DriftCount)
	}
	return fmt.Sprintf("user %s matches the spec", obj.Status.UserID)
}

// SetupWithManager registers the controller: Auth0User objects, and the metadata of the Secrets
// they read (the Secrets' contents are never cached).
func (r *Auth0UserReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Auth0User{}, secretRefIndex,
		func(o client.Object) []string { return userSecretNames(o.(*v1alpha1.Auth0User)) }); err != nil {
		return fmt.Errorf("cannot index Auth0User secret references: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Auth0User{}, builder.WithPredicates(specOrDeletionChanged())).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.usersReadingSecret))
	b = watchTenancy(b, r.Client, func() client.ObjectList { return &v1alpha1.Auth0UserList{} }).
		WithOptions(controllerOptions(r.MaxConcurrentReconciles)).
		Named("auth0user")
	if r.Swept != nil {
		b = b.WatchesRawSource(source.Channel(r.Swept, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

func userSecretNames(u *v1alpha1.Auth0User) []string {
	var names []string
	if u.Spec.TenantRef != nil {
		names = append(names, u.Spec.TenantRef.SecretName)
	}
	if u.Spec.PasswordSecretRef != nil {
		names = append(names, u.Spec.PasswordSecretRef.Name)
	}
	return names
}

func (r *Auth0UserReconciler) usersReadingSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var users v1alpha1.Auth0UserList
	if err := r.List(ctx, &users, client.InNamespace(secret.GetNamespace()), client.MatchingFields{secretRefIndex: secret.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "cannot list Auth0Users reading a Secret", "secret", secret.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(users.Items))
	for _, u := range users.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&u)})
	}
	// The default tenant's Secret is read by every object without a tenantRef; those pick up a
	// change on their next resync rather than all at once.
	return reqs
}

func resyncOf(spec *metav1.Duration, fallback time.Duration) time.Duration {
	if spec != nil && spec.Duration > 0 {
		return spec.Duration
	}
	return fallback
}

// jitter spreads resyncs over +0..10% so that objects created together do not observe together.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}
