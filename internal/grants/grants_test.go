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
			name: "a grant already in Auth0 needs nothing",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet("admin"), Applied: NewSet("admin")},
			want: Plan{Applied: []string{"admin"}},
		},
		{
			name: "a grant made outside the operator is never removed",
			in:   Input{Desired: NewSet("admin"), Observed: NewSet("admin", "billing")},
			want: Plan{Applied: []string{"admin"}},
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
			name: "a grant this binding applied that vanished from Auth0 is drift and is added again",
			in:   Input{Desired: NewSet("admin", "viewer"), Observed: NewSet("viewer"), Applied: NewSet("admin", "viewer")},
			want: Plan{Add: []string{"admin"}, Drifted: []string{"admin"}, Applied: []string{"admin", "viewer"}},
		},
		{
			name: "a dropped grant already gone from Auth0 needs no removal",
			in:   Input{Desired: NewSet(), Observed: NewSet(), Applied: NewSet("admin")},
			want: Plan{},
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
