package controller

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

// Finalizer keeps an object until what it made in Auth0 has been deleted or released.
const Finalizer = "auth0.usersync.io/finalizer"

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

// SpecOrDeletionChanged passes creations, deletions, and updates that change the spec
// (generation) or start a deletion; the operator's own status writes do not trigger a reconcile.
func SpecOrDeletionChanged() predicate.Predicate {
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

// ControllerOptions are the options both controllers share: workers and retry backoff. The
// overall bucket (10 retries a second, bursts of 100) keeps a storm of failures from becoming a
// storm of retries.
func ControllerOptions(workers int) controller.Options {
	return controller.Options{
		MaxConcurrentReconciles: max(1, workers),
		RateLimiter: workqueue.NewTypedMaxOfRateLimiter(
			workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](retryBaseDelay, retryMaxDelay),
			&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
		),
	}
}

// UsersWithEmail looks users up by email (users-by-email is immediately consistent, unlike
// search) and keeps those of the connection; an empty connection keeps them all.
//
// users-by-email is an exact, case-sensitive match, and Auth0 stores the emails of database
// connections lower-cased: the email is looked up lower-cased first and, only when that finds
// nobody and the email has capitals, as written (a social or enterprise connection keeps the
// email as the identity provider gives it).
func UsersWithEmail(ctx context.Context, c auth0.Client, email, connection string) ([]*auth0.User, error) {
	lower := strings.ToLower(email)
	found, err := c.UsersByEmail(ctx, lower)
	if err == nil && len(found) == 0 && lower != email {
		found, err = c.UsersByEmail(ctx, email)
	}
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

// ResyncOf is the object's own resync interval, or the operator's default.
func ResyncOf(spec *metav1.Duration, fallback time.Duration) time.Duration {
	if spec != nil && spec.Duration > 0 {
		return spec.Duration
	}
	return fallback
}

// Jitter spreads resyncs over +0..10% so that objects created together do not observe together.
func Jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// SpecApplied reports whether the object's current spec was applied by a successful pass: Ready
// for this generation. observedGeneration alone does not say it, since a stall is observed too;
// a difference found after a stall, or a transient failure, is the spec still being applied, not
// drift.
func SpecApplied(obj Object) bool {
	ready := meta.FindStatusCondition(obj.GetReconcileStatus().Conditions, v1alpha1.ConditionReady)
	return ready != nil && ready.Status == metav1.ConditionTrue && ready.ObservedGeneration == obj.GetGeneration()
}
