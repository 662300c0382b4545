package auth0user

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/userdiff"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// observeUser reads the user by the id in status. Before the operator knows the id, it looks
// the email up only when adoption is asked for; otherwise it creates first and looks up on
// "The user already exists." (see createUser), which costs one call per new user instead of two.
func (r *Reconciler) observeUser(ctx context.Context, s *userScope) error {
	st := &s.obj.Status
	if st.UserID != "" {
		u, err := r.readUser(ctx, s)
		switch {
		case auth0.IsNotFound(err):
			s.observed = nil
			return nil
		case err != nil:
			return fmt.Errorf("cannot get user %s: %w", st.UserID, err)
		}
		if owner := userdiff.Owner(u); owner != s.owner {
			return r.ownedElsewhere(u, owner)
		}
		s.observed = u
		return nil
	}
	if !s.obj.Spec.AdoptExisting {
		return nil
	}
	return r.findByEmail(ctx, s)
}

// readUser reads the user by id, or takes the UserSweeper's bulk snapshot when the spec has not
// changed since the last success (a spec change deserves a fresh, consistent read).
func (r *Reconciler) readUser(ctx context.Context, s *userScope) (*auth0.User, error) {
	id := s.obj.Status.UserID
	if r.Snapshots != nil && s.obj.Generation == s.obj.Status.ObservedGeneration {
		if u, ok := r.Snapshots.Get(s.auth0, id, controller.ResyncOf(s.obj.Spec.ResyncInterval, r.ResyncInterval), time.Now()); ok {
			return u, nil
		}
	}
	return s.auth0.GetUser(ctx, id)
}

// wrote tells the snapshots that the operator changed the user.
func (r *Reconciler) wrote(s *userScope, id string) {
	if r.Snapshots != nil {
		r.Snapshots.Wrote(s.auth0, id, time.Now())
	}
}

// findByEmail looks the user up by email within the connection (users-by-email is immediately
// consistent, unlike search). This is what makes creation idempotent: a create whose response
// was lost left a user carrying this object's owner marker, and it is found here instead of
// being created twice. A user someone else owns, or nobody owns without adoptExisting, stalls.
func (r *Reconciler) findByEmail(ctx context.Context, s *userScope) error {
	st := &s.obj.Status
	matches, err := controller.UsersWithEmail(ctx, s.auth0, s.desired.Email, s.desired.Connection)
	if err != nil {
		return err
	}
	switch {
	case len(matches) == 0:
		return nil
	case len(matches) > 1:
		return controller.Stalled(conditions.ReasonUserExists, "%d users with email %s exist in connection %s; the operator cannot tell which one this object means", len(matches), s.desired.Email, s.desired.Connection)
	}
	u := matches[0]
	switch owner := userdiff.Owner(u); {
	case owner == s.owner:
		// Our own earlier create, whose response never arrived.
		log.FromContext(ctx).Info("found the user an earlier create made", "userID", u.ID)
	case owner != "":
		return r.ownedElsewhere(u, owner)
	case !s.obj.Spec.AdoptExisting:
		return controller.Stalled(conditions.ReasonUserExists, "user %s with email %s already exists in connection %s; set spec.adoptExisting to manage it", u.ID, s.desired.Email, s.desired.Connection)
	default:
		claimed, err := s.auth0.UpdateUser(ctx, u.ID, auth0.UserUpdate{AppMetadata: map[string]any{userdiff.OwnerKey: s.owner}})
		r.wrote(s, u.ID)
		if err != nil {
			return fmt.Errorf("cannot claim existing user %s: %w", u.ID, err)
		}
		r.Recorder.Eventf(s.obj, nil, corev1.EventTypeNormal, "Adopted", "Adopt", "adopted existing Auth0 user %s", u.ID)
		u = claimed
	}
	st.UserID = u.ID
	s.observed = u
	return nil
}

func (r *Reconciler) ownedElsewhere(u *auth0.User, owner string) error {
	if owner == "" {
		owner = "nobody (the operator's claim was removed)"
	}
	return controller.Stalled(conditions.ReasonOwnedElsewhere, "Auth0 user %s is managed by %s, not by this object", u.ID, owner)
}

// ownerOf is the owner marker of an object: cluster, namespace and name. The UID is left out on
// purpose so that an object deleted with policy Orphan and applied again finds its user.
func ownerOf(cluster string, obj client.Object) string {
	return cluster + "/" + obj.GetNamespace() + "/" + obj.GetName()
}
