package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
)

// userRefIndex indexes bindings by the Auth0User names their subjects refer to, so that a user
// becoming ready reaches exactly the bindings waiting for it.
const userRefIndex = ".spec.subjects.userRef"

// Auth0RoleBindingReconciler grants roles and permissions to users, composing with other
// bindings.
type Auth0RoleBindingReconciler struct {
	client.Client
	Tenants                 *TenantResolver
	Policies                *TenancyPolicies
	Recorder                events.EventRecorder
	ResyncInterval          time.Duration
	MaxConcurrentReconciles int
	roles                   *roleCache
	domains                 domainCache
	// observedAt holds each binding's last observation of its grants (in memory: a restart
	// observes once more).
	observedAt sync.Map
}

// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0rolebindings,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0rolebindings/status,verbs=patch
// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0rolebindings/finalizers,verbs=update

// Reconcile gets the binding, defers the status patch, and runs reconcileBinding or
// reconcileBindingDelete.
func (r *Auth0RoleBindingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &v1alpha1.Auth0RoleBinding{}
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
		return r.reconcileBindingDelete(ctx, obj)
	}
	outcome, err := r.reconcileBinding(ctx, obj)
	return r.finish(ctx, obj, outcome, err)
}

// bindingOutcome is what a successful pass leaves undone: entries that name nothing in Auth0,
// and subjects still waiting for their Auth0User.
type bindingOutcome struct {
	unresolved []string
	pending    []string
}

func (r *Auth0RoleBindingReconciler) finish(ctx context.Context, obj *v1alpha1.Auth0RoleBinding, out bindingOutcome, err error) (ctrl.Result, error) {
	st := &obj.Status
	resync := jitter(resyncOf(obj.Spec.ResyncInterval, r.ResyncInterval))
	if err != nil {
		reason, message, terminal := classify(err)
		if !terminal {
			conditions.Reconciling(&st.Conditions, obj.Generation, reason, message)
			return ctrl.Result{}, err
		}
		r.stall(ctx, obj, reason, message)
		return ctrl.Result{RequeueAfter: resync}, nil
	}
	now := metav1.Now()
	st.LastSyncTime = &now
	switch {
	case len(out.unresolved) > 0:
		// The valid rest was applied; what is left needs a spec or tenant change.
		r.stall(ctx, obj, conditions.ReasonUnresolved, "not found in Auth0: "+strings.Join(out.unresolved, ", ")+"; everything else is applied")
		st.ObservedGeneration = obj.Generation
	case len(out.pending) > 0:
		conditions.Reconciling(&st.Conditions, obj.Generation, conditions.ReasonSubjectsPending, "waiting for subjects "+strings.Join(out.pending, ", ")+"; the others are applied")
	default:
		conditions.Ready(&st.Conditions, obj.Generation, fmt.Sprintf("%d subjects hold %d roles and %d permissions", st.SubjectCount, st.RoleCount, len(obj.Spec.Permissions)))
		st.ObservedGeneration = obj.Generation
	}
	return ctrl.Result{RequeueAfter: resync}, nil
}

func (r *Auth0RoleBindingReconciler) stall(ctx context.Context, obj *v1alpha1.Auth0RoleBinding, reason, message string) {
	stall(ctx, r.Recorder, obj, &obj.Status.Conditions, reason, message)
}

// SetupWithManager registers the controller: bindings, and the Auth0User objects they name.
func (r *Auth0RoleBindingReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.roles = newRoleCache()
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Auth0RoleBinding{}, userRefIndex,
		func(o client.Object) []string {
			var names []string
			for _, s := range o.(*v1alpha1.Auth0RoleBinding).Spec.Subjects {
				if s.UserRef != "" {
					names = append(names, s.UserRef)
				}
			}
			return names
		}); err != nil {
		return fmt.Errorf("cannot index Auth0RoleBinding subjects: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Auth0RoleBinding{}, builder.WithPredicates(specOrDeletionChanged())).
		Watches(&v1alpha1.Auth0User{}, r.subjectEvents())
	return watchTenancy(b, r.Client, func() client.ObjectList { return &v1alpha1.Auth0RoleBindingList{} }).
		WithOptions(controllerOptions(r.MaxConcurrentReconciles)).
		Named("auth0rolebinding").
		Complete(r)
}

// subjectDebounce gathers the Auth0User changes that reach a binding into one reconcile: when a
// thousand users become ready one after the other, their binding assigns them in a few bulk
// calls instead of one call each. The change that makes the last subject ready is not delayed.
const subjectDebounce = 10 * time.Second

// subjectEvents maps Auth0User changes to the bindings naming them: immediately when every
// userRef subject of the binding has its Auth0 user, after subjectDebounce otherwise (requests
// already waiting are not added twice, so a burst of events becomes one reconcile).
func (r *Auth0RoleBindingReconciler) subjectEvents() handler.EventHandler {
	add := func(ctx context.Context, obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, b := range r.bindingsNamingUser(ctx, obj) {
			if r.subjectsReady(ctx, b) {
				q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)})
			} else {
				q.AddAfter(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)}, subjectDebounce)
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.ObjectNew, q)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.Object, q)
		},
	}
}

// subjectsReady reports, from the cache, whether every userRef subject has its Auth0 user.
func (r *Auth0RoleBindingReconciler) subjectsReady(ctx context.Context, b *v1alpha1.Auth0RoleBinding) bool {
	for _, sub := range b.Spec.Subjects {
		if sub.UserRef == "" {
			continue
		}
		var u v1alpha1.Auth0User
		if err := r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: sub.UserRef}, &u); err != nil || u.Status.UserID == "" {
			return false
		}
	}
	return true
}

func (r *Auth0RoleBindingReconciler) bindingsNamingUser(ctx context.Context, u client.Object) []*v1alpha1.Auth0RoleBinding {
	var list v1alpha1.Auth0RoleBindingList
	if err := r.List(ctx, &list, client.InNamespace(u.GetNamespace()), client.MatchingFields{userRefIndex: u.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "cannot list bindings naming an Auth0User", "user", u.GetName())
		return nil
	}
	out := make([]*v1alpha1.Auth0RoleBinding, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out
}
