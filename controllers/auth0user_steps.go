package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/userdiff"
)

// userScope is what one reconcile of an Auth0User works with.
type userScope struct {
	obj     *v1alpha1.Auth0User
	auth0   auth0.Client
	desired userdiff.Desired
	owner   string
	// password is the content of the password Secret, and passwordVersion which version of the
	// Secret it came from; both empty without spec.passwordSecretRef.
	password        string
	passwordVersion *v1alpha1.PasswordStatus
	// observed is the user as read from Auth0; nil when it does not exist.
	observed *auth0.User
	// created is true when this reconcile created the user (so the password was just sent).
	created bool
}

// reconcileUser runs the steps that bring the Auth0 user to the spec. Each step either fills in
// the scope or returns the error that decides the object's condition.
func (r *Auth0UserReconciler) reconcileUser(ctx context.Context, obj *v1alpha1.Auth0User) error {
	s := &userScope{obj: obj, owner: ownerOf(r.ClusterName, obj)}
	var err error
	if s.desired, err = userdiff.FromSpec(obj.Spec); err != nil {
		return stalled(conditions.ReasonInvalidSpec, "%v", err)
	}
	if err := userdiff.Validate(s.desired); err != nil {
		return stalled(conditions.ReasonInvalidSpec, "%v", err)
	}
	// The policy is checked before the tenant Secret is read: a denied object touches neither.
	allowed, err := r.Policies.For(ctx, obj.Namespace)
	if err != nil {
		return err
	}
	if err := denied(allowed.CheckUser(obj.Spec)); err != nil {
		return err
	}
	if s.auth0, err = r.Tenants.ClientFor(ctx, obj.Namespace, obj.Spec.TenantRef); err != nil {
		return err
	}
	if err := r.readPassword(ctx, s, false); err != nil {
		return err
	}
	for _, step := range []func(context.Context, *userScope) error{
		r.observeUser,
		r.createUser,
		r.updateUser,
		r.updatePassword,
	} {
		if err := step(ctx, s); errors.Is(err, errUserMissingReported) {
			return nil
		} else if err != nil {
			return err
		}
	}
	return nil
}

// readPassword loads the password Secret, if the spec names one. Unless force is set, a Secret
// whose version (in the metadata cache) is the one already sent to an existing user is not read:
// its content is not needed, and a steady reconcile then reads no Secret at all.
func (r *Auth0UserReconciler) readPassword(ctx context.Context, s *userScope, force bool) error {
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
		r.Tenants.secretVersion(ctx, name) == sent.SecretUID+"/"+sent.SecretResourceVersion {
		s.passwordVersion = sent.DeepCopy()
		return nil
	}
	var secret corev1.Secret
	if err := r.Tenants.Reader.Get(ctx, name, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return stalled(conditions.ReasonSecretUnavailable, "password Secret %q not found", ref.Name)
		}
		return fmt.Errorf("cannot get password Secret %q: %w", ref.Name, err)
	}
	pw, ok := secret.Data[key]
	if !ok || len(pw) == 0 {
		return stalled(conditions.ReasonSecretUnavailable, "password Secret %q has no key %q", ref.Name, key)
	}
	s.password = string(pw)
	s.passwordVersion = &v1alpha1.PasswordStatus{SecretUID: string(secret.UID), SecretResourceVersion: secret.ResourceVersion, Key: key}
	return nil
}

