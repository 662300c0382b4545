// Package controller is the reconcile shell every kind of the operator runs in (Flux's
// summarize-and-patch, cluster-api's phases as data), and what the kinds share: the error
// taxonomy, the tenant resolver, the tenancy policy, finalizers and watches. The kinds live in
// the packages below it (auth0user, auth0rolebinding); internal/manager wires them together.
package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
)

// Object is what the shell needs of a kind: conditions and the shared status fields.
type Object interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
	GetReconcileStatus() *v1alpha1.ReconcileStatus
	// GetStatus returns the whole status (a pointer to it), which PatchStatus diffs.
	GetStatus() any
}

// Kind is one kind's reconciler behind the shell. Its methods fill the object's status; the
// shell turns their errors into conditions (Classify) and patches the status once.
type Kind[T Object] interface {
	// Reconcile runs the kind's phases against Auth0.
	Reconcile(ctx context.Context, obj T) error
	// Delete deletes or releases what the object made in Auth0. A nil error, or a Stalled one
	// (the tenant refuses: nothing more can be done), lets the object go; the finalizer is then
	// removed. Any other error is retried.
	Delete(ctx context.Context, obj T) error
	// ReadyMessage is the Ready condition's message after a successful pass.
	ReadyMessage(obj T) string
	// ResyncAfter is when the object is looked at again after a pass that ended Ready (stalled
	// false) or Stalled (stalled true).
	ResyncAfter(obj T, stalled bool) time.Duration
}

// Reconciler is the one reconcile shell: get the object, ensure the finalizer, run the kind's
// phases or its deletion, then summarize the outcome into conditions and patch the status, only
// when it changed.
type Reconciler[T Object] struct {
	Client   client.Client
	Recorder events.EventRecorder
	// New returns an empty object of the kind.
	New  func() T
	Kind Kind[T]
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := r.New()
	if err := r.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if err := ensureFinalizer(ctx, r.Client, obj); err != nil {
		return ctrl.Result{}, err
	}
	before := obj.DeepCopyObject().(T)
	released := false // the object was let go: nothing is left to patch
	defer func() {
		if released {
			return
		}
		if err := patchStatus(ctx, r.Client, before, obj); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, err})
		}
	}()
	if !obj.GetDeletionTimestamp().IsZero() {
		result, err := r.delete(ctx, obj)
		released = err == nil && !controllerutil.ContainsFinalizer(obj, Finalizer)
		return result, err
	}
	return r.summarize(ctx, obj, r.Kind.Reconcile(ctx, obj))
}

// summarize sets the conditions and observedGeneration from a pass's error: Ready and observed
// on success; Stalled and observed on a terminal stall (Flux's rule: a stall is a conclusion,
// so kstatus reads Failed rather than InProgress); Reconciling while waiting or retrying.
func (r *Reconciler[T]) summarize(ctx context.Context, obj T, err error) (ctrl.Result, error) {
	st := obj.GetReconcileStatus()
	gen := obj.GetGeneration()
	v := Classify(err)
	switch v.Outcome {
	case OutcomeSucceeded:
		conditions.Ready(&st.Conditions, gen, r.Kind.ReadyMessage(obj))
		st.ObservedGeneration = gen
		return ctrl.Result{RequeueAfter: r.Kind.ResyncAfter(obj, false)}, nil
	case OutcomeWaiting:
		conditions.Reconciling(&st.Conditions, gen, v.Reason, v.Message)
		return ctrl.Result{RequeueAfter: v.RequeueAfter}, nil
	case OutcomeStalled:
		r.stall(ctx, obj, v)
		st.ObservedGeneration = gen
		// A stalled object waits for its spec, a Secret or a policy to change (all watched),
		// and is retried on the resync interval in case the tenant itself was fixed.
		return ctrl.Result{RequeueAfter: r.Kind.ResyncAfter(obj, true)}, nil
	default:
		conditions.Reconciling(&st.Conditions, gen, v.Reason, v.Message)
		return ctrl.Result{}, err
	}
}

