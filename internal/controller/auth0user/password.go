package auth0user

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
)

// updatePassword re-sends the password when the Secret it comes from changed since it was last
// sent, and only then. Nothing derived from the password is stored: status records the
// Secret's UID and resourceVersion.
func (r *Reconciler) updatePassword(ctx context.Context, s *userScope) error {
	if s.observed == nil {
		return nil // deleted out of band, reported under policy Report (see createUser)
	}
	st := &s.obj.Status
	if s.passwordUnavailable != "" {
		// The password set before stays in Auth0; it is managed again when the Secret returns
		// (a new Secret has a new UID, so its password is sent).
		if st.Password == nil {
			st.Password = &v1alpha1.PasswordStatus{}
		}
		st.Password.Unmanaged = s.passwordUnavailable + "; the password is not managed until it returns"
		return nil
	}
	if s.passwordVersion == nil {
		st.Password = nil
		return nil
	}
	if s.created || (st.Password != nil && st.Password.SecretUID == s.passwordVersion.SecretUID &&
		st.Password.SecretResourceVersion == s.passwordVersion.SecretResourceVersion && st.Password.Key == s.passwordVersion.Key) {
		st.Password = s.passwordVersion // clears Unmanaged
		return nil
	}
	pw := s.password
	updated, err := s.auth0.UpdateUser(ctx, st.UserID, auth0.UserUpdate{Connection: s.desired.Connection, Password: &pw})
	r.wrote(s, st.UserID, updated)
	if err != nil {
		return fmt.Errorf("cannot update the password of user %s: %w", st.UserID, err)
	}
	r.Recorder.Eventf(s.obj, nil, corev1.EventTypeNormal, "PasswordUpdated", "Update", "password sent to Auth0 (Secret %s changed)", s.obj.Spec.PasswordSecretRef.Name)
	st.Password = s.passwordVersion
	return nil
}
