package auth0rolebinding

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// TestCostOfABindingOfAThousandSubjects measures, with the emulator's request log, the figures
// README gives for a binding of 1,000 subjects with one role and one permission: the calls to
// converge, the calls of a steady-state resync, of a pass woken between resyncs, and of a resync
// with 40 emails that name nobody. The bounds keep them from creeping up.
func TestCostOfABindingOfAThousandSubjects(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1,000 users")
	}
	for _, c := range []struct {
		name    string
		byEmail int // every byEmail-th subject is named by email, the others by id; 0: none
		// converge is the exact cost of the first pass: searches verifying the ids, one
		// users-by-email per email, the role list, the API, the role's empty member list, 1,000
		// permission reads, 10 bulk assignments, 1,000 permission grants.
		converge int
	}{
		{"1,000 subjects named by user id", 0, 20 + 3 + 1000 + 10 + 1000},
		{"500 subjects named by user id and 500 by email", 2, 10 + 500 + 3 + 1000 + 10 + 1000},
	} {
		t.Run(c.name, func(t *testing.T) { measureThousand(t, c.byEmail, c.converge) })
	}
}

func measureThousand(t *testing.T, byEmail, wantConverge int) {
	f := newFixture(t)
	var subjects []v1alpha1.Subject
	for i := range 1000 {
		id, err := f.emu.CreateUser(emulator.SeedUser{Email: fmt.Sprintf("cost-%04d@example.com", i), Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		if byEmail > 0 && i%byEmail == 1 {
			subjects = append(subjects, v1alpha1.Subject{Email: fmt.Sprintf("cost-%04d@example.com", i)})
		} else {
			subjects = append(subjects, byID(id))
		}
	}
	b := binding("thousand", []string{"viewer"}, subjects...)
	b.Spec.Permissions = []v1alpha1.PermissionReference{{ResourceServerIdentifier: api, Name: "read:reports"}}
	f.store(b)

	pass := func(name string) (int, map[string]int, error) {
		t.Helper()
		f.emu.ResetCounters()
		cur := &v1alpha1.Auth0RoleBinding{}
		if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(b), cur); err != nil {
			t.Fatal(err)
		}
		before := cur.DeepCopy()
		err := f.r.Reconcile(f.ctx, cur)
		if v := controller.Classify(err); v.Outcome == controller.OutcomeSucceeded {
			cur.Status.ObservedGeneration = cur.Generation
		}
		if perr := f.c.Status().Patch(f.ctx, cur, client.MergeFrom(before)); perr != nil {
			t.Fatal(perr)
		}
		n, routes := f.routes()
		t.Logf("%s: %d calls %v", name, n, routes)
		return n, routes, err
	}
	// A resync later: the last full observation is a resync interval old.
	resyncLater := func() {
		key := client.ObjectKeyFromObject(b)
		last, _ := f.r.observedAt.Load(key)
		o := last.(observation)
		o.at = o.at.Add(-f.r.ResyncInterval)
		f.r.observedAt.Store(key, o)
	}

	converge, routes, err := pass("converge")
	if err != nil {
		t.Fatalf("converge: %v", err)
	}
	if converge != wantConverge || routes["POST /api/v2/roles/{id}/users"] != 10 {
		t.Errorf("converging cost %d calls %v, want %d", converge, routes, wantConverge)
	}

	if n, _, err := pass("woken between resyncs"); err != nil || n != 0 {
		t.Errorf("a pass between resyncs made %d calls (%v)", n, err)
	}

	resyncLater()
	steady, routes, err := pass("steady-state resync")
	if err != nil {
		t.Fatal(err)
	}
	// 20 searches (every subject verified, by id and by email), 10 pages of members, 1,000
	// permission reads; no write.
	if routes["GET /api/v2/users"] != 20 || routes["GET /api/v2/roles/{id}/users"] != 10 || steady != 1030 {
		t.Errorf("a steady-state resync cost %d calls %v", steady, routes)
	}

	// 40 subjects are replaced by emails that name nobody.
	cur := &v1alpha1.Auth0RoleBinding{}
	if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(b), cur); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		cur.Spec.Subjects[i] = v1alpha1.Subject{Email: fmt.Sprintf("nobody-%02d@example.com", i)}
	}
	cur.Generation++
	if err := f.c.Update(f.ctx, cur); err != nil {
		t.Fatal(err)
	}
	_, _, err = pass("spec change: 40 subjects replaced by unknown emails")
	var stalled *controller.StalledError
	if !errors.As(err, &stalled) || stalled.Reason != conditions.ReasonUnresolved || !strings.Contains(stalled.Message, "(40 unresolved)") || len(stalled.Message) > 1024 {
		t.Fatalf("want Stalled/Unresolved naming a few of 40, under 1024 characters, got %v", err)
	}
	if n, _, _ := pass("woken between resyncs, 40 unknown emails"); n != 0 {
		t.Errorf("a pass between resyncs looked up %d times", n)
	}
	resyncLater()
	unknown, routes, _ := pass("resync with 40 unknown emails")
	// The 960 subjects left as above, and one users-by-email per unknown email.
	if routes["GET /api/v2/users-by-email"] != 40 || unknown != 20+10+960+40 {
		t.Errorf("a resync with 40 unknown emails cost %d calls %v", unknown, routes)
	}
	t.Logf("binding of 1,000 subjects, one role, one permission: converge %d calls, steady-state resync %d, resync with 40 unknown emails %d, pass between resyncs 0",
		converge, steady, unknown)
}

// routes groups the requests logged since the counters were reset by method and route.
func (f *fixture) routes() (int, map[string]int) {
	out := map[string]int{}
	n := 0
	for _, line := range f.emu.Requests() {
		method, rest, _ := strings.Cut(line, " ")
		path, _, _ := strings.Cut(rest, " ")
		path, _, _ = strings.Cut(path, "?")
		if path == "/oauth/token" {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(path, "/api/v2/"), "/")
		if len(parts) >= 2 && (parts[0] == "users" || parts[0] == "roles" || parts[0] == "resource-servers") {
			parts[1] = "{id}"
		}
		out[method+" /api/v2/"+strings.Join(parts, "/")]++
		n++
	}
	return n, out
}