// stall marks the object Stalled, with a Warning event the first time (not on every retry of
// the same stall).
func (r *Reconciler[T]) stall(ctx context.Context, obj T, v Verdict) {
	st := obj.GetReconcileStatus()
	if !conditions.IsTrue(st.Conditions, v1alpha1.ConditionStalled) || conditions.Reason(st.Conditions, v1alpha1.ConditionStalled) != v.Reason {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, v.Reason, "Reconcile", "%s", conditions.Truncate(v.Message))
	}
	log.FromContext(ctx).Info("stalled", "reason", v.Reason, "message", v.Message)
	conditions.Stalled(&st.Conditions, obj.GetGeneration(), v.Reason, v.Message)
}

// delete runs the kind's deletion and lets the object go once it is done, or once the tenant
// refuses for good (a Warning event says what was left in place).
func (r *Reconciler[T]) delete(ctx context.Context, obj T) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return ctrl.Result{}, nil
	}
	if err := r.Kind.Delete(ctx, obj); err != nil {
		v := Classify(err)
		if v.Outcome != OutcomeStalled {
			conditions.Reconciling(&obj.GetReconcileStatus().Conditions, obj.GetGeneration(), v.Reason, v.Message)
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, v.Reason, "Delete", "%s", conditions.Truncate(v.Message))
	}
	return ctrl.Result{}, releaseFinalizer(ctx, r.Client, obj)
}

// patchStatus merge-patches the status subresource when it changed. lastSyncTime alone is not a
// change: it moves only with a successful pass that changed something else, so a resync that
// finds nothing new costs the API server no write.
func patchStatus[T Object](ctx context.Context, c client.Client, before, after T) error {
	cur := after.GetReconcileStatus()
	cur.LastSyncTime = before.GetReconcileStatus().LastSyncTime
	// The phases change nothing but the status (the finalizer is added before before is taken,
	// and removed only when nothing is patched), so comparing the objects compares the statuses.
	if equality.Semantic.DeepEqual(before, after) {
		return nil
	}
	if conditions.IsTrue(cur.Conditions, v1alpha1.ConditionReady) {
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		cur.LastSyncTime = &now
	}
	if err := PatchStatus(ctx, c, before, after); client.IgnoreNotFound(err) != nil {
		return KubernetesError("cannot patch status: %w", err)
	}
	return nil
}

// PatchStatus merge-patches after's status from before's, and leaves in after what the API
// server answers. Like client.MergeFrom it writes only what the pass changed, so that a pass
// working from a cached copy older than the last write does not undo what it did not touch;
// unlike it, it diffs the status alone, field by field, instead of both copies of the whole
// object turned into maps: that took megabytes for a binding of 1,000 subjects at every pass.
// A changed list is sent whole (a merge patch replaces lists); a changed object is diffed.
func PatchStatus(ctx context.Context, c client.Client, before, after Object) error {
	return PatchStatusChange(ctx, c, after, before.GetStatus(), after.GetStatus())
}

// PatchStatusChange is PatchStatus for a caller that holds the two statuses but no whole object
// of the second (a copy of a binding of 1,000 subjects is a megabyte): target names the object,
// and receives what the API server answers.
func PatchStatusChange(ctx context.Context, c client.Client, target client.Object, before, after any) error {
	patch, err := statusMergePatch(before, after)
	if err != nil {
		return err
	}
	return c.Status().Patch(ctx, target, client.RawPatch(types.MergePatchType, patch))
}

func statusMergePatch(before, after any) ([]byte, error) {
	var old, cur map[string]json.RawMessage
	for _, f := range []struct {
		status any
		fields *map[string]json.RawMessage
	}{{before, &old}, {after, &cur}} {
		raw, err := json.Marshal(f.status)
		if err != nil {
			return nil, fmt.Errorf("cannot encode the status: %w", err)
		}
		if err := json.Unmarshal(raw, f.fields); err != nil {
			return nil, fmt.Errorf("cannot encode the status: %w", err)
		}
	}
	changed := map[string]json.RawMessage{}
	for name, value := range cur {
		prev, ok := old[name]
		switch {
		case ok && bytes.Equal(prev, value):
		case ok && len(prev) > 0 && prev[0] == '{' && len(value) > 0 && value[0] == '{':
			diff, err := jsonpatch.CreateMergePatch(prev, value)
			if err != nil {
				return nil, fmt.Errorf("cannot diff status.%s: %w", name, err)
			}
			changed[name] = diff
		default:
			changed[name] = value
		}
	}
	for name := range old {
		if _, ok := cur[name]; !ok {
			changed[name] = json.RawMessage("null")
		}
	}
	return json.Marshal(map[string]any{"status": changed})
}
