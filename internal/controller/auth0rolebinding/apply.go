package auth0rolebinding

import (
	"context"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
)

// apply plans each subject with internal/grants, records what it is about to add (write ahead),
// and writes: one bulk assignment per role, one call per user for permissions and for removals;
// subjects that left the spec, or whose email now names another user, give up what they alone
// held. A revocation needs no record ahead: the grant stays in status as this binding's until
// the pass that removed it records the result, so a lost answer leaves it to be revoked again.
func (r *Reconciler) apply(ctx context.Context, s *bindingScope) error {
	st := &s.obj.Status
	self := client.ObjectKeyFromObject(s.obj)
	specChanged := s.obj.Generation != st.ObservedGeneration
	// After a spec change everything is applied; Report only holds back re-adding drift.
	reportOnly := !specChanged && s.obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport
	var drift []v1alpha1.DriftEntry
	plans := map[string]grants.Plan{}
	for _, uid := range sortedKeys(s.current) {
		p := grants.PlanUser(grants.Input{
			Desired: s.desired, Observed: s.observed[uid], Applied: s.applied[uid], External: s.external[uid], Pending: s.written[uid],
			HeldByOthers: s.others.held[uid], AppliedByOthers: s.others.applied[uid], ReportOnly: reportOnly,
		})
		plans[uid] = p
		// Claimed in the ledger before the write: a binding of this process that finds the grant
		// in Auth0 meanwhile counts it as this binding's, not as external.
		r.ledger.claim(self, s.tenant, uid, p.Add)
		for _, g := range p.Drifted {
			drift = append(drift, driftEntry(uid, g, st.Drift))
		}
	}
	if err := r.writeAhead(ctx, s, plans); err != nil {
		return err
	}

	addRole := map[string][]string{} // role id -> users
	for _, uid := range sortedKeys(plans) {
		p := plans[uid]
		var perms []auth0.Permission
		for _, g := range p.Add {
			if g.IsRole() {
				addRole[g.RoleID] = append(addRole[g.RoleID], uid)
			} else {
				perms = append(perms, toPermission(g))
			}
		}
		if len(perms) > 0 {
			err := s.auth0.AssignUserPermissions(ctx, uid, perms)
			if auth0.IsNotFound(err) {
				gone, gerr := r.usersGone(ctx, s, []string{uid})
				if gerr != nil {
					return gerr
				}
				if gone[uid] {
					delete(plans, uid)
					for roleID, users := range addRole {
						addRole[roleID] = without(users, gone)
					}
					continue
				}
			}
			if err != nil {
				return fmt.Errorf("cannot grant permissions to %s: %w", uid, err)
			}
		}
		if err := r.revoke(ctx, s.auth0, uid, p.Remove); err != nil {
			return err
		}
	}
	for _, roleID := range sortedKeys(addRole) {
		if err := r.assignRole(ctx, s, plans, roleID, addRole[roleID]); err != nil {
			return err
		}
	}
	// Subjects that left the spec (or whose email moved to another user) give up what they
	// alone held; external grants stay.
	for _, uid := range sortedKeys(usersOf(s.applied, s.written)) {
		if s.current[uid] {
			continue
		}
		if err := r.revoke(ctx, s.auth0, uid, grants.Release(grants.Union(s.applied[uid], s.written[uid]), s.others.held[uid])); err != nil {
			return err
		}
		r.ledger.forgetUser(self, uid)
	}
	for uid, p := range plans {
		r.ledger.record(self, s.tenant, uid, p.Applied)
	}
	s.plans, s.drift = plans, drift
	return nil
}

// writeAhead records in status, before any write to Auth0, the grants this pass is about to add
// (per subject, pendingRoles and pendingPermissions) and the verified tenant, and patches the
// status: if the answer to a write is lost, a later call of the pass fails or the process stops,
// the next pass — and every other binding — knows the grant is this binding's, not external. A
// pass that adds nothing writes nothing here.
func (r *Reconciler) writeAhead(ctx context.Context, s *bindingScope, plans map[string]grants.Plan) error {
	adds := false
	for _, p := range plans {
		adds = adds || len(p.Add) > 0
	}
	if !adds {
		return nil
	}
	// The status as it will be: entries are copied (and only the changed ones get new lists),
	// the object is not.
	next := s.obj.Status
	entries := slices.Clone(next.Subjects)
	index := map[string]int{} // subject key and user id -> entry
	for i, e := range entries {
		index[e.Subject+"\x00"+e.UserID] = i
	}
	for _, sub := range s.subjects {
		p := plans[sub.userID]
		if sub.userID == "" || len(p.Add) == 0 {
			continue
		}
		i, ok := index[sub.key+"\x00"+sub.userID]
		if !ok {
			// A new subject, or an email that now names another user: an entry of its own. The
			// old user's entry stays until what it holds is released.
			entries = append(entries, v1alpha1.SubjectStatus{Subject: sub.key, UserID: sub.userID})
			i = len(entries) - 1
			index[sub.key+"\x00"+sub.userID] = i
		}
		pending := grants.Union(grants.FromStatus(entries[i].PendingRoles, entries[i].PendingPermissions), grants.NewSet(p.Add...))
		entries[i].PendingRoles, entries[i].PendingPermissions = grants.ToStatus(pending.Sorted())
	}
	next.Subjects = entries
	next.Tenant = s.tenant
	answer := &v1alpha1.Auth0RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: s.obj.Namespace, Name: s.obj.Name}}
	if err := controller.PatchStatusChange(ctx, r.Client, answer, &s.obj.Status, &next); err != nil {
		return &controller.TransientError{Reason: conditions.ReasonKubernetesUnavailable,
			Err: fmt.Errorf("cannot record the grants about to be added: %w", err)}
	}
	// Kept in the object the shell patches at the end, so that a pass failing after this point
	// leaves the record in place (the object keeps the resourceVersion the shell read).
	s.obj.Status.Subjects, s.obj.Status.Tenant = next.Subjects, next.Tenant
	return nil
}