// observeUser reads the user by the id in status. Before the operator knows the id, it looks
// the email up only when adoption is asked for; otherwise it creates first and looks up on
// "The user already exists." (see createUser), which costs one call per new user instead of two.
func (r *Auth0UserReconciler) observeUser(ctx context.Context, s *userScope) error {
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
		if owner := userdiff.Owner(u); owner != s.owner {
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

// readUser reads the user by id, or takes the UserSweeper's bulk snapshot when the spec has not
// changed since the last success (a spec change deserves a fresh, consistent read).
func (r *Auth0UserReconciler) readUser(ctx context.Context, s *userScope) (*auth0.User, error) {
	id := s.obj.Status.UserID
	if r.Snapshots != nil && s.obj.Generation == s.obj.Status.ObservedGeneration {
		if u, ok := r.Snapshots.Get(s.auth0, id, resyncOf(s.obj.Spec.ResyncInterval, r.ResyncInterval), time.Now()); ok {
			return u, nil
		}
	}
	return s.auth0.GetUser(ctx, id)
}

// wrote tells the snapshots that the operator changed the user.
func (r *Auth0UserReconciler) wrote(s *userScope, id string) {
	if r.Snapshots != nil {
		r.Snapshots.Wrote(s.auth0, id, time.Now())
	}
}

// findByEmail looks the user up by email within the connection (users-by-email is immediately
// consistent, unlike search). This is what makes creation idempotent: a create whose response
// was lost left a user carrying this object's owner marker, and it is found here instead of
// being created twice. A user someone else owns, or nobody owns without adoptExisting, stalls.
func (r *Auth0UserReconciler) findByEmail(ctx context.Context, s *userScope) error {
	st := &s.obj.Status
	matches, err := usersWithEmail(ctx, s.auth0, s.desired.Email, s.desired.Connection)
	if err != nil {
		return err
	}
	switch {
	case len(matches) == 0:
		return nil
	case len(matches) > 1:
		return stalled(conditions.ReasonUserExists, "%d users with email %s exist in connection %s; the operator cannot tell which one this object means", len(matches), s.desired.Email, s.desired.Connection)
	}
	u := matches[0]
	switch owner := userdiff.Owner(u); {
	case owner == s.owner:
		// Our own earlier create, whose response never arrived.
		log.FromContext(ctx).Info("found the user an earlier create made", "userID", u.ID)
	case owner != "":
		return r.ownedElsewhere(u, owner)
	case !s.obj.Spec.AdoptExisting:
		return stalled(conditions.ReasonUserExists, "user %s with email %s already exists in connection %s; set spec.adoptExisting to manage it", u.ID, s.desired.Email, s.desired.Connection)
	default:
		claimed, err := s.auth0.UpdateUser(ctx, u.ID, auth0.UserUpdate{AppMetadata: map[string]any{userdiff.OwnerKey: s.owner}})
		r.wrote(s, u.ID)
		if err != nil {
			return fmt.Errorf("cannot claim existing user %s: %w", u.ID, err)
		}
		r.Recorder.Eventf(s.obj, nil, corev1.EventTypeNormal, "Adopted", "Adopt", "adopted existing Auth0 user %s", u.ID)
		u = claimed
	}
	st.UserID = u.ID
	s.observed = u
	return nil
}

func (r *Auth0UserReconciler) ownedElsewhere(u *auth0.User, owner string) error {
	if owner == "" {
		owner = "nobody (the operator's claim was removed)"
	}
	return stalled(conditions.ReasonOwnedElsewhere, "Auth0 user %s is managed by %s, not by this object", u.ID, owner)
}

// createUser creates the user when it does not exist. A user deleted in Auth0 out of band is
// recreated under drift policy Correct and only reported under Report.
func (r *Auth0UserReconciler) createUser(ctx context.Context, s *userScope) error {
	if s.observed != nil {
		return nil
	}
	st := &s.obj.Status
	if st.UserID != "" {
		now := metav1.Now()
		r.recordDrift(s.obj, []v1alpha1.DriftEntry{{Field: "user", Desired: "present", Observed: "absent", DetectedAt: now}})
		if s.obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport {
			return errUserMissingReported
		}
	}
	if s.passwordVersion != nil && s.password == "" {
		// Recreating a user deleted out of band: the password was not read for a steady pass.
		if err := r.readPassword(ctx, s, true); err != nil {
			return err
		}
	}
	if err := r.recordKeysBeforeCreate(ctx, s); err != nil {
		return err
	}
	created, err := s.auth0.CreateUser(ctx, userdiff.CreateRequest(s.desired, s.password, s.obj.Spec.VerifyEmail, s.owner))
	if auth0.IsConflict(err) {
		// The user exists: our own create whose response was lost, a user made outside the
		// operator, or another object's. The owner marker tells which.
		st.UserID = ""
		if err := r.findByEmail(ctx, s); err != nil {
			return err
		}
		if s.observed == nil {
			return fmt.Errorf("cannot create user (Auth0 says it exists, but users-by-email does not find it yet): %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot create user: %w", err)
	}
	r.wrote(s, created.ID)
	r.Recorder.Eventf(s.obj, nil, corev1.EventTypeNormal, "Created", "Create", "created Auth0 user %s", created.ID)
	st.UserID = created.ID
	st.Password = s.passwordVersion
	managed := userdiff.ManagedAfterApply(s.desired, userdiff.Managed{}, true)
	st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys = managed.UserMetadataKeys, managed.AppMetadataKeys
	s.observed = created
	s.created = true
	return nil
}

// recordKeysBeforeCreate writes the metadata keys a create is about to set into status before
// the create is sent. If its response is lost, or the manager stops before the status is written,
// the user is later found by its owner marker; without this record, a key dropped from the spec
// meanwhile would stay in Auth0 for ever. It costs one status write per created user.
func (r *Auth0UserReconciler) recordKeysBeforeCreate(ctx context.Context, s *userScope) error {
	st := &s.obj.Status
	previous := userdiff.Managed{UserMetadataKeys: st.ManagedUserMetadataKeys, AppMetadataKeys: st.ManagedAppMetadataKeys}
	pending := userdiff.ManagedAfterApply(s.desired, previous, false)
	if slices.Equal(pending.UserMetadataKeys, previous.UserMetadataKeys) && slices.Equal(pending.AppMetadataKeys, previous.AppMetadataKeys) {
		return nil
	}
	// A copy is patched: the object keeps its resourceVersion, so that the reconcile's own
	// status patch at the end is not turned into an optimistic-lock precondition.
	st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys = pending.UserMetadataKeys, pending.AppMetadataKeys
	written := s.obj.DeepCopy()
	base := written.DeepCopy()
	base.Status.ManagedUserMetadataKeys, base.Status.ManagedAppMetadataKeys = previous.UserMetadataKeys, previous.AppMetadataKeys
	if err := r.Status().Patch(ctx, written, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("cannot record the metadata keys of the user about to be created: %w", err)
	}
	return nil
}

// errUserMissingReported ends a reconcile whose user was deleted out of band under policy
// Report: nothing is written, the drift is in status, and the object is otherwise healthy.
var errUserMissingReported = errors.New("user missing in Auth0, reported")

// updateUser compares the user with the spec, reports drift, and patches what differs. A
// difference found while the spec is unchanged since the last success is drift; one found after
// a spec change is simply the change being applied.
func (r *Auth0UserReconciler) updateUser(ctx context.Context, s *userScope) error {
	if s.created {
		r.recordDrift(s.obj, nil)
		return nil
	}
	st := &s.obj.Status
	managed := userdiff.Managed{UserMetadataKeys: st.ManagedUserMetadataKeys, AppMetadataKeys: st.ManagedAppMetadataKeys}
	plan := userdiff.Compare(s.desired, s.observed, managed)
	specChanged := s.obj.Generation != st.ObservedGeneration

	if specChanged {
		r.recordDrift(s.obj, nil)
	} else {
		r.recordDrift(s.obj, driftEntries(plan.Differences, st.Drift))
	}
	if !plan.NeedsUpdate() {
		// Auth0 holds every key the spec declares, also right after an adoption or a create
		// whose response was lost (which record no keys themselves): they are managed from now
		// on, so that a key later dropped from the spec is released.
		done := userdiff.ManagedAfterApply(s.desired, managed, true)
		st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys = done.UserMetadataKeys, done.AppMetadataKeys
		return nil
	}
	update := plan.Update
	if !specChanged && s.obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport {
		if len(plan.Released) == 0 {
			return nil
		}
		// Report leaves drifted fields alone but still removes keys this object gave up.
		update = releaseOnly(plan)
	}
	// Record the union of old and new keys before writing, so a key is never forgotten while
	// a write that may or may not have reached Auth0 is retried.
	pending := userdiff.ManagedAfterApply(s.desired, managed, false)
	st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys = pending.UserMetadataKeys, pending.AppMetadataKeys
	if update.Email != nil {
		update.VerifyEmail = s.obj.Spec.VerifyEmail
	}
	updated, err := s.auth0.UpdateUser(ctx, st.UserID, update)
	r.wrote(s, st.UserID)
	if err != nil {
		return fmt.Errorf("cannot update user %s: %w", st.UserID, err)
	}
	done := userdiff.ManagedAfterApply(s.desired, managed, true)
	st.ManagedUserMetadataKeys, st.ManagedAppMetadataKeys = done.UserMetadataKeys, done.AppMetadataKeys
	s.observed = updated
	return nil
}

// releaseOnly keeps from a plan's update only the removal of released metadata keys.
func releaseOnly(plan userdiff.Plan) auth0.UserUpdate {
	u := auth0.UserUpdate{}
	for _, field := range plan.Released {
		prefix, key, _ := strings.Cut(field, ".")
		if prefix == "userMetadata" {
			if u.UserMetadata == nil {
				u.UserMetadata = map[string]any{}
			}
			u.UserMetadata[key] = nil
		} else {
			if u.AppMetadata == nil {
				u.AppMetadata = map[string]any{}
			}
			u.AppMetadata[key] = nil
		}
	}
	return u
}

// updatePassword re-sends the password when the Secret it comes from changed since it was last
// sent, and only then. Nothing derived from the password is stored: status records the
// Secret's UID and resourceVersion.
func (r *Auth0UserReconciler) updatePassword(ctx context.Context, s *userScope) error {
	st := &s.obj.Status
	if s.passwordVersion == nil {
		st.Password = nil
		return nil
	}
	if s.created || (st.Password != nil && *st.Password == *s.passwordVersion) {
		return nil
	}
	pw := s.password
	_, err := s.auth0.UpdateUser(ctx, st.UserID, auth0.UserUpdate{Connection: s.desired.Connection, Password: &pw})
	r.wrote(s, st.UserID)
	if err != nil {
		return fmt.Errorf("cannot update the password of user %s: %w", st.UserID, err)
	}
	r.Recorder.Eventf(s.obj, nil, corev1.EventTypeNormal, "PasswordUpdated", "Update", "password sent to Auth0 (Secret %s changed)", s.obj.Spec.PasswordSecretRef.Name)
	st.Password = s.passwordVersion
	return nil
}

// reconcileUserDelete deletes or releases the Auth0 user, then lets the object go.
func (r *Auth0UserReconciler) reconcileUserDelete(ctx context.Context, obj *v1alpha1.Auth0User) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return ctrl.Result{}, nil
	}
	if err := r.releaseUser(ctx, obj); err != nil {
		reason, message, terminal := classify(err)
		if !terminal {
			conditions.Reconciling(&obj.Status.Conditions, obj.Generation, reason, message)
			return ctrl.Result{}, err
		}
		// An unreachable tenant (its Secret deleted, say) must not block the namespace forever:
		// the user is left in Auth0 and the event says so.
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, reason, "Delete", "Auth0 user %s left in place: %s", obj.Status.UserID, message)
	}
	return ctrl.Result{}, releaseFinalizer(ctx, r.Client, obj)
}

