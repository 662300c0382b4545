package emulator

import (
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
	defer e.changed()
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
	if e.st.emailTaken(conn, su.Email, "") {
		return "", fmt.Errorf("user %s exists in %s", su.Email, conn)
	}
	raw := randomHex(12)
	provider, prefix := "auth0", "auth0|"
	if c := e.st.connections[conn]; !c.isDatabase() {
		provider, prefix = c.Strategy, c.Strategy+"|"
	}
	now := e.cfg.Now()
	u := &user{
		UserID: prefix + raw, Connection: conn, Email: e.st.storedEmail(conn, su.Email), Name: su.Name,
		Password: su.Password, UserMetadata: cloneMap(su.UserMetadata), AppMetadata: cloneMap(su.AppMetadata),
		Identities: []identity{{Connection: conn, UserID: raw, Provider: provider, IsSocial: provider != "auth0"}},
		CreatedAt:  timestamp(now), UpdatedAt: timestamp(now),
	}
	applyProfileDefaults(u)
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
