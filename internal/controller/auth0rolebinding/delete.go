package auth0rolebinding

import (
	"context"
	"fmt"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Delete revokes what the binding alone granted. A tenant that refuses for good ends as a Stalled
// error: the shell lets the binding go and a Warning event says the grants were left in place.
func (r *Reconciler) Delete(ctx context.Context, obj *v1alpha1.Auth0RoleBinding) error {
	err := r.releaseBinding(ctx, obj)
	if err == nil || controller.Classify(err).Outcome == controller.OutcomeStalled {
		r.ledger.forget(client.ObjectKeyFromObject(obj)) // the binding goes either way
	}
	if err != nil {
		return fmt.Errorf("grants left in place: %w", err)
	}
	return nil
}

func (r *Reconciler) releaseBinding(ctx context.Context, obj *v1alpha1.Auth0RoleBinding) error {
	if len(obj.Status.Subjects) == 0 {
		return nil
	}
	c, err := r.Tenants.ClientFor(ctx, obj.Namespace, obj.Spec.TenantRef)
	if err != nil {
		return err
	}
	others, err := r.grantsOfOthers(ctx, obj, c)
	if err != nil {
		return err
	}
	for i := range obj.Status.Subjects {
		sub := &obj.Status.Subjects[i]
		if sub.UserID == "" {
			continue
		}
		// External grants are not this binding's to revoke.
		if err := revoke(ctx, c, sub.UserID, grants.Release(grants.FromStatus(sub.Roles, sub.Permissions), others.held[sub.UserID])); err != nil {
			return err
		}
		// Recorded as released, so a retry after a later failure does not redo it.
		sub.Roles, sub.Permissions = nil, nil
	}
	return nil
}
