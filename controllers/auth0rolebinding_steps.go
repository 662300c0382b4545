package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/grants"
	"github.com/usersync/auth0-operator/internal/policy"
)

// Grants of both kinds share one string space in internal/grants; the prefixes keep them apart.
const (
	rolePrefix = "role:"
	permPrefix = "perm:"
)

// bindingScope is what one reconcile of a binding works with.
type bindingScope struct {
	obj   *v1alpha1.Auth0RoleBinding
	auth0 auth0.Client
	// desired are the resolved grants every subject should hold.
	desired grants.Set
	// subjects are the spec's subjects, resolved where possible, in spec order.
	subjects []resolvedSubject
	outcome  bindingOutcome
	// allowed is what the tenancy policy allows the binding's namespace.
	allowed policy.Effective
}

type resolvedSubject struct {
	key     string // userRef:<name>, userID:<id> or email:<address>
	userID  string // empty while unresolved
	message string
}

func (r *Auth0RoleBindingReconciler) reconcileBinding(ctx context.Context, obj *v1alpha1.Auth0RoleBinding) (bindingOutcome, error) {
	s := &bindingScope{obj: obj, desired: grants.Set{}}
	var err error
	// The tenant and permissions are checked against the policy before the tenant Secret is
	// read; roles after they are resolved (a policy may name them by name or id), before any write.
	if s.allowed, err = r.Policies.For(ctx, obj.Namespace); err != nil {
		return s.outcome, err
	}
	if err := denied(s.allowed.CheckTenant(obj.Spec.TenantRef)); err != nil {
		return s.outcome, err
	}
	for _, p := range obj.Spec.Permissions {
		if err := denied(s.allowed.CheckPermission(p.ResourceServerIdentifier, p.Name)); err != nil {
			return s.outcome, err
		}
	}
	if s.auth0, err = r.Tenants.ClientFor(ctx, obj.Namespace, obj.Spec.TenantRef); err != nil {
		return s.outcome, err
	}
	for _, step := range []func(context.Context, *bindingScope) error{
		r.resolveRoles,
		r.checkRoles,
		r.resolvePermissions,
		r.resolveSubjects,
		r.applyGrants,
	} {
		if err := step(ctx, s); err != nil {
			return s.outcome, err
		}
	}
	return s.outcome, nil
}

// resolveRoles turns role names into ids; unknown names and ids are reported, not fatal.
func (r *Auth0RoleBindingReconciler) resolveRoles(ctx context.Context, s *bindingScope) error {
	for _, ref := range s.obj.Spec.Roles {
		id, err := r.roles.resolve(ctx, s.auth0, ref)
		if err != nil {
			return err
		}
		if id == "" {
			s.outcome.unresolved = append(s.outcome.unresolved, roleLabel(ref))
			continue
		}
		s.desired[rolePrefix+id] = true
	}
	s.obj.Status.RoleCount = len(s.obj.Spec.Roles) - len(s.outcome.unresolved)
	return nil
}

// checkRoles refuses the whole binding when the policy denies one of its roles, so that nothing
// is written: a binding applied halfway would look Ready to a team that asked for more.
func (r *Auth0RoleBindingReconciler) checkRoles(_ context.Context, s *bindingScope) error {
	for _, ref := range s.obj.Spec.Roles {
		name, id := r.roles.names(s.auth0, ref)
		if err := denied(s.allowed.CheckRole(name, id)); err != nil {
			return err
		}
	}
	return nil
}

// resolvePermissions checks each permission against its resource server's scopes.
func (r *Auth0RoleBindingReconciler) resolvePermissions(ctx context.Context, s *bindingScope) error {
	for _, p := range s.obj.Spec.Permissions {
		ok, err := r.roles.permissionExists(ctx, s.auth0, p.ResourceServerIdentifier, p.Name)
		if err != nil {
			return err
		}
		if !ok {
			s.outcome.unresolved = append(s.outcome.unresolved, fmt.Sprintf("permission %q of API %s", p.Name, p.ResourceServerIdentifier))
			continue
		}
		s.desired[permGrant(p.ResourceServerIdentifier, p.Name)] = true
	}
	return nil
}

