package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// Seed is initial tenant content, loadable from YAML or JSON.
type Seed struct {
	Connections     []Connection         `json:"connections,omitempty"`
	Roles           []SeedRole           `json:"roles,omitempty"`
	ResourceServers []SeedResourceServer `json:"resourceServers,omitempty"`
	Users           []SeedUser           `json:"users,omitempty"`
}

// SeedRole is a role with permissions, each "<api identifier> <scope>".
type SeedRole struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
}

// SeedResourceServer is an API with its scopes.
type SeedResourceServer struct {
	Name       string   `json:"name"`
	Identifier string   `json:"identifier"`
	Scopes     []string `json:"scopes"`
}

// SeedUser is a user; Connection defaults to Username-Password-Authentication.
type SeedUser struct {
	Email        string         `json:"email"`
	Connection   string         `json:"connection,omitempty"`
	Name         string         `json:"name,omitempty"`
	Password     string         `json:"password,omitempty"`
	UserMetadata map[string]any `json:"userMetadata,omitempty"`
	AppMetadata  map[string]any `json:"appMetadata,omitempty"`
	Roles        []string       `json:"roles,omitempty"`
}

// LoadSeed reads a seed file (YAML or JSON).
func LoadSeed(path string) (Seed, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, err
	}
	var s Seed
	if err := yaml.UnmarshalStrict(raw, &s); err != nil {
		return Seed{}, fmt.Errorf("cannot parse seed %s: %w", path, err)
	}
	return s, nil
}

// Seed adds connections, resource servers, roles and users to the tenant, in that order.
func (e *Emulator) Seed(s Seed) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range s.Connections {
		e.st.connections[c.Name] = c
	}
	for _, rs := range s.ResourceServers {
		if e.apiByIdentifier(rs.Identifier) != nil {
			return fmt.Errorf("resource server %s exists", rs.Identifier)
		}
		api := &resourceServer{ID: randomHex(12), Name: rs.Name, Identifier: rs.Identifier, SigningAlg: "RS256", TokenLife: 86400, Settings: resourceServerDefaults()}
		for _, sc := range rs.Scopes {
			api.Scopes = append(api.Scopes, scope{Value: sc})
		}
		e.st.apis[api.ID] = api
	}
	for _, sr := range s.Roles {
		ro := &role{ID: "rol_" + randomAlnum(16), Name: sr.Name, Description: sr.Description}
		for _, p := range sr.Permissions {
			api, name, ok := strings.Cut(p, " ")
			if !ok || e.apiByIdentifier(api) == nil {
				return fmt.Errorf("role %s: permission %q must be \"<api identifier> <scope>\" of a seeded API", sr.Name, p)
			}
			ro.permissions = append(ro.permissions, permissionRef{ResourceServerIdentifier: api, PermissionName: name})
		}
		e.st.roles[ro.ID] = ro
	}
	for _, su := range s.Users {
		if _, err := e.createUserLocked(su); err != nil {
			return err
		}
	}
	return nil
}

// createUserLocked adds a user without going through HTTP (seeds and tests).
func (e *Emulator) createUserLocked(su SeedUser) (string, error) {
	conn := su.Connection
	if conn == "" {
		conn = "Username-Password-Authentication"
	}
	if _, ok := e.st.connections[conn]; !ok {
		return "", fmt.Errorf("user %s: connection %s does not exist", su.Email, conn)
	}
	for _, id := range e.st.byEmail[strings.ToLower(su.Email)] {
		if e.st.users[id].Connection == conn {
			return "", fmt.Errorf("user %s exists in %s", su.Email, conn)
		}
	}
	raw := randomHex(12)
	provider, prefix := "auth0", "auth0|"
	if c := e.st.connections[conn]; !c.isDatabase() {
		provider, prefix = c.Strategy, c.Strategy+"|"
	}
	now := e.cfg.Now()
	u := &user{
		UserID: prefix + raw, Connection: conn, Email: strings.ToLower(su.Email), Name: su.Name,
		Password: su.Password, UserMetadata: cloneMap(su.UserMetadata), AppMetadata: cloneMap(su.AppMetadata),
		Identities: []identity{{Connection: conn, UserID: raw, Provider: provider, IsSocial: provider != "auth0"}},
		CreatedAt:  timestamp(now), UpdatedAt: timestamp(now),
	}
	if u.Name == "" {
		u.Name = u.Email
	}
	u.Nickname, _, _ = strings.Cut(u.Email, "@")
	e.st.users[u.UserID] = u
	e.st.indexEmail(u)
	e.st.recordForSearch(u.UserID, u, now, 0)
	for _, name := range su.Roles {
		ro := e.roleByName(name)
		if ro == nil {
			return "", fmt.Errorf("user %s: role %s does not exist", su.Email, name)
		}
		e.grantRole(u.UserID, ro.ID)
	}
	return u.UserID, nil
}

