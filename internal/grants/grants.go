// Package grants decides which roles and permissions an Auth0RoleBinding adds to and removes
// from one user. It is pure, so that composition, the point of the package, is table-tested:
//
//   - a grant is added when the binding wants it and Auth0 lacks it;
//   - a grant is removed only when this binding applied it, no longer wants it, and no other
//     live binding grants it to the same user;
//   - a grant this binding never applied is never removed: one made by another binding, and one
//     made outside the operator, which the binding records as external when it finds the user
//     already holding it;
//   - a grant this binding applied (or found external) that Auth0 no longer has is drift;
//   - a grant this binding recorded as pending before adding it (write ahead) is its own when
//     found in Auth0, whether or not the answer to the write arrived, and is simply added again
//     (not drift) when it is missing: a grant is external only if it was held before the binding
//     decided to add it.
//
// A grant is a role (by id) or an API permission (resource server identifier and scope).
package grants

import (
	"slices"
	"strings"
)

// Grant is one role or one API permission held by a user.
type Grant struct {
	// RoleID is set for a role.
	RoleID string
	// API (the resource server's identifier) and Scope are set for a permission.
	API, Scope string
}

// Role is the grant of a role.
func Role(id string) Grant { return Grant{RoleID: id} }

// Permission is the grant of one scope of an API.
func Permission(api, scope string) Grant { return Grant{API: api, Scope: scope} }

// IsRole tells a role from a permission.
func (g Grant) IsRole() bool { return g.RoleID != "" }

// String is how status and drift entries name the grant: the role id, or "<API> <scope>" (the
// form of status.subjects[].permissions).
func (g Grant) String() string {
	if g.IsRole() {
		return g.RoleID
	}
	return g.API + " " + g.Scope
}

// ParsePermission reads a permission in the "<API> <scope>" form of String.
func ParsePermission(s string) Grant {
	api, scope, _ := strings.Cut(s, " ")
	return Permission(api, scope)
}

// compare orders roles before permissions, then by name: the order of plans and status lists.
func compare(a, b Grant) int {
	if a.IsRole() != b.IsRole() {
		if a.IsRole() {
			return -1
		}
		return 1
	}
	return strings.Compare(a.String(), b.String())
}

// Set is a set of grants.
type Set map[Grant]bool

// NewSet makes a Set of the given grants.
func NewSet(items ...Grant) Set {
	s := Set{}
	for _, i := range items {
		s[i] = true
	}
	return s
}

// FromStatus makes a Set of role ids and "<API> <scope>" permissions, as status records them;
// nil (an empty Set to read, not to write) when there are none: a binding reads a few of these
// per subject per pass, most of them empty.
func FromStatus(roleIDs, permissions []string) Set {
	if len(roleIDs) == 0 && len(permissions) == 0 {
		return nil
	}
	s := make(Set, len(roleIDs)+len(permissions))
	for _, id := range roleIDs {
		s[Role(id)] = true
	}
	for _, p := range permissions {
		s[ParsePermission(p)] = true
	}
	return s
}

// ToStatus splits grants into role ids and "<API> <scope>" permissions, as status records them.
func ToStatus(gs []Grant) (roleIDs, permissions []string) {
	for _, g := range gs {
		if g.IsRole() {
			roleIDs = append(roleIDs, g.RoleID)
		} else {
			permissions = append(permissions, g.String())
		}
	}
	return roleIDs, permissions
}

// Union is every grant of the sets.
func Union(sets ...Set) Set {
	out := Set{}
	for _, s := range sets {
		for g := range s {
			out[g] = true
		}
	}
	return out
}

// HasPermissions reports whether the set holds a permission (not only roles).
func (s Set) HasPermissions() bool {
	for g := range s {
		if !g.IsRole() {
			return true
		}
	}
	return false
}

