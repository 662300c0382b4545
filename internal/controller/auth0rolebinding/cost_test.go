package auth0rolebinding

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
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
		n, routes, err := f.pass(b)
		t.Logf("%s: %d calls %v", name, n, routes)
		return n, routes, err
	}
	// A resync later: the last full observation, and the role's listing, are a resync interval old.
	resyncLater := func() { f.resyncLater(b) }

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

// pass reconciles the binding as stored, as the shell does (the status patched, and
// observedGeneration set on success), and returns the Management API calls it made by route.
func (f *fixture) pass(b *v1alpha1.Auth0RoleBinding) (int, map[string]int, error) {
	f.t.Helper()
	f.emu.ResetCounters()
	cur := &v1alpha1.Auth0RoleBinding{}
	if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(b), cur); err != nil {
		f.t.Fatal(err)
	}
	before := cur.DeepCopy()
	err := f.r.Reconcile(f.ctx, cur)
	if v := controller.Classify(err); v.Outcome == controller.OutcomeSucceeded {
		cur.Status.ObservedGeneration = cur.Generation
	}
	if perr := f.c.Status().Patch(f.ctx, cur, client.MergeFrom(before)); perr != nil {
		f.t.Fatal(perr)
	}
	*b = *cur
	n, routes := f.routes()
	return n, routes, err
}

const rolePages = "GET /api/v2/roles/{id}/users"

// writes counts the calls that change Auth0.
func writes(routes map[string]int) int {
	n := 0
	for route, c := range routes {
		if !strings.HasPrefix(route, "GET ") {
			n += c
		}
	}
	return n
}

// Two bindings granting the same role, observing fully within one resync interval (their first
// passes, and later their resyncs), read the role's members once between them: the first reads,
// the second takes the catalog's listing, which holds the grants the first just made.
func TestBindingsGrantingOneRoleReadItsMembersOncePerInterval(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 6 {
		ids = append(ids, f.user(fmt.Sprintf("share-%d@example.com", i)))
	}
	first := binding("first", []string{"viewer"}, byID(ids[0]), byID(ids[1]), byID(ids[2]), byID(ids[3]))
	second := binding("second", []string{"viewer"}, byID(ids[2]), byID(ids[3]), byID(ids[4]), byID(ids[5]))
	f.store(first)
	f.store(second)
	both := func(what string) (pages, written int) {
		t.Helper()
		for _, b := range []*v1alpha1.Auth0RoleBinding{first, second} {
			n, routes, err := f.pass(b)
			if err != nil {
				t.Fatalf("%s, %s: %v", what, b.Name, err)
			}
			t.Logf("%s, %s: %d calls %v", what, b.Name, n, routes)
			pages += routes[rolePages]
			written += writes(routes)
		}
		return pages, written
	}

	if pages, _ := both("first passes"); pages != 1 {
		t.Errorf("the first passes of two bindings granting viewer read its members %d times, want 1", pages)
	}
	viewer := f.roleID("viewer")
	for _, id := range ids {
		if got := f.emu.UserRoleIDs(id); !slices.Equal(got, []string{viewer}) {
			t.Errorf("%s holds %v, want viewer", id, got)
		}
	}
	for _, b := range []*v1alpha1.Auth0RoleBinding{first, second} {
		for _, sub := range b.Status.Subjects {
			if !slices.Equal(sub.Roles, []string{viewer}) || len(sub.ExternalRoles) != 0 {
				t.Errorf("%s records %+v, want viewer applied", b.Name, sub)
			}
		}
	}

	f.resyncLater(first, second)
	pages, written := both("resyncs")
	if pages != 1 || written != 0 {
		t.Errorf("the resyncs of two bindings granting viewer read its members %d times and wrote %d times, want 1 and 0", pages, written)
	}
}

// A wave of subjects becoming ready one after the other costs no read of the role's members
// after the first one: the listing the binding read holds the grants it made since (written
// through), and nothing else changed. The resync after it reads the listing again and finds
// every grant where the binding put it.
func TestAWaveOfSubjectsBecomingReadyReadsTheRoleMembersOnce(t *testing.T) {
	f := newFixture(t)
	const n, wave = 40, 10
	var subjects []v1alpha1.Subject
	var users []*v1alpha1.Auth0User
	var ids []string
	for i := range n {
		email := fmt.Sprintf("wave-%02d@example.com", i)
		ids = append(ids, f.user(email))
		u := &v1alpha1.Auth0User{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: fmt.Sprintf("wave-%02d", i)},
			Spec:       v1alpha1.Auth0UserSpec{Connection: "Username-Password-Authentication", Email: email},
		}
		if err := f.c.Create(f.ctx, u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
		subjects = append(subjects, v1alpha1.Subject{UserRef: u.Name})
	}
	b := binding("wave", []string{"viewer"}, subjects...)
	f.store(b)

	_, routes, err := f.pass(b)
	var waiting *controller.WaitingError
	if !errors.As(err, &waiting) || routes[rolePages] != 1 {
		t.Fatalf("before any subject is ready: %v, %v; want Waiting after one read of the role's members", err, routes)
	}
	for start := 0; start < n; start += wave {
		for i := start; i < start+wave; i++ {
			users[i].Status.UserID = ids[i]
			if err := f.c.Status().Update(f.ctx, users[i]); err != nil {
				t.Fatal(err)
			}
		}
		calls, routes, err := f.pass(b)
		if err != nil && !errors.As(err, &waiting) {
			t.Fatalf("subjects %d to %d ready: %v", start, start+wave-1, err)
		}
		t.Logf("subjects %d to %d ready: %d calls %v", start, start+wave-1, calls, routes)
		if routes[rolePages] != 0 || calls != 1 {
			t.Errorf("subjects %d to %d ready: %d calls %v, want only the bulk assignment", start, start+wave-1, calls, routes)
		}
	}
	viewer := f.roleID("viewer")
	for _, sub := range b.Status.Subjects {
		if !slices.Equal(sub.Roles, []string{viewer}) || len(sub.ExternalRoles)+len(sub.PendingRoles) != 0 {
			t.Errorf("the binding records %+v, want viewer applied", sub)
		}
	}

	f.resyncLater(b)
	calls, routes, err := f.pass(b)
	if err != nil || routes[rolePages] != 1 || writes(routes) != 0 || len(b.Status.Drift) != 0 {
		t.Errorf("the resync after the wave: %v, %d calls %v, drift %v; want one read of the members, nothing written, no drift", err, calls, routes, b.Status.Drift)
	}
}

