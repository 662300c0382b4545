package auth0

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/auth0/go-auth0/management"
)

// sdkClient implements Client with the official go-auth0 SDK. Authentication, pacing and 429
// retries happen below it, in transport; this file only translates between our types and the
// SDK's, batches reads, and maps errors.
type sdkClient struct {
	m *management.Management
	// sensitive lists what no error may contain (the client secret and the current token).
	sensitive func() []string
}

var _ Client = (*sdkClient)(nil)

// Batch sizes. A users search returns at most 100 users a page; 50 ids keep the query string
// well below URL length limits. Role assignment accepts many users per call.
const (
	searchBatch     = 50
	assignBatch     = 100
	pageSize        = 100
	searchWindowCap = 1000
)

func (c *sdkClient) CreateUser(ctx context.Context, in UserCreate) (*User, error) {
	ctx = newCall(ctx)
	u := &management.User{
		Connection:   &in.Connection,
		VerifyEmail:  in.VerifyEmail,
		Password:     nonEmpty(in.Password),
		UserMetadata: metadataPtr(in.UserMetadata),
		AppMetadata:  metadataPtr(in.AppMetadata),
	}
	in.Profile.toSDK(u)
	if err := c.m.User.Create(ctx, u); err != nil {
		return nil, c.fail(ctx, err)
	}
	return fromSDKUser(u), nil
}

func (c *sdkClient) GetUser(ctx context.Context, id string) (*User, error) {
	ctx = newCall(ctx)
	u, err := c.m.User.Read(ctx, id)
	if err != nil {
		return nil, c.fail(ctx, err)
	}
	return fromSDKUser(u), nil
}

// GetUsers searches `user_id:("a" OR "b" ...)`, 50 ids a call: one page of at most 100 results
// holds every match, and the query stays well below URL length limits. Ids are quoted (they
// contain `|`, and Lucene would read some of their characters as syntax).
func (c *sdkClient) GetUsers(ctx context.Context, ids []string) (map[string]*User, error) {
	ctx = newCall(ctx)
	out := make(map[string]*User, len(ids))
	ids = unique(ids)
	quote := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	for start := 0; start < len(ids); start += searchBatch {
		batch := ids[start:min(start+searchBatch, len(ids))]
		quoted := make([]string, len(batch))
		for i, id := range batch {
			quoted[i] = `"` + quote.Replace(id) + `"`
		}
		q := "user_id:(" + strings.Join(quoted, " OR ") + ")"
		list, err := c.m.User.List(ctx, management.Query(q), management.Parameter("search_engine", "v3"), management.PerPage(pageSize))
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		for _, u := range list.Users {
			user := fromSDKUser(u)
			out[user.ID] = user
		}
	}
	return out, nil
}

func (c *sdkClient) UsersByEmail(ctx context.Context, email string) ([]*User, error) {
	ctx = newCall(ctx)
	list, err := c.m.User.ListByEmail(ctx, email)
	if err != nil {
		return nil, c.fail(ctx, err)
	}
	out := make([]*User, 0, len(list))
	for _, u := range list {
		out = append(out, fromSDKUser(u))
	}
	return out, nil
}

// SearchUsers pages through a v3 search. Auth0 serves at most 1000 results of one query
// (page*per_page+per_page <= 1000), so limit is capped there.
func (c *sdkClient) SearchUsers(ctx context.Context, query string, limit int) ([]*User, error) {
	ctx = newCall(ctx)
	if limit <= 0 || limit > searchWindowCap {
		limit = searchWindowCap
	}
	perPage := min(pageSize, limit)
	var out []*User
	for page := 0; len(out) < limit && (page+1)*perPage <= searchWindowCap; page++ {
		list, err := c.m.User.List(ctx, management.Query(query), management.Parameter("search_engine", "v3"),
			management.Page(page), management.PerPage(perPage))
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		for _, u := range list.Users {
			if len(out) < limit {
				out = append(out, fromSDKUser(u))
			}
		}
		if len(list.Users) < perPage {
			break
		}
	}
	return out, nil
}

