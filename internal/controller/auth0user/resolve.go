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
	if s.domain, err = r.Tenants.Domain(ctx, obj.Namespace, obj.Spec.TenantRef); err != nil {
		return err
	}
	// A user that exists in the tenant status records is never created again elsewhere because
	// the Secret now names another domain: moving tenants is explicit.
	if st := &obj.Status; st.UserID != "" && st.TenantDomain != "" && st.TenantDomain != s.domain {
		return controller.Stalled(conditions.ReasonTenantChanged, "Auth0 user %s lives in tenant %s, but the tenant Secret now names %s; point the Secret back, or delete this object (with deletionPolicy Orphan, as the old tenant is out of reach) and create it anew", st.UserID, st.TenantDomain, s.domain)
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
	if sent := s.obj.Status.Password; !force && sent != nil && sent.SecretUID != "" && s.obj.Status.UserID != "" && sent.Key == key &&
		r.Tenants.SecretVersion(ctx, name) == sent.SecretUID+"/"+sent.SecretResourceVersion {
		s.passwordVersion = &v1alpha1.PasswordStatus{SecretUID: sent.SecretUID, SecretResourceVersion: sent.SecretResourceVersion, Key: sent.Key}
		return nil
	}
	// A missing Secret or key matters only when the password must be set: a create stalls on it
	// (createUser), an existing user keeps reconciling with its password unmanaged (password.go).
	var secret corev1.Secret
	if err := r.Tenants.Reader.Get(ctx, name, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			s.passwordUnavailable = fmt.Sprintf("password Secret %q not found", ref.Name)
			return nil
		}
		return controller.KubernetesError("cannot get password Secret %q: %w", ref.Name, err)
	}
	pw, ok := secret.Data[key]
	if !ok || len(pw) == 0 {
		s.passwordUnavailable = fmt.Sprintf("password Secret %q has no key %q", ref.Name, key)
		return nil
	}
	s.password = string(pw)
	s.passwordVersion = &v1alpha1.PasswordStatus{SecretUID: string(secret.UID), SecretResourceVersion: secret.ResourceVersion, Key: key}
	return nil
}