// resolveSubjects finds each subject's Auth0 user id. An Auth0User that has none yet delays
// only that subject; ids and emails already resolved in status are reused, so that a steady
// binding resolves without calls.
func (r *Auth0RoleBindingReconciler) resolveSubjects(ctx context.Context, s *bindingScope) error {
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
				s.outcome.pending = append(s.outcome.pending, rs.key)
			}
		case previous[rs.key] != "":
			rs.userID = previous[rs.key]
		case sub.UserID != "":
			// Checked below in one batch, so that a binding naming many users by id costs a
			// search per 50 of them rather than a read each.
			rs.userID = sub.UserID
			unverified = append(unverified, len(s.subjects))
		default:
			found, err := usersWithEmail(ctx, s.auth0, sub.Email, sub.Connection)
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
			s.outcome.unresolved = append(s.outcome.unresolved, rs.key)
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
			s.outcome.unresolved = append(s.outcome.unresolved, sub.key)
		} else if err != nil {
			return fmt.Errorf("cannot get user %s: %w", sub.userID, err)
		}
	}
	return nil
}

// applyGrants observes what Auth0 holds, plans each user with internal/grants, and writes:
// one bulk assignment per role, one call per user for permissions and for removals.
func (r *Auth0RoleBindingReconciler) applyGrants(ctx context.Context, s *bindingScope) error {
	st := &s.obj.Status
	applied := map[string]grants.Set{}  // user id -> grants this binding applied before
	external := map[string]grants.Set{} // user id -> grants it found made outside the operator
	for _, prev := range st.Subjects {
		if prev.UserID != "" {
			applied[prev.UserID] = toSet(prev.Roles, prev.Permissions)
			external[prev.UserID] = toSet(prev.ExternalRoles, prev.ExternalPermissions)
		}
	}
	current := map[string]bool{}
	for _, sub := range s.subjects {
		if sub.userID != "" {
			current[sub.userID] = true
		}
	}
	others, err := r.grantsOfOthers(ctx, s.obj, s.auth0)
	if err != nil {
		return err
	}
	specChanged := s.obj.Generation != st.ObservedGeneration
	key := client.ObjectKeyFromObject(s.obj)
	var fresh []string // subjects the binding has never observed
	for uid := range current {
		if _, known := applied[uid]; !known {
			fresh = append(fresh, uid)
		}
	}
	var observed map[string]grants.Set
	if last, ok := r.observedAt.Load(key); ok && last.(observation).generation == s.obj.Generation &&
		time.Since(last.(observation).at) < resyncOf(s.obj.Spec.ResyncInterval, r.ResyncInterval)/2 &&
		readingUsersIsCheaper(len(fresh), len(current), s.desired) {
		// Woken by subjects becoming ready, shortly after an observation: trust that what was
		// recorded still holds (drift is looked for on the resync), and read only what the new
		// subjects hold, so that a grant they had before the binding is recorded as external and
		// never revoked.
		observed = map[string]grants.Set{}
		for uid := range current {
			observed[uid] = union(applied[uid], external[uid])
		}
		if err := observeSubjects(ctx, s.auth0, s.desired, fresh, observed); err != nil {
			return err
		}
	} else {
		if observed, err = observeGrants(ctx, s.auth0, s.desired, applied, external, current); err != nil {
			return r.roleGone(s, err)
		}
		r.observedAt.Store(key, observation{at: time.Now(), generation: s.obj.Generation})
	}

	// After a spec change everything is applied; Report only holds back re-adding drift.
	reportOnly := !specChanged && s.obj.Spec.DriftPolicy == v1alpha1.DriftPolicyReport
	addRole := map[string][]string{} // role id -> users
	var drift []v1alpha1.DriftEntry
	plans := map[string]grants.Plan{}
	for _, uid := range sortedKeys(current) {
		p := grants.PlanUser(grants.Input{
			Desired: s.desired, Observed: observed[uid], Applied: applied[uid], External: external[uid],
			HeldByOthers: others.held[uid], AppliedByOthers: others.applied[uid], ReportOnly: reportOnly,
		})
		plans[uid] = p
		for _, g := range p.Drifted {
			drift = append(drift, driftEntry(uid, g, st.Drift))
		}
		var perms []auth0.Permission
		for _, g := range p.Add {
			if id, ok := strings.CutPrefix(g, rolePrefix); ok {
				addRole[id] = append(addRole[id], uid)
			} else {
				perms = append(perms, toPermission(g))
			}
		}
		if len(perms) > 0 {
			if err := s.auth0.AssignUserPermissions(ctx, uid, perms); err != nil {
				return fmt.Errorf("cannot grant permissions to %s: %w", uid, err)
			}
		}
		if err := revoke(ctx, s.auth0, uid, p.Remove); err != nil {
			return err
		}
	}
	for _, roleID := range sortedKeys(addRole) {
		if err := s.auth0.AssignRoleToUsers(ctx, roleID, addRole[roleID]); err != nil {
			return r.roleGone(s, fmt.Errorf("cannot assign role %s: %w", roleID, err))
		}
	}
	// Subjects that left the spec give up what they alone held (external grants stay).
	for _, uid := range sortedKeys(applied) {
		if !current[uid] {
			if err := revoke(ctx, s.auth0, uid, grants.Release(applied[uid], others.held[uid])); err != nil {
				return err
			}
		}
	}
	r.recordBindingStatus(s, plans, drift)
	return nil
}

