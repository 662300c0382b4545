// Package auth0rolebinding reconciles Auth0RoleBinding objects: roles and API permissions
// granted to subjects, composed with every other binding of the tenant, in phases (resolve,
// compose, observe, apply, status; delete on deletion) run by the shell in internal/controller.
package auth0rolebinding

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/usersync/auth0-operator/internal/auth0"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
	"github.com/usersync/auth0-operator/internal/policy"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Reconciler grants roles and permissions to users, composing with other bindings. It is the
// Auth0RoleBinding kind behind controller.Reconciler.
type Reconciler struct {
	client.Client
	Tenants                 *controller.TenantResolver
	Policies                *controller.TenancyPolicies
	Recorder                events.EventRecorder
	ResyncInterval          time.Duration
	MaxConcurrentReconciles int
	// Catalog resolves role names and API scopes per tenant, and holds the roles' members that
	// every binding of the tenant reads (observe.go) and writes through (apply.go).
	Catalog *auth0.Catalog
	// Snapshots are the users the user observer holds as current: a subject found there is
	// verified without a users search (resolve.go). nil: every subject is searched.
	Snapshots *auth0.Snapshots
	// ledger is what each binding holds, as this process saw it decide and apply (ledger.go).
	ledger ledger
	// observedAt holds each binding's last full observation (subjects verified, grants read),
	// in memory: a restart observes once more.
	observedAt sync.Map
	// readyScans remembers, per binding UID, where subjectsReady last stopped (a readyScan).
	readyScans sync.Map
	// userRefs holds, per binding UID, the Auth0User names one generation of its subjects
	// refers to (a userRefs), so that a user becoming ready reaches exactly the bindings
	// waiting for it. A cache index would keep one set per name: at 10,000 subjects, 5 MB of
	// small sets.
	userRefs sync.Map
}

// userRefs is the set of Auth0User names of one generation of a binding's subjects.
type userRefs struct {
	generation int64
	names      map[string]bool
}

// bindingScope is what one reconcile of a binding works with. Each phase reads what the phases
// before it filled in.
type bindingScope struct {
	obj *v1alpha1.Auth0RoleBinding

	// Filled by resolve: what the tenancy policy allows the namespace, the tenant's client and
	// its verified identity (the domain the client reached: its credentials worked), whether this
	// pass is a full observation (every subject verified, every grant read: after a spec change,
	// a restart, and once per resync interval), the grants every subject should hold, the
	// subjects (in spec order, resolved where possible), and the roles and permissions that
	// name nothing in Auth0.
	allowed    policy.Effective
	auth0      auth0.Client
	tenant     string
	full       bool
	desired    grants.Set
	subjects   []resolvedSubject
	unresolved []string
	// waitUntil is when a subject naming a missing Auth0User stops being waited for.
	waitUntil time.Time

	// Filled by observe, per Auth0 user id: what this binding applied before, what it found
	// granted outside the operator, and what it recorded as about to add (write ahead) — all
	// from status —, the subjects of this pass, and what Auth0 holds of the grants that matter.
	applied, external, written map[string]grants.Set
	current                    map[string]bool
	observed                   map[string]grants.Set

	// Filled by compose: what the other live bindings of the same verified tenant hold, among
	// those that can act.
	others othersGrants

	// Filled by apply: each subject's plan, and the drift found. apply also marks subjects whose
	// user turned out to be gone when Auth0 refused a write naming it.
	plans map[string]grants.Plan
	drift []v1alpha1.DriftEntry
}

type resolvedSubject struct {
	key    string // userRef:<name>, userID:<id> or email:<address>
	userID string // empty while unresolved
	// message says why the subject is not (fully) applied.
	message string
	// waiting is true for a userRef subject whose Auth0User has no Auth0 user yet: it is on its
	// way, so it keeps the binding Reconciling rather than Stalled.
	waiting bool
	// For verification: the email (and connection) an email subject names, and whether the
	// last full observation found no user for a userID subject (a search that still misses it
	// is then enough: no read by id to rule out the search index's lag).
	email, connection string
	missingBefore     bool
	// goneID is the user id a subject named that turned out not to exist.
	goneID string
}

