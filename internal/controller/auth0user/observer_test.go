package auth0user

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/userdiff"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

const observedLag = 300 * time.Millisecond

// observerFixture is the fixture with snapshots, a search index lagging by observedLag, n Ready
// users and an observer of their tenant.
type observerFixture struct {
	*fixture
	o      *UserObserver
	events chan event.GenericEvent
	users  []*v1alpha1.Auth0User
}

func newObserverFixture(t *testing.T, n int) *observerFixture {
	f := newFixture(t, func(c *emulator.Config) { c.SearchIndexLag = observedLag })
	of := &observerFixture{fixture: f, events: make(chan event.GenericEvent, 10*n)}
	of.restart()
	of.restart()
	for i := range n {
		u := newUser(fmt.Sprintf("user-%02d", i), fmt.Sprintf("user-%02d@example.com", i))
		u.Spec.Name = "User " + u.Name
		f.create(u)
		of.users = append(of.users, f.mustPass(u))
	}
	return of
}

// restart gives the reconciler and a new observer empty snapshots, as a new process has.
func (of *observerFixture) restart() {
	of.r.Snapshots = auth0.NewSnapshots(userdiff.MarkedBy(clusterName))
	of.o = &UserObserver{Reader: of.c, Tenants: of.r.Tenants, Snapshots: of.r.Snapshots, ClusterName: clusterName,
		Interval: time.Second, FullInterval: time.Hour, Lag: 2 * observedLag, Events: of.events}
}

// observe runs one interval of the observer and returns the Management API calls it made and
// the objects it woke, by name.
func (of *observerFixture) observe() (calls []string, woken []string) {
	of.emu.ResetCounters()
	of.o.observe(of.ctx)
	for {
		select {
		case e := <-of.events:
			woken = append(woken, e.Object.GetName())
		default:
			slices.Sort(woken)
			return of.apiCalls(), woken
		}
	}
}

func (of *observerFixture) idOf(i int) string { return of.users[i].Status.UserID }