// errRoleGone is a wanted role that Auth0 no longer has: deleted after its name was resolved.
type errRoleGone struct {
	roleID string
	err    error
}

func (e *errRoleGone) Error() string {
	return fmt.Sprintf("role %s was deleted in Auth0, resolving roles again: %v", e.roleID, e.err)
}

// roleGone handles a role deleted in Auth0 after its name was resolved: the cached roles are
// dropped. Seen while observing, the pass is retried (a transient error, not an Auth0 one),
// which then reports the role as unresolved and applies the rest. Other errors pass through.
func (r *Auth0RoleBindingReconciler) roleGone(s *bindingScope, err error) error {
	var gone *errRoleGone
	if errors.As(err, &gone) {
		r.roles.forget(s.auth0)
		return errors.New(gone.Error())
	}
	if auth0.IsNotFound(err) {
		r.roles.forget(s.auth0)
	}
	return err
}

// observation is when a binding last read its grants from Auth0, and for which generation.
type observation struct {
	at         time.Time
	generation int64
}

// observeGrants reads what Auth0 holds of the grants that matter (desired, applied before or
// found external): role membership with one paged call per role, which covers every subject at
// once, and direct permissions per user only when the binding deals in permissions.
func observeGrants(ctx context.Context, c auth0.Client, desired grants.Set, applied, external map[string]grants.Set, users map[string]bool) (map[string]grants.Set, error) {
	relevant := union(desired)
	for _, sets := range []map[string]grants.Set{applied, external} {
		for _, set := range sets {
			for g := range set {
				relevant[g] = true
			}
		}
	}
	observed := map[string]grants.Set{}
	for uid := range users {
		observed[uid] = grants.Set{}
	}
	wantPerms := false
	for _, g := range relevant.Sorted() {
		roleID, isRole := strings.CutPrefix(g, rolePrefix)
		if !isRole {
			wantPerms = true
			continue
		}
		members, err := c.RoleUserIDs(ctx, roleID)
		if auth0.IsNotFound(err) {
			if !desired[g] {
				// A role this binding applied and no longer wants was deleted in Auth0:
				// nobody holds it, nothing to revoke.
				continue
			}
			return nil, &errRoleGone{roleID: roleID, err: err}
		}
		if err != nil {
			return nil, fmt.Errorf("cannot list the users of role %s: %w", roleID, err)
		}
		for _, uid := range members {
			if users[uid] {
				observed[uid][g] = true
			}
		}
	}
	if wantPerms {
		for _, uid := range sortedKeys(users) {
			if err := readPermissions(ctx, c, uid, observed[uid]); err != nil {
				return nil, err
			}
		}
	}
	return observed, nil
}

// readPermissions adds the permissions granted directly to a user to held.
func readPermissions(ctx context.Context, c auth0.Client, uid string, held grants.Set) error {
	perms, err := c.UserPermissions(ctx, uid)
	if err != nil {
		return fmt.Errorf("cannot list the permissions of %s: %w", uid, err)
	}
	for _, p := range perms {
		held[permGrant(p.ResourceServerIdentifier, p.Name)] = true
	}
	return nil
}

// grantsPermissions reports whether a set holds any permission (not only roles).
func grantsPermissions(set grants.Set) bool {
	for g := range set {
		if strings.HasPrefix(g, permPrefix) {
			return true
		}
	}
	return false
}

// readingUsersIsCheaper compares, in calls, reading the grants of the fresh subjects one user at
// a time (their roles, and their permissions if the binding grants any) with observing every
// subject (a page of 100 members per role, and the permissions of every subject).
func readingUsersIsCheaper(fresh, subjects int, desired grants.Set) bool {
	perUser, everyone := 1, 0
	for g := range desired {
		if strings.HasPrefix(g, rolePrefix) {
			everyone += 1 + subjects/100
		} else if perUser == 1 {
			perUser, everyone = 2, everyone+subjects
		}
	}
	return fresh*perUser <= everyone
}

