package auth0

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestSnapshots(t *testing.T) {
	c := &Fake{}
	t0 := time.Unix(1_700_000_000, 0)
	managed := func(id string, updated time.Time) *User {
		return &User{ID: id, AppMetadata: map[string]any{"owner": "c/ns/" + id}, UpdatedAt: updated}
	}
	u := managed("auth0|1", t0)
	tests := []struct {
		name  string
		setup func(s *Snapshots)
		now   time.Time
		want  *User // nil: not found
	}{
		{"a write's answer is used", func(s *Snapshots) { s.Wrote(c, u.ID, u, t0) }, t0.Add(time.Minute), u},
		{"an old copy is not", func(s *Snapshots) { s.Wrote(c, u.ID, u, t0) }, t0.Add(10 * time.Minute), nil},
		{"an old copy an observation found unchanged since is", func(s *Snapshots) {
			s.Wrote(c, u.ID, u, t0)
			s.Current(c, t0.Add(9*time.Minute))
		}, t0.Add(10 * time.Minute), u},
		{"a write whose answer was lost makes the user unknown", func(s *Snapshots) {
			s.Wrote(c, u.ID, u, t0)
			s.Wrote(c, u.ID, nil, t0.Add(time.Second))
		}, t0.Add(2 * time.Second), nil},
		{"a lagging index's older copy does not replace a write's answer", func(s *Snapshots) {
			s.Wrote(c, u.ID, u, t0)
			s.Observed(c, []*User{managed(u.ID, t0.Add(-time.Second))}, t0.Add(time.Second), anyID)
		}, t0.Add(2 * time.Second), u},
		{"a user no longer marked is dropped", func(s *Snapshots) {
			s.Wrote(c, u.ID, u, t0)
			s.Observed(c, []*User{{ID: u.ID, UpdatedAt: t0.Add(time.Second)}}, t0.Add(time.Second), anyID)
		}, t0.Add(2 * time.Second), nil},
		{"another tenant's copy is not used", func(s *Snapshots) { s.Wrote(&Fake{}, u.ID, u, t0) }, t0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSnapshots(func(u *User) bool { return u.AppMetadata["owner"] != nil })
			tt.setup(s)
			got, found := s.Get(c, u.ID, 5*time.Minute, tt.now)
			if has := s.Has(c, u.ID, 5*time.Minute, tt.now); has != found {
				t.Errorf("Has = %v, Get found %v", has, found)
			}
			// A copy is a User of the caller's own: the one meant is told by its UpdatedAt.
			if found != (tt.want != nil) || found && (got.ID != tt.want.ID || !got.UpdatedAt.Equal(tt.want.UpdatedAt) ||
				!reflect.DeepEqual(got.AppMetadata, tt.want.AppMetadata)) {
				t.Errorf("Get = %v, %v; want %v", got, found, tt.want)
			}
		})
	}
}

// TestSnapshotsTellChangesAndDeletions: an observation reports only the users that changed, and
// a full read reports as gone only a user known from before the index lag.
func TestSnapshotsTellChangesAndDeletions(t *testing.T) {
	c := &Fake{}
	t0 := time.Unix(1_700_000_000, 0)
	s := NewSnapshots(func(u *User) bool { return u.AppMetadata["owner"] != nil })
	user := func(id string, updated time.Time) *User {
		return &User{ID: id, AppMetadata: map[string]any{"owner": "c/ns/" + id}, UpdatedAt: updated}
	}
	s.Wrote(c, "a", user("a", t0), t0)
	s.Wrote(c, "b", user("b", t0), t0)
	if got := s.Observed(c, []*User{user("a", t0), user("b", t0.Add(time.Minute))}, t0.Add(2*time.Minute), anyID); !slices.Equal(got, []string{"b"}) {
		t.Errorf("Observed = %v, want [b]: a is unchanged", got)
	}
	if got := s.Expected(c, t0); got != 2 {
		t.Errorf("Expected = %d, want 2", got)
	}
	// "c" was created a moment ago: a search may not show it yet.
	at := t0.Add(time.Hour)
	s.Wrote(c, "c", user("c", at), at.Add(-time.Second))
	if got := s.Swept(c, []string{"a", "b", "c"}, map[string]*User{"b": user("b", t0.Add(time.Minute))}, at, SearchLagAllowance, anyID); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Swept = %v, want [a]: a is gone, b unchanged, c not indexed yet", got)
	}
	if _, ok := s.Get(c, "a", time.Hour, at); ok {
		t.Error("a gone user is still known")
	}
	if got := s.Expected(c, at); got != 2 {
		t.Errorf("Expected after the sweep = %d, want 2 (b and c)", got)
	}

	// b's object is deleted: a lagging index showing b does not bring it back, it is not
	// expected in the count any more, and once a late answer has brought it back, the next full
	// read (which reads every known user) drops it when Auth0 no longer has it.
	notB := func(id string) bool { return id != "b" }
	s.Forget(c, "b")
	if got := s.Observed(c, []*User{user("b", t0.Add(time.Minute))}, at, notB); len(got) != 0 {
		t.Errorf("Observed brought back the user of a deleted object: %v", got)
	}
	if got := s.Expected(c, at); got != 1 {
		t.Errorf("Expected = %d, want 1: only c's object remains", got)
	}
	s.Wrote(c, "b", user("b", t0.Add(time.Minute)), at) // as a late answer could
	if known := s.Known(c); !slices.Contains(known, "b") {
		t.Errorf("Known = %v, want b among them: the full read must read it", known)
	}
	s.Swept(c, []string{"c", "b"}, map[string]*User{"c": user("c", at)}, at.Add(time.Minute), SearchLagAllowance, notB)
	if _, ok := s.Get(c, "b", time.Hour, at); ok {
		t.Error("a full read kept the user of a deleted object, gone from Auth0")
	}
	if got := s.Expected(c, at); got != 1 {
		t.Errorf("Expected after the full read = %d, want 1", got)
	}
}