// Sorted returns the grants in order: roles, then permissions, each by name.
func (s Set) Sorted() []Grant {
	out := make([]Grant, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.SortFunc(out, compare)
	return out
}

// Input is what is known about one user.
type Input struct {
	// Desired are the grants the binding's spec asks for.
	Desired Set
	// Observed are the grants Auth0 holds for the user.
	Observed Set
	// Applied are the grants this binding applied before (from its status).
	Applied Set
	// External are the grants the binding wants that it found the user already holding from
	// outside the operator (from its status). They are kept, never revoked.
	External Set
	// Pending are the grants this binding recorded, before calling Auth0, that it was about to
	// add (from its status): the write may have landed with its answer lost. Found in Auth0,
	// they are this binding's; missing, they are added again without counting as drift.
	Pending Set
	// HeldByOthers are the grants other live bindings hold for the user (applied, found
	// external, or wanted by their spec): this binding never revokes them.
	HeldByOthers Set
	// AppliedByOthers are the grants other live bindings applied to the user (a subset of
	// HeldByOthers): one this binding finds in Auth0 is the operator's, not external.
	AppliedByOthers Set
	// ReportOnly leaves drift in place: grants removed out of band are reported, not re-added.
	ReportOnly bool
}

// Plan is what to do for one user.
type Plan struct {
	// Add are desired grants Auth0 lacks.
	Add []Grant
	// Remove are grants to revoke: applied (or pending) by this binding, no longer desired, held
	// by no other binding, and still present.
	Remove []Grant
	// Drifted are grants this binding applied (or found external) and still wants that Auth0
	// no longer has: removed out of band. Unless ReportOnly, they are also in Add.
	Drifted []Grant
	// Applied is what this binding will have applied once the plan is carried out: what it adds,
	// what it applied before and still wants, and what other bindings also grant.
	Applied []Grant
	// External are desired grants the user holds from outside the operator; the binding counts
	// them as held but never revokes them.
	External []Grant
}

// PlanUser computes the plan for one user.
func PlanUser(in Input) Plan {
	var p Plan
	for _, g := range in.Desired.Sorted() {
		switch {
		case !in.Observed[g]:
			drifted := (in.Applied[g] || in.External[g]) && !in.Pending[g]
			if drifted {
				p.Drifted = append(p.Drifted, g)
			}
			if drifted && in.ReportOnly {
				// Left as it was recorded, so that revocation stays limited to what this
				// binding applied.
				if in.Applied[g] {
					p.Applied = append(p.Applied, g)
				} else {
					p.External = append(p.External, g)
				}
				continue
			}
			p.Add = append(p.Add, g)
			p.Applied = append(p.Applied, g)
		case in.Applied[g] || in.Pending[g]:
			p.Applied = append(p.Applied, g)
		case in.External[g]:
			p.External = append(p.External, g)
		case in.AppliedByOthers[g]:
			// Another binding's grant: this one holds it too.
			p.Applied = append(p.Applied, g)
		default:
			// Found in Auth0, granted by no binding: made outside the operator.
			p.External = append(p.External, g)
		}
	}
	// What this binding applied, or may have applied (pending), and no longer wants.
	for g := range in.Applied {
		if removable(in, g) {
			p.Remove = append(p.Remove, g)
		}
	}
	for g := range in.Pending {
		if !in.Applied[g] && removable(in, g) {
			p.Remove = append(p.Remove, g)
		}
	}
	slices.SortFunc(p.Remove, compare)
	return p
}

// removable reports whether a grant this binding applied or recorded as pending is to be
// revoked: no longer wanted, held by no other binding, and still present.
func removable(in Input, g Grant) bool {
	return !in.Desired[g] && !in.HeldByOthers[g] && in.Observed[g]
}

// Release is the plan for a binding that is going away (or a subject that left it): revoke
// what it applied, or recorded as pending, unless another binding holds it.
func Release(applied, heldByOthers Set) []Grant {
	var out []Grant
	for _, g := range applied.Sorted() {
		if !heldByOthers[g] {
			out = append(out, g)
		}
	}
	return out
}
