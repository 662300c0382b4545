package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RoleReference names an Auth0 role by exactly one of name or id.
// +kubebuilder:validation:XValidation:rule="has(self.name) != has(self.id)",message="a role is named by exactly one of name or id"
type RoleReference struct {
	// Name of the role in Auth0.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=50
	// +optional
	Name string `json:"name,omitempty"`
	// ID of the role in Auth0, e.g. `rol_0123456789abcdef`.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +optional
	ID string `json:"id,omitempty"`
}

// PermissionReference names one permission (scope) of an API (resource server).
type PermissionReference struct {
	// ResourceServerIdentifier is the API's identifier (its audience), e.g. `https://api.example.com`.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=600
	ResourceServerIdentifier string `json:"resourceServerIdentifier"`
	// Name of the permission, e.g. `read:reports`.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=280
	Name string `json:"name"`
}

// Subject names a user by exactly one of: an Auth0User in this namespace, an Auth0 user id, or
// an email address (within a connection).
// +kubebuilder:validation:XValidation:rule="[has(self.userRef), has(self.userID), has(self.email)].filter(x, x).size() == 1",message="a subject is named by exactly one of userRef, userID or email"
// +kubebuilder:validation:XValidation:rule="!has(self.connection) || has(self.email)",message="connection applies only to a subject named by email"
type Subject struct {
	// UserRef is the name of an Auth0User object in this namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	UserRef string `json:"userRef,omitempty"`
	// UserID is an Auth0 user id, e.g. `auth0|abc123`.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +optional
	UserID string `json:"userID,omitempty"`
	// Email of the user.
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+\.[^@\s]+$`
	// +optional
	Email string `json:"email,omitempty"`
	// Connection narrows an email subject to one connection; needed when the same email exists in
	// several connections.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Connection string `json:"connection,omitempty"`
}

// Auth0RoleBindingSpec grants roles and permissions to subjects. Bindings compose: a grant is
// removed from Auth0 only when no live binding grants it any more.
// +kubebuilder:validation:XValidation:rule="size(self.roles) + size(self.permissions) > 0",message="a binding grants at least one role or permission"
type Auth0RoleBindingSpec struct {
	// TenantRef names the Secret with the tenant's credentials; empty means the default tenant.
	// +optional
	TenantRef *TenantReference `json:"tenantRef,omitempty"`

	// Roles granted to every subject, each named once.
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y == x))",message="each role is named once"
	// +listType=atomic
	// +kubebuilder:default={}
	// +optional
	Roles []RoleReference `json:"roles"`

	// Permissions granted directly to every subject, each named once.
	// +kubebuilder:validation:MaxItems=100
	// +listType=map
	// +listMapKey=resourceServerIdentifier
	// +listMapKey=name
	// +kubebuilder:default={}
	// +optional
	Permissions []PermissionReference `json:"permissions"`

	// Subjects receive the roles and permissions, each named once. The list is atomic (as
	// server-side apply and GitOps tools need: a set of objects is no list they can merge), and
	// a rule comparing every pair of a thousand subjects would exceed CEL's cost limit, so the
	// operator checks that no subject is named twice (Stalled, InvalidSpec).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	Subjects []Subject `json:"subjects"`

	// DriftPolicy says whether grants removed in Auth0 are re-applied (Correct) or only reported.
	// +kubebuilder:default=Correct
	// +optional
	DriftPolicy DriftPolicy `json:"driftPolicy,omitempty"`

	// ResyncInterval is how often the grants are re-observed (jittered). Defaults to the
	// operator's --resync-interval.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="resyncInterval must be at least 10s"
	// +optional
	ResyncInterval *metav1.Duration `json:"resyncInterval,omitempty"`
}

// SubjectStatus is what the binding applied to one subject.
type SubjectStatus struct {
	// Subject identifies the spec entry: `userRef:<name>`, `userID:<id>` or `email:<address>`.
	Subject string `json:"subject"`
	// UserID is the resolved Auth0 user id; empty while the subject cannot be resolved.
	// +optional
	UserID string `json:"userID,omitempty"`
	// Roles are the ids of the roles applied to this subject.
	// +listType=set
	// +optional
	Roles []string `json:"roles,omitempty"`
	// Permissions applied, as `<resourceServerIdentifier> <permission>`.
	// +listType=set
	// +optional
	Permissions []string `json:"permissions,omitempty"`
	// ExternalRoles are ids of roles the binding grants that the user already held from outside
	// the operator when the binding found them. They count as held, and are never revoked.
	// +listType=set
	// +optional
	ExternalRoles []string `json:"externalRoles,omitempty"`
	// ExternalPermissions are permissions, as `<resourceServerIdentifier> <permission>`, the
	// binding grants that the user already held from outside the operator. Never revoked.
	// +listType=set
	// +optional
	ExternalPermissions []string `json:"externalPermissions,omitempty"`
	// PendingRoles are ids of roles the binding decided to add to this user and recorded before
	// calling Auth0 (write ahead). Found in Auth0 on a later pass, they are the binding's own,
	// not external, even if the answer to the write was lost.
	// +listType=set
	// +optional
	PendingRoles []string `json:"pendingRoles,omitempty"`
	// PendingPermissions are permissions, as `<resourceServerIdentifier> <permission>`, the
	// binding recorded before adding them (write ahead), like pendingRoles.
	// +listType=set
	// +optional
	PendingPermissions []string `json:"pendingPermissions,omitempty"`
	// Message says why the subject is not (fully) applied.
	// +optional
	Message string `json:"message,omitempty"`
}

// Auth0RoleBindingStatus is what the operator last observed and did.
type Auth0RoleBindingStatus struct {
	ReconcileStatus `json:",inline"`
	// Subjects is the state of each subject.
	// +listType=atomic
	// +optional
	Subjects []SubjectStatus `json:"subjects,omitempty"`
	// Tenant is the tenant domain this binding last reached with its own credentials (a token
	// for that domain with that client worked). Empty until then. Only a binding whose tenant is
	// verified, and that is neither denied nor stalled, keeps grants alive for the other bindings
	// of that tenant.
	// +optional
	Tenant string `json:"tenant,omitempty"`
	// SubjectCount is the number of distinct Auth0 users the subjects resolved to, for the
	// printer column.
	// +optional
	SubjectCount int `json:"subjectCount,omitempty"`
	// RoleCount is the number of distinct roles resolved, for the printer column.
	// +optional
	RoleCount int `json:"roleCount,omitempty"`
}

// Auth0RoleBinding grants Auth0 roles and API permissions to users.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=a0rb,categories=auth0
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Subjects",type=integer,JSONPath=`.status.subjectCount`
// +kubebuilder:printcolumn:name="Roles",type=integer,JSONPath=`.status.roleCount`
// +kubebuilder:printcolumn:name="Drift",type=integer,JSONPath=`.status.driftCount`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Auth0RoleBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   Auth0RoleBindingSpec   `json:"spec"`
	Status Auth0RoleBindingStatus `json:"status,omitempty"`
}

// Auth0RoleBindingList is a list of Auth0RoleBinding.
// +kubebuilder:object:root=true
type Auth0RoleBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Auth0RoleBinding `json:"items"`
}

// GetConditions returns the object's conditions (Flux's and cluster-api's Getter).
func (o *Auth0RoleBinding) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the object's conditions.
func (o *Auth0RoleBinding) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// GetReconcileStatus returns the status fields the reconcile shell computes.
func (o *Auth0RoleBinding) GetReconcileStatus() *ReconcileStatus { return &o.Status.ReconcileStatus }

// GetStatus returns the status, for the operator to write it whole.
func (o *Auth0RoleBinding) GetStatus() any { return &o.Status }

func init() {
	SchemeBuilder.Register(&Auth0RoleBinding{}, &Auth0RoleBindingList{})
}
