package controllers

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/metrics"
)

// recordDrift puts the drift of the latest observation into status and the Drifted condition,
// and emits a Warning event when the set of drifted fields changes (not on every resync).
func (r *Auth0UserReconciler) recordDrift(obj *v1alpha1.Auth0User, entries []v1alpha1.DriftEntry) {
	st := &obj.Status
	previous := driftFields(st.Drift)
	st.Drift = entries
	st.DriftCount = len(entries)
	current := driftFields(entries)
	if len(entries) == 0 {
		conditions.Drifted(&st.Conditions, obj.Generation, false, "")
		return
	}
	action := "re-applied"
	if obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport {
		action = "reported only (policy Report)"
	}
	message := fmt.Sprintf("Auth0 differs from the spec in %s; %s", current, action)
	conditions.Drifted(&st.Conditions, obj.Generation, true, message)
	metrics.DriftDetected.WithLabelValues("Auth0User").Inc()
	if current != previous {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, conditions.ReasonDriftDetected, "Observe", "%s", message)
	}
}

func driftFields(entries []v1alpha1.DriftEntry) string {
	fields := make([]string, 0, len(entries))
	for _, e := range entries {
		fields = append(fields, e.Field)
	}
	return strings.Join(fields, ", ")
}
