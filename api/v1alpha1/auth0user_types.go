package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to the Auth0 user when its Auth0User object is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the Auth0 user with the object.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the Auth0 user in place and releases the operator's claim on it.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// SecretKeyReference selects one key of a Secret in the object's namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key within the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:default=password
	// +optional
	Key string `json:"key,omitempty"`
}

// Auth0UserSpec is the desired state of one Auth0 user. Fields left out are not managed: the
// operator neither sets nor reports them, so values written by applications or by Auth0 survive.
type Auth0UserSpec struct {
	// TenantRef names the Secret with the tenant's credentials. When empty, the operator's default
	// tenant (set by its flags) is used.
	// +optional
	TenantRef *TenantReference `json:"tenantRef,omitempty"`

	// Connection is the name of the Auth0 connection the user belongs to, such as
	// `Username-Password-Authentication`. It cannot change once set.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="connection is immutable"
	Connection string `json:"connection"`

	// Email is the user's address; it identifies the user within its connection.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+\.[^@\s]+$`
	Email string `json:"email"`

	// Username, for connections that require one.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Username string `json:"username,omitempty"`

	// PhoneNumber in E.164 format, e.g. +14155550100.
	// +kubebuilder:validation:Pattern=`^\+[1-9][0-9]{6,14}$`
	// +optional
	PhoneNumber string `json:"phoneNumber,omitempty"`

	// Name is the user's full name.
	// +kubebuilder:validation:MaxLength=300
	// +optional
	Name string `json:"name,omitempty"`
	// GivenName is the user's first name.
	// +kubebuilder:validation:MaxLength=150
	// +optional
	GivenName string `json:"givenName,omitempty"`
	// FamilyName is the user's last name.
	// +kubebuilder:validation:MaxLength=150
	// +optional
	FamilyName string `json:"familyName,omitempty"`
	// Nickname is the user's nickname.
	// +kubebuilder:validation:MaxLength=300
	// +optional
	Nickname string `json:"nickname,omitempty"`
	// Picture is the URL of the user's picture.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (self.startsWith('https://') || self.startsWith('http://'))",message="picture must be an http(s) URL"
	// +optional
	Picture string `json:"picture,omitempty"`

	// EmailVerified sets whether the email address counts as verified.
	// +optional
	EmailVerified *bool `json:"emailVerified,omitempty"`
	// VerifyEmail asks Auth0 to send a verification email when the user is created or its email
	// changes.
	// +optional
	VerifyEmail *bool `json:"verifyEmail,omitempty"`
	// Blocked prevents the user from logging in.
	// +optional
	Blocked *bool `json:"blocked,omitempty"`

	// PasswordSecretRef selects the Secret key holding the user's password (database connections
	// only). The password is sent when the user is created and again only when that Secret
	// changes; it is never stored in status, logged or put in events.
	// +optional
	PasswordSecretRef *SecretKeyReference `json:"passwordSecretRef,omitempty"`

	// UserMetadata holds the keys of `user_metadata` that this object owns. Keys set by
	// applications are left alone; a key removed from here is removed from Auth0 only if this
	// object set it. Values replace Auth0's whole (Auth0 merges metadata at the top level only).
	// Key names must not contain '.' or '$', at any depth; the operator checks this (and the
	// 16 KiB size bound) before calling Auth0, because CEL cannot see into free-form JSON.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	UserMetadata map[string]apiextensionsv1.JSON `json:"userMetadata,omitempty"`

	// AppMetadata holds the keys of `app_metadata` that this object owns, with the same ownership
	// rules as userMetadata. Keys Auth0 reserves (blocked, email, user_id, ...) and the
	// operator's own usersync_owner are refused.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	AppMetadata map[string]apiextensionsv1.JSON `json:"appMetadata,omitempty"`

	// AdoptExisting allows this object to take over a user that already exists in Auth0 with the
	// same email in the same connection and that no other object manages. Off by default, so
	// that a typo cannot capture somebody else's account.
	// +optional
	AdoptExisting bool `json:"adoptExisting,omitempty"`

	// DeletionPolicy says whether deleting this object deletes the Auth0 user (Delete) or leaves
	// it in place (Orphan).
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// DriftPolicy says whether changes made in Auth0 to fields this object manages are reverted
	// (Correct) or only reported (Report).
	// +kubebuilder:default=Correct
	// +optional
	DriftPolicy DriftPolicy `json:"driftPolicy,omitempty"`

	// ResyncInterval is how often the user is re-observed for drift (jittered by up to 10%).
	// Defaults to the operator's --resync-interval.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="resyncInterval must be at least 10s"
	// +optional
	ResyncInterval *metav1.Duration `json:"resyncInterval,omitempty"`
}

