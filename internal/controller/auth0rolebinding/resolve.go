package auth0rolebinding

import (
	"context"
	"fmt"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

// resolve checks the binding against the tenancy policy and resolves what it names: the tenant
// and permissions against the policy before the tenant Secret is read; roles after they are
// resolved (a policy may name them by name or id), before any write.
func (r *Reconciler) resolve(ctx context.Context, s *bindingScope) error {
	obj := s.obj
	var err error
	if s.allowed, err = r.Policies.For(ctx, obj.Namespace); err != nil {
		return err
	}
	if err := controller.Denied(s.allowed.CheckTenant(obj.Spec.TenantRef)); err != nil {
		return err
	}
	for _, p := range obj.Spec.Permissions {
		if err := controller.Denied(s.allowed.CheckPermission(p.ResourceServerIdentifier, p.Name)); err != nil {
			return err
		}
	}
	if s.auth0, err = r.Tenants.ClientFor(ctx, obj.Namespace, obj.Spec.TenantRef); err != nil {
		return err
	}
	for _, step := range []func(context.Context, *bindingScope) error{
		r.resolveRoles,
		r.checkRoles,
		r.resolvePermissions,
		r.resolveSubjects,
	} {
		if err := step(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// resolveRoles turns role names into ids; unknown names and ids are reported, not fatal.
func (r *Reconciler) resolveRoles(ctx context.Context, s *bindingScope) error {
	for _, ref := range s.obj.Spec.Roles {
		id, err := r.Catalog.RoleID(ctx, s.auth0, ref.Name, ref.ID)
		if err != nil {
			return err
		}
		if id == "" {
			s.unresolved = append(s.unresolved, roleLabel(ref))
			continue
		}
		s.desired[grants.Role(id)] = true
	}
	s.obj.Status.RoleCount = len(s.obj.Spec.Roles) - len(s.unresolved)
	return nil
}

// checkRoles refuses the whole binding when the policy denies one of its roles, so that nothing
// is written: a binding applied halfway would look Ready to a team that asked for more.
func (r *Reconciler) checkRoles(_ context.Context, s *bindingScope) error {
	for _, ref := range s.obj.Spec.Roles {
		name, id := r.Catalog.RoleNames(s.auth0, ref.Name, ref.ID)
		if err := controller.Denied(s.allowed.CheckRole(name, id)); err != nil {
			return err
		}
	}
	return nil
}

// resolvePermissions checks each permission against its resource server's scopes.
func (r *Reconciler) resolvePermissions(ctx context.Context, s *bindingScope) error {
	for _, p := range s.obj.Spec.Permissions {
		ok, err := r.Catalog.PermissionExists(ctx, s.auth0, p.ResourceServerIdentifier, p.Name)
		if err != nil {
			return err
		}
		if !ok {
			s.unresolved = append(s.unresolved, fmt.Sprintf("permission %q of API %s", p.Name, p.ResourceServerIdentifier))
			continue
		}
		s.desired[grants.Permission(p.ResourceServerIdentifier, p.Name)] = true
	}
	return nil
}

// resolveSubjects finds each subject's Auth0 user id. An Auth0User that has none yet delays
// only that subject; ids and emails already resolved in status are reused, so that a steady
// binding resolves without calls.
func (r *Reconciler) resolveSubjects(ctx context.Context, s *bindingScope) error {
	previous := map[string]string{}
	for _, st := range s.obj.Status.Subjects {
		previous[st.Subject] = st.UserID
	}
	var unverified []int // indexes into s.subjects of user ids never seen before
	for _, sub := range s.obj.Spec.Subjects {
		rs := resolvedSubject{key: subjectKey(sub)}
		switch {
		case sub.UserRef != "":
			var u v1alpha1.Auth0User
			err := r.Get(ctx, types.NamespacedName{Namespace: s.obj.Namespace, Name: sub.UserRef}, &u)
			switch {
			case apierrors.IsNotFound(err):
				rs.message = "Auth0User " + sub.UserRef + " does not exist yet"
			case err != nil:
				return fmt.Errorf("cannot get Auth0User %s: %w", sub.UserRef, err)
			case u.Status.UserID == "":
				rs.message = "Auth0User " + sub.UserRef + " has no Auth0 user yet"
			default:
				rs.userID = u.Status.UserID
			}
			if rs.userID == "" {
				s.pending = append(s.pending, rs.key)
			}
		case previous[rs.key] != "":
			rs.userID = previous[rs.key]
		case sub.UserID != "":
			// Checked below in one batch, so that a binding naming many users by id costs a
			// search per 50 of them rather than a read each.
			rs.userID = sub.UserID
			unverified = append(unverified, len(s.subjects))
		default:
			found, err := controller.UsersWithEmail(ctx, s.auth0, sub.Email, sub.Connection)
			if err != nil {
				return err
			}
			switch len(found) {
			case 0:
				rs.message = "no Auth0 user has this email"
			case 1:
				rs.userID = found[0].ID
			default:
				rs.message = fmt.Sprintf("%d users have this email; set connection", len(found))
			}
		}
		if rs.userID == "" && sub.UserRef == "" {
			s.unresolved = append(s.unresolved, rs.key)
		}
		s.subjects = append(s.subjects, rs)
	}
	return verifyUserIDs(ctx, s, unverified)
}

// verifyUserIDs checks that user ids named by the spec exist: a batched search first, then a
// read for each id the search did not return (its index lags writes by a few seconds).
func verifyUserIDs(ctx context.Context, s *bindingScope, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	ids := make([]string, len(idx))
	for i, j := range idx {
		ids[i] = s.subjects[j].userID
	}
	found, err := s.auth0.GetUsers(ctx, ids)
	if err != nil {
		return fmt.Errorf("cannot look up subjects by id: %w", err)
	}
	for _, j := range idx {
		sub := &s.subjects[j]
		if found[sub.userID] != nil {
			continue
		}
		if _, err := s.auth0.GetUser(ctx, sub.userID); auth0.IsNotFound(err) {
			sub.userID, sub.message = "", "no Auth0 user has this id"
			s.unresolved = append(s.unresolved, sub.key)
		} else if err != nil {
			return fmt.Errorf("cannot get user %s: %w", sub.userID, err)
		}
	}
	return nil
}

func subjectKey(s v1alpha1.Subject) string {
	switch {
	case s.UserRef != "":
		return "userRef:" + s.UserRef
	case s.UserID != "":
		return "userID:" + s.UserID
	default:
		return "email:" + s.Email
	}
}

func roleLabel(ref v1alpha1.RoleReference) string {
	if ref.ID != "" {
		return fmt.Sprintf("role id %q", ref.ID)
	}
	return fmt.Sprintf("role %q", ref.Name)
}