// Reconcile runs the phases in order; the first error ends the pass and decides its conditions.
// status, the last one, turns what was left undone into Stalled (Unresolved) or Waiting
// (SubjectsPending): the valid rest is applied either way.
func (r *Reconciler) Reconcile(ctx context.Context, obj *v1alpha1.Auth0RoleBinding) error {
	s := &bindingScope{obj: obj, desired: grants.Set{}}
	for _, phase := range []func(context.Context, *bindingScope) error{
		r.resolve, // resolve.go
		r.observe, // observe.go
		r.compose, // compose.go: after observe, so that what another binding decided to add
		// before this one saw it in Auth0 is in the ledger (ledger.go) or its status
		r.apply,  // apply.go: plans, records the grants it is about to add, then writes
		r.status, // status.go
	} {
		if err := phase(ctx, s); err != nil {
			r.cannotAct(obj, err)
			return err
		}
	}
	return nil
}

// cannotAct withdraws a binding whose pass stalled for a reason other than Unresolved (denied by
// policy, tenant Secret missing, credentials or scopes refused) from composition: it keeps no
// other binding's grant alive, in this process (the ledger) nor in others (its Stalled condition
// says it cannot act). Its status keeps the tenant it granted in, so that what it applied is
// still the operator's to the others (never "external"). A binding stalled on Unresolved applied
// the valid rest and still counts.
func (r *Reconciler) cannotAct(obj *v1alpha1.Auth0RoleBinding, err error) {
	if v := controller.Classify(err); v.Outcome == controller.OutcomeStalled && v.Reason != conditions.ReasonUnresolved {
		r.ledger.forget(client.ObjectKeyFromObject(obj))
	}
}

// ReadyMessage counts what the binding holds: distinct users, roles and permissions.
func (r *Reconciler) ReadyMessage(obj *v1alpha1.Auth0RoleBinding) string {
	return fmt.Sprintf("%d subjects hold %d roles and %d permissions", obj.Status.SubjectCount, obj.Status.RoleCount, len(obj.Spec.Permissions))
}

// bindingsReadingSecret maps a Secret to the bindings using it as their tenant (TenantSecretIndex,
// registered by internal/manager): for the default tenant's Secret, every binding without a
// tenantRef too (such a change is rare, and a binding
// woken between resyncs costs no call unless its spec or tenant changed).
func (r *Reconciler) bindingsReadingSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	for _, key := range controller.TenantSecretKeys(client.ObjectKeyFromObject(secret), r.Tenants.Default) {
		var list v1alpha1.Auth0RoleBindingList
		if err := r.List(ctx, &list, client.MatchingFields{controller.TenantSecretIndex: key}); err != nil {
			log.FromContext(ctx).Error(err, "cannot list bindings reading a Secret", "secret", secret.GetName())
			return nil
		}
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// ResyncAfter is the binding's resync interval, jittered, whatever the outcome.
func (r *Reconciler) ResyncAfter(obj *v1alpha1.Auth0RoleBinding, _ bool) time.Duration {
	return controller.Jitter(r.interval(obj))
}

// interval is the binding's resync interval: how often it observes fully, and so how old the
// role listings and user snapshots it relies on may be.
func (r *Reconciler) interval(obj *v1alpha1.Auth0RoleBinding) time.Duration {
	return controller.ResyncOf(obj.Spec.ResyncInterval, r.ResyncInterval)
}

// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0rolebindings,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0rolebindings/status,verbs=patch
// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0rolebindings/finalizers,verbs=update

// SetupWithManager registers the controller: bindings, and the Auth0User objects they name.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Catalog == nil {
		r.Catalog = auth0.NewCatalog()
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.Auth0RoleBinding{}, builder.WithPredicates(controller.SpecOrDeletionChanged())).
		Watches(&v1alpha1.Auth0User{}, r.subjectEvents()).
		// Only the Secrets' metadata is watched (their contents are never cached): a binding
		// stalled on a missing or wrong tenant Secret is retried as soon as it is fixed.
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.bindingsReadingSecret))
	return controller.WatchTenancy(b, r.Client, func() client.ObjectList { return &v1alpha1.Auth0RoleBindingList{} }).
		WithOptions(controller.ControllerOptions(r.MaxConcurrentReconciles)).
		Named("auth0rolebinding").
		Complete(&controller.Reconciler[*v1alpha1.Auth0RoleBinding]{
			Client: r.Client, Recorder: r.Recorder, Kind: r,
			New: func() *v1alpha1.Auth0RoleBinding { return &v1alpha1.Auth0RoleBinding{} },
		})
}

// subjectDebounce gathers the Auth0User changes that reach a binding into one reconcile: when a
// thousand users become ready one after the other, their binding assigns them in a few bulk
// calls instead of one call each. The change that makes the last subject ready is not delayed.
const subjectDebounce = 10 * time.Second

