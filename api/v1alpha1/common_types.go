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

// Condition types and reasons shared by both kinds. They follow kstatus: Ready is always present,
// Reconciling and Stalled only while they are true.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	ConditionDrifted     = "Drifted"
)