func (e *Emulator) roleByName(name string) *role {
	for _, ro := range e.st.roles {
		if ro.Name == name {
			return ro
		}
	}
	return nil
}

// --- In-process access for tests: acts as an administrator or application would, without
// HTTP and without counting as API calls.

// ErrNotFound is returned by the in-process accessors for a missing object.
var ErrNotFound = errors.New("not found")

// CreateUser adds a user directly and returns its id.
func (e *Emulator) CreateUser(su SeedUser) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.createUserLocked(su)
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

// UsersByEmail returns the users with an email, as the API would.
func (e *Emulator) UsersByEmail(email string) []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []map[string]any
	for _, id := range e.st.byEmail[strings.ToLower(email)] {
		out = append(out, e.st.users[id].view(nil, true))
	}
	return out
}

// UserCount is the number of users in the tenant.
func (e *Emulator) UserCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.st.users)
}

// PatchUser applies a PATCH body (Auth0's semantics, metadata merge and null deletion) directly.
func (e *Emulator) PatchUser(id string, patch map[string]any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.st.users[id]
	if !ok {
		return ErrNotFound
	}
	raw, _ := json.Marshal(patch)
	var b userBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return err
	}
	um, msg := parseMetadata("user_metadata", b.UserMetadata, false)
	am, msg2 := parseMetadata("app_metadata", b.AppMetadata, false)
	if msg != "" || msg2 != "" {
		return errors.New(msg + msg2)
	}
	if b.Email != nil {
		e.st.unindexEmail(u)
		u.Email = strings.ToLower(*b.Email)
		e.st.indexEmail(u)
	}
	for dst, v := range map[*string]*string{&u.Name: b.Name, &u.Nickname: b.Nickname, &u.GivenName: b.GivenName, &u.FamilyName: b.FamilyName, &u.Username: b.Username, &u.Picture: b.Picture, &u.PhoneNumber: b.PhoneNumber} {
		setString(dst, v)
	}
	if b.Blocked != nil {
		u.Blocked = b.Blocked
	}
	if b.EmailVerified != nil {
		u.EmailVerified = *b.EmailVerified
	}
	if b.Password != nil {
		u.Password = *b.Password
		u.PasswordChanges++
	}
	u.UserMetadata = MergeMetadata(u.UserMetadata, um)
	u.AppMetadata = MergeMetadata(u.AppMetadata, am)
	e.st.recordForSearch(id, u, e.cfg.Now(), e.cfg.SearchIndexLag)
	return nil
}

// DeleteUser removes a user directly.
func (e *Emulator) DeleteUser(id string) {
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
	sortStrings(out)
	return out
}

// GrantRole grants a role to a user directly (a grant made outside the operator).
func (e *Emulator) GrantRole(userID, roleID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.grantRole(userID, roleID)
}

// RevokeRole removes a role from a user directly (out-of-band drift).
func (e *Emulator) RevokeRole(userID, roleID string) {
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
	sortStrings(out)
	return out
}

// GrantPermission grants a permission directly (outside the operator).
func (e *Emulator) GrantPermission(userID, api, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st.userPerms[userID] == nil {
		e.st.userPerms[userID] = map[permissionRef]bool{}
	}
	e.st.userPerms[userID][permissionRef{ResourceServerIdentifier: api, PermissionName: name}] = true
}

// RevokePermission removes a direct permission (out-of-band drift).
func (e *Emulator) RevokePermission(userID, api, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.st.userPerms[userID], permissionRef{ResourceServerIdentifier: api, PermissionName: name})
}
