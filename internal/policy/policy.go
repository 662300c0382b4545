// Package policy decides what the objects of a namespace may do in Auth0, from the
// Auth0TenancyPolicy objects that select the namespace. It is pure: the controllers gather the
// policies and the namespace's labels and ask it; it answers with the reason for a denial.
package policy

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/usersync/auth0-operator/api/v1alpha1"
)

// Effective is the union of the policies selecting one namespace.
type Effective struct {
	Namespace string
	// Unrestricted is true when no policy selects the namespace and none is required.
	Unrestricted bool
	// Names are the policies selecting the namespace, sorted, for messages.
	Names []string
	specs []v1alpha1.Auth0TenancyPolicySpec
}

// For gathers the policies that select a namespace with the given labels. A policy whose
// selector cannot be parsed selects nothing, so a typo denies rather than allows.
func For(namespace string, nsLabels map[string]string, policies []v1alpha1.Auth0TenancyPolicy, required bool) Effective {
	e := Effective{Namespace: namespace}
	for _, p := range policies {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.NamespaceSelector)
		if err != nil || !sel.Matches(labels.Set(nsLabels)) {
			continue
		}
		e.Names = append(e.Names, p.Name)
		e.specs = append(e.specs, p.Spec)
	}
	slices.Sort(e.Names)
	e.Unrestricted = len(e.specs) == 0 && !required
	return e
}

// Denial is why a policy refuses an object; its message goes into the Stalled condition.
type Denial struct{ Message string }

func (d *Denial) Error() string { return d.Message }

func (e Effective) deny(format string, args ...any) *Denial {
	what := fmt.Sprintf(format, args...)
	if len(e.Names) == 0 {
		return &Denial{Message: fmt.Sprintf("no Auth0TenancyPolicy selects namespace %q, so it may not %s", e.Namespace, what)}
	}
	return &Denial{Message: fmt.Sprintf("namespace %q may not %s (Auth0TenancyPolicy %s)", e.Namespace, what, strings.Join(e.Names, ", "))}
}

// any reports whether some policy allows what ok says.
func (e Effective) any(ok func(v1alpha1.Auth0TenancyPolicySpec) bool) bool {
	return e.Unrestricted || slices.ContainsFunc(e.specs, ok)
}

// CheckTenant allows an object's tenant: its own namespace's Secret always, the operator's
// default tenant only where a policy says so.
func (e Effective) CheckTenant(ref *v1alpha1.TenantReference) error {
	if ref != nil || e.any(func(s v1alpha1.Auth0TenancyPolicySpec) bool { return s.DefaultTenant }) {
		return nil
	}
	return e.deny("use the default tenant; set spec.tenantRef to a tenant Secret of its own")
}

// CheckUser allows an Auth0User's tenant, connection and adoption.
func (e Effective) CheckUser(spec v1alpha1.Auth0UserSpec) error {
	if err := e.CheckTenant(spec.TenantRef); err != nil {
		return err
	}
	if !e.any(func(s v1alpha1.Auth0TenancyPolicySpec) bool { return matchesAny(s.Connections, spec.Connection) }) {
		return e.deny("use connection %q", spec.Connection)
	}
	if spec.AdoptExisting && !e.any(func(s v1alpha1.Auth0TenancyPolicySpec) bool { return adoptionAllows(s.Adoption, spec.Email) }) {
		return e.deny("adopt an existing user with email %q (spec.adoptExisting)", spec.Email)
	}
	return nil
}

// CheckRole allows granting a role, known by its name and id (either may be empty).
func (e Effective) CheckRole(name, id string) error {
	if e.any(func(s v1alpha1.Auth0TenancyPolicySpec) bool {
		return (name != "" && matchesAny(s.Roles, name)) || (id != "" && matchesAny(s.Roles, id))
	}) {
		return nil
	}
	label := name
	if label == "" {
		label = id
	}
	return e.deny("grant role %q", label)
}

// CheckPermission allows granting a scope of an API.
func (e Effective) CheckPermission(api, scope string) error {
	if e.any(func(s v1alpha1.Auth0TenancyPolicySpec) bool {
		return slices.ContainsFunc(s.Permissions, func(r v1alpha1.PermissionRule) bool {
			return Match(r.ResourceServerIdentifier, api) && matchesAny(r.Scopes, scope)
		})
	}) {
		return nil
	}
	return e.deny("grant permission %q of API %s", scope, api)
}

func adoptionAllows(rule *v1alpha1.AdoptionRule, email string) bool {
	if rule == nil || !rule.Allowed {
		return false
	}
	if len(rule.EmailDomains) == 0 {
		return true
	}
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := strings.ToLower(email[at+1:])
	return slices.ContainsFunc(rule.EmailDomains, func(p string) bool { return Match(strings.ToLower(p), domain) })
}

func matchesAny(patterns []string, s string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return Match(p, s) })
}

// Match reports whether s matches pattern, where `*` stands for any run of characters (including
// `/` and `.`, unlike path.Match: API identifiers are URLs, and `*.example.com` must not match
// `example.com` itself but must match `a.b.example.com`).
func Match(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
