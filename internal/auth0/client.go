// Package auth0 is the only package that talks to Auth0. Controllers depend on the Client
// interface below; the implementation wraps the official go-auth0 SDK with a cached
// client-credentials token, one rate limiter per tenant and batched reads.
package auth0

import (
	"context"
	"time"

	"github.com/auth0/go-auth0/management"
)

// Tenant identifies an Auth0 tenant and the machine-to-machine credentials used to manage it.
// ClientSecret must never be logged, printed or stored outside the Secret it came from.
type Tenant struct {
	// Domain is the tenant's host, e.g. `example.eu.auth0.com`. An `http://` or `https://` prefix
	// is accepted (the emulator listens on plain HTTP in tests).
	Domain       string
	ClientID     string
	ClientSecret string
	// CACertPEM, when set, is the only CA trusted for the tenant's TLS (the emulator's own CA).
	CACertPEM []byte
}

// Profile is the part of an Auth0 user that is declared field by field: the fields an Auth0User
// spec sets one by one and that the operator manages only when the spec sets them. An empty
// string or a nil flag is no value: not declared, not sent, or not held by Auth0.
//
// A new field is added here, to ProfileFields and to the Auth0User spec (under the JSON name it
// has in ProfileFields); everything else walks ProfileFields.
type Profile struct {
	Email         string
	Username      string
	PhoneNumber   string
	Name          string
	GivenName     string
	FamilyName    string
	Nickname      string
	Picture       string
	EmailVerified *bool
	Blocked       *bool
}

// ProfileField is one field of Profile, for the code that walks them all: the drift comparison,
// the SDK requests and the mapping to and from the Auth0User spec. Exactly one of Text and Flag
// is set.
type ProfileField struct {
	// Name is the field's name in drift entries, which is also its JSON name in the Auth0User
	// spec.
	Name string
	// Text is the address of a string field.
	Text func(*Profile) *string
	// Flag is the address of a *bool field.
	Flag func(*Profile) **bool

	// sdkText and sdkFlag are the address of the field in the SDK's user.
	sdkText func(*management.User) **string
	sdkFlag func(*management.User) **bool
}

// ProfileFields lists every field of Profile, once.
var ProfileFields = []ProfileField{
	textField("email", func(p *Profile) *string { return &p.Email }, func(u *management.User) **string { return &u.Email }),
	textField("username", func(p *Profile) *string { return &p.Username }, func(u *management.User) **string { return &u.Username }),
	textField("phoneNumber", func(p *Profile) *string { return &p.PhoneNumber }, func(u *management.User) **string { return &u.PhoneNumber }),
	textField("name", func(p *Profile) *string { return &p.Name }, func(u *management.User) **string { return &u.Name }),
	textField("givenName", func(p *Profile) *string { return &p.GivenName }, func(u *management.User) **string { return &u.GivenName }),
	textField("familyName", func(p *Profile) *string { return &p.FamilyName }, func(u *management.User) **string { return &u.FamilyName }),
	textField("nickname", func(p *Profile) *string { return &p.Nickname }, func(u *management.User) **string { return &u.Nickname }),
	textField("picture", func(p *Profile) *string { return &p.Picture }, func(u *management.User) **string { return &u.Picture }),
	flagField("emailVerified", func(p *Profile) **bool { return &p.EmailVerified }, func(u *management.User) **bool { return &u.EmailVerified }),
	flagField("blocked", func(p *Profile) **bool { return &p.Blocked }, func(u *management.User) **bool { return &u.Blocked }),
}

func textField(name string, field func(*Profile) *string, sdk func(*management.User) **string) ProfileField {
	return ProfileField{Name: name, Text: field, sdkText: sdk}
}

func flagField(name string, field func(*Profile) **bool, sdk func(*management.User) **bool) ProfileField {
	return ProfileField{Name: name, Flag: field, sdkFlag: sdk}
}

// Addr is the address of the field in p: a *string or a **bool.
func (f ProfileField) Addr(p *Profile) any {
	if f.Text != nil {
		return f.Text(p)
	}
	return f.Flag(p)
}

// User is the subset of an Auth0 user the operator reads and writes.
type User struct {
	ID         string
	Connection string
	Profile
	UserMetadata map[string]any
	AppMetadata  map[string]any
	// Identities lists the connections the user is linked to; the first is the primary one.
	Identities []Identity
	// UpdatedAt is when Auth0 last changed the user: two copies of a user compare by it, so that
	// an older copy (a lagging search index) never replaces a newer one.
	UpdatedAt time.Time
}

// UserPage is one page of a users search and the number of users the query matches.
type UserPage struct {
	Users []*User
	Total int
}

