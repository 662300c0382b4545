package auth0rolebinding

import (
	"context"
	"fmt"
	"sync"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// compose collects what the other live bindings of the same tenant hold: this binding never
// revokes those.
func (r *Reconciler) compose(ctx context.Context, s *bindingScope) (err error) {
	s.others, err = r.grantsOfOthers(ctx, s.obj, s.auth0)
	return err
}

// othersGrants is what the other live bindings of the same tenant hold, per Auth0 user id.
type othersGrants struct {
	// held: applied, found external, or wanted by their spec. Never revoked by this binding.
	held map[string]grants.Set
	// applied: what their status says they applied.
	applied map[string]grants.Set
}

func (o othersGrants) add(m map[string]grants.Set, uid string, g grants.Grant) {
	if m[uid] == nil {
		m[uid] = grants.Set{}
	}
	m[uid][g] = true
}

// grantsOfOthers collects, per user id, what every other live binding (any namespace, not being
// deleted) of the same tenant domain holds, from the ledger or its status, and its spec: those
// grants must survive this binding letting go of them. A binding whose spec was just written and
// not yet reconciled still protects the grants it wants.
func (r *Reconciler) grantsOfOthers(ctx context.Context, self *v1alpha1.Auth0RoleBinding, c auth0.Client) (othersGrants, error) {
	out := othersGrants{held: map[string]grants.Set{}, applied: map[string]grants.Set{}}
	var list v1alpha1.Auth0RoleBindingList
	if err := r.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil { // read-only
		return out, fmt.Errorf("cannot list bindings: %w", err)
	}
	sameTenant := r.sameTenant(ctx, self)
	for i := range list.Items {
		b := &list.Items[i]
		if (b.Namespace == self.Namespace && b.Name == self.Name) || !b.DeletionTimestamp.IsZero() || !sameTenant(b) {
			continue
		}
		// What b holds: as this process saw b decide and apply (the ledger), or, for a binding
		// it has not seen act since it started, as b's status says.
		ledgered, known := r.ledger.of(client.ObjectKeyFromObject(b))
		for uid, set := range ledgered {
			for g := range set {
				out.add(out.held, uid, g)
				out.add(out.applied, uid, g)
			}
		}
		resolved := map[string]string{} // subject key -> user id
		for _, sub := range b.Status.Subjects {
			if sub.UserID == "" {
				continue
			}
			resolved[sub.Subject] = sub.UserID
			for g := range grants.FromStatus(sub.Roles, sub.Permissions) {
				if known {
					break
				}
				out.add(out.held, sub.UserID, g)
				out.add(out.applied, sub.UserID, g)
			}
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

// sameTenant returns a test for whether another binding talks to the same tenant domain as
// self. Bindings naming the same Secret (or both the default tenant) are the same tenant
// without a read; others compare the domains of their Secrets. A domain that cannot be read
// counts as the same tenant: holding a grant too long is safer than revoking one wrongly.
func (r *Reconciler) sameTenant(ctx context.Context, self *v1alpha1.Auth0RoleBinding) func(*v1alpha1.Auth0RoleBinding) bool {
	mine := controller.TenantKey(self.Namespace, self.Spec.TenantRef)
	myDomain := sync.OnceValues(func() (string, error) {
		return r.Tenants.Domain(ctx, self.Namespace, self.Spec.TenantRef)
	})
	return func(b *v1alpha1.Auth0RoleBinding) bool {
		if controller.TenantKey(b.Namespace, b.Spec.TenantRef) == mine {
			return true
		}
		myDomain, err := myDomain()
		if err != nil {
			return true
		}
		domain, err := r.Tenants.Domain(ctx, b.Namespace, b.Spec.TenantRef)
		return err != nil || domain == myDomain
	}
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