// gatherPerSubject lengthens the gathering by the binding's size: each pass writes the binding's
// whole status twice (the grants ahead, then the result), some 130 bytes per subject, so a
// binding of 1,000 subjects gathers for 30 s and costs the API server about as much per subject
// made ready as a small one.
const gatherPerSubject = 20 * time.Millisecond

// gatherWindow is how long a binding gathers the changes of its subjects.
func gatherWindow(b *v1alpha1.Auth0RoleBinding) time.Duration {
	return subjectDebounce + time.Duration(len(b.Spec.Subjects))*gatherPerSubject
}

// subjectEvents maps Auth0User changes to the bindings naming them: immediately when every
// userRef subject of the binding has its Auth0 user, after gatherWindow otherwise (requests
// already waiting are not added twice, so a burst of events becomes one reconcile).
func (r *Reconciler) subjectEvents() handler.EventHandler {
	add := func(ctx context.Context, obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, b := range r.bindingsNamingUser(ctx, obj) {
			if r.subjectsReady(ctx, b) {
				q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)})
			} else {
				q.AddAfter(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(b)}, gatherWindow(b))
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			// A binding reads only its subjects' user ids (and whether they exist): the many
			// other writes to an Auth0User (finalizer, conditions, drift) do not concern it.
			before, okBefore := e.ObjectOld.(*v1alpha1.Auth0User)
			after, okAfter := e.ObjectNew.(*v1alpha1.Auth0User)
			if okBefore && okAfter && before.Status.UserID == after.Status.UserID &&
				before.DeletionTimestamp.IsZero() == after.DeletionTimestamp.IsZero() {
				return
			}
			add(ctx, e.ObjectNew, q)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.Object, q)
		},
	}
}

// subjectsReady reports, from the cache, whether every userRef subject has its Auth0 user. It
// starts where the last look at this generation of the binding found a subject without one (the
// ones before had theirs): when a thousand subjects become ready one by one, the thousand looks
// cost a thousand reads in all, not a million.
func (r *Reconciler) subjectsReady(ctx context.Context, b *v1alpha1.Auth0RoleBinding) bool {
	start := 0
	if v, ok := r.readyScans.Load(b.UID); ok && v.(readyScan).generation == b.Generation {
		start = v.(readyScan).next
	}
	for i := start; i < len(b.Spec.Subjects); i++ {
		sub := b.Spec.Subjects[i]
		if sub.UserRef == "" {
			continue
		}
		var u v1alpha1.Auth0User // read-only: the cache's own copy
		if err := r.Get(ctx, types.NamespacedName{Namespace: b.Namespace, Name: sub.UserRef}, &u, client.UnsafeDisableDeepCopy); err != nil || u.Status.UserID == "" {
			r.readyScans.Store(b.UID, readyScan{generation: b.Generation, next: i})
			return false
		}
	}
	r.readyScans.Delete(b.UID)
	return true
}

// readyScan is where subjectsReady stopped in a generation of a binding.
type readyScan struct {
	generation int64
	next       int
}

// bindingsNamingUser returns the bindings naming an Auth0User, shared with the cache: the event
// handlers only read them.
func (r *Reconciler) bindingsNamingUser(ctx context.Context, u client.Object) []*v1alpha1.Auth0RoleBinding {
	var list v1alpha1.Auth0RoleBindingList
	if err := r.List(ctx, &list, client.InNamespace(u.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "cannot list bindings naming an Auth0User", "user", u.GetName())
		return nil
	}
	var out []*v1alpha1.Auth0RoleBinding
	for i := range list.Items {
		if b := &list.Items[i]; r.userRefsOf(b)[u.GetName()] {
			out = append(out, b)
		}
	}
	return out
}

// userRefsOf returns the Auth0User names binding b's subjects refer to, made once per generation.
func (r *Reconciler) userRefsOf(b *v1alpha1.Auth0RoleBinding) map[string]bool {
	if v, ok := r.userRefs.Load(b.UID); ok && v.(userRefs).generation == b.Generation {
		return v.(userRefs).names
	}
	names := map[string]bool{}
	for _, s := range b.Spec.Subjects {
		if s.UserRef != "" {
			names[s.UserRef] = true
		}
	}
	r.userRefs.Store(b.UID, userRefs{generation: b.Generation, names: names})
	return names
}