func (c *sdkClient) SearchUsersPage(ctx context.Context, query, sort string, page, perPage int) (UserPage, error) {
	ctx = newCall(ctx)
	opts := []management.RequestOption{management.Query(query), management.Parameter("search_engine", "v3"),
		management.Page(page), management.PerPage(perPage), management.IncludeTotals(true)}
	if sort != "" {
		opts = append(opts, management.Parameter("sort", sort))
	}
	list, err := c.m.User.List(ctx, opts...)
	if err != nil {
		return UserPage{}, c.fail(ctx, err)
	}
	out := UserPage{Users: make([]*User, 0, len(list.Users)), Total: list.Total}
	for _, u := range list.Users {
		out.Users = append(out.Users, fromSDKUser(u))
	}
	return out, nil
}

func (c *sdkClient) UpdateUser(ctx context.Context, id string, in UserUpdate) (*User, error) {
	ctx = newCall(ctx)
	u := &management.User{
		VerifyEmail:  in.VerifyEmail,
		Password:     in.Password,
		UserMetadata: metadataPtr(in.UserMetadata),
		AppMetadata:  metadataPtr(in.AppMetadata),
	}
	in.Profile.toSDK(u)
	// Auth0 wants the connection with changes of the fields that identify a database user.
	if in.Email != "" || in.Username != "" || in.PhoneNumber != "" || in.Password != nil {
		u.Connection = nonEmpty(in.Connection)
	}
	if err := c.m.User.Update(ctx, id, u); err != nil {
		return nil, c.fail(ctx, err)
	}
	return fromSDKUser(u), nil
}

func (c *sdkClient) DeleteUser(ctx context.Context, id string) error {
	ctx = newCall(ctx)
	if err := c.fail(ctx, c.m.User.Delete(ctx, id)); err != nil && !IsNotFound(err) {
		return err
	}
	return nil
}

func (c *sdkClient) ListRoles(ctx context.Context) ([]Role, error) {
	ctx = newCall(ctx)
	var out []Role
	for page := 0; ; page++ {
		list, err := c.m.Role.List(ctx, management.Page(page), management.PerPage(pageSize))
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		for _, r := range list.Roles {
			out = append(out, Role{ID: r.GetID(), Name: r.GetName(), Description: r.GetDescription()})
		}
		if !list.HasNext() || len(list.Roles) == 0 {
			return out, nil
		}
	}
}

func (c *sdkClient) RoleUserIDs(ctx context.Context, roleID string) ([]string, error) {
	ctx = newCall(ctx)
	var out []string
	opts := []management.RequestOption{management.Take(pageSize)}
	for {
		list, err := c.m.Role.Users(ctx, roleID, opts...)
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		for _, u := range list.Users {
			out = append(out, u.GetID())
		}
		if list.Next == "" || len(list.Users) == 0 {
			return out, nil
		}
		opts = []management.RequestOption{management.Take(pageSize), management.From(list.Next)}
	}
}

func (c *sdkClient) AssignRoleToUsers(ctx context.Context, roleID string, userIDs []string) error {
	ctx = newCall(ctx)
	for start := 0; start < len(userIDs); start += assignBatch {
		batch := userIDs[start:min(start+assignBatch, len(userIDs))]
		users := make([]*management.User, len(batch))
		for i := range batch {
			users[i] = &management.User{ID: &batch[i]}
		}
		if err := c.m.Role.AssignUsers(ctx, roleID, users); err != nil {
			return c.fail(ctx, err)
		}
	}
	return nil
}

func (c *sdkClient) UserRoles(ctx context.Context, userID string) ([]Role, error) {
	ctx = newCall(ctx)
	var out []Role
	for page := 0; ; page++ {
		list, err := c.m.User.Roles(ctx, userID, management.Page(page), management.PerPage(pageSize))
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		for _, r := range list.Roles {
			out = append(out, Role{ID: r.GetID(), Name: r.GetName(), Description: r.GetDescription()})
		}
		if !list.HasNext() || len(list.Roles) == 0 {
			return out, nil
		}
	}
}

