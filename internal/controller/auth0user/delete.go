package auth0user

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

// Delete deletes the Auth0 user (deletionPolicy Delete) or releases it (Orphan). An unreachable
// tenant (its Secret deleted, say) ends as a Stalled error: the shell lets the object go and a
// Warning event says the user was left in place.
func (r *Reconciler) Delete(ctx context.Context, obj *v1alpha1.Auth0User) error {
	if err := r.releaseUser(ctx, obj); err != nil {
		return fmt.Errorf("Auth0 user %s left in place: %w", obj.Status.UserID, err)
	}
	return nil
}

func (r *Reconciler) releaseUser(ctx context.Context, obj *v1alpha1.Auth0User) error {
	id := obj.Status.UserID
	c, err := r.Tenants.ClientFor(ctx, obj.Namespace, obj.Spec.TenantRef)
	if err != nil {
		if id == "" {
			return nil // no user is known, and there is no tenant to look in
		}
		return err
	}
	if id == "" {
		// A create whose response was lost, or whose status write a restart prevented, left a
		// user with this object's owner marker but no id in status: it is found by email, or
		// it would outlive its object.
		if id, err = r.findOwnCreate(ctx, c, obj); err != nil {
			if controller.Classify(err).Outcome == controller.OutcomeStalled {
				return nil // the tenant refuses the lookup: no user is known to exist
			}
			return err
		}
		if id == "" {
			return nil
		}
	}
	u, err := c.GetUser(ctx, id)
	switch {
	case auth0.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("cannot get user %s: %w", id, err)
	case userdiff.Owner(u) != ownerOf(r.ClusterName, obj):
		return nil // somebody else's now; never delete it
	}
	// The object goes either way: its snapshot must not outlive it.
	if r.Snapshots != nil {
		defer r.Snapshots.Forget(c, id)
	}
	if obj.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan {
		if _, err := c.UpdateUser(ctx, id, auth0.UserUpdate{AppMetadata: map[string]any{userdiff.OwnerKey: nil}}); err != nil {
			return fmt.Errorf("cannot release user %s: %w", id, err)
		}
		r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "Orphaned", "Delete", "Auth0 user %s released and left in place", id)
		return nil
	}
	if err := c.DeleteUser(ctx, id); err != nil {
		return fmt.Errorf("cannot delete user %s: %w", id, err)
	}
	r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "Deleted", "Delete", "deleted Auth0 user %s", id)
	return nil
}

// findOwnCreate returns the id of the user of this object's email and connection that carries
// its owner marker, or "".
func (r *Reconciler) findOwnCreate(ctx context.Context, c auth0.Client, obj *v1alpha1.Auth0User) (string, error) {
	found, err := controller.UsersWithEmail(ctx, c, obj.Spec.Email, obj.Spec.Connection)
	if err != nil {
		return "", err
	}
	for _, u := range found {
		if userdiff.Owner(u) == ownerOf(r.ClusterName, obj) {
			return u.ID, nil
		}
	}
	return "", nil
}
