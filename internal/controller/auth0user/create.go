package auth0user

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/userdiff"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// createUser creates the user when it does not exist. A user deleted in Auth0 out of band is
// recreated under drift policy Correct and only reported under Report.
func (r *Reconciler) createUser(ctx context.Context, s *userScope) error {
	if s.observed != nil {
		return nil
	}
	st := &s.obj.Status
	if st.UserID != "" {
		r.recordDrift(s.obj, []v1alpha1.DriftEntry{controller.DriftEntry("user", "present", "absent", st.Drift)})
		if s.obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport {
			// Reported, not recreated: the phases after this one find no user and write nothing.
			return nil
		}
	}
	if s.passwordVersion != nil && s.password == "" {
		// Recreating a user deleted out of band: the password was not read for a steady pass.
		if err := r.readPassword(ctx, s, true); err != nil {
			return err
		}
	}
	if err := r.recordKeysBeforeCreate(ctx, s); err != nil {
		return err
	}
	created, err := s.auth0.CreateUser(ctx, userdiff.CreateRequest(s.desired, s.password, s.obj.Spec.VerifyEmail, s.owner))
	if auth0.IsConflict(err) {
		// The user exists: our own create whose response was lost, a user made outside the
		// operator, or another object's. The owner marker tells which.
		st.UserID = ""
		if err := r.findByEmail(ctx, s); err != nil {
			return err
		}
		if s.observed == nil {
			return fmt.Errorf("cannot create user (Auth0 says it exists, but users-by-email does not find it yet): %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot create user: %w", err)
	}
	r.wrote(s, created.ID)
	r.Recorder.Eventf(s.obj, nil, corev1.EventTypeNormal, "Created", "Create", "created Auth0 user %s", created.ID)
	st.UserID = created.ID
	st.Password = s.passwordVersion
	managed := userdiff.ManagedAfterApply(s.desired, userdiff.Managed{}, true)
	st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys = managed.UserMetadataKeys, managed.AppMetadataKeys
	s.observed = created
	s.created = true
	return nil
}

// recordKeysBeforeCreate writes the metadata keys a create is about to set into status before
// the create is sent. If its response is lost, or the manager stops before the status is written,
// the user is later found by its owner marker; without this record, a key dropped from the spec
// meanwhile would stay in Auth0 for ever. It costs one status write per created user.
func (r *Reconciler) recordKeysBeforeCreate(ctx context.Context, s *userScope) error {
	st := &s.obj.Status
	previous := userdiff.Managed{UserMetadataKeys: st.ManagedUserMetadataKeys, AppMetadataKeys: st.ManagedAppMetadataKeys}
	pending := userdiff.ManagedAfterApply(s.desired, previous, false)
	if slices.Equal(pending.UserMetadataKeys, previous.UserMetadataKeys) && slices.Equal(pending.AppMetadataKeys, previous.AppMetadataKeys) {
		return nil
	}
	// A copy is patched: the object keeps its resourceVersion, so that the reconcile's own
	// status patch at the end is not turned into an optimistic-lock precondition.
	st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys = pending.UserMetadataKeys, pending.AppMetadataKeys
	written := s.obj.DeepCopy()
	base := written.DeepCopy()
	base.Status.ManagedUserMetadataKeys, base.Status.ManagedAppMetadataKeys = previous.UserMetadataKeys, previous.AppMetadataKeys
	if err := r.Status().Patch(ctx, written, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("cannot record the metadata keys of the user about to be created: %w", err)
	}
	return nil
}