func (c *sdkClient) AssignUserRoles(ctx context.Context, userID string, roleIDs []string) error {
	ctx = newCall(ctx)
	return c.fail(ctx, c.m.User.AssignRoles(ctx, userID, sdkRoles(roleIDs)))
}

func (c *sdkClient) RemoveUserRoles(ctx context.Context, userID string, roleIDs []string) error {
	ctx = newCall(ctx)
	return c.fail(ctx, c.m.User.RemoveRoles(ctx, userID, sdkRoles(roleIDs)))
}

// UserPermissions reads the user's permissions and keeps those granted directly: Auth0 lists
// permissions that come through roles too, with their sources, which the SDK's type drops.
func (c *sdkClient) UserPermissions(ctx context.Context, userID string) ([]Permission, error) {
	ctx = newCall(ctx)
	var out []Permission
	for page := 0; ; page++ {
		var list struct {
			management.List
			Permissions []struct {
				ResourceServerIdentifier string `json:"resource_server_identifier"`
				Name                     string `json:"permission_name"`
				Sources                  []struct {
					Type string `json:"source_type"`
				} `json:"sources"`
			} `json:"permissions"`
		}
		err := c.m.Request(ctx, "GET", c.m.URI("users", userID, "permissions"), &list,
			management.Page(page), management.PerPage(pageSize), management.IncludeTotals(true))
		if err != nil {
			return nil, c.fail(ctx, err)
		}
		for _, p := range list.Permissions {
			direct := len(p.Sources) == 0
			for _, s := range p.Sources {
				direct = direct || s.Type == "DIRECT"
			}
			if direct {
				out = append(out, Permission{ResourceServerIdentifier: p.ResourceServerIdentifier, Name: p.Name})
			}
		}
		if !list.HasNext() || len(list.Permissions) == 0 {
			return out, nil
		}
	}
}

func (c *sdkClient) AssignUserPermissions(ctx context.Context, userID string, perms []Permission) error {
	ctx = newCall(ctx)
	return c.fail(ctx, c.m.User.AssignPermissions(ctx, userID, sdkPermissions(perms)))
}

func (c *sdkClient) RemoveUserPermissions(ctx context.Context, userID string, perms []Permission) error {
	ctx = newCall(ctx)
	return c.fail(ctx, c.m.User.RemovePermissions(ctx, userID, sdkPermissions(perms)))
}

func (c *sdkClient) GetResourceServer(ctx context.Context, identifier string) (*ResourceServer, error) {
	ctx = newCall(ctx)
	rs, err := c.m.ResourceServer.Read(ctx, identifier)
	if err != nil {
		return nil, c.fail(ctx, err)
	}
	out := &ResourceServer{ID: rs.GetID(), Identifier: rs.GetIdentifier(), Name: rs.GetName()}
	if rs.Scopes != nil {
		for _, s := range *rs.Scopes {
			out.Scopes = append(out.Scopes, s.GetValue())
		}
	}
	return out, nil
}

// newCall prepares the context of one Client call: the transport keeps the call's last error
// body in it for fail.
func newCall(ctx context.Context) context.Context {
	ctx, _ = withAPIErrorSlot(ctx)
	return ctx
}

// fail is the error of a call: translated, then stripped of anything sensitive.
func (c *sdkClient) fail(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var answered *Error
	if slot, _ := ctx.Value(apiErrorKey{}).(*apiErrorSlot); slot != nil {
		answered = slot.get()
	}
	err = translate(err, answered)
	if c.sensitive != nil {
		err = redact(err, c.sensitive())
	}
	return err
}

