package auth0user

import (
	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

// recordDrift puts the drift of the latest observation into status, the Drifted condition and,
// when the drifted fields change, a Warning event.
func (r *Reconciler) recordDrift(obj *v1alpha1.Auth0User, entries []v1alpha1.DriftEntry) {
	controller.RecordDrift(r.Recorder, obj, obj.Spec.DriftPolicy, "Auth0User", "Auth0 differs from the spec in", entries)
}

// driftEntries turns differences into status entries, keeping the time a field was first seen
// drifting.
func driftEntries(diffs []userdiff.Difference, previous []v1alpha1.DriftEntry) []v1alpha1.DriftEntry {
	if len(diffs) == 0 {
		return nil
	}
	out := make([]v1alpha1.DriftEntry, 0, len(diffs))
	for _, d := range diffs {
		out = append(out, controller.DriftEntry(d.Field, d.Desired, d.Observed, previous))
	}
	return out
}
