package auth0rolebinding

import (
	"context"
	"fmt"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Delete revokes what the binding alone granted, including what it recorded as about to add
// (its answer may have been lost). A tenant that refuses for good ends as a Stalled error: the
// shell lets the binding go and a Warning event says the grants were left in place.
func (r *Reconciler) Delete(ctx context.Context, obj *v1alpha1.Auth0RoleBinding) error {
	err := r.releaseBinding(ctx, obj)
	if err == nil || controller.Classify(err).Outcome == controller.OutcomeStalled {
		r.ledger.forget(client.ObjectKeyFromObject(obj)) // the binding goes either way
		r.observedAt.Delete(client.ObjectKeyFromObject(obj))
		r.readyScans.Delete(obj.UID)
		r.userRefs.Delete(obj.UID)
	}
	if err != nil {
		return fmt.Errorf("grants left in place: %w", err)
	}
	return nil
}

func (r *Reconciler) releaseBinding(ctx context.Context, obj *v1alpha1.Auth0RoleBinding) error {
	if !holdsGrants(obj) {
		return nil
	}
	c, err := r.Tenants.ClientFor(ctx, obj.Namespace, obj.Spec.TenantRef)
	if err != nil {
		return err
	}
	domain, err := r.Tenants.Domain(ctx, obj.Namespace, obj.Spec.TenantRef)
	if err != nil {
		return err
	}
	// The tenant this binding verified when it granted; a status written before the field
	// existed names none, and the Secret's domain stands in. Grants are revoked only there:
	// with the Secret pointing elsewhere, deletion waits (it would revoke nothing and forget
	// them), saying why.
	tenant := obj.Status.Tenant
	if tenant == "" {
		tenant = domain
	}
	if tenant != domain {
		return &controller.TransientError{Reason: conditions.ReasonDeletionBlocked, Err: fmt.Errorf(
			"the binding's grants are in tenant %s, but its tenant Secret now names %s: point the Secret back to revoke them (or remove the finalizer %s by hand to leave them)", tenant, domain, controller.Finalizer)}
	}
	others, err := r.grantsOfOthers(ctx, obj, c, tenant, statusUsers(obj.Status.Subjects))
	if err != nil {
		return err
	}
	for i := range obj.Status.Subjects {
		sub := &obj.Status.Subjects[i]
		if sub.UserID == "" {
			continue
		}
		mine := grants.Union(grants.FromStatus(sub.Roles, sub.Permissions), grants.FromStatus(sub.PendingRoles, sub.PendingPermissions))
		// External grants are not this binding's to revoke.
		if err := r.revoke(ctx, c, sub.UserID, grants.Release(mine, others.held[sub.UserID])); err != nil {
			return err
		}
		// Recorded as released, so a retry after a later failure does not redo it.
		sub.Roles, sub.Permissions, sub.PendingRoles, sub.PendingPermissions = nil, nil, nil, nil
	}
	return nil
}
