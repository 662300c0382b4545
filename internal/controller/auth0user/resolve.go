package auth0user

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/userdiff"
	"k8s.io/apimachinery/pkg/types"
)

// resolve checks the spec and the tenancy policy, then finds the tenant and the password: the
// policy before the tenant Secret is read, so that a denied object touches neither.
func (r *Reconciler) resolve(ctx context.Context, s *userScope) error {
	obj := s.obj
	var err error
	if s.desired, err = userdiff.FromSpec(obj.Spec); err != nil {
		return controller.Stalled(conditions.ReasonInvalidSpec, "%v", err)
	}
	if err := userdiff.Validate(s.desired); err != nil {
		return controller.Stalled(conditions.ReasonInvalidSpec, "%v", err)
	}
	allowed, err := r.Policies.For(ctx, obj.Namespace)
	if err != nil {
		return err
	}
	if err := controller.Denied(allowed.CheckUser(obj.Spec)); err != nil {
		return err
	}
	if s.auth0, err = r.Tenants.ClientFor(ctx, obj.Namespace, obj.Spec.TenantRef); err != nil {
		return err
	}
	return r.readPassword(ctx, s, false)
}

// readPassword loads the password Secret, if the spec names one. Unless force is set, a Secret
// whose version (in the metadata cache) is the one already sent to an existing user is not read:
// its content is not needed, and a steady reconcile then reads no Secret at all.
func (r *Reconciler) readPassword(ctx context.Context, s *userScope, force bool) error {
	ref := s.obj.Spec.PasswordSecretRef
	if ref == nil {
		return nil
	}
	key := ref.Key
	if key == "" {
		key = "password"
	}
	name := types.NamespacedName{Namespace: s.obj.Namespace, Name: ref.Name}
	if sent := s.obj.Status.Password; !force && sent != nil && s.obj.Status.UserID != "" && sent.Key == key &&
		r.Tenants.SecretVersion(ctx, name) == sent.SecretUID+"/"+sent.SecretResourceVersion {
		s.passwordVersion = sent.DeepCopy()
		return nil
	}
	var secret corev1.Secret
	if err := r.Tenants.Reader.Get(ctx, name, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return controller.Stalled(conditions.ReasonSecretUnavailable, "password Secret %q not found", ref.Name)
		}
		return fmt.Errorf("cannot get password Secret %q: %w", ref.Name, err)
	}
	pw, ok := secret.Data[key]
	if !ok || len(pw) == 0 {
		return controller.Stalled(conditions.ReasonSecretUnavailable, "password Secret %q has no key %q", ref.Name, key)
	}
	s.password = string(pw)
	s.passwordVersion = &v1alpha1.PasswordStatus{SecretUID: string(secret.UID), SecretResourceVersion: secret.ResourceVersion, Key: key}
	return nil
}