// Identity is one of the user's linked accounts.
type Identity struct {
	Connection string
	Provider   string
	IsSocial   bool
}

// UserCreate is the body of a user creation; empty profile fields are not sent. Password is
// sent once and forgotten.
type UserCreate struct {
	Connection string
	Profile
	VerifyEmail  *bool
	Password     string
	UserMetadata map[string]any
	AppMetadata  map[string]any
}

// UserUpdate is a PATCH: empty profile fields and nil fields are left alone (a profile field
// cannot be cleared). In the metadata maps a key with a nil value is removed from Auth0 (Auth0
// merges metadata at the top level and deletes keys set to null).
type UserUpdate struct {
	// Connection is required by Auth0 when email, username, phone or password change.
	Connection string
	Profile
	VerifyEmail  *bool
	Password     *string
	UserMetadata map[string]any
	AppMetadata  map[string]any
}

// IsEmpty reports whether the update changes nothing (the connection alone changes nothing).
func (u UserUpdate) IsEmpty() bool {
	return u.Profile == (Profile{}) && u.VerifyEmail == nil && u.Password == nil &&
		len(u.UserMetadata) == 0 && len(u.AppMetadata) == 0
}

// Role is an Auth0 role.
type Role struct {
	ID          string
	Name        string
	Description string
}

// Permission is one scope of a resource server, granted to a user or role.
type Permission struct {
	ResourceServerIdentifier string
	Name                     string
}

// ResourceServer is an API registered in the tenant, with the scopes it defines.
type ResourceServer struct {
	ID         string
	Identifier string
	Name       string
	Scopes     []string
}

// Client is everything the controllers need from one Auth0 tenant. Every method is safe for
// concurrent use; errors are *Error values (see errors.go) or context errors.
type Client interface {
	// CreateUser creates a user; a duplicate answers an *Error with IsConflict.
	CreateUser(ctx context.Context, u UserCreate) (*User, error)
	// GetUser reads one user; a missing user answers an *Error with IsNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUsers reads many users by id in as few calls as the API allows (a users search on
	// `user_id:(a OR b ...)`). Ids that do not exist are absent from the result. The search index
	// lags writes by a few seconds, so callers treat an absent id as "not seen", not "deleted".
	GetUsers(ctx context.Context, ids []string) (map[string]*User, error)
	// UsersByEmail looks users up by exact email; unlike search it is immediately consistent.
	UsersByEmail(ctx context.Context, email string) ([]*User, error)
	// SearchUsers runs a Lucene query (search engine v3) and returns at most limit users
	// (capped at Auth0's 1000-result window).
	SearchUsers(ctx context.Context, query string, limit int) ([]*User, error)
	// SearchUsersPage runs one call of a search (v3): page (from 0) of perPage users ordered by
	// sort ("updated_at:1"; empty: Auth0's order), with the total number of matches. Auth0 serves
	// only the first 1000 matches of a query.
	SearchUsersPage(ctx context.Context, query, sort string, page, perPage int) (UserPage, error)
	// UpdateUser patches a user and returns the updated user.
	UpdateUser(ctx context.Context, id string, u UserUpdate) (*User, error)
	// DeleteUser deletes a user; deleting a missing user is not an error.
	DeleteUser(ctx context.Context, id string) error

	// ListRoles returns every role of the tenant.
	ListRoles(ctx context.Context) ([]Role, error)
	// RoleUserIDs returns the ids of every user holding the role (checkpoint pagination).
	RoleUserIDs(ctx context.Context, roleID string) ([]string, error)
	// AssignRoleToUsers grants one role to many users in as few calls as the API allows.
	AssignRoleToUsers(ctx context.Context, roleID string, userIDs []string) error
	// UserRoles returns the roles a user holds.
	UserRoles(ctx context.Context, userID string) ([]Role, error)
	// AssignUserRoles grants roles to a user.
	AssignUserRoles(ctx context.Context, userID string, roleIDs []string) error
	// RemoveUserRoles revokes roles from a user.
	RemoveUserRoles(ctx context.Context, userID string, roleIDs []string) error

	// UserPermissions returns the permissions granted directly to a user (not through roles).
	UserPermissions(ctx context.Context, userID string) ([]Permission, error)
	// AssignUserPermissions grants permissions directly to a user.
	AssignUserPermissions(ctx context.Context, userID string, perms []Permission) error
	// RemoveUserPermissions revokes permissions granted directly to a user.
	RemoveUserPermissions(ctx context.Context, userID string, perms []Permission) error
	// GetResourceServer reads an API by its identifier (audience).
	GetResourceServer(ctx context.Context, identifier string) (*ResourceServer, error)
}
