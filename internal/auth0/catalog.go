package auth0

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// RoleMissRefresh is how often one unknown role (or scope) may read Auth0 again: many bindings
// naming the same missing role (a typo templated into every namespace) cost one list per
// interval, not one each per resync. A reference never looked for before reads at once, so a
// role created a moment ago is found without waiting.
const RoleMissRefresh = 10 * time.Second

// Catalog remembers, per tenant, the roles and the resource servers' scopes, so that resolving
// a binding's references costs no call once they are known, and the roles' members, so that the
// bindings granting a role share its reads (see RoleMembers). It is keyed by Client because the
// Provider hands out one Client per tenant credential. Reads of Auth0 are shared per tenant (and
// per resource server, and per role): concurrent misses wait for one read, and a slow or
// throttled tenant never holds up another tenant's lookups.
type Catalog struct {
	mu      sync.Mutex
	tenants map[Client]*tenantCatalog
	// now is the clock of the miss throttling and of the members' age, replaced in tests.
	now func() time.Time
}

// tenantCatalog is what is known of one tenant; its fields are guarded by Catalog.mu.
type tenantCatalog struct {
	roles      *roleSet // nil until listed, and again after Forget
	roleFlight flight[*roleSet]
	// forgotten counts the calls to Forget, so that a list begun before one is not kept.
	forgotten uint64
	// missed is when a list last failed to find a role reference.
	missed map[roleRef]time.Time
	apis   map[string]*apiCatalog
	// members holds, per role id, the role's members as last read and kept current since.
	members map[string]*roleMembers
}

// roleRef is the key of a role reference: by id when an id is given, by name otherwise.
type roleRef struct{ name, id string }

func newRoleRef(name, id string) roleRef {
	if id != "" {
		return roleRef{id: id}
	}
	return roleRef{name: name}
}

// roleSet is one listing of a tenant's roles. It is never changed after it is made, so that a
// caller keeps reading the listing it waited for even if Forget drops it meanwhile.
type roleSet struct {
	byName map[string]string // name -> id
	byID   map[string]string // id -> name
	at     time.Time
}

func (s *roleSet) lookup(ref roleRef) string {
	if s == nil {
		return ""
	}
	if ref.id != "" {
		if _, ok := s.byID[ref.id]; ok {
			return ref.id
		}
		return ""
	}
	return s.byName[ref.name]
}

// apiCatalog is what is known of one resource server; guarded by Catalog.mu.
type apiCatalog struct {
	scopes *scopeSet // nil until read
	flight flight[*scopeSet]
	// missed is when a read last failed to find a scope.
	missed map[string]time.Time
}

// scopeSet is one read of a resource server, never changed after it is made; a resource
// server Auth0 does not have is an empty set.
type scopeSet struct {
	scopes map[string]bool
	at     time.Time
}

// flight lets the callers that miss on the same key share one read of Auth0. It is a
// one-slot semaphore rather than x/sync/singleflight so that each waiter keeps its own context:
// a waiter gives up when its context ends, and a read abandoned because its caller's context
// ended is not handed to the others as their failure; the next waiter reads instead.
type flight[T any] struct {
	slot chan struct{}
	// started counts the reads begun (guarded by Catalog.mu); val and err are the outcome of
	// the last one shared, which was the valFrom-th begun, handed to the callers that missed
	// before it began.
	started uint64
	valFrom uint64
	val     T
	err     error
}