// The objects' view lags the operator's writes: a user created a while ago whose object does
// not show its id yet is not wanted by a full read, and must not be dropped for it, nor miss a
// change a search shows.
func TestSnapshotsKeepAUserItsObjectDoesNotNameYet(t *testing.T) {
	s := NewSnapshots(func(u *User) bool { return u.AppMetadata["owner"] != nil })
	c := &sdkClient{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	user := func(updated time.Time) *User {
		return &User{ID: "a", AppMetadata: map[string]any{"owner": "c/ns/a"}, UpdatedAt: updated}
	}
	none := func(string) bool { return false }
	s.Wrote(c, "a", user(t0), t0)
	at := t0.Add(time.Minute) // well past the index lag
	if got := s.Swept(c, []string{"a"}, map[string]*User{"a": user(t0)}, at, SearchLagAllowance, none); len(got) != 0 {
		t.Errorf("Swept = %v, want nothing changed", got)
	}
	if _, ok := s.Get(c, "a", time.Hour, at); !ok {
		t.Fatal("a full read dropped a user its object does not name yet")
	}
	if got := s.Observed(c, []*User{user(at)}, at, none); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Observed = %v, want [a]: a known user changed", got)
	}
	if u, _ := s.Get(c, "a", time.Hour, at); !u.UpdatedAt.Equal(at) {
		t.Errorf("the copy held is from %v, want the change at %v", u.UpdatedAt, at)
	}
	if got := s.Observed(c, []*User{{ID: "z", AppMetadata: map[string]any{"owner": "c/ns/z"}, UpdatedAt: at}}, at, none); len(got) != 0 {
		t.Errorf("Observed learned %v, a user no object names", got)
	}
}

func anyID(string) bool { return true }

// Every field of a User survives a snapshot: each is set to a value of its own (found by
// reflection, so that a field added to User later fails here until compactUser carries it).
func TestCompactUserKeepsEveryField(t *testing.T) {
	u := &User{}
	fill(t, reflect.ValueOf(u).Elem(), "")
	snap := &snapshot{}
	snap.set(u)
	got, ok := snap.user()
	if !ok {
		t.Fatal("the copy cannot be decoded")
	}
	if !got.UpdatedAt.Equal(u.UpdatedAt) {
		t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, u.UpdatedAt)
	}
	got.UpdatedAt = u.UpdatedAt
	if !reflect.DeepEqual(got, u) {
		t.Errorf("the copy lost something:\n got %+v\nwant %+v", got, u)
	}
}

// fill gives every field of v a non-zero value derived from its path.
func fill(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString("value of " + path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), path)
	case reflect.Map:
		v.Set(reflect.ValueOf(map[string]any{"key of " + path: "value", "n": 1.5, "nested": map[string]any{"list": []any{"a", true}}}))
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 25, 8, 0, 0, 123456789, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	default:
		t.Fatalf("%s: no test value for kind %s", path, v.Kind())
	}
}
