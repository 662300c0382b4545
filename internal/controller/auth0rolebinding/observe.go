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
// (resolve decides: after a spec change, a restart, once per resync) reads the members of every
// role once for all subjects, and the direct permissions of every subject when the binding deals
// in permissions. Between full observations, what the binding recorded is trusted (drift is
// looked for on the resync) and only the subjects it has never seen are read: one at a time when
// they are few, else through the role members, but their permissions only.
func (r *Reconciler) observe(ctx context.Context, s *bindingScope) error {
	applied := map[string]grants.Set{}  // user id -> grants this binding applied before
	external := map[string]grants.Set{} // user id -> grants it found made outside the operator
	written := map[string]grants.Set{}  // user id -> grants it recorded as about to add
	for _, prev := range s.obj.Status.Subjects {
		if prev.UserID == "" {
			continue
		}
		uid := prev.UserID // several entries may name one user (its email and its Auth0User)
		applied[uid] = grants.Union(applied[uid], grants.FromStatus(prev.Roles, prev.Permissions))
		external[uid] = grants.Union(external[uid], grants.FromStatus(prev.ExternalRoles, prev.ExternalPermissions))
		written[uid] = grants.Union(written[uid], grants.FromStatus(prev.PendingRoles, prev.PendingPermissions))
	}
	// What this process saw the binding apply counts too: the cache may not hold the status
	// its last pass wrote yet, and a grant it made must not come back as external.
	if tenant, held, ok := r.ledger.of(client.ObjectKeyFromObject(s.obj)); ok && tenant == s.tenant {
		for uid, set := range held {
			for g := range set {
				if !written[uid][g] { // claimed, maybe never written: pending, not drift
					applied[uid] = grants.Union(applied[uid], grants.NewSet(g))
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
	var observed map[string]grants.Set
	var err error
	switch {
	case s.full:
		observed, err = observeGrants(ctx, s.auth0, s.desired, current, recorded, sortedKeys(current), applied, external, written)
	case readingUsersIsCheaper(len(fresh), len(current), s.desired):
		// Woken by subjects becoming ready, shortly after an observation: read only what the
		// new subjects hold, so that a grant they had before the binding is recorded as external
		// and never revoked.
		observed = map[string]grants.Set{}
		for uid := range current {
			observed[uid] = recorded(uid)
		}
		err = observeSubjects(ctx, s.auth0, s.desired, fresh, observed)
	default:
		observed, err = observeGrants(ctx, s.auth0, s.desired, current, recorded, fresh, applied, external, written)
	}
	if err != nil {
		return r.roleGone(s, err)
	}
	s.applied, s.external, s.written, s.current, s.observed = applied, external, written, current, observed
	return nil
}

// observeGrants reads what Auth0 holds of the grants that matter (desired, applied, pending or
// found external before): role membership with one paged call per role, which covers every
// subject at once, and the direct permissions of the users in readPerms when the binding deals
// in permissions; the other users' permissions are taken as recorded.
func observeGrants(ctx context.Context, c auth0.Client, desired grants.Set, users map[string]bool, recorded func(string) grants.Set,
	readPerms []string, before ...map[string]grants.Set) (map[string]grants.Set, error) {
	relevant := grants.Union(desired)
	for _, sets := range before {
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
	wantPerms := false
	for _, g := range relevant.Sorted() {
		if !g.IsRole() {
			wantPerms = true
			continue
		}
		roleID := g.RoleID
		members, err := c.RoleUserIDs(ctx, roleID)
		if auth0.IsNotFound(err) {
			if !desired[g] {
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
	}
	if !wantPerms {
		return observed, nil
	}
	read := map[string]bool{}
	for _, uid := range readPerms {
		read[uid] = true
		if err := readPermissions(ctx, c, uid, observed[uid]); err != nil {
			return nil, err
		}
	}
	for uid := range users {
		if !read[uid] {
			for g := range recorded(uid) {
				if !g.IsRole() {
					observed[uid][g] = true
				}
			}
		}
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
// of every role (a page of 100 members per role) and the permissions of the fresh subjects.
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
