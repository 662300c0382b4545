package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TenantReference names the Secret that holds the credentials of an Auth0 tenant. The Secret must
// live in the same namespace as the object that refers to it and carry the keys `domain`,
// `clientID` and `clientSecret` (a machine-to-machine application authorised for the Management
// API).
type TenantReference struct {
	// SecretName is the name of the tenant Secret in this object's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`
}

// DriftPolicy says what the operator does when Auth0 no longer matches the spec.
// +kubebuilder:validation:Enum=Correct;Report
type DriftPolicy string

const (
	// DriftPolicyCorrect re-applies the spec whenever drift is found (and reports it).
	DriftPolicyCorrect DriftPolicy = "Correct"
	// DriftPolicyReport only reports drift in status and events; Auth0 is left as it is.
	DriftPolicyReport DriftPolicy = "Report"
)

// DriftEntry is one difference between the spec and what was observed in Auth0.
type DriftEntry struct {
	// Field is the path of the differing field, e.g. `email` or `userMetadata.theme`.
	Field string `json:"field"`
	// Desired is the value in the spec, rendered as JSON and truncated. Empty means absent.
	// +optional
	Desired string `json:"desired,omitempty"`
	// Observed is the value found in Auth0, rendered as JSON and truncated. Empty means absent.
	// +optional
	Observed string `json:"observed,omitempty"`
	// DetectedAt is when this difference was first observed.
	DetectedAt metav1.Time `json:"detectedAt"`
}

// ReconcileStatus holds the status fields every reconciled kind shares; the reconcile shell
// (internal/controller) computes them from each pass's outcome.
type ReconcileStatus struct {
	// ObservedGeneration is the generation of the spec last reconciled to a conclusion: applied
	// (Ready) or refused in a way only a change can fix (Stalled).
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Drifted, and Reconciling and Stalled while they are true.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Drift lists what differed in Auth0 from the spec at the last observation.
	// +listType=atomic
	// +optional
	Drift []DriftEntry `json:"drift,omitempty"`
	// DriftCount is the number of entries in drift, for the printer column. The default fills
	// in the 0 that a status merge patch leaves out when nothing ever drifted.
	// +optional
	// +kubebuilder:default=0
	DriftCount int `json:"driftCount"`

	// LastSyncTime is when a successful reconcile last changed this status (applied a change or
	// found drift). A resync that finds nothing new writes nothing, so it does not move.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
}

// Condition types and reasons shared by both kinds. They follow kstatus: Ready is always present,
// Reconciling and Stalled only while they are true.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	ConditionDrifted     = "Drifted"
)