// share returns the outcome of a read of f begun after the caller missed (when f.started was
// seen), or else runs read itself, while the others wait: a read already under way when the caller
// missed may predate what it looks for (a role created meanwhile). keep stores a successful value, under c.mu, and
// says whether it is still current; one that is not is returned to its reader but not shared.
func share[T any](ctx context.Context, c *Catalog, f *flight[T], seen uint64, read func(context.Context) (T, error), keep func(T) bool) (T, error) {
	var zero T
	c.mu.Lock()
	if f.slot == nil {
		f.slot = make(chan struct{}, 1)
	}
	slot := f.slot
	c.mu.Unlock()
	select {
	case slot <- struct{}{}:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	defer func() { <-slot }()
	c.mu.Lock()
	if f.valFrom > seen {
		// A read begun after this caller's miss finished while it waited.
		val, err := f.val, f.err
		c.mu.Unlock()
		return val, err
	}
	f.started++
	mine := f.started
	c.mu.Unlock()
	val, err := read(ctx)
	if err != nil && ctx.Err() != nil {
		// Abandoned with this caller's context, not failed: not an answer for the others.
		return zero, err
	}
	c.mu.Lock()
	if err != nil || keep(val) {
		f.valFrom, f.val, f.err = mine, val, err
	}
	c.mu.Unlock()
	return val, err
}

// NewCatalog makes an empty catalog.
func NewCatalog() *Catalog { return NewCatalogWithClock(time.Now) }

// NewCatalogWithClock makes an empty catalog that reads the time from now: tests of its users
// let a resync interval pass, for the age of role listings, without waiting for it.
func NewCatalogWithClock(now func() time.Time) *Catalog {
	return &Catalog{tenants: map[Client]*tenantCatalog{}, now: now}
}

// tenant returns the client's entry, made on first use; c.mu must be held.
func (c *Catalog) tenant(client Client) *tenantCatalog {
	t := c.tenants[client]
	if t == nil {
		t = &tenantCatalog{missed: map[roleRef]time.Time{}, apis: map[string]*apiCatalog{}, members: map[string]*roleMembers{}}
		c.tenants[client] = t
	}
	return t
}

// RoleID resolves a role reference (exactly one of name or id set; an id wins if both are) to
// the role's id, or "" when the tenant has no such role. A miss lists the roles again, at most
// once per RoleMissRefresh per reference; a reference never looked for before lists at once.
func (c *Catalog) RoleID(ctx context.Context, client Client, name, id string) (string, error) {
	ref := newRoleRef(name, id)
	c.mu.Lock()
	t := c.tenant(client)
	if found := t.roles.lookup(ref); found != "" {
		c.mu.Unlock()
		return found, nil
	}
	if missed, ok := t.missed[ref]; ok && c.now().Sub(missed) < RoleMissRefresh {
		c.mu.Unlock()
		return "", nil
	}
	seen := t.roleFlight.started
	c.mu.Unlock()

	var epoch uint64
	set, err := share(ctx, c, &t.roleFlight, seen, func(ctx context.Context) (*roleSet, error) {
		c.mu.Lock()
		epoch = t.forgotten
		c.mu.Unlock()
		roles, err := client.ListRoles(ctx)
		if err != nil {
			return nil, fmt.Errorf("cannot list roles: %w", err)
		}
		s := &roleSet{byName: make(map[string]string, len(roles)), byID: make(map[string]string, len(roles)), at: c.now()}
		for _, ro := range roles {
			s.byName[ro.Name] = ro.ID
			s.byID[ro.ID] = ro.Name
		}
		return s, nil
	}, func(s *roleSet) bool {
		// A list begun before Forget may still hold the role Auth0 just said is gone.
		if t.forgotten != epoch {
			return false
		}
		t.roles = s
		return true
	})
	if err != nil {
		return "", err
	}
	found := set.lookup(ref)
	if found == "" {
		c.mu.Lock()
		t.missed[ref] = set.at
		c.mu.Unlock()
	}
	return found, nil
}

// RoleNames returns a role reference's name and id as far as the catalog knows them without a
// call (after RoleID): policies may name a role either way, so both are needed to check one.
// What is unknown is "".
func (c *Catalog) RoleNames(client Client, name, id string) (roleName, roleID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var roles *roleSet
	if t := c.tenants[client]; t != nil {
		roles = t.roles
	}
	if id != "" {
		if name == "" && roles != nil {
			name = roles.byID[id]
		}
		return name, id
	}
	if roles != nil {
		id = roles.byName[name]
	}
	return name, id
}

// KnownRoleID returns the id of a role named by name or id as far as the catalog knows without
// a call ("" when unknown; an id is returned as is), for reading other bindings' specs without
// spending calls on roles that those bindings resolve themselves.
func (c *Catalog) KnownRoleID(client Client, name, id string) string {
	if id != "" {
		return id
	}
	_, id = c.RoleNames(client, name, "")
	return id
}

// PermissionExists reports whether the resource server api defines the scope name. A resource
// server is read once and remembered; a scope not found reads it again at most once per
// RoleMissRefresh (a scope never looked for before reads at once), like roles. An API Auth0
// does not have defines no scope.
func (c *Catalog) PermissionExists(ctx context.Context, client Client, api, name string) (bool, error) {
	c.mu.Lock()
	t := c.tenant(client)
	a := t.apis[api]
	if a == nil {
		a = &apiCatalog{missed: map[string]time.Time{}}
		t.apis[api] = a
	}
	if a.scopes != nil && a.scopes.scopes[name] {
		c.mu.Unlock()
		return true, nil
	}
	if missed, ok := a.missed[name]; ok && c.now().Sub(missed) < RoleMissRefresh {
		c.mu.Unlock()
		return false, nil
	}
	seen := a.flight.started
	c.mu.Unlock()

	set, err := share(ctx, c, &a.flight, seen, func(ctx context.Context) (*scopeSet, error) {
		rs, err := client.GetResourceServer(ctx, api)
		s := &scopeSet{scopes: map[string]bool{}, at: c.now()}
		switch {
		case IsNotFound(err):
			return s, nil
		case err != nil:
			return nil, fmt.Errorf("cannot get resource server %s: %w", api, err)
		}
		for _, sc := range rs.Scopes {
			s.scopes[sc] = true
		}
		return s, nil
	}, func(s *scopeSet) bool {
		a.scopes = s
		return true
	})
	if err != nil {
		return false, err
	}
	if set.scopes[name] {
		return true, nil
	}
	c.mu.Lock()
	a.missed[name] = set.at
	c.mu.Unlock()
	return false, nil
}

// Forget drops what is known of a tenant's roles and their members, after Auth0 said a role is
// gone: a role deleted (or deleted and made again under the same name) is then resolved afresh.
// Scopes are kept. A list already under way is not kept, since it may predate the deletion.
func (c *Catalog) Forget(client Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.tenants[client]; t != nil {
		t.roles = nil
		t.missed = map[roleRef]time.Time{}
		t.forgotten++
		// The role that is gone may still be listed with its members; the other listings go
		// too, since which role it was is not known here (roles are rarely deleted). A read
		// under way stores into the entry dropped here, which nobody reads any more.
		t.members = map[string]*roleMembers{}
	}
}

// A role's members are read with GET /roles/{id}/users, 100 a page: tens of calls for a role
// held by thousands, which every binding granting the role would make on each of its full
// observations, and again on each pass woken by subjects becoming ready. The catalog keeps one
// listing per role and tenant client, shared by every binding, read again only once it is
// maxAge old, and kept current by write-through: the operator's grants and revocations of roles
// go through the catalog (AssignRoleToUsers, RemoveUserRoles), which adds the users to the
// listing or removes them once Auth0 confirmed the write, and drops the listing when it did not
// (any error: the write may have landed with its answer lost), so that the next read is fresh.
//
// A listing is thus Auth0 as of its read plus every change this operator made since. All it can
// miss is what was changed outside the operator (or through another client of the same tenant)
// since the read, at most maxAge ago; RoleMembers says whether it read the listing for the
// caller, and what such a miss means is the caller's to weigh (the bindings' observe.go).

// roleMembers is what is known of one role's members; guarded by Catalog.mu.
type roleMembers struct {
	listing *memberList // nil until read, and again after a write whose outcome is unknown
	flight  flight[*memberList]
	// While a read is under way (reading), the writes Auth0 confirms are also kept in during,
	// to be applied to what the read returns (it may or may not have seen them); a write whose
	// outcome is unknown spoils it: its listing is returned to its reader but not kept.
	reading bool
	during  []memberChange
	spoiled bool
}

// memberList is one listing of a role's members and when its read began. Unlike the other
// entries of the catalog it changes after it is made (write-through), so it is only read with
// Catalog.mu held.
type memberList struct {
	ids map[string]bool
	at  time.Time
}

// memberChange is a write Auth0 confirmed: users given the role (add) or deprived of it.
type memberChange struct {
	users []string
	add   bool
}

func (l *memberList) apply(ch memberChange) {
	for _, u := range ch.users {
		if ch.add {
			l.ids[u] = true
		} else {
			delete(l.ids, u)
		}
	}
}

// sorted copies the ids out; c.mu must be held.
func (l *memberList) sorted() []string {
	out := make([]string, 0, len(l.ids))
	for id := range l.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// roleMembers returns the role's entry, made on first use; c.mu must be held.
func (t *tenantCatalog) roleMembers(roleID string) *roleMembers {
	m := t.members[roleID]
	if m == nil {
		m = &roleMembers{}
		t.members[roleID] = m
	}
	return m
}

// RoleMembers returns the ids of the users holding the role, sorted: the catalog's listing while
// it is less than maxAge old, else a new read of Auth0 (Client.RoleUserIDs), shared by the
// callers that miss meanwhile. read reports whether the listing was read for this call (a read
// begun after it was made): then it is as exact as reading each user now; otherwise it may miss
// what was changed outside the operator since it was read. A role Auth0 does not have answers
// an error with IsNotFound.
func (c *Catalog) RoleMembers(ctx context.Context, client Client, roleID string, maxAge time.Duration) (ids []string, read bool, err error) {
	c.mu.Lock()
	m := c.tenant(client).roleMembers(roleID)
	if l := m.listing; l != nil && c.now().Sub(l.at) < maxAge {
		ids = l.sorted()
		c.mu.Unlock()
		return ids, false, nil
	}
	seen := m.flight.started
	c.mu.Unlock()

	l, err := share(ctx, c, &m.flight, seen, func(ctx context.Context) (*memberList, error) {
		c.mu.Lock()
		m.reading, m.during, m.spoiled = true, nil, false
		l := &memberList{at: c.now()} // when the read began: it shows at least what was before
		c.mu.Unlock()
		ids, err := client.RoleUserIDs(ctx, roleID)
		if err != nil {
			c.mu.Lock()
			m.reading, m.during, m.spoiled = false, nil, false
			c.mu.Unlock()
			return nil, err
		}
		l.ids = make(map[string]bool, len(ids))
		for _, id := range ids {
			l.ids[id] = true
		}
		return l, nil
	}, func(l *memberList) bool {
		for _, ch := range m.during {
			l.apply(ch)
		}
		keep := !m.spoiled
		m.reading, m.during, m.spoiled = false, nil, false
		if keep {
			m.listing = l
		}
		return keep
	})
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	ids = l.sorted()
	c.mu.Unlock()
	return ids, true, nil
}

// AssignRoleToUsers grants the role to the users (Client.AssignRoleToUsers) and keeps the
// role's listing current: the users join it once Auth0 confirmed the write; after any error
// (some calls of the batch may have landed, or an answer was lost) the listing is dropped.
func (c *Catalog) AssignRoleToUsers(ctx context.Context, client Client, roleID string, userIDs []string) error {
	err := client.AssignRoleToUsers(ctx, roleID, userIDs)
	c.wrote(client, []string{roleID}, memberChange{users: userIDs, add: true}, err)
	return err
}

// RemoveUserRoles revokes roles from a user (Client.RemoveUserRoles) and keeps the roles'
// listings current the same way: the user leaves them once Auth0 confirmed, and any error
// (a user that no longer exists included) drops them.
func (c *Catalog) RemoveUserRoles(ctx context.Context, client Client, userID string, roleIDs []string) error {
	err := client.RemoveUserRoles(ctx, userID, roleIDs)
	c.wrote(client, roleIDs, memberChange{users: []string{userID}}, err)
	return err
}

// wrote applies the outcome of a write of the roles' members to their listings and to the
// reads under way: a confirmed change is applied, an unknown outcome drops the listing and
// spoils the read.
func (c *Catalog) wrote(client Client, roleIDs []string, ch memberChange, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tenants[client]
	if t == nil {
		return // nothing listed for this client yet: the first read will see the write
	}
	for _, id := range roleIDs {
		m := t.members[id]
		switch {
		case m == nil:
		case err != nil:
			m.listing = nil
			if m.reading {
				m.spoiled = true
			}
		default:
			if m.listing != nil {
				m.listing.apply(ch)
			}
			if m.reading {
				m.during = append(m.during, memberChange{users: slices.Clone(ch.users), add: ch.add})
			}
		}
	}
}
