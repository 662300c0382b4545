package auth0user

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/userdiff"
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
	if s.passwordUnavailable != "" {
		return controller.Stalled(conditions.ReasonSecretUnavailable, "%s; the user cannot be created without its password", s.passwordUnavailable)
	}
	if s.passwordVersion != nil && s.password == "" {
		// Recreating a user deleted out of band: the password was not read for a steady pass.
		if err := r.readPassword(ctx, s, true); err != nil {
			return err
		}
	}
	if err := r.recordCreateIntent(ctx, s); err != nil {
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
			// Not a refusal to stall on: the lookup may lag the create that answered 409.
			return &controller.TransientError{Reason: conditions.ReasonAuth0Unavailable,
				Err: fmt.Errorf("cannot create user (Auth0 says it exists, but users-by-email does not find it yet): %w", err)}
		}
		return nil
	}
	if err != nil {
		if auth0.NeverApplied(err) && st.UserID == "" {
			// Refused or never sent: no user was made, and deletion need not look for one.
			st.CreateAttempted = false
		}
		return fmt.Errorf("cannot create user: %w", err)
	}
	// No event: status says it (userID, Ready), and an event per new user is one more API
	// server write per user, a fifth of what creating a large tenant costs the API server.
	r.wrote(s, created.ID, created)
	st.UserID = created.ID
	st.Password = s.passwordVersion
	setKeys(st, userdiff.KeysAfter(s.desired, userdiff.Managed{}, s.desired.UserMetadata, s.desired.AppMetadata, true))
	s.observed = created
	s.created = true
	return nil
}

// recordCreateIntent records in status, before the create is sent, that a create was attempted,
// in which tenant, and the metadata keys it sets. If its response is lost, or the manager stops
// before the status is written, the user is later found by its owner marker: without this record
// deletion would not look for it (an object that never attempted a create releases at once), and
// a key dropped from the spec meanwhile would stay in Auth0 for ever. It costs one status write
// per created user.
func (r *Reconciler) recordCreateIntent(ctx context.Context, s *userScope) error {
	st := &s.obj.Status
	st.CreateAttempted = true
	st.TenantDomain = s.domain
	setKeys(st, userdiff.KeysAfter(s.desired, keysOf(st), s.desired.UserMetadata, s.desired.AppMetadata, false))
	return r.writeAhead(ctx, s, "the create about to be sent")
}

// writeAhead writes the status as it stands, before a write to Auth0 whose answer may be lost:
// what the write is about to do is then on record even if the pass ends there (a lost answer, a
// restart, the API server cut before the final status patch). Nothing is sent when the status
// already says it. A copy is patched, so that the object keeps its resourceVersion and the
// shell's final patch is no optimistic-lock precondition.
func (r *Reconciler) writeAhead(ctx context.Context, s *userScope, what string) error {
	if equality.Semantic.DeepEqual(s.persisted.Status, s.obj.Status) {
		return nil
	}
	if err := controller.PatchStatus(ctx, r.Client, s.persisted, s.obj.DeepCopy()); err != nil {
		return controller.KubernetesError("cannot record %s: %w", what, err)
	}
	s.persisted = s.obj.DeepCopy()
	return nil
}

// keysOf and setKeys move metadata keys between status and internal/userdiff.
func keysOf(st *v1alpha1.Auth0UserStatus) userdiff.Managed {
	return userdiff.Managed{
		UserMetadataKeys: st.ManagedUserMetadataKeys, AppMetadataKeys: st.ManagedAppMetadataKeys,
		FoundUserMetadataKeys: st.FoundUserMetadataKeys, FoundAppMetadataKeys: st.FoundAppMetadataKeys,
	}
}

func setKeys(st *v1alpha1.Auth0UserStatus, m userdiff.Managed) {
	st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys = m.UserMetadataKeys, m.AppMetadataKeys
	st.FoundUserMetadataKeys, st.FoundAppMetadataKeys = m.FoundUserMetadataKeys, m.FoundAppMetadataKeys
}