func (r *Auth0UserReconciler) releaseUser(ctx context.Context, obj *v1alpha1.Auth0User) error {
	id := obj.Status.UserID
	c, err := r.Tenants.ClientFor(ctx, obj.Namespace, obj.Spec.TenantRef)
	if err != nil {
		if id == "" {
			return nil // no user is known, and there is no tenant to look in
		}
		return err
	}
	if id == "" {
		// A create whose response was lost, or whose status write a restart prevented, left a
		// user with this object's owner marker but no id in status: it is found by email, or
		// it would outlive its object.
		if id, err = r.findOwnCreate(ctx, c, obj); err != nil {
			if _, _, terminal := classify(err); terminal {
				return nil // the tenant refuses the lookup: no user is known to exist
			}
			return err
		}
		if id == "" {
			return nil
		}
	}
	u, err := c.GetUser(ctx, id)
	switch {
	case auth0.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("cannot get user %s: %w", id, err)
	case userdiff.Owner(u) != ownerOf(r.ClusterName, obj):
		return nil // somebody else's now; never delete it
	}
	// The object goes either way: its snapshot must not outlive it.
	if r.Snapshots != nil {
		defer r.Snapshots.Forget(c, id)
	}
	if obj.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan {
		if _, err := c.UpdateUser(ctx, id, auth0.UserUpdate{AppMetadata: map[string]any{userdiff.OwnerKey: nil}}); err != nil {
			return fmt.Errorf("cannot release user %s: %w", id, err)
		}
		r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "Orphaned", "Delete", "Auth0 user %s released and left in place", id)
		return nil
	}
	if err := c.DeleteUser(ctx, id); err != nil {
		return fmt.Errorf("cannot delete user %s: %w", id, err)
	}
	r.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "Deleted", "Delete", "deleted Auth0 user %s", id)
	return nil
}

