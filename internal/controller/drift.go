package controller

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/metrics"
)

// RecordDrift puts the drift of the latest observation into status and the Drifted condition.
// A field that starts drifting is counted once in drift_detected_total and, when the set of
// drifted fields changes, a Warning event says so: drift that persists from one resync to the
// next is neither counted nor announced again. what describes the drift for the message
// ("Auth0 differs from the spec in", "grants removed in Auth0:").
func RecordDrift(recorder events.EventRecorder, obj Object, policy v1alpha1.DriftPolicy, kind, what string, entries []v1alpha1.DriftEntry) {
	st := obj.GetReconcileStatus()
	previous := st.Drift
	st.Drift, st.DriftCount = entries, len(entries)
	if len(entries) == 0 {
		conditions.Drifted(&st.Conditions, obj.GetGeneration(), false, "")
		return
	}
	action := "re-applied"
	if policy == v1alpha1.DriftPolicyReport {
		action = "reported only (policy Report)"
	}
	message := fmt.Sprintf("%s %s; %s", what, driftFields(entries), action)
	conditions.Drifted(&st.Conditions, obj.GetGeneration(), true, message)
	newly := 0
	for _, e := range entries {
		if !slices.ContainsFunc(previous, func(p v1alpha1.DriftEntry) bool { return p.Field == e.Field }) {
			newly++
		}
	}
	metrics.DriftDetected.WithLabelValues(kind).Add(float64(newly))
	if driftFields(entries) != driftFields(previous) {
		recorder.Eventf(obj, nil, corev1.EventTypeWarning, conditions.ReasonDriftDetected, "Observe", "%s", conditions.Truncate(message))
	}
}

// DriftEntry is a status entry for a drifted field, keeping the time it was first seen drifting.
func DriftEntry(field, desired, observed string, previous []v1alpha1.DriftEntry) v1alpha1.DriftEntry {
	e := v1alpha1.DriftEntry{Field: field, Desired: desired, Observed: observed, DetectedAt: metav1.Now()}
	if i := slices.IndexFunc(previous, func(p v1alpha1.DriftEntry) bool { return p.Field == field }); i >= 0 {
		e.DetectedAt = previous[i].DetectedAt
	}
	return e
}

func driftFields(entries []v1alpha1.DriftEntry) string {
	fields := make([]string, 0, len(entries))
	for _, e := range entries {
		fields = append(fields, e.Field)
	}
	return strings.Join(fields, ", ")
}
