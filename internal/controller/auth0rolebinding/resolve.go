package auth0rolebinding

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/controller"
	"github.com/usersync/auth0-operator/internal/grants"
	"github.com/usersync/auth0-operator/internal/policy"
	"github.com/usersync/auth0-operator/internal/userdiff"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// resolve checks the binding against the tenancy policy and resolves what it names. The tenant,
// the permissions and the roles are checked before the tenant Secret is read or Auth0 is
// called; only a role the policy might allow by its other identity (a name whose id a policy
// lists, an id whose name it lists) is checked again once resolved, still before any write.
// The tenant counts as verified once Auth0 answered this client (its token worked).
func (r *Reconciler) resolve(ctx context.Context, s *bindingScope) error {
	obj := s.obj
	var err error
	if err := subjectsNamedOnce(obj.Spec.Subjects); err != nil {
		return err
	}
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
	deferred, err := r.checkRolesFirst(ctx, s)
	if err != nil {
		return err
	}
	s.full = r.fullObservationDue(s.obj)
	if s.auth0, err = r.Tenants.ClientFor(ctx, obj.Namespace, obj.Spec.TenantRef); err != nil {
		return stillDenied(deferred, err)
	}
	if err := r.resolveRoles(ctx, s); err != nil {
		return stillDenied(deferred, err)
	}
	if err := r.checkRoles(s, deferred); err != nil {
		return err
	}
	if err := r.resolvePermissions(ctx, s); err != nil {
		return err
	}
	// Roles and permissions were resolved with this client: Auth0 answered it (now, or earlier
	// in this process: the catalog is kept per client), so its credentials work for this domain.
	if s.tenant, err = r.Tenants.Domain(ctx, obj.Namespace, obj.Spec.TenantRef); err != nil {
		return err
	}
	// Grants made in one tenant are never forgotten because the Secret now names another:
	// moving tenants is explicit, as for users.
	if recorded := obj.Status.Tenant; recorded != "" && recorded != s.tenant && holdsGrants(obj) {
		return controller.Stalled(conditions.ReasonTenantChanged, "the binding holds grants in tenant %s, but its tenant Secret now names %s; point the Secret back, or delete the binding (to revoke them, with the Secret pointing back) and create it anew", recorded, s.tenant)
	}
	return r.resolveSubjects(ctx, s)
}

// fullObservationDue says whether this pass verifies every subject and reads every grant: after
// a spec change, after a restart, and once per resync interval. The last one is remembered when
// its pass ended, and the resync is requeued (jittered, never earlier) only after that, so the
// resync always finds one due, while the passes woken in between (subjects becoming ready, a
// Secret or policy event) reuse what it found.
func (r *Reconciler) fullObservationDue(obj *v1alpha1.Auth0RoleBinding) bool {
	last, ok := r.observedAt.Load(client.ObjectKeyFromObject(obj))
	if !ok {
		return true
	}
	o := last.(observation)
	return o.generation != obj.Generation || time.Since(o.at) >= r.interval(obj)
}

// observation is when a binding last observed fully, for which generation, and the user ids
// of userRef subjects it found gone then.
type observation struct {
	at         time.Time
	generation int64
	missing    map[string]bool
}

// foundMissing reports whether the last full observation found the user id gone.
func (r *Reconciler) foundMissing(obj *v1alpha1.Auth0RoleBinding, uid string) bool {
	last, ok := r.observedAt.Load(client.ObjectKeyFromObject(obj))
	return ok && last.(observation).missing[uid]
}

// deferredRole is a role the policy does not allow by the identity the spec gives it, but might
// by the other one: it is checked again once resolved.
type deferredRole struct {
	ref    v1alpha1.RoleReference
	denial error
}

