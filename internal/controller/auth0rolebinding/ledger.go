package auth0rolebinding

import (
	"maps"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/usersync/auth0-operator/internal/grants"
)

// ledger is what each binding holds in Auth0, per user id, as this process knows it: written
// before a binding adds a grant (its decision, not its result) and replaced by what it holds
// after each pass. Bindings read one another's entries when they compose, so a binding that
// finds in Auth0 a grant another binding has just made counts it as the operator's, not as
// external, even before that binding's status reaches the informer cache; and a grant that
// binding has since let go is not kept alive by its stale status. Across restarts and
// processes, statuses carry the same record (the write-ahead pendingRoles/pendingPermissions
// are patched before the write).
//
// Each entry carries the tenant the binding verified when it decided: only bindings of the same
// verified tenant compose. A binding that stalls or is denied is dropped (forget), so that it
// never keeps another binding's grant alive.
type ledger struct {
	mu    sync.Mutex
	holds map[types.NamespacedName]*ledgerEntry
}

type ledgerEntry struct {
	tenant string
	// users holds the grants per user id: a slice, not a grants.Set (at 10,000 users the small
	// maps took 5 MB), replaced and never changed in place, so that of can share it.
	users map[string][]grants.Grant
}

// claim records that binding b, of the verified tenant, is about to add grants to user uid.
func (l *ledger) claim(b types.NamespacedName, tenant, uid string, gs []grants.Grant) {
	if len(gs) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(b, tenant)
	held := slices.Clone(e.users[uid])
	for _, g := range gs {
		if !slices.Contains(held, g) {
			held = append(held, g)
		}
	}
	e.users[uid] = held
}

// record replaces what binding b holds for user uid (after a pass).
func (l *ledger) record(b types.NamespacedName, tenant, uid string, gs []grants.Grant) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(b, tenant)
	if len(gs) == 0 {
		delete(e.users, uid)
		return
	}
	e.users[uid] = slices.Clone(gs)
}

// forgetUser drops what binding b holds for user uid (the user left the binding and was
// released).
func (l *ledger) forgetUser(b types.NamespacedName, uid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.holds[b]; e != nil {
		delete(e.users, uid)
	}
}

// forget drops binding b (deleted and released, or no longer able to act).
func (l *ledger) forget(b types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.holds, b)
}

// of returns the tenant of binding b and what it holds per user, of the users only (nil: all) —
// the caller must not change the slices — and whether this process knows b at all (a binding not
// reconciled since the manager started, or dropped, is known only by its status).
func (l *ledger) of(b types.NamespacedName, only map[string]bool) (string, map[string][]grants.Grant, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.holds[b]
	if !ok {
		return "", nil, false
	}
	if only == nil {
		return e.tenant, maps.Clone(e.users), true
	}
	out := map[string][]grants.Grant{}
	for uid := range only {
		if gs, ok := e.users[uid]; ok {
			out[uid] = gs
		}
	}
	return e.tenant, out, true
}

func (l *ledger) entry(b types.NamespacedName, tenant string) *ledgerEntry {
	if l.holds == nil {
		l.holds = map[types.NamespacedName]*ledgerEntry{}
	}
	e := l.holds[b]
	if e == nil || e.tenant != tenant {
		// A binding that moved to another tenant holds nothing of the old one here.
		e = &ledgerEntry{tenant: tenant, users: map[string][]grants.Grant{}}
		l.holds[b] = e
	}
	return e
}