// observeSubjects reads the roles and permissions of a few users directly: cheaper than listing
// the members of every role when only some subjects are new.
func observeSubjects(ctx context.Context, c auth0.Client, desired grants.Set, uids []string, observed map[string]grants.Set) error {
	wantPerms := grantsPermissions(desired)
	for _, uid := range uids {
		held := grants.Set{}
		roles, err := c.UserRoles(ctx, uid)
		if err != nil {
			return fmt.Errorf("cannot list the roles of %s: %w", uid, err)
		}
		for _, ro := range roles {
			held[rolePrefix+ro.ID] = true
		}
		if wantPerms {
			if err := readPermissions(ctx, c, uid, held); err != nil {
				return err
			}
		}
		observed[uid] = held
	}
	return nil
}

// othersGrants is what the other live bindings of the same tenant hold, per Auth0 user id.
type othersGrants struct {
	// held: applied, found external, or wanted by their spec. Never revoked by this binding.
	held map[string]grants.Set
	// applied: what their status says they applied.
	applied map[string]grants.Set
}

func (o othersGrants) add(m map[string]grants.Set, uid, g string) {
	if m[uid] == nil {
		m[uid] = grants.Set{}
	}
	m[uid][g] = true
}

// grantsOfOthers collects, per user id, what every other live binding (any namespace, not being
// deleted) of the same tenant domain holds, from its status and its spec: those grants must
// survive this binding letting go of them. A binding whose spec was just written and not yet
// reconciled still protects the grants it wants.
func (r *Auth0RoleBindingReconciler) grantsOfOthers(ctx context.Context, self *v1alpha1.Auth0RoleBinding, c auth0.Client) (othersGrants, error) {
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
		resolved := map[string]string{} // subject key -> user id
		for _, sub := range b.Status.Subjects {
			if sub.UserID == "" {
				continue
			}
			resolved[sub.Subject] = sub.UserID
			for g := range toSet(sub.Roles, sub.Permissions) {
				out.add(out.held, sub.UserID, g)
				out.add(out.applied, sub.UserID, g)
			}
			for g := range toSet(sub.ExternalRoles, sub.ExternalPermissions) {
				out.add(out.held, sub.UserID, g)
			}
		}
		wanted := r.roles.specGrants(c, b.Spec)
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
func (r *Auth0RoleBindingReconciler) sameTenant(ctx context.Context, self *v1alpha1.Auth0RoleBinding) func(*v1alpha1.Auth0RoleBinding) bool {
	mine := tenantKey(self.Namespace, self.Spec.TenantRef)
	myDomain := sync.OnceValues(func() (string, error) {
		return r.domains.domainOf(ctx, r.Tenants, self.Namespace, self.Spec.TenantRef)
	})
	return func(b *v1alpha1.Auth0RoleBinding) bool {
		if tenantKey(b.Namespace, b.Spec.TenantRef) == mine {
			return true
		}
		myDomain, err := myDomain()
		if err != nil {
			return true
		}
		domain, err := r.domains.domainOf(ctx, r.Tenants, b.Namespace, b.Spec.TenantRef)
		return err != nil || domain == myDomain
	}
}

// reconcileBindingDelete revokes what the binding alone granted, then lets it go.
func (r *Auth0RoleBindingReconciler) reconcileBindingDelete(ctx context.Context, obj *v1alpha1.Auth0RoleBinding) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return ctrl.Result{}, nil
	}
	if err := r.releaseBinding(ctx, obj); err != nil {
		reason, message, terminal := classify(err)
		if !terminal {
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, reason, "Delete", "grants left in place: %s", message)
	}
	return ctrl.Result{}, releaseFinalizer(ctx, r.Client, obj)
}

func (r *Auth0RoleBindingReconciler) releaseBinding(ctx context.Context, obj *v1alpha1.Auth0RoleBinding) error {
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
		if err := revoke(ctx, c, sub.UserID, grants.Release(toSet(sub.Roles, sub.Permissions), others.held[sub.UserID])); err != nil {
			return err
		}
		// Recorded as released, so a retry after a later failure does not redo it.
		sub.Roles, sub.Permissions = nil, nil
	}
	return nil
}

