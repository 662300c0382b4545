// Package conditions sets kstatus-style conditions: Ready is always present; Reconciling and
// Stalled exist only while they are true, so that kstatus, Flux and Argo CD read the object's
// state from the presence of a condition rather than from a False that lingers.
package conditions

import (
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
)

// Reasons used in conditions. They are stable: documentation and alerts refer to them.
const (
	ReasonSucceeded         = "Succeeded"
	ReasonTenantUnavailable = "TenantUnavailable"
	ReasonAuth0Rejected     = "Auth0Rejected"
	ReasonAuth0Unavailable  = "Auth0Unavailable"
	// ReasonKubernetesUnavailable: the API server failed a read or write the pass needed.
	ReasonKubernetesUnavailable = "KubernetesUnavailable"
	// ReasonRolesChanged: a role was deleted in Auth0 after it was resolved; resolving again.
	ReasonRolesChanged      = "RolesChanged"
	ReasonOwnedElsewhere    = "OwnedElsewhere"
	ReasonUserExists        = "UserExists"
	ReasonSecretUnavailable = "SecretUnavailable"
	ReasonDriftDetected     = "DriftDetected"
	ReasonInSync            = "InSync"
	ReasonUnresolved        = "Unresolved"
	ReasonSubjectsPending   = "SubjectsPending"
	ReasonInvalidSpec       = "InvalidSpec"
	ReasonPolicyDenied      = "PolicyDenied"
	// ReasonTenantChanged: the tenant Secret names another domain than the one the user lives in.
	ReasonTenantChanged = "TenantChanged"
	// ReasonDeletionBlocked: deleting what the object made in Auth0 cannot proceed yet.
	ReasonDeletionBlocked = "DeletionBlocked"
)

// Ready marks the object ready and drops Reconciling and Stalled.
func Ready(conds *[]metav1.Condition, generation int64, message string) {
	set(conds, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonSucceeded, message, generation)
	meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
}

// Reconciling says the operator is working towards the spec (or retrying a transient failure):
// Ready is False with the same reason, and Stalled is dropped.
func Reconciling(conds *[]metav1.Condition, generation int64, reason, message string) {
	set(conds, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message, generation)
	set(conds, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message, generation)
	meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
}

// Stalled says the operator cannot make progress until the spec, a Secret or the tenant changes:
// Ready is False with the same reason, and Reconciling is dropped.
func Stalled(conds *[]metav1.Condition, generation int64, reason, message string) {
	set(conds, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message, generation)
	set(conds, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message, generation)
	meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
}

// Drifted records whether Auth0 differed from the spec at the last observation.
func Drifted(conds *[]metav1.Condition, generation int64, drifted bool, message string) {
	if drifted {
		set(conds, v1alpha1.ConditionDrifted, metav1.ConditionTrue, ReasonDriftDetected, message, generation)
		return
	}
	set(conds, v1alpha1.ConditionDrifted, metav1.ConditionFalse, ReasonInSync, "Auth0 matches the spec", generation)
}

// IsTrue reports whether the condition of type t is present and True.
func IsTrue(conds []metav1.Condition, t string) bool {
	return meta.IsStatusConditionTrue(conds, t)
}

func set(conds *[]metav1.Condition, t string, status metav1.ConditionStatus, reason, message string, generation int64) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type:               t,
		Status:             status,
		Reason:             reason,
		Message:            Truncate(message),
		ObservedGeneration: generation,
	})
}

// MaxMessage is the most a condition message, or an event note, may hold: events.k8s.io refuses
// a longer note, and the whole event with it.
const MaxMessage = 1024

// Truncate shortens a message to MaxMessage bytes, without splitting a UTF-8 character.
func Truncate(s string) string {
	if len(s) <= MaxMessage {
		return s
	}
	cut := MaxMessage - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// Reason returns the reason of the condition of type t, or "".
func Reason(conds []metav1.Condition, t string) string {
	if c := meta.FindStatusCondition(conds, t); c != nil {
		return c.Reason
	}
	return ""
}
