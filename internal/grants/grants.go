// Package grants decides which roles and permissions an Auth0RoleBinding adds to and removes
// from one user. It is pure, so that composition, the point of the package, is table-tested:
//
//   - a grant is added when the binding wants it and Auth0 lacks it;
//   - a grant is removed only when this binding applied it, no longer wants it, and no other
//     live binding grants it to the same user;
//   - a grant this binding never applied is never removed: one made by another binding, and one
//     made outside the operator, which the binding records as external when it finds the user
//     already holding it;
//   - a grant this binding applied (or found external) that Auth0 no longer has is drift.
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
	// External are the grants the binding wants that it found the user already holding from
	// outside the operator (from its status). They are kept, never revoked.
	External Set
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
	Add []string
	// Remove are grants to revoke: applied by this binding, no longer desired, held by no other
	// binding, and still present.
	Remove []string
	// Drifted are grants this binding applied (or found external) and still wants that Auth0
	// no longer has: removed out of band. Unless ReportOnly, they are also in Add.
	Drifted []string
	// Applied is what this binding will have applied once the plan is carried out: what it adds,
	// what it applied before and still wants, and what other bindings also grant.
	Applied []string
	// External are desired grants the user holds from outside the operator; the binding counts
	// them as held but never revokes them.
	External []string
}

// PlanUser computes the plan for one user.
func PlanUser(in Input) Plan {
	var p Plan
	for _, g := range in.Desired.Sorted() {
		switch {
		case !in.Observed[g]:
			drifted := in.Applied[g] || in.External[g]
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
		case in.Applied[g]:
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