// translate turns the SDK's errors into *Error, keeping Auth0's status, message and errorCode
// (answered: the error body the transport kept). Errors that are already ours (from the token
// source, through the transport) pass through; the rest (transport errors, timeouts, context
// errors) are wrapped and stay retryable.
func translate(err error, answered *Error) error {
	var ours *Error
	if errors.As(err, &ours) {
		return ours
	}
	var sdk management.Error
	if errors.As(err, &sdk) {
		if answered != nil && answered.StatusCode == sdk.Status() {
			return answered
		}
		msg := sdk.Error()
		// The SDK formats "<status> <reason>: <message>"; keep Auth0's message only.
		if _, rest, ok := strings.Cut(msg, ": "); ok {
			msg = rest
		}
		return &Error{StatusCode: sdk.Status(), Message: msg}
	}
	return fmt.Errorf("auth0 request failed: %w", err)
}

// redact makes sure no error text contains a secret or a token, whatever produced it. Nothing
// we know of does (Auth0's messages never echo credentials, and the token request carries them
// in its body, not its URL); this is the belt to the braces of every error path above.
func redact(err error, sensitive []string) error {
	clean := func(s string) string {
		for _, secret := range sensitive {
			if len(secret) >= 4 {
				s = strings.ReplaceAll(s, secret, "[redacted]")
			}
		}
		return s
	}
	if clean(err.Error()) == err.Error() {
		return err
	}
	if a0, ok := err.(*Error); ok {
		return &Error{StatusCode: a0.StatusCode, Code: clean(a0.Code), Message: clean(a0.Message)}
	}
	return &redactedError{msg: clean(err.Error()), cause: err}
}

// redactedError keeps the cause for errors.Is (context errors) but not its text.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

func fromSDKUser(u *management.User) *User {
	out := &User{ID: u.GetID(), Connection: u.GetConnection(), Profile: profileFromSDK(u), UpdatedAt: u.GetUpdatedAt()}
	if u.UserMetadata != nil {
		out.UserMetadata = withoutNulls(*u.UserMetadata)
	}
	if u.AppMetadata != nil {
		out.AppMetadata = withoutNulls(*u.AppMetadata)
	}
	for _, id := range u.Identities {
		out.Identities = append(out.Identities, Identity{Connection: id.GetConnection(), Provider: id.GetProvider(), IsSocial: id.GetIsSocial()})
	}
	if out.Connection == "" && len(out.Identities) > 0 {
		out.Connection = out.Identities[0].Connection
	}
	return out
}

// toSDK sets the profile's fields in the SDK's user; empty ones stay nil, so they are not sent.
func (p Profile) toSDK(u *management.User) {
	for _, f := range ProfileFields {
		if f.Text != nil {
			*f.sdkText(u) = nonEmpty(*f.Text(&p))
		} else {
			*f.sdkFlag(u) = *f.Flag(&p)
		}
	}
}

// profileFromSDK reads the profile of the SDK's user; a field Auth0 did not return is empty.
func profileFromSDK(u *management.User) Profile {
	var p Profile
	for _, f := range ProfileFields {
		if f.Text != nil {
			if v := *f.sdkText(u); v != nil {
				*f.Text(&p) = *v
			}
		} else {
			*f.Flag(&p) = *f.sdkFlag(u)
		}
	}
	return p
}

func sdkRoles(ids []string) []*management.Role {
	out := make([]*management.Role, len(ids))
	for i := range ids {
		out[i] = &management.Role{ID: &ids[i]}
	}
	return out
}

func sdkPermissions(perms []Permission) []*management.Permission {
	out := make([]*management.Permission, len(perms))
	for i := range perms {
		out[i] = &management.Permission{ResourceServerIdentifier: &perms[i].ResourceServerIdentifier, Name: &perms[i].Name}
	}
	return out
}

func unique(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// metadataPtr hands the SDK a copy: it decodes the response into the same map, which must not
// write into the caller's.
func metadataPtr(m map[string]any) *map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return &c
}

// withoutNulls drops keys whose value is null. Auth0 never stores a null (it deletes the key),
// but the SDK decodes an update's response into the request's map, where the nulls we sent
// remain.
func withoutNulls(m map[string]any) map[string]any {
	for k, v := range m {
		if v == nil {
			delete(m, k)
		}
	}
	return m
}