// PasswordStatus records which version of the password Secret was last sent, without anything
// derived from the password itself.
type PasswordStatus struct {
	// SecretUID is the UID of the Secret the password was read from.
	SecretUID string `json:"secretUID"`
	// SecretResourceVersion is the resourceVersion of that Secret when it was sent.
	SecretResourceVersion string `json:"secretResourceVersion"`
	// Key is the Secret key the password was read from.
	Key string `json:"key"`
	// Unmanaged says why the password is not managed at the moment (its Secret or key is gone);
	// everything else keeps reconciling, and the password is managed again once it returns.
	// +optional
	Unmanaged string `json:"unmanaged,omitempty"`
}

// Auth0UserStatus is what the operator last observed and did.
type Auth0UserStatus struct {
	ReconcileStatus `json:",inline"`

	// UserID is the Auth0 user id, e.g. `auth0|6523...`.
	// +optional
	UserID string `json:"userID,omitempty"`

	// ManagedUserMetadataKeys are the user_metadata keys this object has set in Auth0.
	// +listType=set
	// +optional
	ManagedUserMetadataKeys []string `json:"managedUserMetadataKeys,omitempty"`
	// ManagedAppMetadataKeys are the app_metadata keys this object has set in Auth0.
	// +listType=set
	// +optional
	ManagedAppMetadataKeys []string `json:"managedAppMetadataKeys,omitempty"`
	// FoundUserMetadataKeys are user_metadata keys the spec declares whose value the operator
	// found already in place (adoption, export) and never wrote: when they leave the spec they
	// are released, not deleted.
	// +listType=set
	// +optional
	FoundUserMetadataKeys []string `json:"foundUserMetadataKeys,omitempty"`
	// FoundAppMetadataKeys are the same for app_metadata.
	// +listType=set
	// +optional
	FoundAppMetadataKeys []string `json:"foundAppMetadataKeys,omitempty"`

	// CreateAttempted is recorded before the first create is sent: a user carrying this object's
	// owner marker may exist even without a userID (the answer was lost). An object that never
	// attempted a create has nothing in Auth0 to delete.
	// +optional
	CreateAttempted bool `json:"createAttempted,omitempty"`

	// TenantDomain is the tenant the user lives in. A tenant Secret that later names another
	// domain stalls the object (TenantChanged) instead of creating the user again there.
	// +optional
	TenantDomain string `json:"tenantDomain,omitempty"`

	// Password records which Secret version the password was last sent from.
	// +optional
	Password *PasswordStatus `json:"password,omitempty"`
}

// Auth0User declares one Auth0 user: profile, metadata keys it owns, and policies.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=a0u,categories=auth0
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="User ID",type=string,JSONPath=`.status.userID`
// +kubebuilder:printcolumn:name="Email",type=string,JSONPath=`.spec.email`
// +kubebuilder:printcolumn:name="Drift",type=integer,JSONPath=`.status.driftCount`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Auth0User struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   Auth0UserSpec   `json:"spec"`
	Status Auth0UserStatus `json:"status,omitempty"`
}

// Auth0UserList is a list of Auth0User.
// +kubebuilder:object:root=true
type Auth0UserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Auth0User `json:"items"`
}

// GetConditions returns the object's conditions (Flux's and cluster-api's Getter).
func (o *Auth0User) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the object's conditions.
func (o *Auth0User) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// GetReconcileStatus returns the status fields the reconcile shell computes.
func (o *Auth0User) GetReconcileStatus() *ReconcileStatus { return &o.Status.ReconcileStatus }

// GetStatus returns the status, for the operator to write it whole.
func (o *Auth0User) GetStatus() any { return &o.Status }

func init() {
	SchemeBuilder.Register(&Auth0User{}, &Auth0UserList{})
}
