// Package grants decides which roles and permissions an Auth0RoleBinding adds to and removes
// from one user. It is pure, so that composition, the point of the package, is table-tested:
//
//   - a grant is added when the binding wants it and Auth0 lacks it;
//   - a grant is removed only when this binding applied it, no longer wants it, and no other
//     live binding grants it to the same user;
//   - a grant this binding never applied (made outside the operator, or by another binding) is
//     never removed;
//   - a grant this binding applied that Auth0 no longer has is drift.
//
// Grants are opaque strings: role ids, or "<resource server identifier> <permission>".
package grants

import "sort"

// Set is a set of grants.
type Set map[string]bool

// NewSet makes a Set of the given grants.
func NewSet(items ...string) Set {
	s := Set{}
	for _, i := range items {
		s[i] = true
	}
	return s
}

// Sorted returns the grants in order.
func (s Set) Sorted() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
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
	// HeldByOthers are the grants other live bindings apply to the user.
	HeldByOthers Set
}

// Plan is what to do for one user.
type Plan struct {
	// Add are desired grants Auth0 lacks.
	Add []string
	// Remove are grants to revoke: applied by this binding, no longer desired, held by no other
	// binding, and still present.
	Remove []string
	// Drifted are grants this binding applied and still wants that Auth0 no longer has
	// (removed out of band). They are also in Add.
	Drifted []string
	// Applied is what this binding will have applied once the plan is carried out.
	Applied []string
}

// PlanUser computes the plan for one user.
func PlanUser(in Input) Plan {
	var p Plan
	for _, g := range in.Desired.Sorted() {
		if !in.Observed[g] {
			p.Add = append(p.Add, g)
			if in.Applied[g] {
				p.Drifted = append(p.Drifted, g)
			}
		}
		p.Applied = append(p.Applied, g)
	}
	for _, g := range in.Applied.Sorted() {
		if in.Desired[g] || in.HeldByOthers[g] || !in.Observed[g] {
			continue
		}
		p.Remove = append(p.Remove, g)
	}
	return p
}

// Release is the plan for a binding that is going away (or a subject that left it): revoke
// what it applied unless another binding holds it.
func Release(applied, heldByOthers Set) []string {
	var out []string
	for _, g := range applied.Sorted() {
		if !heldByOthers[g] {
			out = append(out, g)
		}
	}
	return out
}
