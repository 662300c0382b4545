package auth0rolebinding

import (
	"context"
	"fmt"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/grants"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// apply plans each subject with internal/grants and writes: one bulk assignment per role, one
// call per user for permissions and for removals; subjects that left the spec give up what they
// alone held.
func (r *Reconciler) apply(ctx context.Context, s *bindingScope) error {
	st := &s.obj.Status
	applied, external, current, observed, others := s.applied, s.external, s.current, s.observed, s.others
	self := client.ObjectKeyFromObject(s.obj)
	specChanged := s.obj.Generation != st.ObservedGeneration
	// After a spec change everything is applied; Report only holds back re-adding drift.
	reportOnly := !specChanged && s.obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport
	addRole := map[string][]string{} // role id -> users
	var drift []v1alpha1.DriftEntry
	plans := map[string]grants.Plan{}
	for _, uid := range sortedKeys(current) {
		p := grants.PlanUser(grants.Input{
			Desired: s.desired, Observed: observed[uid], Applied: applied[uid], External: external[uid],
			HeldByOthers: others.held[uid], AppliedByOthers: others.applied[uid], ReportOnly: reportOnly,
		})
		plans[uid] = p
		// Recorded before the write: a binding that finds the grant in Auth0 meanwhile counts it
		// as this binding's, not as external.
		r.ledger.claim(self, uid, p.Add)
		for _, g := range p.Drifted {
			drift = append(drift, driftEntry(uid, g, st.Drift))
		}
		var perms []auth0.Permission
		for _, g := range p.Add {
			if g.IsRole() {
				addRole[g.RoleID] = append(addRole[g.RoleID], uid)
			} else {
				perms = append(perms, toPermission(g))
			}
		}
		if len(perms) > 0 {
			if err := s.auth0.AssignUserPermissions(ctx, uid, perms); err != nil {
				return fmt.Errorf("cannot grant permissions to %s: %w", uid, err)
			}
		}
		if err := revoke(ctx, s.auth0, uid, p.Remove); err != nil {
			return err
		}
	}
	for _, roleID := range sortedKeys(addRole) {
		if err := s.auth0.AssignRoleToUsers(ctx, roleID, addRole[roleID]); err != nil {
			return r.roleGone(s, fmt.Errorf("cannot assign role %s: %w", roleID, err))
		}
	}
	// Subjects that left the spec give up what they alone held (external grants stay).
	for _, uid := range sortedKeys(applied) {
		if !current[uid] {
			if err := revoke(ctx, s.auth0, uid, grants.Release(applied[uid], others.held[uid])); err != nil {
				return err
			}
			r.ledger.forgetUser(self, uid)
		}
	}
	for uid, p := range plans {
		r.ledger.record(self, uid, p.Applied)
	}
	s.plans, s.drift = plans, drift
	return nil
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

// revoke removes grants from one user: roles in one call, permissions in another.
func revoke(ctx context.Context, c auth0.Client, uid string, gs []grants.Grant) error {
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
		if err := c.RemoveUserRoles(ctx, uid, roles); err != nil && !auth0.IsNotFound(err) {
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