// checkRolesFirst checks every role against the policy by what the spec names it (name or id),
// before any Secret is read or call made. A role denied that way is refused at once, unless a
// policy selecting the namespace lists roles by the other kind of identity; those are returned
// to be checked again after resolution.
func (r *Reconciler) checkRolesFirst(ctx context.Context, s *bindingScope) ([]deferredRole, error) {
	var deferred []deferredRole
	var patterns []string
	loaded := false
	for _, ref := range s.obj.Spec.Roles {
		err := controller.Denied(s.allowed.CheckRole(ref.Name, ref.ID))
		if err == nil {
			continue
		}
		if !loaded {
			var lerr error
			if patterns, lerr = r.rolePatterns(ctx, s.allowed); lerr != nil {
				return nil, lerr
			}
			loaded = true
		}
		if !mayNameOtherwise(patterns, ref) {
			return nil, err
		}
		deferred = append(deferred, deferredRole{ref: ref, denial: err})
	}
	return deferred, nil
}

// rolePatterns are the role patterns of the policies selecting the namespace (from the cache).
func (r *Reconciler) rolePatterns(ctx context.Context, allowed policy.Effective) ([]string, error) {
	var out []string
	for _, name := range allowed.Names {
		var p v1alpha1.Auth0TenancyPolicy
		if err := r.Policies.Reader.Get(ctx, types.NamespacedName{Name: name}, &p); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("cannot get Auth0TenancyPolicy %s: %w", name, err)
		}
		out = append(out, p.Spec.Roles...)
	}
	return out, nil
}

// mayNameOtherwise reports whether some pattern could allow the role by the identity the spec
// does not give: Auth0 role ids start with "rol_", names are what the tenant's admins chose.
func mayNameOtherwise(patterns []string, ref v1alpha1.RoleReference) bool {
	for _, p := range patterns {
		idLike := strings.HasPrefix(p, "rol_") || strings.HasPrefix(p, "*")
		if ref.ID == "" && idLike || ref.ID != "" && !strings.HasPrefix(p, "rol_") {
			return true
		}
	}
	return false
}

// stillDenied keeps a binding with deferred roles denied when resolving them failed for good
// (a missing Secret, refused credentials): the denial, not the tenant's refusal, is what the
// binding's owner must see. A transient failure is retried as it is.
func stillDenied(deferred []deferredRole, err error) error {
	if len(deferred) > 0 && controller.Classify(err).Outcome == controller.OutcomeStalled {
		return deferred[0].denial
	}
	return err
}

// resolveRoles turns role names into ids; unknown names and ids are reported, not fatal.
// RoleCount counts distinct roles (a role named once by name and once by id is one).
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
	s.obj.Status.RoleCount = len(s.desired)
	return nil
}

