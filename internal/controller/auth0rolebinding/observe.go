package auth0rolebinding

import (
	"context"
	"fmt"

	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// observe reads what Auth0 holds of the grants that matter to this binding. A full observation
// (resolve decides: after a spec change, a restart, once per resync) takes the members of every
// role from the catalog's listings, for all subjects at once, and reads the direct permissions of
// every subject when the binding deals in permissions. Between full observations, what the
// binding recorded is trusted (drift is looked for on the resync) and only the subjects it has
// never seen are read: one at a time when they are few, else through the listings, but their
// permissions only.
//
// The listings are shared by every binding of the tenant and read again only once they are a
// resync interval old (the first binding to observe after that reads, the others share the read),
// and the operator's own grants and revocations are written through to them (apply.go), so a
// wave of subjects becoming ready costs no read of them. A listing is therefore Auth0 as of its
// read plus every change the operator made since: a grant of the operator's is in it, and a write
// whose answer was lost (write ahead's case) drops it, so the next observation reads it afresh.
// All a listing can miss is what was changed outside the operator since its read, at most one
// interval ago. What that means for the binding's records, case by case:
//   - A revocation made outside since: the grant still looks held. Drift on a grant the binding
//     applied is found by the first observation that reads the listing again (at most one
//     interval later than with a read of its own); a fresh subject (never recorded) is recorded
//     as holding it, externally or through another binding, and gets it back once drift is
//     found. Access is missing for a while; none is left behind.
//   - A grant of its own that the binding no longer wants, missing from a listing that predates
//     it (a grant made through another client of the tenant: the tenant Secret's credentials
//     changed since), is revoked all the same (observeGrants): revoking what is gone is
//     harmless, while skipping it would drop the grant from status with the access in place.
//   - A grant made outside since, to a fresh subject, before the binding named it: it is external
//     and must never be revoked, yet the listing does not show it. So a few fresh subjects are
//     read one by one, which costs no more than reading the listings again; many (a binding
//     created with many subjects, a wave of them becoming ready) are taken from the listings,
//     and such a grant, made within the interval, looks absent: the binding adds it again
//     (harmless) and records it as applied, its own, which it revokes when it lets the subject
//     or the role go. That errs towards removing access granted by hand, never towards keeping
//     access nobody grants: a stale listing never makes an applied grant look external.
func (r *Reconciler) observe(ctx context.Context, s *bindingScope) error {
	applied := map[string]grants.Set{}  // user id -> grants this binding applied before
	external := map[string]grants.Set{} // user id -> grants it found made outside the operator
	written := map[string]grants.Set{}  // user id -> grants it recorded as about to add
	for _, prev := range s.obj.Status.Subjects {
		if prev.UserID == "" {
			continue
		}
		uid := prev.UserID // several entries may name one user (its email and its Auth0User)
		addRecorded(applied, uid, prev.Roles, prev.Permissions)
		addRecorded(external, uid, prev.ExternalRoles, prev.ExternalPermissions)
		addRecorded(written, uid, prev.PendingRoles, prev.PendingPermissions)
	}
	// What this process saw the binding apply counts too: the cache may not hold the status
	// its last pass wrote yet, and a grant it made must not come back as external.
	if tenant, held, ok := r.ledger.of(client.ObjectKeyFromObject(s.obj), nil); ok && tenant == s.tenant {
		for uid, gs := range held {
			for _, g := range gs {
				if !written[uid][g] { // claimed, maybe never written: pending, not drift
					addGrant(applied, uid, g)
				}
			}
		}
	}
	current := map[string]bool{}
	for _, sub := range s.subjects {
		if sub.userID != "" {
			current[sub.userID] = true
		}
	}
	var fresh []string // subjects the binding has never recorded
	for _, uid := range sortedKeys(current) {
		if _, known := applied[uid]; !known {
			fresh = append(fresh, uid)
		}
	}
	recorded := func(uid string) grants.Set { return grants.Union(applied[uid], external[uid]) }
	few := readingUsersIsCheaper(len(fresh), len(current), s.desired)
	var observed map[string]grants.Set
	var err error
	if !s.full && few {
		// Woken by subjects becoming ready, shortly after an observation: read only what the
		// new subjects hold, so that a grant they had before the binding is recorded as external
		// and never revoked.
		observed = map[string]grants.Set{}
		for uid := range current {
			observed[uid] = recorded(uid)
		}
		err = observeSubjects(ctx, s.auth0, s.desired, fresh, observed)
	} else {
		readPerms := fresh
		if s.full {
			readPerms = sortedKeys(current)
		}
		var exact []string // read one by one should a listing predate this pass
		if few {
			exact = fresh
		}
		observed, err = r.observeGrants(ctx, s, current, recorded, readPerms, exact, applied, external, written)
	}
	if err != nil {
		return r.roleGone(s, err)
	}
	s.applied, s.external, s.written, s.current, s.observed = applied, external, written, current, observed
	return nil
}

// addRecorded adds to m[uid] the grants a status entry records, and makes uid known to m even
// when it records none (applied tells the subjects recorded before from fresh ones). Sets are
// made only for grants: at 1,000 subjects, an empty set each per pass was a megabyte.
func addRecorded(m map[string]grants.Set, uid string, roleIDs, permissions []string) {
	if _, ok := m[uid]; !ok {
		m[uid] = nil
	}
	for g := range grants.FromStatus(roleIDs, permissions) {
		addGrant(m, uid, g)
	}
}

// addGrant adds g to m[uid].
func addGrant(m map[string]grants.Set, uid string, g grants.Grant) {
	if m[uid] == nil {
		m[uid] = grants.Set{}
	}
	m[uid][g] = true
}

// observeGrants reads what Auth0 holds of the grants that matter (desired, applied, pending or
// found external before): role membership from the catalog's listings (a paged read per role at
// most once per resync interval, shared by the tenant's bindings), which cover every subject at
// once, and the direct permissions of the users in readPerms when the binding deals in
// permissions; the other users' permissions are taken as recorded. When a listing was not read
// for this pass, the users in exact are read one by one instead, and this binding's own grants
// that it no longer wants are taken as held (see observe).
func (r *Reconciler) observeGrants(ctx context.Context, s *bindingScope, users map[string]bool, recorded func(string) grants.Set,
	readPerms, exact []string, applied, external, written map[string]grants.Set) (map[string]grants.Set, error) {
	relevant := grants.Union(s.desired)
	for _, sets := range []map[string]grants.Set{applied, external, written} {
		for _, set := range sets {
			for g := range set {
				relevant[g] = true
			}
		}
	}
	observed := map[string]grants.Set{}
	for uid := range users {
		observed[uid] = grants.Set{}
	}
	wantPerms, listed := false, true
	for _, g := range relevant.Sorted() {
		if !g.IsRole() {
			wantPerms = true
			continue
		}
		roleID := g.RoleID
		members, read, err := r.Catalog.RoleMembers(ctx, s.auth0, roleID, r.interval(s.obj))
		if auth0.IsNotFound(err) {
			if !s.desired[g] {
				// A role this binding applied and no longer wants was deleted in Auth0:
				// nobody holds it, nothing to revoke.
				continue
			}
			// Deleted after its name was resolved: retried (not Auth0Rejected), and the
			// retry resolves the roles again.
			return nil, &controller.TransientError{Reason: conditions.ReasonRolesChanged,
				Err: fmt.Errorf("role %s was deleted in Auth0, resolving roles again: %w", roleID, err)}
		}
		if err != nil {
			return nil, fmt.Errorf("cannot list the users of role %s: %w", roleID, err)
		}
		for _, uid := range members {
			if users[uid] {
				observed[uid][g] = true
			}
		}
		if read {
			continue
		}
		listed = false
		if !s.desired[g] {
			for uid := range users {
				if applied[uid][g] || written[uid][g] {
					observed[uid][g] = true // revoked even if the listing predates the grant
				}
			}
		}
	}
	if listed {
		exact = nil // every listing was read for this pass: as exact as reading each user
	}
	one := map[string]bool{}
	for _, uid := range exact {
		one[uid] = true
	}
	permsRead := map[string]bool{}
	if wantPerms {
		for _, uid := range readPerms {
			if one[uid] {
				continue
			}
			permsRead[uid] = true
			if err := readPermissions(ctx, s.auth0, uid, observed[uid]); err != nil {
				return nil, err
			}
		}
		for uid := range users {
			if !permsRead[uid] && !one[uid] {
				for g := range recorded(uid) {
					if !g.IsRole() {
						observed[uid][g] = true
					}
				}
			}
		}
	}
	if err := observeSubjects(ctx, s.auth0, s.desired, exact, observed); err != nil {
		return nil, err
	}
	return observed, nil
}

// readPermissions adds the permissions granted directly to a user to held. A user deleted since
// it was verified holds nothing.
func readPermissions(ctx context.Context, c auth0.Client, uid string, held grants.Set) error {
	perms, err := c.UserPermissions(ctx, uid)
	if auth0.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot list the permissions of %s: %w", uid, err)
	}
	for _, p := range perms {
		held[grants.Permission(p.ResourceServerIdentifier, p.Name)] = true
	}
	return nil
}

