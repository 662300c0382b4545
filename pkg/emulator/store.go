package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"sort"
	"strings"
	"time"
)

// user is a stored Auth0 user. Fields mirror the Management API's JSON; the password is kept
// only to let tests check which password was last set, and is never returned.
type user struct {
	UserID        string         `json:"user_id"`
	Connection    string         `json:"-"`
	Email         string         `json:"email,omitempty"`
	EmailVerified bool           `json:"email_verified"`
	Username      string         `json:"username,omitempty"`
	PhoneNumber   string         `json:"phone_number,omitempty"`
	Name          string         `json:"name,omitempty"`
	GivenName     string         `json:"given_name,omitempty"`
	FamilyName    string         `json:"family_name,omitempty"`
	Nickname      string         `json:"nickname,omitempty"`
	Picture       string         `json:"picture,omitempty"`
	Blocked       *bool          `json:"blocked,omitempty"`
	UserMetadata  map[string]any `json:"user_metadata,omitempty"`
	AppMetadata   map[string]any `json:"app_metadata,omitempty"`
	Identities    []identity     `json:"identities"`
	CreatedAt     string         `json:"created_at"`
	UpdatedAt     string         `json:"updated_at"`
	// LastPasswordReset is set when a PATCH changes the password.
	LastPasswordReset string `json:"last_password_reset,omitempty"`
	Password          string `json:"-"`
	// PasswordChanges counts the times a password was set, for tests.
	PasswordChanges int `json:"-"`
}

type identity struct {
	Connection string `json:"connection"`
	UserID     string `json:"user_id"`
	Provider   string `json:"provider"`
	IsSocial   bool   `json:"isSocial"`
}

// Connection is a tenant connection. Strategy "auth0" is a database connection; others
// (e.g. "google-oauth2", "samlp") are social or enterprise and refuse profile changes.
type Connection struct {
	Name     string `json:"name"`
	Strategy string `json:"strategy"`
	// SetUserRootAttributes is the connection option of that name: "on_each_login" (Auth0's
	// default: the identity provider owns name, nickname, given_name, family_name and picture,
	// and the Management API refuses to change them) or "on_first_login" (they may be changed).
	SetUserRootAttributes string `json:"set_user_root_attributes,omitempty"`
}

func (c Connection) isDatabase() bool { return c.Strategy == "" || c.Strategy == "auth0" }

type role struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	permissions []permissionRef
}

type permissionRef struct {
	ResourceServerIdentifier string `json:"resource_server_identifier"`
	PermissionName           string `json:"permission_name"`
}

type scope struct {
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
}

type resourceServer struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Identifier string  `json:"identifier"`
	Scopes     []scope `json:"scopes"`
	SigningAlg string  `json:"signing_alg"`
	TokenLife  int     `json:"token_lifetime"`
	// Settings holds every other field: Auth0's defaults, overridden by what clients sent.
	Settings map[string]any `json:"settings,omitempty"`
}

// resourceServerDefaults are the settings Auth0 returns for an API created without them.
func resourceServerDefaults() map[string]any {
	return map[string]any{
		"allow_offline_access": false, "token_lifetime_for_web": 7200.0,
		"skip_consent_for_verifiable_first_party_clients": true, "enforce_policies": false,
		"token_dialect": "access_token",
	}
}

// view renders the API as the Management API returns it.
func (rs *resourceServer) view() map[string]any {
	out := map[string]any{}
	for k, v := range rs.Settings {
		out[k] = v
	}
	out["id"], out["name"], out["identifier"], out["signing_alg"], out["token_lifetime"] = rs.ID, rs.Name, rs.Identifier, rs.SigningAlg, rs.TokenLife
	scopes := make([]any, 0, len(rs.Scopes))
	for _, s := range rs.Scopes {
		m := map[string]any{"value": s.Value}
		if s.Description != "" {
			m["description"] = s.Description
		}
		scopes = append(scopes, m)
	}
	out["scopes"] = scopes
	return out
}

// state is everything the tenant holds. It is guarded by Emulator.mu.
type state struct {
	users map[string]*user
	// byEmail maps a lower-cased email to the ids of the users whose stored email lower-cases to
	// it. It is a case-folding index: users-by-email, which Auth0 documents as case-sensitive,
	// keeps only the exact matches (see emailIDs); duplicate checks and search use it as is.
	byEmail     map[string][]string
	connections map[string]Connection
	roles       map[string]*role
	apis        map[string]*resourceServer // by id
	// userRoles and userPerms hold direct grants: user id -> role ids / permissions.
	userRoles map[string]map[string]bool
	userPerms map[string]map[permissionRef]bool
	// searchView is what the lagging search index shows: user id -> (snapshot, visible from).
	searchView map[string][]indexed
	// indexVersion counts search index writes; searchCache holds the sorted visible users for
	// one version until the next pending snapshot becomes visible.
	indexVersion int64
	searchCache  searchCache
}

type searchCache struct {
	version    int64
	validUntil time.Time
	users      []*user
}