// A bulk assignment whose answer is lost may have landed: the catalog drops the role's listing,
// so the binding's next pass reads it and finds the grant its own (recorded ahead), rather than
// trusting a listing that says nothing either way.
func TestALostAssignmentDropsTheRoleListingSoTheNextPassReadsIt(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 6 {
		ids = append(ids, f.user(fmt.Sprintf("lost-%d@example.com", i)))
	}
	first := binding("first", []string{"viewer"}, byID(ids[0]), byID(ids[1]), byID(ids[2]))
	second := binding("second", []string{"viewer"}, byID(ids[3]), byID(ids[4]), byID(ids[5]))
	f.store(first)
	f.store(second)
	if _, routes, err := f.pass(first); err != nil || routes[rolePages] != 1 {
		t.Fatalf("first: %v, %v; want one read of the role's members", err, routes)
	}

	f.emu.LoseNextResponses("POST /api/v2/roles/{id}/users", 1)
	_, routes, err := f.pass(second)
	if err == nil {
		t.Fatal("the lost answer should fail the pass")
	}
	if routes[rolePages] != 0 {
		t.Errorf("second's first pass read the role's members %d times; the listing first read is a moment old", routes[rolePages])
	}
	viewer := f.roleID("viewer")
	for _, id := range ids[3:] {
		if got := f.emu.UserRoleIDs(id); !slices.Equal(got, []string{viewer}) {
			t.Fatalf("the lost assignment should have landed: %s holds %v", id, got)
		}
	}

	_, routes, err = f.pass(second)
	if err != nil || routes[rolePages] != 1 || writes(routes) != 0 {
		t.Fatalf("second's next pass: %v, %v; want one read of the role's members and nothing to write", err, routes)
	}
	for _, sub := range second.Status.Subjects {
		if !slices.Equal(sub.Roles, []string{viewer}) || len(sub.ExternalRoles)+len(sub.PendingRoles) != 0 {
			t.Errorf("second records %+v, want viewer applied", sub)
		}
	}
}

// A steady resync takes the subjects the user observer holds as current from its snapshots
// instead of searching for them: it costs only the role's members. A subject the snapshots do
// not hold is searched for as before, and an email subject whose snapshot shows another email
// is looked up by email again.
func TestASteadyResyncVerifiesSubjectsFromTheUserSnapshots(t *testing.T) {
	f := newFixture(t)
	f.r.Snapshots = auth0.NewSnapshots(func(*auth0.User) bool { return true })
	var ids []string
	for i := range 4 {
		ids = append(ids, f.user(fmt.Sprintf("snap-%d@example.com", i)))
	}
	b := binding("snap", []string{"viewer"}, byID(ids[0]), byID(ids[1]), byID(ids[2]), v1alpha1.Subject{Email: "snap-3@example.com"})
	f.store(b)
	if _, _, err := f.pass(b); err != nil {
		t.Fatal(err)
	}
	c, err := f.r.Tenants.ClientFor(f.ctx, testNS, b.Spec.TenantRef)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func(id string) *auth0.User {
		u, err := c.GetUser(f.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, id := range ids {
		f.r.Snapshots.Wrote(c, id, snapshot(id), time.Now())
	}

	for _, step := range []struct {
		name              string
		before            func()
		searches, byEmail int
	}{
		{"every subject held as current", nil, 0, 0},
		{"one subject not held", func() { f.r.Snapshots.Forget(c, ids[1]) }, 1, 0},
		{"the email subject's user holds another email now", func() {
			u := snapshot(ids[3])
			u.Email = "someone-else@example.com"
			f.r.Snapshots.Wrote(c, ids[3], u, time.Now())
		}, 1, 1},
	} {
		if step.before != nil {
			step.before()
		}
		f.resyncLater(b)
		calls, routes, err := f.pass(b)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		t.Logf("%s: %d calls %v", step.name, calls, routes)
		if routes["GET /api/v2/users"] != step.searches || routes["GET /api/v2/users-by-email"] != step.byEmail || routes[rolePages] != 1 ||
			calls != step.searches+step.byEmail+1 {
			t.Errorf("%s: %d calls %v, want %d searches, %d users-by-email and one read of the role's members", step.name, calls, routes, step.searches, step.byEmail)
		}
	}
	if got := b.Status.Subjects[3]; got.UserID != ids[3] {
		t.Errorf("the email subject resolves to %q, want %s (users-by-email)", got.UserID, ids[3])
	}
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
