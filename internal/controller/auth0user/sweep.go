package auth0user

import (
	"context"
	"time"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// UserSweeper re-observes every managed user of each tenant in bulk once per interval (a users
// search per 50 ids), keeps the results as snapshots, and wakes each Auth0User, whose reconcile
// then compares against the snapshot without a call of its own. A steady-state resync of N
// users costs about N/50 calls instead of N, and a change made in Auth0 is still noticed within
// one interval.
type UserSweeper struct {
	Reader    client.Reader
	Tenants   *controller.TenantResolver
	Snapshots *auth0.Snapshots
	Interval  time.Duration
	// Events receives one event per swept object; the Auth0User controller watches it.
	Events chan<- event.GenericEvent
}

// NeedLeaderElection makes only the leader sweep.
func (s *UserSweeper) NeedLeaderElection() bool { return true }

// Start sweeps every Interval until ctx ends.
func (s *UserSweeper) Start(ctx context.Context) error {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.sweep(ctx)
		}
	}
}

type tenantGroup struct {
	namespace string
	ref       *v1alpha1.TenantReference
	objects   []*v1alpha1.Auth0User
}

func (s *UserSweeper) sweep(ctx context.Context) {
	logger := log.FromContext(ctx).WithName("sweep")
	var users v1alpha1.Auth0UserList
	if err := s.Reader.List(ctx, &users, client.UnsafeDisableDeepCopy); err != nil { // read-only
		logger.Error(err, "cannot list Auth0Users")
		return
	}
	groups := map[string]*tenantGroup{}
	for i := range users.Items {
		u := &users.Items[i]
		// Stalled objects retry on their own, slower schedule: waking them would turn a
		// rejected write into one per sweep.
		if u.Status.UserID == "" || !u.DeletionTimestamp.IsZero() || conditions.IsTrue(u.Status.Conditions, v1alpha1.ConditionStalled) {
			continue
		}
		key := controller.TenantKey(u.Namespace, u.Spec.TenantRef)
		if groups[key] == nil {
			groups[key] = &tenantGroup{namespace: u.Namespace, ref: u.Spec.TenantRef}
		}
		groups[key].objects = append(groups[key].objects, u)
	}
	for _, g := range groups {
		c, err := s.Tenants.ClientFor(ctx, g.namespace, g.ref)
		if err != nil {
			continue // each object reports its tenant problem on its own reconcile
		}
		ids := make([]string, len(g.objects))
		for i, u := range g.objects {
			ids[i] = u.Status.UserID
		}
		// Taken before the calls: a snapshot is never newer than what it saw.
		at := time.Now()
		found, err := c.GetUsers(ctx, ids)
		if err != nil {
			logger.Info("bulk observation failed; objects fall back to reads by id", "error", err.Error())
			continue
		}
		s.Snapshots.Put(c, found, at)
		for _, u := range g.objects {
			select {
			case s.Events <- event.GenericEvent{Object: u}:
			case <-ctx.Done():
				return
			}
		}
	}
}
