package auth0user

import (
	"context"
	"strings"
	"time"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/userdiff"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// UserObserver watches the managed users of each tenant at a cost independent of their number.
// Every Interval it makes one search, for this cluster's users sorted by last change with their
// total: the changes since its last look (less the search index lag, which it overlaps) go into
// the Snapshots, and only the objects whose user changed are woken, to correct or report the
// drift against the snapshot without a call of their own. A tenant where nothing changed costs
// one call per interval and no reconcile.
//
// A deletion in Auth0 shows as a total below what the operator knows of; then, after a restart
// and every FullInterval, it reads every managed user by id (a search per 50 ids) instead.
type UserObserver struct {
	Reader client.Reader
	// Informers, when set, is the cache Reader reads from: the observer then walks its store
	// instead of listing (eachUser).
	Informers cache.Informers
	Tenants   *controller.TenantResolver
	Snapshots *auth0.Snapshots
	// ClusterName is the first part of the owner markers of this cluster's users.
	ClusterName  string
	Interval     time.Duration
	FullInterval time.Duration
	// Lag is how far the search index may lag the writes (zero: auth0.SearchLagAllowance).
	Lag time.Duration
	// Events receives one event per object to look at again; the Auth0User controller watches it.
	Events chan<- event.GenericEvent

	tenants map[auth0.Client]*observation
}

// observation is where the observer stands with one tenant.
type observation struct {
	// since is the start of the last successful look: changes after it less the index lag are
	// the ones to search for.
	since time.Time
	// fullAt is the start of the last full read; zero before the first (a restart).
	fullAt time.Time
	// unexplained is how many more users the count showed than the operator knew of at the last
	// full read (this cluster's users no object names, such as the orphaned ones): a count
	// below the known users plus these means some were deleted.
	unexplained int
}

// changesPage is the size of the one page of newest changes read each interval; more changes
// than that are read in pages of pageSize, oldest first.
const (
	changesPage = 20
	pageSize    = 100
)

// NeedLeaderElection makes only the leader observe.
func (o *UserObserver) NeedLeaderElection() bool { return true }

// Start observes at once (after a restart nothing is known), then every Interval until ctx ends.
func (o *UserObserver) Start(ctx context.Context) error {
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		o.observe(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (o *UserObserver) observe(ctx context.Context) {
	logger := log.FromContext(ctx).WithName("observer")
	// The objects to look after, by tenant client (objects of several namespaces on the same
	// credentials share one, and its count), then by user id. Only their keys are kept.
	byClient := map[auth0.Client]map[string]types.NamespacedName{}
	clients := map[string]auth0.Client{} // tenant key -> client, nil when unavailable
	err := o.eachUser(ctx, func(u *v1alpha1.Auth0User) {
		// Stalled objects retry on their own, slower schedule: waking them would turn a
		// rejected write into one per interval.
		if u.Status.UserID == "" || !u.DeletionTimestamp.IsZero() || conditions.IsTrue(u.Status.Conditions, v1alpha1.ConditionStalled) {
			return
		}
		key := controller.TenantKey(u.Namespace, u.Spec.TenantRef)
		c, seen := clients[key]
		if !seen {
			var err error
			if c, err = o.Tenants.ClientFor(ctx, u.Namespace, u.Spec.TenantRef); err != nil {
				c = nil // each object reports its tenant problem on its own reconcile
			}
			clients[key] = c
		}
		if c == nil {
			return
		}
		if byClient[c] == nil {
			byClient[c] = map[string]types.NamespacedName{}
		}
		byClient[c][u.Status.UserID] = client.ObjectKeyFromObject(u)
	})
	if err != nil {
		logger.Error(err, "cannot list Auth0Users")
		return
	}
	for c, byID := range byClient {
		changed, err := o.observeTenant(ctx, c, byID)
		if err != nil {
			logger.Info("cannot observe the tenant's users; objects fall back to reads by id on their resync", "error", err.Error())
		}
		for _, id := range changed {
			if key, ok := byID[id]; ok {
				// The Auth0User controller needs only the key of the object to wake.
				woken := &v1alpha1.Auth0User{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
				select {
				case o.Events <- event.GenericEvent{Object: woken}:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// eachUser calls f with every cached Auth0User, read-only. It reads the informer's store when
// the cache has one (a cluster-wide install): a List would copy every object into a new slice,
// 7 MB at 10,000 users each interval, large enough to start a collection while it is live.
func (o *UserObserver) eachUser(ctx context.Context, f func(*v1alpha1.Auth0User)) error {
	if o.Informers != nil {
		informer, err := o.Informers.GetInformer(ctx, &v1alpha1.Auth0User{})
		if err != nil {
			return err
		}
		if store, ok := informer.(toolscache.SharedIndexInformer); ok {
			for _, obj := range store.GetStore().List() {
				if u, ok := obj.(*v1alpha1.Auth0User); ok {
					f(u)
				}
			}
			return nil
		}
	}
	var users v1alpha1.Auth0UserList
	if err := o.Reader.List(ctx, &users, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	for i := range users.Items {
		f(&users.Items[i])
	}
	return nil
}

// observeTenant looks at one tenant and returns the ids of the users that changed.
func (o *UserObserver) observeTenant(ctx context.Context, c auth0.Client, byID map[string]types.NamespacedName) ([]string, error) {
	if o.tenants == nil {
		o.tenants = map[auth0.Client]*observation{}
	}
	wanted := func(id string) bool { _, ok := byID[id]; return ok }
	st := o.tenants[c]
	if st == nil {
		st = &observation{}
		o.tenants[c] = st
	}
	at := time.Now()
	if st.fullAt.IsZero() {
		// The first look (after a restart, or at a tenant's first users): what this process
		// wrote or read is known, the rest is read.
		return o.readAll(ctx, c, byID, wanted, st, at, false)
	}
	if at.Sub(st.fullAt) >= o.FullInterval {
		return o.readAll(ctx, c, byID, wanted, st, at, true)
	}
	marker := o.markerQuery()
	newest, err := c.SearchUsersPage(ctx, marker, "updated_at:-1", 0, changesPage)
	if err != nil {
		return nil, err
	}
	from := st.since.Add(-o.lag())
	var changed []string
	if found := newest.Users; len(found) == changesPage && !found[len(found)-1].UpdatedAt.Before(from) {
		// More changes than the page holds (the operator's own writes while it converges,
		// mostly): read them all, oldest first, each page merged as it comes. The users of a
		// page merged before a later page failed are changed all the same: they are returned
		// with the error, to be woken, as the snapshots now hold their new copies.
		if err := changedSince(ctx, c, marker, from, func(page []*auth0.User) {
			changed = append(changed, o.Snapshots.Observed(c, page, at, wanted)...)
		}); err != nil {
			return changed, err
		}
	} else {
		changed = o.Snapshots.Observed(c, found, at, wanted)
	}
	if newest.Total < o.Snapshots.Expected(c, from)+st.unexplained {
		// Fewer of this cluster's users than it knows of: some were deleted (or unmarked).
		more, err := o.readAll(ctx, c, byID, wanted, st, at, true)
		return append(changed, more...), err
	}
	st.since = at
	o.Snapshots.Current(c, at.Add(-o.lag()))
	return changed, nil
}

// changedSince reads every managed user changed from from on, oldest first, a page of 100 at a
// time, and hands each page to merge as it is read: thousands of changes (a wave of creates) are
// never all held at once. Each page is the first of the query from the last change read (keyset
// paging): an offset would skip a user whose change moves it to the end while the pages are
// read. The users read again at the boundary are recognised by the snapshots. Only more than a
// page of changes within one millisecond is paged by offset, within Auth0's window of 1000
// results.
func changedSince(ctx context.Context, c auth0.Client, marker string, from time.Time, merge func([]*auth0.User)) error {
	for page := 0; (page+1)*pageSize <= 1000; {
		query := marker + " AND updated_at:[" + luceneEscape(from.UTC().Format("2006-01-02T15:04:05.000Z")) + " TO *]"
		got, err := c.SearchUsersPage(ctx, query, "updated_at:1", page, pageSize)
		if err != nil {
			return err
		}
		merge(got.Users)
		if len(got.Users) < pageSize {
			return nil
		}
		if last := got.Users[len(got.Users)-1].UpdatedAt.Truncate(time.Millisecond); last.After(from) {
			from, page = last, 0
		} else {
			page++
		}
	}
	// A thousand changes within one millisecond: the next full read catches what lies beyond.
	return nil
}

// readAll counts this cluster's users, then reads users by id (a search per 50 ids): every one
// the objects name or the snapshots know, or only the objects' users without a current
// snapshot, and returns the ids that changed or are gone.
func (o *UserObserver) readAll(ctx context.Context, c auth0.Client, byID map[string]types.NamespacedName, wanted func(string) bool,
	st *observation, at time.Time, everyone bool) ([]string, error) {
	count, err := c.SearchUsersPage(ctx, o.markerQuery(), "", 0, 1)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		if everyone || !o.Snapshots.Has(c, id, o.FullInterval, at) {
			ids = append(ids, id)
		}
	}
	if everyone {
		// Known users no object names (yet: the cache lags the operator's writes; or any more:
		// an object deleted without the operator) are read too, so that one gone is dropped.
		for _, id := range o.Snapshots.Known(c) {
			if !wanted(id) {
				ids = append(ids, id)
			}
		}
	}
	found, err := c.GetUsers(ctx, ids)
	if err != nil {
		return nil, err
	}
	changed := o.Snapshots.Swept(c, ids, found, at, o.lag(), wanted)
	st.unexplained = max(0, count.Total-o.Snapshots.Expected(c, at))
	st.fullAt, st.since = at, at
	o.Snapshots.Current(c, at.Add(-o.lag()))
	return changed, nil
}

func (o *UserObserver) lag() time.Duration {
	if o.Lag > 0 {
		return o.Lag
	}
	return auth0.SearchLagAllowance
}

// markerQuery matches the users carrying this cluster's owner marker.
func (o *UserObserver) markerQuery() string {
	return "app_metadata." + userdiff.OwnerKey + ":" + luceneEscape(o.ClusterName+"/") + "*"
}

// luceneEscape escapes the characters Lucene's query syntax gives a meaning.
func luceneEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`+-&|!(){}[]^"~*?:\/ `, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
