package auth0rolebinding

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/grants"
	"github.com/usersync/auth0-operator/internal/policy"
)

// compose collects what the other live bindings of the same verified tenant that can act hold:
// this binding never revokes those.
func (r *Reconciler) compose(ctx context.Context, s *bindingScope) (err error) {
	// The users this binding deals with: its subjects, and those it recorded or applied to.
	mine := statusUsers(s.obj.Status.Subjects)
	for _, sub := range s.subjects {
		if sub.userID != "" {
			mine[sub.userID] = true
		}
	}
	for _, m := range []map[string]grants.Set{s.applied, s.written} {
		for uid := range m {
			mine[uid] = true
		}
	}
	s.others, err = r.grantsOfOthers(ctx, s.obj, s.auth0, s.tenant, mine)
	return err
}

// statusUsers are the user ids a binding's status records.
func statusUsers(subjects []v1alpha1.SubjectStatus) map[string]bool {
	users := map[string]bool{}
	for _, sub := range subjects {
		if sub.UserID != "" {
			users[sub.UserID] = true
		}
	}
	return users
}

// othersGrants is what the other live bindings of the same tenant hold, per Auth0 user id.
type othersGrants struct {
	// held: applied, pending, found external, or wanted by their spec. Never revoked by this
	// binding.
	held map[string]grants.Set
	// applied: what they applied or are about to add (their ledger entry or their status). One
	// this binding finds in Auth0 is the operator's, not external.
	applied map[string]grants.Set
	// only are the users this binding deals with: the others' grants to anyone else do not
	// concern it (at 10,000 users, collecting them all took more memory than the cache).
	only map[string]bool
}

func (o othersGrants) add(m map[string]grants.Set, uid string, g grants.Grant) {
	if o.only[uid] {
		addGrant(m, uid, g)
	}
}

// grantsOfOthers collects, per user id of mine, what the other bindings of tenant hold: those grants must
// survive this binding letting go of them. Only bindings that can act count — not being deleted,
// their tenant verified as this same one (its domain answered their own credentials), not
// stalled but for Unresolved (which applied the rest), and allowed by the tenancy policy as it
// is now. What they hold comes from the ledger (as this process saw them decide and apply) or,
// for a binding this process has not seen act, from its status: applied and pending grants, and
// external ones. A binding whose spec was just edited and not yet reconciled still protects the
// grants it wants.
func (r *Reconciler) grantsOfOthers(ctx context.Context, self *v1alpha1.Auth0RoleBinding, c auth0.Client, tenant string, mine map[string]bool) (othersGrants, error) {
	out := othersGrants{held: map[string]grants.Set{}, applied: map[string]grants.Set{}, only: mine}
	if tenant == "" {
		return out, nil
	}
	var list v1alpha1.Auth0RoleBindingList
	if err := r.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil { // read-only
		return out, fmt.Errorf("cannot list bindings: %w", err)
	}
	policies := map[string]policy.Effective{}
	for i := range list.Items {
		b := &list.Items[i]
		if b.Namespace == self.Namespace && b.Name == self.Name {
			continue
		}
		ledgerTenant, ledgered, known := r.ledger.of(client.ObjectKeyFromObject(b), mine)
		if known && ledgerTenant != tenant || !known && b.Status.Tenant != tenant {
			continue
		}
		// What b applied (or is about to) is the operator's, whatever b's state: a binding being
		// deleted, stalled or denied has not revoked it yet, and another binding that finds it
		// in Auth0 must not take it for external (which nobody ever revokes).
		appliedBy := map[string][]grants.Grant{} // of my users only
		for uid, gs := range ledgered {
			appliedBy[uid] = gs
		}
		if !known {
			for _, sub := range b.Status.Subjects {
				if mine[sub.UserID] {
					for g := range grants.Union(grants.FromStatus(sub.Roles, sub.Permissions), grants.FromStatus(sub.PendingRoles, sub.PendingPermissions)) {
						appliedBy[sub.UserID] = append(appliedBy[sub.UserID], g)
					}
				}
			}
		}
		for uid, gs := range appliedBy {
			for _, g := range gs {
				out.add(out.applied, uid, g)
			}
		}
		// Only a binding that can act keeps grants alive: not being deleted, not stalled (but
		// for Unresolved), allowed by the policy as it is now.
		if !b.DeletionTimestamp.IsZero() || !known && !canAct(b) {
			continue
		}
		allowed, err := r.allowedNow(ctx, policies, b, c)
		if err != nil {
			return out, err
		}
		if !allowed {
			continue
		}
		for uid, gs := range appliedBy {
			for _, g := range gs {
				out.add(out.held, uid, g)
			}
		}
		resolved := map[string]string{} // subject key -> user id (the key's newest entry), of my users only
		for _, sub := range b.Status.Subjects {
			if sub.UserID == "" {
				continue
			}
			if !mine[sub.UserID] {
				// A newer entry of the key (an email that now names another user) replaces an
				// older one naming one of mine: b's spec no longer wants anything for that one.
				delete(resolved, sub.Subject)
				continue
			}
			resolved[sub.Subject] = sub.UserID
			for g := range grants.FromStatus(sub.ExternalRoles, sub.ExternalPermissions) {
				out.add(out.held, sub.UserID, g)
			}
		}
		wanted := r.specGrants(c, b.Spec)
		if len(wanted) == 0 {
			continue
		}
		for _, sub := range b.Spec.Subjects {
			uid := resolved[subjectKey(sub)]
			if uid == "" {
				uid = sub.UserID
			}
			if uid == "" {
				continue
			}
			for g := range wanted {
				out.add(out.held, uid, g)
			}
		}
	}
	return out, nil
}

