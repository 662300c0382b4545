package emulator

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

type userBody struct {
	Connection    *string         `json:"connection"`
	Email         *string         `json:"email"`
	EmailVerified *bool           `json:"email_verified"`
	VerifyEmail   *bool           `json:"verify_email"`
	Username      *string         `json:"username"`
	PhoneNumber   *string         `json:"phone_number"`
	Name          *string         `json:"name"`
	GivenName     *string         `json:"given_name"`
	FamilyName    *string         `json:"family_name"`
	Nickname      *string         `json:"nickname"`
	Picture       *string         `json:"picture"`
	Blocked       *bool           `json:"blocked"`
	Password      *string         `json:"password"`
	UserID        *string         `json:"user_id"`
	UserMetadata  json.RawMessage `json:"user_metadata"`
	AppMetadata   json.RawMessage `json:"app_metadata"`
}

func (e *Emulator) createUser(w http.ResponseWriter, r *http.Request) {
	var b userBody
	if !decodeBody(w, r, &b) {
		return
	}
	if b.Connection == nil || *b.Connection == "" {
		badRequest(w, "Payload validation error: 'Missing required property: connection'.")
		return
	}
	userMeta, appMeta, ok := parseBodyMetadata(w, b)
	if !ok {
		return
	}
	if msg := metadataTooLarge(userMeta, appMeta, e.cfg.MaxMetadataBytes); msg != "" {
		badRequest(w, msg)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	conn, ok := e.st.connections[*b.Connection]
	if !ok {
		badRequest(w, "The connection does not exist.")
		return
	}
	if !conn.isDatabase() {
		badRequest(w, "Creating users is only supported for database, passwordless and custom database connections.")
		return
	}
	email := deref(b.Email)
	if email == "" {
		badRequest(w, "Payload validation error: 'Missing required property: email'.")
		return
	}
	if !validEmail(email) {
		badRequest(w, "Payload validation error: 'Object didn't pass validation for format email: "+email+"' on property email (The user's email).")
		return
	}
	if b.Password == nil || *b.Password == "" {
		badRequest(w, "Payload validation error: 'Missing required property: password'.")
		return
	}
	if !strongPassword(*b.Password) {
		badRequest(w, "PasswordStrengthError: Password is too weak")
		return
	}
	if e.st.emailTaken(conn.Name, email, "") {
		writeError(w, http.StatusConflict, "auth0_idp_error", "The user already exists.")
		return
	}
	now := e.cfg.Now()
	raw := randomHex(12)
	u := &user{
		UserID:        "auth0|" + raw,
		Connection:    conn.Name,
		Email:         e.st.storedEmail(conn.Name, email),
		EmailVerified: b.EmailVerified != nil && *b.EmailVerified,
		Username:      deref(b.Username),
		PhoneNumber:   deref(b.PhoneNumber),
		Name:          deref(b.Name),
		GivenName:     deref(b.GivenName),
		FamilyName:    deref(b.FamilyName),
		Nickname:      deref(b.Nickname),
		Picture:       deref(b.Picture),
		Blocked:       b.Blocked,
		UserMetadata:  withoutNulls(userMeta),
		AppMetadata:   withoutNulls(appMeta),
		Identities:    []identity{{Connection: conn.Name, UserID: raw, Provider: "auth0", IsSocial: false}},
		CreatedAt:     timestamp(now),
		UpdatedAt:     timestamp(now),
		Password:      *b.Password,
	}
	u.PasswordChanges = 1
	applyProfileDefaults(u)
	e.st.users[u.UserID] = u
	e.st.indexEmail(u)
	e.st.recordForSearch(u.UserID, u, now, e.cfg.SearchIndexLag)
	writeJSON(w, http.StatusCreated, u.render(nil, true))
}

func (e *Emulator) getUser(w http.ResponseWriter, r *http.Request) {
	fields, include := fieldSelection(r)
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.st.users[r.PathValue("id")]
	if !ok {
		notFound(w, "inexistent_user", "The user does not exist.")
		return
	}
	writeJSON(w, http.StatusOK, u.render(fields, include))
}

func (e *Emulator) usersByEmail(w http.ResponseWriter, r *http.Request) {
	email := r.URL.Query().Get("email")
	if email == "" {
		badRequest(w, "Query validation error: 'Missing required property: email'.")
		return
	}
	fields, include := fieldSelection(r)
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []any{}
	// Exact and case-sensitive, as Auth0 documents it: database users are found only by their
	// lower-cased email, social and enterprise users only by the case their provider gave.
	for _, id := range e.st.emailIDs(email) {
		out = append(out, e.st.users[id].render(fields, include))
	}
	writeJSON(w, http.StatusOK, out)
}

// profileRootAttributes are the profile fields an upstream identity provider owns: Auth0
// refuses to change them for social and enterprise users unless the connection stopped
// syncing them at each login.
var profileRootAttributes = []string{"family_name", "given_name", "name", "nickname", "picture"}

// credentialAttributes are never changed through the Management API for social and enterprise
// users: the upstream identity provider holds them.
var credentialAttributes = []string{"email", "password", "phone_number", "username"}

func (e *Emulator) patchUser(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	var b userBody
	var present map[string]json.RawMessage
	if err != nil || json.Unmarshal(raw, &b) != nil || json.Unmarshal(raw, &present) != nil {
		badRequest(w, "Payload validation error: 'Invalid JSON'.")
		return
	}
	if len(present) == 0 {
		badRequest(w, "Payload validation error: 'Too few properties defined (0), minimum 1'.")
		return
	}
	// update:users_app_metadata allows app_metadata alone; every other field needs update:users.
	if _, onlyApp := present["app_metadata"]; !(onlyApp && len(present) == 1) && !grantedScope(r, "update:users") {
		insufficientScope(w, "update:users")
		return
	}
	userMeta, appMeta, ok := parseBodyMetadata(w, b)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userOr404(w, r)
	if u == nil {
		return
	}
	if msg := e.refusedForConnection(u, present); msg != "" {
		writeError(w, http.StatusBadRequest, "operation_not_supported", msg)
		return
	}
	if (b.Email != nil || b.Username != nil || b.Password != nil) && b.Connection != nil && *b.Connection != u.Connection {
		badRequest(w, "The connection does not match the user's connection.")
		return
	}
	if b.Email != nil {
		if !validEmail(*b.Email) {
			badRequest(w, "Payload validation error: 'Object didn't pass validation for format email: "+*b.Email+"' on property email (The user's email).")
			return
		}
		if e.st.emailTaken(u.Connection, *b.Email, u.UserID) {
			writeError(w, http.StatusConflict, "auth0_idp_error", "The specified new email already exists")
			return
		}
	}
	if b.Password != nil && !strongPassword(*b.Password) {
		badRequest(w, "PasswordStrengthError: Password is too weak")
		return
	}
	newUserMeta, newAppMeta := MergeMetadata(u.UserMetadata, userMeta), MergeMetadata(u.AppMetadata, appMeta)
	if msg := metadataTooLarge(newUserMeta, newAppMeta, e.cfg.MaxMetadataBytes); msg != "" {
		badRequest(w, msg)
		return
	}
	e.applyUserPatch(u, b, newUserMeta, newAppMeta)
	writeJSON(w, http.StatusOK, u.render(nil, true))
}

// refusedForConnection returns Auth0's message when the body changes fields the user's
// connection does not let the Management API change; "" otherwise.
func (e *Emulator) refusedForConnection(u *user, present map[string]json.RawMessage) string {
	conn := e.st.connections[u.Connection]
	if conn.isDatabase() {
		return ""
	}
	for _, field := range credentialAttributes {
		if _, set := present[field]; set {
			return fmt.Sprintf("Cannot update %s for non-database connections (connection %s uses strategy %s).", field, conn.Name, conn.Strategy)
		}
	}
	if conn.SetUserRootAttributes == "on_first_login" {
		return ""
	}
	var refused []string
	for _, field := range profileRootAttributes {
		if _, set := present[field]; set {
			refused = append(refused, field)
		}
	}
	if len(refused) == 0 {
		return ""
	}
	return fmt.Sprintf("The following user attributes cannot be updated: %s. The connection (%s) must either be a database connection (using the Auth0 store), a passwordless connection (email or sms) or has disabled 'Sync user profile attributes at each login'. For more information, see https://auth0.com/docs/dashboard/guides/connections/configure-connection-sync", strings.Join(refused, ", "), conn.Name)
}

// applyUserPatch writes a validated PATCH body, with the metadata already merged, and
// publishes the new state to the search index.
func (e *Emulator) applyUserPatch(u *user, b userBody, userMeta, appMeta map[string]any) {
	if b.Email != nil {
		e.st.unindexEmail(u)
		u.Email = e.st.storedEmail(u.Connection, *b.Email)
		e.st.indexEmail(u)
		if b.EmailVerified == nil {
			u.EmailVerified = false // Auth0 unverifies a changed email unless told otherwise
		}
	}
	setString(&u.Username, b.Username)
	setString(&u.PhoneNumber, b.PhoneNumber)
	setString(&u.Name, b.Name)
	setString(&u.GivenName, b.GivenName)
	setString(&u.FamilyName, b.FamilyName)
	setString(&u.Nickname, b.Nickname)
	setString(&u.Picture, b.Picture)
	if b.EmailVerified != nil {
		u.EmailVerified = *b.EmailVerified
	}
	if b.Blocked != nil {
		u.Blocked = b.Blocked
	}
	now := e.cfg.Now()
	u.UpdatedAt = timestamp(now)
	if b.Password != nil {
		u.Password = *b.Password
		u.PasswordChanges++
		u.LastPasswordReset = u.UpdatedAt
	}
	u.UserMetadata, u.AppMetadata = userMeta, appMeta
	e.st.recordForSearch(u.UserID, u, now, e.cfg.SearchIndexLag)
}

func (e *Emulator) deleteUser(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := r.PathValue("id")
	if u, ok := e.st.users[id]; ok {
		e.st.unindexEmail(u)
		delete(e.st.users, id)
		delete(e.st.userRoles, id)
		delete(e.st.userPerms, id)
		e.st.recordForSearch(id, nil, e.cfg.Now(), e.cfg.SearchIndexLag)
	}
	// Auth0 answers 204 whether or not the user existed.
	w.WriteHeader(http.StatusNoContent)
}

// applyProfileDefaults fills what Auth0 derives from the email when a user is created without
// it: the email as name, its local part as nickname, a gravatar picture.
func applyProfileDefaults(u *user) {
	if u.Name == "" {
		u.Name = u.Email
	}
	if u.Nickname == "" {
		u.Nickname, _, _ = strings.Cut(u.Email, "@")
	}
	if u.Picture == "" && u.Email != "" {
		sum := md5.Sum([]byte(u.Email))
		u.Picture = "https://s.gravatar.com/avatar/" + hex.EncodeToString(sum[:]) + "?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2F" + strings.ToLower(u.Email[:min(2, len(u.Email))]) + ".png"
	}
}
