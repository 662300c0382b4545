package auth0

import (
	"testing"
	"time"
)

func TestSnapshots(t *testing.T) {
	c := &Fake{}
	t0 := time.Unix(1_700_000_000, 0)
	u := &User{ID: "auth0|1"}
	tests := []struct {
		name  string
		setup func(s *Snapshots)
		now   time.Time
		found bool
	}{
		{"a fresh snapshot is used", func(s *Snapshots) { s.Put(c, map[string]*User{u.ID: u}, t0) }, t0.Add(time.Minute), true},
		{"an old snapshot is not", func(s *Snapshots) { s.Put(c, map[string]*User{u.ID: u}, t0) }, t0.Add(10 * time.Minute), false},
		{"a snapshot taken just after a write may predate it in the index", func(s *Snapshots) {
			s.Wrote(c, u.ID, t0)
			s.Put(c, map[string]*User{u.ID: u}, t0.Add(2*time.Second))
		}, t0.Add(3 * time.Second), false},
		{"a snapshot taken well after a write is used", func(s *Snapshots) {
			s.Wrote(c, u.ID, t0)
			s.Put(c, map[string]*User{u.ID: u}, t0.Add(SearchLagAllowance+time.Second))
		}, t0.Add(SearchLagAllowance + 2*time.Second), true},
		{"a write drops the snapshot", func(s *Snapshots) {
			s.Put(c, map[string]*User{u.ID: u}, t0)
			s.Wrote(c, u.ID, t0.Add(time.Second))
		}, t0.Add(2 * time.Second), false},
		{"another tenant's snapshot is not used", func(s *Snapshots) { s.Put(&Fake{}, map[string]*User{u.ID: u}, t0) }, t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSnapshots()
			tt.setup(s)
			if _, found := s.Get(c, u.ID, 5*time.Minute, tt.now); found != tt.found {
				t.Errorf("found = %v, want %v", found, tt.found)
			}
		})
	}
}