type indexed struct {
	user    *user // nil: deleted
	visible time.Time
}

func newState() *state {
	return &state{
		users:       map[string]*user{},
		byEmail:     map[string][]string{},
		connections: map[string]Connection{},
		roles:       map[string]*role{},
		apis:        map[string]*resourceServer{},
		userRoles:   map[string]map[string]bool{},
		userPerms:   map[string]map[permissionRef]bool{},
		searchView:  map[string][]indexed{},
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomAlnum(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// storedEmail is an email as Auth0 stores it for a user of a connection. When Auth0 is the
// identity provider (a database connection) it keeps the email lower-cased, whatever case it was
// given ("JohnSmith@example.com" is saved as "johnsmith@example.com"); a social or enterprise
// connection keeps the email as its identity provider gave it.
func (s *state) storedEmail(connection, email string) string {
	if s.connections[connection].isDatabase() {
		return strings.ToLower(email)
	}
	return email
}

// emailIDs returns the ids of the users whose stored email is exactly email. This is Auth0's
// users-by-email: "Email address to search for (case-sensitive)", so a client that looks up a
// database user with the case its caller typed, rather than lower-cased, finds nobody.
func (s *state) emailIDs(email string) []string {
	var out []string
	for _, id := range s.byEmail[strings.ToLower(email)] {
		if s.users[id].Email == email {
			out = append(out, id)
		}
	}
	return out
}

// emailTaken reports whether another user of the connection than except already has the email.
// In a database connection emails are compared without case: Auth0 stores them lower-cased, so
// Alice@example.com and alice@example.com are the same user there. Elsewhere they must match.
func (s *state) emailTaken(connection, email, except string) bool {
	database := s.connections[connection].isDatabase()
	for _, id := range s.byEmail[strings.ToLower(email)] {
		u := s.users[id]
		if id != except && u.Connection == connection && (database || u.Email == email) {
			return true
		}
	}
	return false
}

func (s *state) indexEmail(u *user) {
	if u.Email == "" {
		return
	}
	k := strings.ToLower(u.Email)
	s.byEmail[k] = append(s.byEmail[k], u.UserID)
}

func (s *state) unindexEmail(u *user) {
	k := strings.ToLower(u.Email)
	ids := s.byEmail[k]
	for i, id := range ids {
		if id == u.UserID {
			s.byEmail[k] = append(ids[:i:i], ids[i+1:]...)
			break
		}
	}
	if len(s.byEmail[k]) == 0 {
		delete(s.byEmail, k)
	}
}

// recordForSearch publishes a user's new state to the search index after lag.
func (s *state) recordForSearch(id string, u *user, now time.Time, lag time.Duration) {
	var snap *user
	if u != nil {
		snap = u.clone()
	}
	views := s.searchView[id]
	// Drop snapshots already superseded by one that is visible.
	for len(views) > 1 && !views[1].visible.After(now) {
		views = views[1:]
	}
	s.searchView[id] = append(views, indexed{user: snap, visible: now.Add(lag)})
	s.indexVersion++
}

// searchable returns the users as the search index shows them at now, sorted by user id. The
// sorted list is cached until the index changes or a lagging snapshot becomes visible, so that
// searches over a large, quiet tenant do not sort it every time.
func (s *state) searchable(now time.Time) []*user {
	c := &s.searchCache
	if c.users != nil && c.version == s.indexVersion && now.Before(c.validUntil) {
		return c.users
	}
	out := make([]*user, 0, len(s.searchView))
	validUntil := now.Add(time.Hour)
	for _, views := range s.searchView {
		var visible *user
		for _, v := range views {
			if v.visible.After(now) {
				validUntil = minTime(validUntil, v.visible)
				break
			}
			visible = v.user
		}
		if visible != nil {
			out = append(out, visible)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	*c = searchCache{version: s.indexVersion, validUntil: validUntil, users: out}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (u *user) clone() *user {
	c := *u
	c.UserMetadata = cloneMap(u.UserMetadata)
	c.AppMetadata = cloneMap(u.AppMetadata)
	c.Identities = append([]identity(nil), u.Identities...)
	return &c
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return cloneMap(t)
	case []any:
		out := make([]any, len(t))
		for i := range t {
			out[i] = cloneValue(t[i])
		}
		return out
	default:
		return v
	}
}

// visible returns the user as the search index shows it at now, or nil.
func (s *state) visible(id string, now time.Time) *user {
	var out *user
	for _, v := range s.searchView[id] {
		if v.visible.After(now) {
			break
		}
		out = v.user
	}
	return out
}

// byEmailAll returns the ids of users the search index may show with this email: the current
// owners, plus, while writes lag, every user with a pending snapshot (it may have had the email).
func (s *state) byEmailAll(email string, lag time.Duration) []string {
	ids := append([]string(nil), s.byEmail[strings.ToLower(email)]...)
	if lag == 0 {
		return ids
	}
	for id, views := range s.searchView {
		if len(views) > 1 {
			ids = append(ids, id)
		}
	}
	return ids
}
