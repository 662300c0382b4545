package auth0rolebinding

import (
	"context"
	"fmt"
	"time"

	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// applyGrants observes what Auth0 holds, plans each user with internal/grants, and writes:
// one bulk assignment per role, one call per user for permissions and for removals.
// observe reads what Auth0 holds of the grants that matter to this binding: role members once
// per role for every subject, or, shortly after an observation when only a few subjects are new,
// just what those subjects hold.
func (r *Reconciler) observe(ctx context.Context, s *bindingScope) error {
	st := &s.obj.Status
	applied := map[string]grants.Set{}  // user id -> grants this binding applied before
	external := map[string]grants.Set{} // user id -> grants it found made outside the operator
	for _, prev := range st.Subjects {
		if prev.UserID != "" {
			applied[prev.UserID] = grants.FromStatus(prev.Roles, prev.Permissions)
			external[prev.UserID] = grants.FromStatus(prev.ExternalRoles, prev.ExternalPermissions)
		}
	}
	current := map[string]bool{}
	for _, sub := range s.subjects {
		if sub.userID != "" {
			current[sub.userID] = true
		}
	}
	key := client.ObjectKeyFromObject(s.obj)
	var fresh []string // subjects the binding has never observed
	for uid := range current {
		if _, known := applied[uid]; !known {
			fresh = append(fresh, uid)
		}
	}
	var observed map[string]grants.Set
	if last, ok := r.observedAt.Load(key); ok && last.(observation).generation == s.obj.Generation &&
		time.Since(last.(observation).at) < controller.ResyncOf(s.obj.Spec.ResyncInterval, r.ResyncInterval)/2 &&
		readingUsersIsCheaper(len(fresh), len(current), s.desired) {
		// Woken by subjects becoming ready, shortly after an observation: trust that what was
		// recorded still holds (drift is looked for on the resync), and read only what the new
		// subjects hold, so that a grant they had before the binding is recorded as external and
		// never revoked.
		observed = map[string]grants.Set{}
		for uid := range current {
			observed[uid] = grants.Union(applied[uid], external[uid])
		}
		if err := observeSubjects(ctx, s.auth0, s.desired, fresh, observed); err != nil {
			return err
		}
	} else {
		var err error
		if observed, err = observeGrants(ctx, s.auth0, s.desired, applied, external, current); err != nil {
			return r.roleGone(s, err)
		}
		r.observedAt.Store(key, observation{at: time.Now(), generation: s.obj.Generation})
	}
	s.applied, s.external, s.current, s.observed = applied, external, current, observed
	return nil
}

// observation is when a binding last read its grants from Auth0, and for which generation.
type observation struct {
	at         time.Time
	generation int64
}

// observeGrants reads what Auth0 holds of the grants that matter (desired, applied before or
// found external): role membership with one paged call per role, which covers every subject at
// once, and direct permissions per user only when the binding deals in permissions.
func observeGrants(ctx context.Context, c auth0.Client, desired grants.Set, applied, external map[string]grants.Set, users map[string]bool) (map[string]grants.Set, error) {
	relevant := grants.Union(desired)
	for _, sets := range []map[string]grants.Set{applied, external} {
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
	if wantPerms {
		for _, uid := range sortedKeys(users) {
			if err := readPermissions(ctx, c, uid, observed[uid]); err != nil {
				return nil, err
			}
		}
	}
	return observed, nil
}

// readPermissions adds the permissions granted directly to a user to held.
func readPermissions(ctx context.Context, c auth0.Client, uid string, held grants.Set) error {
	perms, err := c.UserPermissions(ctx, uid)
	if err != nil {
		return fmt.Errorf("cannot list the permissions of %s: %w", uid, err)
	}
	for _, p := range perms {
		held[grants.Permission(p.ResourceServerIdentifier, p.Name)] = true
	}
	return nil
}

// readingUsersIsCheaper compares, in calls, reading the grants of the fresh subjects one user at
// a time (their roles, and their permissions if the binding grants any) with observing every
// subject (a page of 100 members per role, and the permissions of every subject).
func readingUsersIsCheaper(fresh, subjects int, desired grants.Set) bool {
	perUser, everyone := 1, 0
	for g := range desired {
		if g.IsRole() {
			everyone += 1 + subjects/100
		} else if perUser == 1 {
			perUser, everyone = 2, everyone+subjects
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
		if err != nil {
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