// revoke removes grants from one user: roles in one call, permissions in another.
func revoke(ctx context.Context, c auth0.Client, uid string, gs []string) error {
	var roles []string
	var perms []auth0.Permission
	for _, g := range gs {
		if id, ok := strings.CutPrefix(g, rolePrefix); ok {
			roles = append(roles, id)
		} else {
			perms = append(perms, toPermission(g))
		}
	}
	if len(roles) > 0 {
		if err := c.RemoveUserRoles(ctx, uid, roles); err != nil && !auth0.IsNotFound(err) {
			return fmt.Errorf("cannot remove roles from %s: %w", uid, err)
		}
	}
	if len(perms) > 0 {
		if err := c.RemoveUserPermissions(ctx, uid, perms); err != nil && !auth0.IsNotFound(err) {
			return fmt.Errorf("cannot remove permissions from %s: %w", uid, err)
		}
	}
	return nil
}

// roleMissRefresh is how often one unknown role may refresh the role list: many bindings
// naming the same missing role (a typo templated into every namespace) cost one list per
// interval, not one each per resync. A role never looked for before refreshes at once.
const roleMissRefresh = 10 * time.Second

// roleCache resolves role names to ids per tenant client, and remembers resource servers'
// scopes; a miss refreshes once, so a new role or scope is found without a restart.
type roleCache struct {
	refresh sync.Mutex // held while the roles are listed
	mu      sync.Mutex
	byName  map[auth0.Client]map[string]string
	ids     map[auth0.Client]map[string]bool
	scopes  map[auth0.Client]map[string]map[string]bool
	// missed is when a refresh last failed to find a role reference, per client.
	missed map[auth0.Client]map[v1alpha1.RoleReference]time.Time
}

func newRoleCache() *roleCache {
	return &roleCache{
		byName: map[auth0.Client]map[string]string{}, ids: map[auth0.Client]map[string]bool{},
		scopes: map[auth0.Client]map[string]map[string]bool{}, missed: map[auth0.Client]map[v1alpha1.RoleReference]time.Time{},
	}
}

// forget drops the roles known for a client, after Auth0 said one of them is gone.
func (c *roleCache) forget(client auth0.Client) {
	c.mu.Lock()
	delete(c.byName, client)
	delete(c.ids, client)
	delete(c.missed, client)
	c.mu.Unlock()
}