// findOwnCreate returns the id of the user of this object's email and connection that carries
// its owner marker, or "".
func (r *Auth0UserReconciler) findOwnCreate(ctx context.Context, c auth0.Client, obj *v1alpha1.Auth0User) (string, error) {
	found, err := usersWithEmail(ctx, c, obj.Spec.Email, obj.Spec.Connection)
	if err != nil {
		return "", err
	}
	for _, u := range found {
		if userdiff.Owner(u) == ownerOf(r.ClusterName, obj) {
			return u.ID, nil
		}
	}
	return "", nil
}

// ownerOf is the owner marker of an object: cluster, namespace and name. The UID is left out on
// purpose so that an object deleted with policy Orphan and applied again finds its user.
func ownerOf(cluster string, obj client.Object) string {
	return cluster + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

// driftEntries turns differences into status entries, keeping the time a field was first seen
// drifting.
func driftEntries(diffs []userdiff.Difference, previous []v1alpha1.DriftEntry) []v1alpha1.DriftEntry {
	if len(diffs) == 0 {
		return nil
	}
	now := metav1.Now()
	out := make([]v1alpha1.DriftEntry, 0, len(diffs))
	for _, d := range diffs {
		e := v1alpha1.DriftEntry{Field: d.Field, Desired: d.Desired, Observed: d.Observed, DetectedAt: now}
		if i := slices.IndexFunc(previous, func(p v1alpha1.DriftEntry) bool { return p.Field == d.Field }); i >= 0 {
			e.DetectedAt = previous[i].DetectedAt
		}
		out = append(out, e)
	}
	return out
}
