package auth0rolebinding

import (
	"maps"
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
// processes, statuses carry the same record.
type ledger struct {
	mu    sync.Mutex
	holds map[types.NamespacedName]map[string]grants.Set
}

// claim records that binding b is about to add grants to user uid.
func (l *ledger) claim(b types.NamespacedName, uid string, gs []grants.Grant) {
	if len(gs) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	held := l.userOf(b, uid)
	for _, g := range gs {
		held[g] = true
	}
}

// record replaces what binding b holds for user uid (after a pass).
func (l *ledger) record(b types.NamespacedName, uid string, gs []grants.Grant) {
	l.mu.Lock()
	defer l.mu.Unlock()
	held := l.userOf(b, uid)
	clear(held)
	for _, g := range gs {
		held[g] = true
	}
}

// forgetUser drops what binding b holds for user uid (the user left the binding and was
// released).
func (l *ledger) forgetUser(b types.NamespacedName, uid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.holds[b], uid)
}

// forget drops binding b (deleted, its grants released).
func (l *ledger) forget(b types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.holds, b)
}

// of returns a copy of what binding b holds per user, and whether this process knows it at all
// (a binding not reconciled since the manager started is known only by its status).
func (l *ledger) of(b types.NamespacedName) (map[string]grants.Set, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	users, ok := l.holds[b]
	if !ok {
		return nil, false
	}
	out := make(map[string]grants.Set, len(users))
	for uid, set := range users {
		out[uid] = maps.Clone(set)
	}
	return out, true
}

func (l *ledger) userOf(b types.NamespacedName, uid string) grants.Set {
	if l.holds == nil {
		l.holds = map[types.NamespacedName]map[string]grants.Set{}
	}
	if l.holds[b] == nil {
		l.holds[b] = map[string]grants.Set{}
	}
	if l.holds[b][uid] == nil {
		l.holds[b][uid] = grants.Set{}
	}
	return l.holds[b][uid]
}
