package grants

import (
	"slices"
	"testing"
)

// universe is small so that the fuzzer hits every combination of roles for each grant.
var universe = []Grant{Role("rol_admin"), Role("rol_viewer"), Role("rol_billing"),
	Permission("https://api.example.com", "read:x"), Permission("https://api.example.com", "write:x"), Permission("https://other.example.com", "admin")}

// decodeInput gives grant i the roles set in byte i of data: 1 desired, 2 observed, 4 applied,
// 8 external, 16 held by others, 32 applied by others, 64 pending (written ahead by this
// binding). The status this binding keeps never records a grant both as applied and as external
// (PlanUser's output keeps them apart), nor as pending and external (a grant is pending only
// when Auth0 lacked it), and what others applied they hold, so inputs contradicting that are
// normalised.
func decodeInput(data []byte, reportOnly bool) Input {
	in := Input{Desired: Set{}, Observed: Set{}, Applied: Set{}, External: Set{}, HeldByOthers: Set{}, AppliedByOthers: Set{}, Pending: Set{}, ReportOnly: reportOnly}
	for i, g := range universe {
		if i >= len(data) {
			break
		}
		b := data[i]
		for bit, s := range []Set{in.Desired, in.Observed, in.Applied, in.External, in.HeldByOthers, in.AppliedByOthers, in.Pending} {
			if b&(1<<bit) != 0 {
				s[g] = true
			}
		}
		if in.Applied[g] || in.Pending[g] {
			delete(in.External, g)
		}
		if in.AppliedByOthers[g] {
			in.HeldByOthers[g] = true
		}
	}
	return in
}

// FuzzPlanUser checks PlanUser's contract on every combination of what a binding wants, what
// it and other bindings recorded, and what Auth0 holds; and Release's on the same sets.
func FuzzPlanUser(f *testing.F) {
	f.Add([]byte{1 | 4, 1 | 2 | 4, 2 | 4, 2 | 4 | 16, 1 | 2, 1 | 2 | 16 | 32}, false)
	f.Add([]byte{1 | 4, 1 | 8, 1, 2 | 8, 4 | 8, 1 | 2 | 16}, true)
	f.Add([]byte{1 | 2 | 64, 2 | 64, 1 | 64, 2 | 16 | 64, 1 | 2 | 4 | 64, 2}, false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, reportOnly bool) {
		in := decodeInput(data, reportOnly)
		p := PlanUser(in)

		after := Set{}
		for g := range in.Observed {
			after[g] = true
		}
		for _, g := range p.Add {
			if !in.Desired[g] || in.Observed[g] {
				t.Errorf("adds %q, which is not a desired grant Auth0 lacks", g)
			}
			after[g] = true
		}
		for _, g := range p.Remove {
			switch {
			case !in.Applied[g] && !in.Pending[g]:
				t.Errorf("removes %q, which this binding never applied nor recorded as pending", g)
			case in.External[g], in.HeldByOthers[g]:
				t.Errorf("removes %q, which is external or held by another binding", g)
			case in.Desired[g], !in.Observed[g]:
				t.Errorf("removes %q, which is still desired or already gone", g)
			}
			delete(after, g)
		}

		var drift []Grant // the doc's definition, re-derived
		for _, g := range in.Desired.Sorted() {
			if (in.Applied[g] || in.External[g]) && !in.Pending[g] && !in.Observed[g] {
				drift = append(drift, g)
			}
		}
		if !slices.Equal(p.Drifted, drift) {
			t.Errorf("drifted = %v, want %v", p.Drifted, drift)
		}
		for g := range in.Desired {
			// Only drift under Report may stay missing.
			if !after[g] && !(reportOnly && slices.Contains(drift, g)) {
				t.Errorf("desired %q is not held after the plan (reportOnly=%v)", g, reportOnly)
			}
			if slices.Contains(p.Applied, g) == slices.Contains(p.External, g) {
				t.Errorf("desired %q must be exactly one of applied %v and external %v", g, p.Applied, p.External)
			}
		}
		// A grant counts as applied only if the operator made it: were one made outside the
		// operator counted so, dropping it from the spec later would revoke it.
		for _, g := range p.Applied {
			if !slices.Contains(p.Add, g) && !in.Applied[g] && !in.Pending[g] && !in.AppliedByOthers[g] {
				t.Errorf("%q is recorded as applied, but no binding applied it", g)
			}
		}
		for _, g := range p.External {
			if !in.External[g] && (!in.Observed[g] || in.Applied[g] || in.Pending[g] || in.AppliedByOthers[g]) {
				t.Errorf("%q is recorded as external, but it is not a grant found outside the operator", g)
			}
		}
		if len(p.Applied)+len(p.External) != len(in.Desired) {
			t.Errorf("applied %v and external %v hold more than the desired grants %v", p.Applied, p.External, in.Desired.Sorted())
		}

		// The next pass, with the status this one records and Auth0 as it left it, has nothing
		// to do and records the same thing.
		next := PlanUser(Input{Desired: in.Desired, Observed: after, Applied: NewSet(p.Applied...), External: NewSet(p.External...),
			HeldByOthers: in.HeldByOthers, AppliedByOthers: in.AppliedByOthers, ReportOnly: reportOnly})
		if len(next.Add) > 0 || len(next.Remove) > 0 {
			t.Errorf("second pass adds %v and removes %v", next.Add, next.Remove)
		}
		var stillDrifted []Grant // re-added under Correct, left missing under Report
		if reportOnly {
			stillDrifted = p.Drifted
		}
		if !slices.Equal(next.Applied, p.Applied) || !slices.Equal(next.External, p.External) || !slices.Equal(next.Drifted, stillDrifted) {
			t.Errorf("second pass records %+v, first %+v", next, p)
		}

		// Release: exactly what this binding applied or recorded as pending and no other binding
		// holds.
		var release []Grant
		mine := Union(in.Applied, in.Pending)
		for _, g := range mine.Sorted() {
			if !in.HeldByOthers[g] {
				release = append(release, g)
			}
		}
		if got := Release(mine, in.HeldByOthers); !slices.Equal(got, release) {
			t.Errorf("Release = %v, want %v", got, release)
		}
	})
}