// checkRoles checks the deferred roles again with both their name and id, so that a binding is
// refused whole before anything is written: a binding applied halfway would look Ready to a team
// that asked for more.
func (r *Reconciler) checkRoles(s *bindingScope, deferred []deferredRole) error {
	for _, d := range deferred {
		name, id := r.Catalog.RoleNames(s.auth0, d.ref.Name, d.ref.ID)
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
// only that subject; one that does not exist is reported by name. On a full observation every
// user id is verified (one search per 50) and every email subject checked against its user's
// email, so that a deleted user is reported and a reassigned email moves the grant; an email
// whose user is gone or changed, or that named nobody, is looked up again (users-by-email,
// one call each). Between full observations subjects are what the last one found, so an unknown
// email or a missing user costs one lookup per resync, not one per pass.
func (r *Reconciler) resolveSubjects(ctx context.Context, s *bindingScope) error {
	previous := map[string]v1alpha1.SubjectStatus{}
	for _, st := range s.obj.Status.Subjects {
		previous[st.Subject] = st // the last entry of a key is its newest
	}
	var verify, lookup []int // indexes into s.subjects
	for _, sub := range s.obj.Spec.Subjects {
		rs := resolvedSubject{key: subjectKey(sub), email: sub.Email, connection: sub.Connection}
		prev, seen := previous[rs.key]
		switch {
		case sub.UserRef != "":
			var u v1alpha1.Auth0User // read-only: the cache's own copy, not a deep copy per subject
			err := r.Get(ctx, types.NamespacedName{Namespace: s.obj.Namespace, Name: sub.UserRef}, &u, client.UnsafeDisableDeepCopy)
			switch {
			case apierrors.IsNotFound(err):
				// Waited for briefly (GitOps tools apply a binding and its users together, and the
				// cache may see the binding first), then reported: the binding is Stalled and
				// observed, not Reconciling for ever. Creating the Auth0User wakes the binding.
				rs.message = "Auth0User " + sub.UserRef + " not found"
				if until, ok := missingRefGrace(s.obj); ok {
					rs.waiting = true
					s.waitUntil = until
				}
			case err != nil:
				return fmt.Errorf("cannot get Auth0User %s: %w", sub.UserRef, err)
			case u.Status.UserID == "":
				rs.message, rs.waiting = "Auth0User "+sub.UserRef+" has no Auth0 user yet", true
			case s.full:
				rs.userID = u.Status.UserID
				verify = append(verify, len(s.subjects))
			case r.foundMissing(s.obj, u.Status.UserID):
				// Gone at the last full observation (the Auth0User reports it, under Report):
				// not written to again before the next one.
				rs.userID = u.Status.UserID
				rs.message, rs.userID = missingMessage(&rs), ""
			default:
				rs.userID = u.Status.UserID
			}
		case !s.full && seen:
			rs.userID, rs.message = prev.UserID, prev.Message
		case sub.UserID != "":
			rs.userID, rs.missingBefore = sub.UserID, seen && prev.UserID == ""
			verify = append(verify, len(s.subjects))
		case seen && prev.UserID != "":
			rs.userID = prev.UserID
			verify = append(verify, len(s.subjects))
		default:
			lookup = append(lookup, len(s.subjects))
		}
		s.subjects = append(s.subjects, rs)
	}
	moved, err := verifySubjects(ctx, s.auth0, s.subjects, verify, r.knownUsers(s))
	if err != nil {
		return err
	}
	return lookUpEmails(ctx, s.auth0, s.subjects, append(lookup, moved...))
}

// missingRefWait is how long a binding waits for an Auth0User it names to appear before it
// reports it missing: as long as a small binding gathers subject changes.
const missingRefWait = subjectDebounce

// missingRefGrace reports whether the binding may still wait for a missing Auth0User, and until
// when: missingRefWait after it started waiting for subjects at this generation (the
// Reconciling condition's transition), or from now.
func missingRefGrace(obj *v1alpha1.Auth0RoleBinding) (time.Time, bool) {
	start := time.Now()
	if c := meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReconciling); c != nil && c.Status == metav1.ConditionTrue &&
		c.Reason == conditions.ReasonSubjectsPending && c.ObservedGeneration == obj.Generation {
		start = c.LastTransitionTime.Time
	}
	until := start.Add(missingRefWait)
	return until, time.Now().Before(until)
}

// knownUsers looks a user up in the snapshots the user observer keeps current (nil when it holds
// none current within the binding's resync interval, or without Snapshots): the observer already
// spends a few searches per interval on every managed user, so a subject that is one of them
// needs no search of its own, and a steady resync of a binding of managed users costs only its
// role listings.
func (r *Reconciler) knownUsers(s *bindingScope) func(id string) *auth0.User {
	maxAge, now := r.interval(s.obj), time.Now()
	return func(id string) *auth0.User {
		if r.Snapshots == nil {
			return nil
		}
		u, ok := r.Snapshots.Get(s.auth0, id, maxAge, now)
		if !ok {
			return nil
		}
		return u
	}
}

// verifySubjects checks the user ids of the subjects at idx: a user that known returns is taken
// as it is, the others are looked for with one users search per 50 ids. A user id the search
// does not return is read by id (the search index lags writes by a few seconds), unless the last
// full observation already found it missing; a read that answers 404 reports the subject. An
// email subject whose user is gone, or no longer has that email (in that connection), is
// returned to be looked up by email again.
func verifySubjects(ctx context.Context, c auth0.Client, subjects []resolvedSubject, idx []int, known func(id string) *auth0.User) (emails []int, err error) {
	if len(idx) == 0 {
		return nil, nil
	}
	found := map[string]*auth0.User{}
	var search []string
	for _, i := range idx {
		id := subjects[i].userID
		if u := known(id); u != nil {
			found[id] = u
		} else {
			search = append(search, id)
		}
	}
	if len(search) > 0 {
		searched, err := c.GetUsers(ctx, search)
		if err != nil {
			return nil, fmt.Errorf("cannot look up subjects by id: %w", err)
		}
		maps.Copy(found, searched)
	}
	for _, i := range idx {
		sub := &subjects[i]
		u := found[sub.userID]
		switch {
		case sub.email != "":
			if u == nil || !hasEmail(u, sub.email, sub.connection) {
				sub.userID = ""
				emails = append(emails, i)
			}
		case u != nil:
		case sub.missingBefore:
			sub.userID, sub.message = "", "no Auth0 user has this id"
		default:
			_, err := c.GetUser(ctx, sub.userID)
			switch {
			case auth0.IsNotFound(err):
				sub.message = missingMessage(sub)
				sub.goneID, sub.userID = sub.userID, ""
			case err != nil:
				return nil, fmt.Errorf("cannot get user %s: %w", sub.userID, err)
			}
		}
	}
	return emails, nil
}

func missingMessage(sub *resolvedSubject) string {
	if name, ok := strings.CutPrefix(sub.key, "userRef:"); ok {
		return fmt.Sprintf("Auth0User %s names Auth0 user %s, which does not exist", name, sub.userID)
	}
	return "no Auth0 user has this id"
}

// hasEmail reports whether a user has the email (compared as Auth0 keeps database emails:
// lower-cased) in the connection, if one is given.
func hasEmail(u *auth0.User, email, connection string) bool {
	return strings.EqualFold(u.Email, email) && (connection == "" || userdiff.ConnectionOf(u) == connection)
}

// lookUpEmails resolves email subjects with users-by-email (immediately consistent, lower-cased
// as Auth0 stores database emails), one call per email: Auth0 has no batched form of it.
func lookUpEmails(ctx context.Context, c auth0.Client, subjects []resolvedSubject, idx []int) error {
	for _, i := range idx {
		sub := &subjects[i]
		found, err := controller.UsersWithEmail(ctx, c, sub.email, sub.connection)
		if err != nil {
			return err
		}
		switch len(found) {
		case 0:
			sub.userID, sub.message = "", "no Auth0 user has this email"
		case 1:
			sub.userID, sub.message = found[0].ID, ""
		default:
			sub.userID, sub.message = "", fmt.Sprintf("%d users have this email; set connection", len(found))
		}
	}
	return nil
}

// subjectsNamedOnce refuses a binding naming a subject twice (the schema cannot: see
// Auth0RoleBindingSpec.Subjects), by the key its status entry has: an email named twice, even
// with two connections, would share one entry, and its grants would move between the two users.
func subjectsNamedOnce(subjects []v1alpha1.Subject) error {
	seen := make(map[string]bool, len(subjects))
	for _, sub := range subjects {
		key := subjectKey(sub)
		if seen[key] {
			return controller.Stalled(conditions.ReasonInvalidSpec, "spec.subjects: %s is named more than once (an email counts once whatever its connection); name each subject once", key)
		}
		seen[key] = true
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

// holdsGrants reports whether the binding's status records any grant it applied or is applying.
func holdsGrants(b *v1alpha1.Auth0RoleBinding) bool {
	for _, sub := range b.Status.Subjects {
		if len(sub.Roles)+len(sub.Permissions)+len(sub.PendingRoles)+len(sub.PendingPermissions) > 0 {
			return true
		}
	}
	return false
}
