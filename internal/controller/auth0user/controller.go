// Package auth0user reconciles Auth0User objects: one Auth0 user each, in phases (resolve,
// observe, create, update, password; delete on deletion) run by the shell in internal/controller.
package auth0user

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/userdiff"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// secretRefIndex indexes Auth0User objects by the names of the Secrets they read (tenant and
// password), so that a Secret change reaches exactly the objects that use it.
const secretRefIndex = ".spec.secretRefs"

// Reconciler keeps one Auth0 user per Auth0User object in the declared state. It is the
// Auth0User kind behind controller.Reconciler.
type Reconciler struct {
	client.Client
	Tenants  *controller.TenantResolver
	Policies *controller.TenancyPolicies
	Recorder events.EventRecorder
	// ClusterName identifies this cluster in the owner marker recorded on Auth0 users; two
	// clusters managing the same tenant must use different names.
	ClusterName string
	// ResyncInterval is the default interval between observations of an unchanged user.
	ResyncInterval time.Duration
	// MaxConcurrentReconciles bounds the workers; Auth0 calls are paced by the tenant's limiter.
	MaxConcurrentReconciles int
	// Snapshots are the users as last read or written, kept current by the UserObserver; Swept
	// carries its wake-ups.
	Snapshots *auth0.Snapshots
	Swept     <-chan event.GenericEvent
}

// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0users,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0users/status,verbs=patch
// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0users/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// userScope is what one reconcile of an Auth0User works with. Each phase reads what the phases
// before it filled in.
type userScope struct {
	obj *v1alpha1.Auth0User
	// owner is the marker this object writes on its Auth0 user (with its UID); nameOwner the
	// same without the UID, the format of earlier releases and of export.
	owner, nameOwner string
	// Filled by resolve: the spec as Auth0 fields, the tenant's client, and the password with
	// the Secret version it came from (password only when it has to be sent).
	desired         userdiff.Desired
	auth0           auth0.Client
	domain          string
	password        string
	passwordVersion *v1alpha1.PasswordStatus
	// passwordUnavailable says why the password Secret cannot be read ("" when it can).
	passwordUnavailable string
	// Filled by observe (and create, update): the user as Auth0 holds it; nil when it does not
	// exist (not yet created, or deleted out of band and only reported).
	observed *auth0.User
	// Set by create: the user was created in this pass, with its password.
	created bool
	// persisted is the object as the API server holds it: as read, then as writeAhead left it.
	persisted *v1alpha1.Auth0User
}

// Reconcile runs the phases in order; the first error ends the pass and decides its conditions.
func (r *Reconciler) Reconcile(ctx context.Context, obj *v1alpha1.Auth0User) error {
	s := &userScope{obj: obj, owner: ownerOf(r.ClusterName, obj), nameOwner: nameOwnerOf(r.ClusterName, obj), persisted: obj.DeepCopy()}
	for _, phase := range []func(context.Context, *userScope) error{
		r.resolve,        // resolve.go
		r.observeUser,    // observe.go
		r.createUser,     // create.go
		r.updateUser,     // update.go
		r.updatePassword, // password.go
	} {
		if err := phase(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// ResyncAfter is when the object is observed again on its own. The UserObserver wakes an object
// whenever its user changes in Auth0, so the object's own requeue is only a safety net then,
// unless the object asks for a different interval.
func (r *Reconciler) ResyncAfter(obj *v1alpha1.Auth0User, stalled bool) time.Duration {
	if !stalled && r.Swept != nil && obj.Spec.ResyncInterval == nil {
		return controller.Jitter(2 * r.ResyncInterval)
	}
	return controller.Jitter(controller.ResyncOf(obj.Spec.ResyncInterval, r.ResyncInterval))
}

// ReadyMessage names the user, and its drift under policy Report.
func (r *Reconciler) ReadyMessage(obj *v1alpha1.Auth0User) string {
	msg := fmt.Sprintf("user %s matches the spec", obj.Status.UserID)
	if obj.Status.DriftCount > 0 && obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport {
		msg = fmt.Sprintf("user %s observed; %d fields drifted (policy Report)", obj.Status.UserID, obj.Status.DriftCount)
	}
	if pw := obj.Status.Password; pw != nil && pw.Unmanaged != "" {
		msg += "; " + pw.Unmanaged
	}
	return msg
}

// SetupWithManager registers the controller: Auth0User objects, and the metadata of the Secrets
// they read (the Secrets' contents are never cached).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Auth0User{}, secretRefIndex,
		func(o client.Object) []string { return userSecretNames(o.(*v1alpha1.Auth0User)) }); err != nil {
		return fmt.Errorf("cannot index Auth0User secret references: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Auth0User{}, builder.WithPredicates(controller.SpecOrDeletionChanged())).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.usersReadingSecret))
	b = controller.WatchTenancy(b, r.Client, func() client.ObjectList { return &v1alpha1.Auth0UserList{} }).
		WithOptions(controller.ControllerOptions(r.MaxConcurrentReconciles)).
		Named("auth0user")
	if r.Swept != nil {
		b = b.WatchesRawSource(source.Channel(r.Swept, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(&controller.Reconciler[*v1alpha1.Auth0User]{
		Client: r.Client, Recorder: r.Recorder, Kind: r,
		New: func() *v1alpha1.Auth0User { return &v1alpha1.Auth0User{} },
	})
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

func (r *Reconciler) usersReadingSecret(ctx context.Context, secret client.Object) []reconcile.Request {
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
