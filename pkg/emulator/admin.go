package emulator

import (
	"encoding/json"
	"errors"
	"sort"
)

// In-process access to the tenant, for tests: it acts as an administrator or an application
// would, out of band, without HTTP and without counting as API calls.

// ErrNotFound is returned by the in-process accessors for a missing object.
var ErrNotFound = errors.New("not found")

// CreateUser adds a user directly and returns its id.
func (e *Emulator) CreateUser(su SeedUser) (string, error) {
	defer e.changed()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.createUserLocked(su)
}

// Users returns every user as the API would render them, sorted by user id: a snapshot of the
// tenant for assertions.
func (e *Emulator) Users() []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, 0, len(e.st.users))
	for id := range e.st.users {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		out = append(out, e.st.users[id].view(nil, true))
	}
	return out
}

// User returns a user as the API would (a JSON object), or nil when it does not exist.
func (e *Emulator) User(id string) map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.st.users[id]
	if !ok {
		return nil
	}
	return u.view(nil, true)
}

// UsersByEmail returns the users with an email, as GET /api/v2/users-by-email would: an exact,
// case-sensitive match against the stored emails, which are lower-cased for database users.
func (e *Emulator) UsersByEmail(email string) []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []map[string]any
	for _, id := range e.st.emailIDs(email) {
		out = append(out, e.st.users[id].view(nil, true))
	}
	return out
}

// PatchUser applies a PATCH body directly, with Auth0's semantics (metadata merge, null
// deletion) and its metadata key checks, but none of the connection or password policy checks:
// it acts as an administrator simulating drift.
func (e *Emulator) PatchUser(id string, patch map[string]any) error {
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	var b userBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return err
	}
	um, msg := parseMetadata("user_metadata", b.UserMetadata, false)
	am, msg2 := parseMetadata("app_metadata", b.AppMetadata, false)
	if msg != "" || msg2 != "" {
		return errors.New(msg + msg2)
	}
	defer e.changed()
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.st.users[id]
	if !ok {
		return ErrNotFound
	}
	e.applyUserPatch(u, b, MergeMetadata(u.UserMetadata, um), MergeMetadata(u.AppMetadata, am))
	return nil
}

// DeleteUser removes a user directly.
func (e *Emulator) DeleteUser(id string) {
	defer e.changed()
	e.mu.Lock()
	defer e.mu.Unlock()
	if u, ok := e.st.users[id]; ok {
		e.st.unindexEmail(u)
		delete(e.st.users, id)
		delete(e.st.userRoles, id)
		delete(e.st.userPerms, id)
		e.st.recordForSearch(id, nil, e.cfg.Now(), 0)
	}
}

// PasswordIs reports whether the user's current password is pw.
func (e *Emulator) PasswordIs(id, pw string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.st.users[id]
	return ok && u.Password == pw
}

// PasswordChanges is how many times the user's password has been set (creation included).
func (e *Emulator) PasswordChanges(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if u, ok := e.st.users[id]; ok {
		return u.PasswordChanges
	}
	return 0
}

// RoleID returns the id of the role with a name, or "".
func (e *Emulator) RoleID(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ro := e.roleByName(name); ro != nil {
		return ro.ID
	}
	return ""
}

// UserRoleIDs returns the ids of the roles granted to a user, sorted.
func (e *Emulator) UserRoleIDs(id string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for rid := range e.st.userRoles[id] {
		out = append(out, rid)
	}
	sort.Strings(out)
	return out
}

// GrantRole grants a role to a user directly (a grant made outside the operator).
func (e *Emulator) GrantRole(userID, roleID string) {
	defer e.changed()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.grantRole(userID, roleID)
}

// RevokeRole removes a role from a user directly (out-of-band drift).
func (e *Emulator) RevokeRole(userID, roleID string) {
	defer e.changed()
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.st.userRoles[userID], roleID)
}

// UserPermissions returns a user's direct permissions as "<api identifier> <scope>", sorted.
func (e *Emulator) UserPermissions(id string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for p := range e.st.userPerms[id] {
		out = append(out, p.ResourceServerIdentifier+" "+p.PermissionName)
	}
	sort.Strings(out)
	return out
}

// GrantPermission grants a permission directly (outside the operator).
func (e *Emulator) GrantPermission(userID, api, name string) {
	defer e.changed()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st.userPerms[userID] == nil {
		e.st.userPerms[userID] = map[permissionRef]bool{}
	}
	e.st.userPerms[userID][permissionRef{ResourceServerIdentifier: api, PermissionName: name}] = true
}

// RevokePermission removes a direct permission (out-of-band drift).
func (e *Emulator) RevokePermission(userID, api, name string) {
	defer e.changed()
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.st.userPerms[userID], permissionRef{ResourceServerIdentifier: api, PermissionName: name})
}
