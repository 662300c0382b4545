package controllers

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

// patchStatusIfChanged merge-patches the status subresource, skipping the call when the status
// did not change: a no-op resync must not cost the API server a write.
func patchStatusIfChanged(ctx context.Context, c client.Client, before, after client.Object, oldStatus, newStatus any) error {
	if equality.Semantic.DeepEqual(oldStatus, newStatus) {
		return nil
	}
	if err := c.Status().Patch(ctx, after, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("cannot patch status: %w", err)
	}
	return nil
}

// ensureFinalizer adds the operator's finalizer to an object that is not being deleted, so that
// what it makes in Auth0 is cleaned up (or released) before the object goes.
func ensureFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	if !obj.GetDeletionTimestamp().IsZero() || controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	base := obj.DeepCopyObject().(client.Object)
	controllerutil.AddFinalizer(obj, Finalizer)
	if err := c.Patch(ctx, obj, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("cannot add finalizer: %w", err)
	}
	return nil
}

// releaseFinalizer lets a deleted object go.
func releaseFinalizer(ctx context.Context, c client.Client, obj client.Object) error {
	base := obj.DeepCopyObject().(client.Object)
	controllerutil.RemoveFinalizer(obj, Finalizer)
	return client.IgnoreNotFound(c.Patch(ctx, obj, client.MergeFrom(base)))
}

// specOrDeletionChanged passes creations, deletions, and updates that change the spec
// (generation) or start a deletion; the operator's own status writes do not trigger a reconcile.
func specOrDeletionChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld == nil || e.ObjectNew == nil {
				return true
			}
			return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
				e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero()
		},
	}
}

// Retry backoff of a failed reconcile (Auth0 or the API server unavailable). controller-runtime's
// default doubles from 5ms up to 16 minutes, so an object that failed through a long outage would
// wait a quarter of an hour after it ended; here it waits at most a minute.
const (
	retryBaseDelay = 100 * time.Millisecond
	retryMaxDelay  = time.Minute
)

// controllerOptions are the options both controllers share: workers and retry backoff. The
// overall bucket (10 retries a second, bursts of 100) keeps a storm of failures from becoming a
// storm of retries.
func controllerOptions(workers int) controller.Options {
	return controller.Options{
		MaxConcurrentReconciles: max(1, workers),
		RateLimiter: workqueue.NewTypedMaxOfRateLimiter(
			workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](retryBaseDelay, retryMaxDelay),
			&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
		),
	}
}

// stall marks an object Stalled, with a Warning event the first time (not on every retry of
// the same stall).
func stall(ctx context.Context, recorder events.EventRecorder, obj client.Object, conds *[]metav1.Condition, reason, message string) {
	if !conditions.IsTrue(*conds, v1alpha1.ConditionStalled) {
		recorder.Eventf(obj, nil, corev1.EventTypeWarning, reason, "Reconcile", "%s", message)
	}
	log.FromContext(ctx).Info("stalled", "reason", reason, "message", message)
	conditions.Stalled(conds, obj.GetGeneration(), reason, message)
}

// usersWithEmail looks users up by email (users-by-email is immediately consistent, unlike
// search) and keeps those of the connection; an empty connection keeps them all.
func usersWithEmail(ctx context.Context, c auth0.Client, email, connection string) ([]*auth0.User, error) {
	found, err := c.UsersByEmail(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("cannot look up users by email: %w", err)
	}
	var out []*auth0.User
	for _, u := range found {
		if connection == "" || userdiff.ConnectionOf(u) == connection {
			out = append(out, u)
		}
	}
	return out, nil
}
