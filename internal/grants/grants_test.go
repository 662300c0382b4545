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
			in:   Input{Desired: NewSet("admin"), Observed: NewSet()},
			want: Plan{Add: []string{"admin"}, Applied: []string{"admin"}},
		},
		{
			name: "a grant this binding applied and Auth0 still has needs nothing",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet("admin"), Applied: NewSet("admin")},
			want: Plan{Applied: []string{"admin"}},
		},
		{
			name: "a grant made outside the operator that the binding does not want is left alone",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet("admin", "billing"), Applied: NewSet("admin")},
			want: Plan{Applied: []string{"admin"}},
		},
		{
			name: "a wanted grant the user already holds from outside the operator is recorded as external, not applied",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet("admin")},
			want: Plan{External: []string{"admin"}},
		},
		{
			name: "an external grant stays external on later passes",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet("admin"), External: NewSet("admin"), HeldByOthers: NewSet("admin")},
			want: Plan{External: []string{"admin"}},
		},
		{
			name: "an external grant the binding no longer wants is forgotten, never removed",
			in:   Input{Desired: NewSet(), Observed: NewSet("admin"), External: NewSet("admin")},
			want: Plan{},
		},
		{
			name: "a wanted grant another binding applied is held by this binding too",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet("admin"), HeldByOthers: NewSet("admin"), AppliedByOthers: NewSet("admin")},
			want: Plan{Applied: []string{"admin"}},
		},
		{
			name: "a wanted grant other bindings only hold as external or want is external to this one too",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet("admin"), HeldByOthers: NewSet("admin")},
			want: Plan{External: []string{"admin"}},
		},
		{
			name: "a grant this binding applied and no longer wants is removed",
			in:   Input{Desired: NewSet(), Observed: NewSet("admin"), Applied: NewSet("admin")},
			want: Plan{Remove: []string{"admin"}},
		},
		{
			name: "a grant another binding holds stays when this binding drops it",
			in:   Input{Desired: NewSet(), Observed: NewSet("admin"), Applied: NewSet("admin"), HeldByOthers: NewSet("admin")},
			want: Plan{},
		},
		{
			name: "a dropped grant already gone from Auth0 needs no removal",
			in:   Input{Desired: NewSet(), Observed: NewSet(), Applied: NewSet("admin")},
			want: Plan{},
		},
		{
			name: "a grant this binding applied that vanished from Auth0 is drift and is added again",
			in:   Input{Desired: NewSet("admin", "viewer"), Observed: NewSet("viewer"), Applied: NewSet("admin", "viewer")},
			want: Plan{Add: []string{"admin"}, Drifted: []string{"admin"}, Applied: []string{"admin", "viewer"}},
		},
		{
			name: "an external grant that vanished is drift, and once re-added it is this binding's",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet(), External: NewSet("admin")},
			want: Plan{Add: []string{"admin"}, Drifted: []string{"admin"}, Applied: []string{"admin"}},
		},
		{
			name: "under Report an applied grant that vanished is reported, not added, and stays applied",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet(), Applied: NewSet("admin"), ReportOnly: true},
			want: Plan{Drifted: []string{"admin"}, Applied: []string{"admin"}},
		},
		{
			name: "under Report an external grant that vanished is reported and stays external",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet(), External: NewSet("admin"), ReportOnly: true},
			want: Plan{Drifted: []string{"admin"}, External: []string{"admin"}},
		},
		{
			name: "under Report a grant never held is still added: it is not drift",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet(), ReportOnly: true},
			want: Plan{Add: []string{"admin"}, Applied: []string{"admin"}},
		},
		{
			name: "composition: two bindings want the same grant, the second to arrive adopts the first's",
			in:   Input{Desired: NewSet("admin", "viewer"), Observed: NewSet("admin"), HeldByOthers: NewSet("admin"), AppliedByOthers: NewSet("admin")},
			want: Plan{Add: []string{"viewer"}, Applied: []string{"admin", "viewer"}},
		},
		{
			name: "composition: dropping one grant of two removes only the one no other binding holds",
			in: Input{Desired: NewSet(), Observed: NewSet("admin", "viewer"), Applied: NewSet("admin", "viewer"),
				HeldByOthers: NewSet("admin")},
			want: Plan{Remove: []string{"viewer"}},
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
		want    []string
	}{
		{"a binding alone releases everything it applied", NewSet("a", "b"), NewSet(), []string{"a", "b"}},
		{"grants another binding holds are kept", NewSet("a", "b"), NewSet("b"), []string{"a"}},
		{"nothing applied, nothing released", NewSet(), NewSet("a"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Release(tt.applied, tt.others); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
