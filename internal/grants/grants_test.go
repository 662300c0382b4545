package grants

import (
	"reflect"
	"testing"
)

func TestPlanUser(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want Plan
	}{
		{
			name: "a new grant is added and counts as applied",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet()},
			want: Plan{Add: []Grant{Role("admin")}, Applied: []Grant{Role("admin")}},
		},
		{
			name: "a grant this binding applied and Auth0 still has needs nothing",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(Role("admin")), Applied: NewSet(Role("admin"))},
			want: Plan{Applied: []Grant{Role("admin")}},
		},
		{
			name: "a grant made outside the operator that the binding does not want is left alone",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(Role("admin"), Role("billing")), Applied: NewSet(Role("admin"))},
			want: Plan{Applied: []Grant{Role("admin")}},
		},
		{
			name: "a wanted grant the user already holds from outside the operator is recorded as external, not applied",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(Role("admin"))},
			want: Plan{External: []Grant{Role("admin")}},
		},
		{
			name: "an external grant stays external on later passes",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(Role("admin")), External: NewSet(Role("admin")), HeldByOthers: NewSet(Role("admin"))},
			want: Plan{External: []Grant{Role("admin")}},
		},
		{
			name: "an external grant the binding no longer wants is forgotten, never removed",
			in:   Input{Desired: NewSet(), Observed: NewSet(Role("admin")), External: NewSet(Role("admin"))},
			want: Plan{},
		},
		{
			name: "a wanted grant another binding applied is held by this binding too",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(Role("admin")), HeldByOthers: NewSet(Role("admin")), AppliedByOthers: NewSet(Role("admin"))},
			want: Plan{Applied: []Grant{Role("admin")}},
		},
		{
			name: "a wanted grant other bindings only hold as external or want is external to this one too",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(Role("admin")), HeldByOthers: NewSet(Role("admin"))},
			want: Plan{External: []Grant{Role("admin")}},
		},
		{
			name: "a grant this binding applied and no longer wants is removed",
			in:   Input{Desired: NewSet(), Observed: NewSet(Role("admin")), Applied: NewSet(Role("admin"))},
			want: Plan{Remove: []Grant{Role("admin")}},
		},
		{
			name: "a grant another binding holds stays when this binding drops it",
			in:   Input{Desired: NewSet(), Observed: NewSet(Role("admin")), Applied: NewSet(Role("admin")), HeldByOthers: NewSet(Role("admin"))},
			want: Plan{},
		},
		{
			name: "a dropped grant already gone from Auth0 needs no removal",
			in:   Input{Desired: NewSet(), Observed: NewSet(), Applied: NewSet(Role("admin"))},
			want: Plan{},
		},
		{
			name: "a grant this binding applied that vanished from Auth0 is drift and is added again",
			in:   Input{Desired: NewSet(Role("admin"), Role("viewer")), Observed: NewSet(Role("viewer")), Applied: NewSet(Role("admin"), Role("viewer"))},
			want: Plan{Add: []Grant{Role("admin")}, Drifted: []Grant{Role("admin")}, Applied: []Grant{Role("admin"), Role("viewer")}},
		},
		{
			name: "an external grant that vanished is drift, and once re-added it is this binding's",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(), External: NewSet(Role("admin"))},
			want: Plan{Add: []Grant{Role("admin")}, Drifted: []Grant{Role("admin")}, Applied: []Grant{Role("admin")}},
		},
		{
			name: "under Report an applied grant that vanished is reported, not added, and stays applied",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(), Applied: NewSet(Role("admin")), ReportOnly: true},
			want: Plan{Drifted: []Grant{Role("admin")}, Applied: []Grant{Role("admin")}},
		},
		{
			name: "under Report an external grant that vanished is reported and stays external",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(), External: NewSet(Role("admin")), ReportOnly: true},
			want: Plan{Drifted: []Grant{Role("admin")}, External: []Grant{Role("admin")}},
		},
		{
			name: "under Report a grant never held is still added: it is not drift",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(), ReportOnly: true},
			want: Plan{Add: []Grant{Role("admin")}, Applied: []Grant{Role("admin")}},
		},
		{
			name: "composition: two bindings want the same grant, the second to arrive adopts the first's",
			in:   Input{Desired: NewSet(Role("admin"), Role("viewer")), Observed: NewSet(Role("admin")), HeldByOthers: NewSet(Role("admin")), AppliedByOthers: NewSet(Role("admin"))},
			want: Plan{Add: []Grant{Role("viewer")}, Applied: []Grant{Role("admin"), Role("viewer")}},
		},
		{
			name: "write ahead: a pending grant found in Auth0 is this binding's, not external (the answer to its write was lost)",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(Role("admin")), Pending: NewSet(Role("admin"))},
			want: Plan{Applied: []Grant{Role("admin")}},
		},
		{
			name: "write ahead: a pending grant missing from Auth0 is added again, and is not drift",
			in:   Input{Desired: NewSet(Role("admin")), Observed: NewSet(), Pending: NewSet(Role("admin")), ReportOnly: true},
			want: Plan{Add: []Grant{Role("admin")}, Applied: []Grant{Role("admin")}},
		},
		{
			name: "write ahead: a pending grant no longer wanted is revoked when found, as one applied would be",
			in:   Input{Desired: NewSet(), Observed: NewSet(Role("admin")), Pending: NewSet(Role("admin"))},
			want: Plan{Remove: []Grant{Role("admin")}},
		},
		{
			name: "write ahead: a pending grant no longer wanted that another binding holds is kept",
			in:   Input{Desired: NewSet(), Observed: NewSet(Role("admin")), Pending: NewSet(Role("admin")), HeldByOthers: NewSet(Role("admin"))},
			want: Plan{},
		},
		{
			name: "composition: dropping one grant of two removes only the one no other binding holds",
			in: Input{Desired: NewSet(), Observed: NewSet(Role("admin"), Role("viewer")), Applied: NewSet(Role("admin"), Role("viewer")),
				HeldByOthers: NewSet(Role("admin"))},
			want: Plan{Remove: []Grant{Role("viewer")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PlanUser(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	tests := []struct {
		name    string
		applied Set
		others  Set
		want    []Grant
	}{
		{"a binding alone releases everything it applied", NewSet(Role("a"), Role("b")), NewSet(), []Grant{Role("a"), Role("b")}},
		{"grants another binding holds are kept", NewSet(Role("a"), Role("b")), NewSet(Role("b")), []Grant{Role("a")}},
		{"nothing applied, nothing released", NewSet(), NewSet(Role("a")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Release(tt.applied, tt.others); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGrantStatusForm(t *testing.T) {
	set := FromStatus([]string{"rol_b", "rol_a"}, []string{"https://api.example.com read:reports"})
	want := []Grant{Role("rol_a"), Role("rol_b"), Permission("https://api.example.com", "read:reports")}
	if got := set.Sorted(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Sorted = %v, want %v (roles first, then permissions)", got, want)
	}
	roles, perms := ToStatus(set.Sorted())
	if !reflect.DeepEqual(roles, []string{"rol_a", "rol_b"}) || !reflect.DeepEqual(perms, []string{"https://api.example.com read:reports"}) {
		t.Fatalf("ToStatus = %v %v", roles, perms)
	}
	if !set.HasPermissions() || NewSet(Role("r")).HasPermissions() {
		t.Fatal("HasPermissions must tell a set with a permission from one of roles only")
	}
}