func (c *roleCache) resolve(ctx context.Context, client auth0.Client, ref v1alpha1.RoleReference) (string, error) {
	lookup := func() string {
		if ref.ID != "" {
			if c.ids[client][ref.ID] {
				return ref.ID
			}
			return ""
		}
		return c.byName[client][ref.Name]
	}
	c.mu.Lock()
	id := lookup()
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	// One refresh at a time: bindings reconciled together wait for it instead of each listing
	// the roles again.
	c.refresh.Lock()
	defer c.refresh.Unlock()
	c.mu.Lock()
	id = lookup()
	recentMiss := time.Since(c.missed[client][ref]) < roleMissRefresh
	c.mu.Unlock()
	if id != "" || recentMiss {
		return id, nil
	}
	roles, err := client.ListRoles(ctx)
	if err != nil {
		return "", fmt.Errorf("cannot list roles: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byName[client], c.ids[client] = map[string]string{}, map[string]bool{}
	for _, ro := range roles {
		c.byName[client][ro.Name] = ro.ID
		c.ids[client][ro.ID] = true
	}
	if id = lookup(); id == "" {
		if c.missed[client] == nil {
			c.missed[client] = map[v1alpha1.RoleReference]time.Time{}
		}
		c.missed[client][ref] = time.Now()
	}
	return id, nil
}

func (c *roleCache) permissionExists(ctx context.Context, client auth0.Client, api, name string) (bool, error) {
	c.mu.Lock()
	known := c.scopes[client][api][name]
	c.mu.Unlock()
	if known {
		return true, nil
	}
	rs, err := client.GetResourceServer(ctx, api)
	if auth0.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot get resource server %s: %w", api, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.scopes[client] == nil {
		c.scopes[client] = map[string]map[string]bool{}
	}
	c.scopes[client][api] = map[string]bool{}
	for _, sc := range rs.Scopes {
		c.scopes[client][api][sc] = true
	}
	return c.scopes[client][api][name], nil
}

// names returns a role reference's name and id as far as the cache knows them (after resolve).
func (c *roleCache) names(client auth0.Client, ref v1alpha1.RoleReference) (name, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ref.Name != "" {
		return ref.Name, c.byName[client][ref.Name]
	}
	for n, i := range c.byName[client] {
		if i == ref.ID {
			return n, ref.ID
		}
	}
	return "", ref.ID
}

// specGrants are the grants a binding's spec asks for, as far as the cache knows them without
// a call: role names it has not seen are left out (that binding resolves them itself).
func (c *roleCache) specGrants(client auth0.Client, spec v1alpha1.Auth0RoleBindingSpec) grants.Set {
	out := grants.Set{}
	c.mu.Lock()
	for _, ref := range spec.Roles {
		switch {
		case ref.ID != "":
			out[rolePrefix+ref.ID] = true
		case c.byName[client][ref.Name] != "":
			out[rolePrefix+c.byName[client][ref.Name]] = true
		}
	}
	c.mu.Unlock()
	for _, p := range spec.Permissions {
		out[permGrant(p.ResourceServerIdentifier, p.Name)] = true
	}
	return out
}

// domainTTL bounds how long a tenant Secret's domain is trusted when the metadata cache cannot
// tell the Secret's version (a namespace a namespaced install does not watch): a Secret repointed
// at another tenant is noticed by composition within it.
const domainTTL = 5 * time.Minute

// domainCache remembers the domain each tenant Secret names, so that comparing bindings'
// tenants reads a Secret again only when it changed (Secrets are not in the manager's cache).
type domainCache struct {
	mu      sync.Mutex
	entries map[string]domainEntry
}

type domainEntry struct {
	domain  string
	version string // of the Secret the domain was read from
	at      time.Time
}

func (d *domainCache) domainOf(ctx context.Context, t *TenantResolver, ns string, ref *v1alpha1.TenantReference) (string, error) {
	key := t.Default
	if ref != nil {
		key = types.NamespacedName{Namespace: ns, Name: ref.SecretName}
	}
	if key.Name == "" {
		return "", fmt.Errorf("no default tenant")
	}
	version := t.secretVersion(ctx, key)
	d.mu.Lock()
	e, ok := d.entries[key.String()]
	d.mu.Unlock()
	if ok && (version != "" && e.version == version || version == "" && time.Since(e.at) < domainTTL) {
		return e.domain, nil
	}
	var secret corev1.Secret
	if err := t.Reader.Get(ctx, key, &secret); err != nil {
		return "", fmt.Errorf("cannot get tenant Secret %s: %w", key, err)
	}
	domain := strings.ToLower(strings.TrimSpace(string(secret.Data[TenantKeyDomain])))
	domain = strings.TrimPrefix(strings.TrimPrefix(domain, "https://"), "http://")
	domain = strings.TrimSuffix(domain, "/")
	d.mu.Lock()
	if d.entries == nil {
		d.entries = map[string]domainEntry{}
	}
	d.entries[key.String()] = domainEntry{domain: domain, version: versionOf(&secret), at: time.Now()}
	d.mu.Unlock()
	return domain, nil
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

func tenantKey(ns string, ref *v1alpha1.TenantReference) string {
	if ref == nil {
		return "default"
	}
	return ns + "/" + ref.SecretName
}

func toSet(roles, perms []string) grants.Set {
	s := grants.Set{}
	for _, r := range roles {
		s[rolePrefix+r] = true
	}
	for _, p := range perms {
		s[permPrefix+p] = true
	}
	return s
}

// permGrant is the grant of one permission (an API's scope), in internal/grants' string space.
func permGrant(api, name string) string { return permPrefix + api + " " + name }

func toPermission(g string) auth0.Permission {
	api, name, _ := strings.Cut(strings.TrimPrefix(g, permPrefix), " ")
	return auth0.Permission{ResourceServerIdentifier: api, Name: name}
}

func union(sets ...grants.Set) grants.Set {
	out := grants.Set{}
	for _, s := range sets {
		for g := range s {
			out[g] = true
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func driftEntry(uid, g string, previous []v1alpha1.DriftEntry) v1alpha1.DriftEntry {
	field := fmt.Sprintf("subjects[%s].", uid)
	if id, ok := strings.CutPrefix(g, rolePrefix); ok {
		field += "roles." + id
	} else {
		field += "permissions." + strings.TrimPrefix(g, permPrefix)
	}
	e := v1alpha1.DriftEntry{Field: field, Desired: "granted", Observed: "absent", DetectedAt: metav1.Now()}
	for _, p := range previous {
		if p.Field == field {
			e.DetectedAt = p.DetectedAt
		}
	}
	return e
}