// readingUsersIsCheaper compares, in calls, reading the grants of the fresh subjects one user at
// a time (their roles, and their permissions if the binding grants any) with reading the members
// of every role (a page of 100 members per role) and the permissions of the fresh subjects. The
// comparison is with reading the listings afresh even when the catalog holds them: subjects as
// few as that are read one by one all the same, so that a grant made to them by hand since the
// listing was read is found (observe).
func readingUsersIsCheaper(fresh, subjects int, desired grants.Set) bool {
	perUser, everyone := 1, 0
	for g := range desired {
		if g.IsRole() {
			everyone += 1 + subjects/100
		} else if perUser == 1 {
			perUser, everyone = 2, everyone+fresh
		}
	}
	return fresh*perUser <= everyone
}

// observeSubjects reads the roles and permissions of a few users directly: cheaper than listing
// the members of every role when only some subjects are new.
func observeSubjects(ctx context.Context, c auth0.Client, desired grants.Set, uids []string, observed map[string]grants.Set) error {
	wantPerms := desired.HasPermissions()
	for _, uid := range uids {
		held := grants.Set{}
		roles, err := c.UserRoles(ctx, uid)
		if err != nil && !auth0.IsNotFound(err) {
			return fmt.Errorf("cannot list the roles of %s: %w", uid, err)
		}
		for _, ro := range roles {
			held[grants.Role(ro.ID)] = true
		}
		if wantPerms {
			if err := readPermissions(ctx, c, uid, held); err != nil {
				return err
			}
		}
		observed[uid] = held
	}
	return nil
}
