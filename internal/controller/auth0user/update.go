package auth0user

import (
	"context"
	"fmt"
	"strings"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

// updateUser compares the user with the spec, reports drift, and patches what differs. A
// difference found while the spec is unchanged since the last success is drift; one found after
// a spec change is simply the change being applied.
func (r *Reconciler) updateUser(ctx context.Context, s *userScope) error {
	if s.observed == nil {
		return nil // deleted out of band, reported under policy Report (see createUser)
	}
	if s.created {
		r.recordDrift(s.obj, nil)
		return nil
	}
	st := &s.obj.Status
	managed := userdiff.Managed{UserMetadataKeys: st.ManagedUserMetadataKeys, AppMetadataKeys: st.ManagedAppMetadataKeys}
	plan := userdiff.Compare(s.desired, s.observed, managed)
	specChanged := s.obj.Generation != st.ObservedGeneration

	if specChanged {
		r.recordDrift(s.obj, nil)
	} else {
		r.recordDrift(s.obj, driftEntries(plan.Differences, st.Drift))
	}
	if !plan.NeedsUpdate() {
		// Auth0 holds every key the spec declares, also right after an adoption or a create
		// whose response was lost (which record no keys themselves): they are managed from now
		// on, so that a key later dropped from the spec is released.
		done := userdiff.ManagedAfterApply(s.desired, managed, true)
		st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys = done.UserMetadataKeys, done.AppMetadataKeys
		return nil
	}
	update := plan.Update
	if !specChanged && s.obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport {
		if len(plan.Released) == 0 {
			return nil
		}
		// Report leaves drifted fields alone but still removes keys this object gave up.
		update = releaseOnly(plan)
	}
	// Record the union of old and new keys before writing, so a key is never forgotten while
	// a write that may or may not have reached Auth0 is retried.
	pending := userdiff.ManagedAfterApply(s.desired, managed, false)
	st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys = pending.UserMetadataKeys, pending.AppMetadataKeys
	if update.Email != "" {
		update.VerifyEmail = s.obj.Spec.VerifyEmail
	}
	updated, err := s.auth0.UpdateUser(ctx, st.UserID, update)
	r.wrote(s, st.UserID)
	if err != nil {
		return fmt.Errorf("cannot update user %s: %w", st.UserID, err)
	}
	done := userdiff.ManagedAfterApply(s.desired, managed, true)
	st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys = done.UserMetadataKeys, done.AppMetadataKeys
	s.observed = updated
	return nil
}

// releaseOnly keeps from a plan's update only the removal of released metadata keys.
func releaseOnly(plan userdiff.Plan) auth0.UserUpdate {
	u := auth0.UserUpdate{}
	for _, field := range plan.Released {
		prefix, key, _ := strings.Cut(field, ".")
		if prefix == "userMetadata" {
			if u.UserMetadata == nil {
				u.UserMetadata = map[string]any{}
			}
			u.UserMetadata[key] = nil
		} else {
			if u.AppMetadata == nil {
				u.AppMetadata = map[string]any{}
			}
			u.AppMetadata[key] = nil
		}
	}
	return u
}
