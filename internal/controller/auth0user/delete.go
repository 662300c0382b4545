package auth0user

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

// Delete deletes the Auth0 user (deletionPolicy Delete) or releases it (Orphan). An object that
// never attempted a create has nothing in Auth0 and goes at once. Otherwise deletion is retried
// with backoff, under a condition saying what it waits for, until it succeeds: the user is never
// left behind silently. Setting deletionPolicy Orphan is the explicit way to give up when the
// tenant is out of reach: the object then goes and the user keeps its owner marker, which no
// later object takes over without adoption.
func (r *Reconciler) Delete(ctx context.Context, obj *v1alpha1.Auth0User) error {
	st := &obj.Status
	if st.UserID == "" && !st.CreateAttempted {
		return nil
	}
	err := r.releaseUser(ctx, obj)
	if err == nil {
		return nil
	}
	if v := controller.Classify(err); obj.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan && v.Outcome == controller.OutcomeStalled {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, v.Reason, "Delete", "%s", conditions.Truncate(
			fmt.Sprintf("Auth0 user %s left in place with its owner marker (deletionPolicy Orphan): %s", st.UserID, v.Message)))
		return nil
	}
	return &controller.TransientError{Reason: conditions.ReasonDeletionBlocked,
		Err: fmt.Errorf("cannot delete Auth0 user %s yet, retrying (set spec.deletionPolicy to Orphan to leave it in Auth0): %w", st.UserID, err)}
}

func (r *Reconciler) releaseUser(ctx context.Context, obj *v1alpha1.Auth0User) error {
	id := obj.Status.UserID
	c, err := r.Tenants.ClientFor(ctx, obj.Namespace, obj.Spec.TenantRef)
	if err != nil {
		return err
	}
	if recorded := obj.Status.TenantDomain; recorded != "" {
		domain, err := r.Tenants.Domain(ctx, obj.Namespace, obj.Spec.TenantRef)
		if err != nil {
			return err
		}
		if domain != recorded {
			return controller.Stalled(conditions.ReasonTenantChanged, "the user lives in tenant %s, but the tenant Secret now names %s", recorded, domain)
		}
	}
	if id == "" {
		// A create whose response was lost, or whose status write a restart prevented, left a
		// user with this object's owner marker but no id in status: it is found by email, or
		// it would outlive its object.
		if id, err = r.findOwnCreate(ctx, c, obj); err != nil || id == "" {
			return err
		}
	}
	// The object goes either way: its snapshot must not outlive it.
	if r.Snapshots != nil {
		defer r.Snapshots.Forget(c, id)
	}
	u, err := c.GetUser(ctx, id)
	switch {
	case auth0.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("cannot get user %s: %w", id, err)
	}
	if owner := userdiff.Owner(u); owner != ownerOf(r.ClusterName, obj) && !(owner == nameOwnerOf(r.ClusterName, obj) && id == obj.Status.UserID) {
		return nil // somebody else's now; never delete it
	}
	if obj.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan {
		if _, err := c.UpdateUser(ctx, id, auth0.UserUpdate{AppMetadata: map[string]any{userdiff.OwnerKey: nil}}); err != nil {
			return fmt.Errorf("cannot release user %s: %w", id, err)
		}
		r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "Orphaned", "Delete", "Auth0 user %s released and left in place", id)
		return nil
	}
	if err := c.DeleteUser(ctx, id); err != nil && !auth0.IsNotFound(err) {
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
