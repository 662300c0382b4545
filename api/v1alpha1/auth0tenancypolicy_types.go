package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Auth0TenancyPolicySpec says what the Auth0User and Auth0RoleBinding objects in the selected
// namespaces may do. A namespace may be selected by several policies: an action is allowed when
// any of them allows it (policies only ever add permissions, as RBAC roles do). Patterns in the
// lists may use `*` for any run of characters; `*` alone allows everything of that kind.
// +kubebuilder:validation:XValidation:rule="!has(self.adoption) || !has(self.adoption.emailDomains) || self.adoption.allowed",message="adoption.emailDomains needs adoption.allowed: true"
type Auth0TenancyPolicySpec struct {
	// NamespaceSelector selects the namespaces this policy governs by their labels; `{}` selects
	// every namespace. `kubernetes.io/metadata.name` selects one namespace by name.
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`

	// DefaultTenant allows objects without spec.tenantRef to use the operator's default tenant
	// (whose Secret is in the operator's namespace, out of the teams' reach).
	// +optional
	DefaultTenant bool `json:"defaultTenant,omitempty"`

	// Connections are the Auth0 connections Auth0User objects may create or manage users in.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	Connections []string `json:"connections,omitempty"`

	// Roles are the Auth0 roles, by name or id, that Auth0RoleBinding objects may grant.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	Roles []string `json:"roles,omitempty"`

	// Permissions are the API permissions Auth0RoleBinding objects may grant.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Permissions []PermissionRule `json:"permissions,omitempty"`

	// Adoption says whether Auth0User objects may take over users that exist in Auth0 before
	// them (spec.adoptExisting). Without it, adoption is denied: adopting is how a namespace could
	// take control of, say, the tenant owner's account.
	// +optional
	Adoption *AdoptionRule `json:"adoption,omitempty"`
}

// PermissionRule allows permissions (scopes) of one API.
type PermissionRule struct {
	// ResourceServerIdentifier is the API's identifier (its audience), or a pattern of them.
	// +kubebuilder:validation:MinLength=1
	ResourceServerIdentifier string `json:"resourceServerIdentifier"`
	// Scopes are the permission names that may be granted, e.g. `read:*`.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +listType=set
	Scopes []string `json:"scopes"`
}

// AdoptionRule allows adoption of pre-existing Auth0 users.
type AdoptionRule struct {
	// Allowed allows adoption at all.
	Allowed bool `json:"allowed"`
	// EmailDomains, when set, limit adoption to users whose email is in one of these domains
	// (`example.com`, or `*.example.com` for its subdomains). Empty allows any email.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	EmailDomains []string `json:"emailDomains,omitempty"`
}

// Auth0TenancyPolicy is set by the cluster administrator to say which namespaces may use the
// default tenant, which connections, roles and permissions they may use, and whether they may
// adopt existing users. Objects in a namespace no policy selects are refused unless the operator
// runs with --require-tenancy-policy=false.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=a0tp,categories=auth0
// +kubebuilder:printcolumn:name="Default Tenant",type=boolean,JSONPath=`.spec.defaultTenant`
// +kubebuilder:printcolumn:name="Adoption",type=boolean,JSONPath=`.spec.adoption.allowed`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Auth0TenancyPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec Auth0TenancyPolicySpec `json:"spec"`
}

// Auth0TenancyPolicyList is a list of Auth0TenancyPolicy.
// +kubebuilder:object:root=true
type Auth0TenancyPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Auth0TenancyPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Auth0TenancyPolicy{}, &Auth0TenancyPolicyList{})
}