func TestObserverCostsOneCallPerIntervalAndWakesOnlyChangedUsers(t *testing.T) {
	of := newObserverFixture(t, 30)

	// The first look counts this cluster's users; the ones this process wrote are known.
	time.Sleep(2 * observedLag) // the creations are older than the lag: a steady tenant
	calls, woken := of.observe()
	if len(calls) != 1 || len(woken) != 0 {
		t.Errorf("first interval: calls %v, woke %v; want the count alone", calls, woken)
	}
	// A restart knows nothing: the count and a read of every user by id (one search for 30),
	// which wakes every object.
	of.restart()
	calls, woken = of.observe()
	if len(calls) != 2 || len(woken) != 30 {
		t.Errorf("after a restart: calls %v, woke %d; want 2 calls waking all 30", calls, len(woken))
	}

	time.Sleep(2 * observedLag)
	for range 2 {
		if calls, woken := of.observe(); len(calls) != 1 || len(woken) != 0 {
			t.Errorf("steady interval: calls %v, woke %v; want one call and nothing woken", calls, woken)
		}
	}

	// A change made in Auth0 wakes its object alone, which corrects it from the snapshot
	// without reading the user.
	if err := of.emu.PatchUser(of.idOf(5), map[string]any{"name": "drifted"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * observedLag)
	calls, woken = of.observe()
	if len(calls) != 1 || !slices.Equal(woken, []string{"user-05"}) {
		t.Fatalf("after a change: calls %v, woke %v; want one call waking user-05", calls, woken)
	}
	of.emu.ResetCounters()
	of.mustPass(of.users[5])
	if calls := of.apiCalls(); len(calls) != 1 || !strings.HasPrefix(calls[0], "PATCH ") {
		t.Errorf("correcting the drift took %v; want the one PATCH", calls)
	}
	if name := of.emu.User(of.idOf(5))["name"]; name != "User user-05" {
		t.Errorf("name = %v after the correction", name)
	}
	// The correction is the operator's own write: the next interval sees it and wakes nobody.
	time.Sleep(2 * observedLag)
	if calls, woken := of.observe(); len(calls) != 1 || len(woken) != 0 {
		t.Errorf("after the correction: calls %v, woke %v", calls, woken)
	}

	// More changes than the newest page holds are all read, in pages.
	for i := range changesPage + 5 {
		if err := of.emu.PatchUser(of.idOf(i), map[string]any{"nickname": "bulk"}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * observedLag)
	calls, woken = of.observe()
	if len(woken) != changesPage+5 {
		t.Errorf("after %d changes woke %d objects: %v", changesPage+5, len(woken), woken)
	}
	if len(calls) != 2 {
		t.Errorf("after %d changes: %d calls, want 2 (the newest page, then one page of all): %v", changesPage+5, len(calls), calls)
	}
}

func TestObserverNoticesADeletionByTheCount(t *testing.T) {
	of := newObserverFixture(t, 10)
	of.observe()
	time.Sleep(2 * observedLag)
	of.observe()

	of.emu.DeleteUser(of.idOf(7))
	time.Sleep(2 * observedLag)
	calls, woken := of.observe()
	// The newest page (whose total is one short), then a count and a read of every user.
	if len(calls) != 3 || !slices.Equal(woken, []string{"user-07"}) {
		t.Fatalf("after a deletion: calls %v, woke %v; want 3 calls waking user-07", calls, woken)
	}
	c, err := of.r.Tenants.ClientFor(of.ctx, testNS, of.users[7].Spec.TenantRef)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := of.r.Snapshots.Get(c, of.idOf(7), time.Hour, time.Now()); ok {
		t.Error("the deleted user is still known")
	}
	// Known again as it is: the next interval is one call.
	time.Sleep(2 * observedLag)
	if calls, woken := of.observe(); len(calls) != 1 || len(woken) != 0 {
		t.Errorf("after the full read: calls %v, woke %v", calls, woken)
	}
}

// TestObserverForgetsTheUsersOfDeletedObjects: a user deleted by hand in Auth0 whose object is
// deleted before the observer noticed leaves nothing behind that the count would miss for ever
// (a full read every interval).
func TestObserverForgetsTheUsersOfDeletedObjects(t *testing.T) {
	of := newObserverFixture(t, 5)
	time.Sleep(2 * observedLag)
	of.observe()

	of.emu.DeleteUser(of.idOf(2))
	if err := of.c.Delete(of.ctx, of.get(of.users[2])); err != nil {
		t.Fatal(err)
	}
	if _, err := of.shell.Reconcile(of.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(of.users[2])}); err != nil {
		t.Fatalf("deletion: %v", err)
	}
	time.Sleep(2 * observedLag)
	for range 2 {
		if calls, woken := of.observe(); len(calls) != 1 || len(woken) != 0 {
			t.Errorf("after the deletion: calls %v, woke %v; want one call and nothing woken", calls, woken)
		}
	}
}

// TestObserverWakesThePagesItMergedBeforeALaterPageFailed: the changes of a wave are merged page
// by page, so a page merged before a later read failed is in the snapshots already; its users
// must be woken all the same, or the next interval, finding their copies current, would never
// wake them.
func TestObserverWakesThePagesItMergedBeforeALaterPageFailed(t *testing.T) {
	start := time.Now().Add(-time.Minute)
	users := make([]*auth0.User, 250)
	for i := range users {
		users[i] = &auth0.User{ID: fmt.Sprintf("auth0|%03d", i), UpdatedAt: start.Add(time.Duration(i+1) * time.Millisecond),
			AppMetadata: map[string]any{userdiff.OwnerKey: clusterName + "/ns/user-" + fmt.Sprint(i)}}
	}
	failSecondPage := true
	fake := &auth0.Fake{SearchUsersPageFunc: func(_ context.Context, query, sort string, page, perPage int) (auth0.UserPage, error) {
		if sort == "updated_at:-1" { // the newest changes: a full page, so the observer reads them all
			newest := slices.Clone(users[len(users)-perPage:])
			slices.Reverse(newest)
			return auth0.UserPage{Users: newest, Total: len(users)}, nil
		}
		from := 0 // keyset paging: the query names the last change read
		for i, u := range users {
			if strings.Contains(query, luceneEscape(u.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z"))) {
				from = i
			}
		}
		if from > 0 && failSecondPage {
			return auth0.UserPage{}, errors.New("connection reset")
		}
		end := min(from+perPage, len(users))
		return auth0.UserPage{Users: users[from:end], Total: len(users)}, nil
	}}
	snapshots := auth0.NewSnapshots(userdiff.MarkedBy(clusterName))
	o := &UserObserver{Snapshots: snapshots, ClusterName: clusterName, Interval: time.Second, FullInterval: time.Hour, Lag: time.Millisecond,
		tenants: map[auth0.Client]*observation{}}
	o.tenants[fake] = &observation{since: start, fullAt: time.Now()}
	byID := map[string]types.NamespacedName{}
	for i, u := range users {
		byID[u.ID] = types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("user-%d", i)}
	}

	changed, err := o.observeTenant(context.Background(), fake, byID)
	if err == nil {
		t.Fatal("the failed page was not reported")
	}
	if len(changed) != pageSize {
		t.Fatalf("woke %d users after the first page, want the %d it merged", len(changed), pageSize)
	}
	failSecondPage = false
	again, err := o.observeTenant(context.Background(), fake, byID)
	if err != nil {
		t.Fatal(err)
	}
	all := append(changed, again...)
	slices.Sort(all)
	if all = slices.Compact(all); len(all) != len(users) {
		t.Errorf("woke %d distinct users over the two intervals, want all %d", len(all), len(users))
	}
}
