package auth0user

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/userdiff"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// observeUser reads the user by the id in status. Before the operator knows the id, it looks
// the email up only when adoption is asked for; otherwise it creates first and looks up on
// "The user already exists." (see createUser), which costs one call per new user instead of two.
func (r *Reconciler) observeUser(ctx context.Context, s *userScope) error {
	st := &s.obj.Status
	if st.UserID != "" {
		u, err := r.readUser(ctx, s)
		switch {
		case auth0.IsNotFound(err):
			s.observed = nil
			return nil
		case err != nil:
			return fmt.Errorf("cannot get user %s: %w", st.UserID, err)
		}
		// The marker names this object, or names it without a UID (the format before markers
		// carried one, and export's): either way its status holds the id, so it is this
		// object's. No marker with adoptExisting: an adoption whose claim's answer was lost.
		switch owner := userdiff.Owner(u); {
		case owner == s.owner || owner == s.nameOwner:
		case owner == "" && s.obj.Spec.AdoptExisting:
			if u, err = r.claim(ctx, s, u); err != nil {
				return err
			}
		default:
			return r.ownedElsewhere(u, owner)
		}
		s.observed = u
		return nil
	}
	if !s.obj.Spec.AdoptExisting {
		return nil
	}
	return r.findByEmail(ctx, s)
}

// readUser takes the user's snapshot (kept current by the UserObserver) when the spec has not
// changed since the last success, or reads it by id (a spec change deserves a fresh read).
func (r *Reconciler) readUser(ctx context.Context, s *userScope) (*auth0.User, error) {
	id := s.obj.Status.UserID
	if r.Snapshots != nil && controller.SpecApplied(s.obj) {
		if u, ok := r.Snapshots.Get(s.auth0, id, controller.ResyncOf(s.obj.Spec.ResyncInterval, r.ResyncInterval), time.Now()); ok {
			return u, nil
		}
	}
	u, err := s.auth0.GetUser(ctx, id)
	if err == nil {
		r.wrote(s, id, u)
	}
	return u, err
}

// wrote gives the snapshots the user as Auth0 answered a write or a read of it; nil (an error:
// the write may have been applied or not) makes its state unknown until read again.
func (r *Reconciler) wrote(s *userScope, id string, u *auth0.User) {
	if r.Snapshots != nil {
		r.Snapshots.Wrote(s.auth0, id, u, time.Now())
	}
}

// findByEmail looks the user up by email within the connection (users-by-email is immediately
// consistent, unlike search). This is what makes creation idempotent: a create whose response
// was lost left a user carrying this object's owner marker, and it is found here instead of
// being created twice. A user someone else owns, or nobody owns without adoptExisting, stalls.
func (r *Reconciler) findByEmail(ctx context.Context, s *userScope) error {
	st := &s.obj.Status
	matches, err := controller.UsersWithEmail(ctx, s.auth0, s.desired.Email, s.desired.Connection)
	if err != nil {
		return err
	}
	switch {
	case len(matches) == 0:
		return nil
	case len(matches) > 1:
		return controller.Stalled(conditions.ReasonUserExists, "%d users with email %s exist in connection %s; the operator cannot tell which one this object means", len(matches), s.desired.Email, s.desired.Connection)
	}
	u := matches[0]
	switch owner := userdiff.Owner(u); {
	case owner == s.owner:
		// This object's own earlier create, whose response never arrived (same UID).
		log.FromContext(ctx).Info("found the user an earlier create made", "userID", u.ID)
	case owner == s.nameOwner || strings.HasPrefix(owner, s.nameOwner+"/"):
		// Marked by an earlier object of the same name (deleted while its user stayed), or by
		// export for an object of this name (without a UID: it had none yet). Either way this
		// object is a stranger to it, and takes it over only by adoption, which the tenancy
		// policy governs; its password is never sent there otherwise. A marker without a UID
		// already names this object and is kept as it is (an exported tenant applies with no
		// write); one with another UID is claimed.
		if !s.obj.Spec.AdoptExisting {
			return controller.Stalled(conditions.ReasonUserExists, "user %s with email %s in connection %s was left by an earlier object named %s/%s; set spec.adoptExisting to manage it", u.ID, s.desired.Email, s.desired.Connection, s.obj.Namespace, s.obj.Name)
		}
		if owner != s.nameOwner {
			if u, err = r.claim(ctx, s, u); err != nil {
				return err
			}
		}
	case owner != "":
		return r.ownedElsewhere(u, owner)
	case !s.obj.Spec.AdoptExisting:
		return controller.Stalled(conditions.ReasonUserExists, "user %s with email %s already exists in connection %s; set spec.adoptExisting to manage it", u.ID, s.desired.Email, s.desired.Connection)
	default:
		if u, err = r.claim(ctx, s, u); err != nil {
			return err
		}
	}
	st.UserID = u.ID
	st.TenantDomain = s.domain
	s.observed = u
	return nil
}

// claim marks an existing user as this object's (adoption), after recording its id and tenant:
// a claim whose answer is lost is then still this object's to finish, or to release on deletion.
func (r *Reconciler) claim(ctx context.Context, s *userScope, u *auth0.User) (*auth0.User, error) {
	s.obj.Status.UserID, s.obj.Status.TenantDomain = u.ID, s.domain
	if err := r.writeAhead(ctx, s, "the user about to be adopted"); err != nil {
		return nil, err
	}
	claimed, err := s.auth0.UpdateUser(ctx, u.ID, auth0.UserUpdate{AppMetadata: map[string]any{userdiff.OwnerKey: s.owner}})
	r.wrote(s, u.ID, claimed)
	if err != nil {
		return nil, fmt.Errorf("cannot claim existing user %s: %w", u.ID, err)
	}
	r.Recorder.Eventf(s.obj, nil, corev1.EventTypeNormal, "Adopted", "Adopt", "adopted existing Auth0 user %s", u.ID)
	return claimed, nil
}

func (r *Reconciler) ownedElsewhere(u *auth0.User, owner string) error {
	if owner == "" {
		owner = "nobody (the operator's claim was removed)"
	}
	return controller.Stalled(conditions.ReasonOwnedElsewhere, "Auth0 user %s is managed by %s, not by this object", u.ID, owner)
}

// ownerOf is the owner marker of an object instance: cluster, namespace, name and UID. An object
// recreated under an old name has another UID: it is a stranger to what its predecessor left.
func ownerOf(cluster string, obj client.Object) string {
	return nameOwnerOf(cluster, obj) + "/" + string(obj.GetUID())
}

// nameOwnerOf is the marker without the UID: the format before markers carried one, and the one
// `export` writes (its objects have no UID yet). It is trusted only for the user whose id the
// object's status holds, and is replaced by ownerOf on the next write.
func nameOwnerOf(cluster string, obj client.Object) string {
	return cluster + "/" + obj.GetNamespace() + "/" + obj.GetName()
}