// assignRole grants a role to users in bulk, through the catalog, which adds them to its listing
// of the role's members (or drops it when the answer is not known). Auth0 may refuse a whole
// bulk assignment for one user deleted since the subjects were verified (the emulator does):
// then the users of the call are checked, those gone are reported on their subjects, and the
// others are assigned. A 404 naming no missing user is the role's: deleted since it was resolved.
func (r *Reconciler) assignRole(ctx context.Context, s *bindingScope, plans map[string]grants.Plan, roleID string, users []string) error {
	err := r.Catalog.AssignRoleToUsers(ctx, s.auth0, roleID, users)
	if auth0.IsNotFound(err) {
		gone, gerr := r.usersGone(ctx, s, users)
		if gerr != nil {
			return gerr
		}
		if len(gone) > 0 {
			for uid := range gone {
				delete(plans, uid)
			}
			err = nil
			if rest := without(users, gone); len(rest) > 0 {
				err = r.Catalog.AssignRoleToUsers(ctx, s.auth0, roleID, rest)
			}
		}
	}
	if err != nil {
		return r.roleGone(s, fmt.Errorf("cannot assign role %s: %w", roleID, err))
	}
	return nil
}

// usersGone finds which of the users no longer exist (a search, then a read for each user the
// search misses, as its index lags) and reports them on their subjects.
func (r *Reconciler) usersGone(ctx context.Context, s *bindingScope, users []string) (map[string]bool, error) {
	found, err := s.auth0.GetUsers(ctx, users)
	if err != nil {
		return nil, fmt.Errorf("cannot look up subjects by id: %w", err)
	}
	gone := map[string]bool{}
	for _, uid := range users {
		if found[uid] != nil {
			continue
		}
		if _, err := s.auth0.GetUser(ctx, uid); auth0.IsNotFound(err) {
			gone[uid] = true
		} else if err != nil {
			return nil, fmt.Errorf("cannot get user %s: %w", uid, err)
		}
	}
	for i := range s.subjects {
		if sub := &s.subjects[i]; gone[sub.userID] {
			sub.message = missingMessage(sub)
			sub.goneID, sub.userID = sub.userID, ""
		}
	}
	for uid := range gone {
		delete(s.current, uid)
	}
	return gone, nil
}

func without(users []string, gone map[string]bool) []string {
	var out []string
	for _, u := range users {
		if !gone[u] {
			out = append(out, u)
		}
	}
	return out
}

// roleGone drops the tenant's known roles when Auth0 says a role is gone (deleted after its name
// was resolved), so that the next pass resolves them again, reports the role as unresolved and
// applies the rest.
func (r *Reconciler) roleGone(s *bindingScope, err error) error {
	if auth0.IsNotFound(err) {
		r.Catalog.Forget(s.auth0)
	}
	return err
}

// revoke removes grants from one user: roles in one call, permissions in another. A user that
// no longer exists holds nothing. Roles are revoked through the catalog, which keeps its
// listings of their members current (or drops them when the answer is not known).
func (r *Reconciler) revoke(ctx context.Context, c auth0.Client, uid string, gs []grants.Grant) error {
	var roles []string
	var perms []auth0.Permission
	for _, g := range gs {
		if g.IsRole() {
			roles = append(roles, g.RoleID)
		} else {
			perms = append(perms, toPermission(g))
		}
	}
	if len(roles) > 0 {
		if err := r.Catalog.RemoveUserRoles(ctx, c, uid, roles); err != nil && !auth0.IsNotFound(err) {
			return fmt.Errorf("cannot remove roles from %s: %w", uid, err)
		}
	}
	if len(perms) > 0 {
		if err := c.RemoveUserPermissions(ctx, uid, perms); err != nil && !auth0.IsNotFound(err) {
			return fmt.Errorf("cannot remove permissions from %s: %w", uid, err)
		}
	}
	return nil
}