// canAct reports, from its status, whether a binding this process has not seen act may keep
// grants alive: it reached its tenant with its own credentials and is not stalled, but for
// Unresolved (which applied the valid rest).
func canAct(b *v1alpha1.Auth0RoleBinding) bool {
	st := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionStalled)
	return b.Status.Tenant != "" && (st == nil || st.Status != metav1.ConditionTrue || st.Reason == conditions.ReasonUnresolved)
}

// allowedNow reports whether the tenancy policy, as it is now, allows binding b (true) — a binding a
// tightened policy denies keeps nothing alive even before it is reconciled again. Roles are
// checked by name and id as far as the catalog knows them without a call. Policies are
// evaluated once per namespace per call.
func (r *Reconciler) allowedNow(ctx context.Context, cache map[string]policy.Effective, b *v1alpha1.Auth0RoleBinding, c auth0.Client) (bool, error) {
	allowed, ok := cache[b.Namespace]
	if !ok {
		var err error
		if allowed, err = r.Policies.For(ctx, b.Namespace); err != nil {
			return false, err
		}
		cache[b.Namespace] = allowed
	}
	if allowed.CheckTenant(b.Spec.TenantRef) != nil {
		return false, nil
	}
	for _, p := range b.Spec.Permissions {
		if allowed.CheckPermission(p.ResourceServerIdentifier, p.Name) != nil {
			return false, nil
		}
	}
	for _, ref := range b.Spec.Roles {
		name, id := r.Catalog.RoleNames(c, ref.Name, ref.ID)
		if allowed.CheckRole(name, id) != nil {
			return false, nil
		}
	}
	return true, nil
}

// specGrants are the grants a binding's spec asks for, as far as the catalog knows them without
// a call: role names it has not seen are left out (that binding resolves them itself).
func (r *Reconciler) specGrants(c auth0.Client, spec v1alpha1.Auth0RoleBindingSpec) grants.Set {
	out := grants.Set{}
	for _, ref := range spec.Roles {
		if id := r.Catalog.KnownRoleID(c, ref.Name, ref.ID); id != "" {
			out[grants.Role(id)] = true
		}
	}
	for _, p := range spec.Permissions {
		out[grants.Permission(p.ResourceServerIdentifier, p.Name)] = true
	}
	return out
}
