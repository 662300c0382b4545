package auth0user

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/controller"
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
	keys := keysOf(st)
	plan := userdiff.Compare(s.desired, s.observed, keys)
	specChanged := !controller.SpecApplied(s.obj)

	if specChanged {
		r.recordDrift(s.obj, nil)
	} else {
		r.recordDrift(s.obj, driftEntries(plan.Differences, st.Drift))
	}
	update := plan.Update
	if !specChanged && s.obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport {
		// Report leaves drifted fields alone but still removes keys this object gave up.
		update = releaseOnly(plan)
	}
	if update.IsEmpty() {
		// Keys the spec declares that Auth0 already held (right after an adoption, say) are
		// found, not written: when they leave the spec they are released, not deleted.
		setKeys(st, userdiff.KeysAfter(s.desired, keys, nil, nil, true))
		return nil
	}
	// Recorded before writing, so that a key is never forgotten while a write that may or may
	// not have reached Auth0 is retried, and a key this write adds is never taken for one found
	// in place (and released rather than deleted) after a lost answer or a restart.
	pending := userdiff.KeysAfter(s.desired, keys, update.UserMetadata, update.AppMetadata, false)
	addsKeys := !slices.Equal(pending.UserMetadataKeys, s.persisted.Status.ManagedUserMetadataKeys) ||
		!slices.Equal(pending.AppMetadataKeys, s.persisted.Status.ManagedAppMetadataKeys)
	setKeys(st, pending)
	if addsKeys {
		if err := r.writeAhead(ctx, s, "the metadata keys about to be written"); err != nil {
			return err
		}
	}
	if v := s.obj.Spec.VerifyEmail; update.Email != "" && v != nil {
		verify := *v // a copy: the SDK decodes Auth0's answer into the request it sent
		update.VerifyEmail = &verify
	}
	updated, err := s.auth0.UpdateUser(ctx, st.UserID, update)
	r.wrote(s, st.UserID, updated)
	if err != nil {
		return fmt.Errorf("cannot update user %s: %w", st.UserID, err)
	}
	setKeys(st, userdiff.KeysAfter(s.desired, keys, update.UserMetadata, update.AppMetadata, true))
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
