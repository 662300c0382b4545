package emulator

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// reservedAppMetadata are the app_metadata keys Auth0 refuses.
var reservedAppMetadata = map[string]bool{
	"__tenant": true, "blocked": true, "clientID": true, "created_at": true, "email_verified": true,
	"email": true, "globalClientID": true, "global_client_id": true, "identities": true, "lastIP": true,
	"lastLogin": true, "loginsCount": true, "metadata": true, "multifactor": true, "updated_at": true,
	"user_id": true,
}

// maxMetadataBytes bounds each metadata object, serialised (Auth0 documents 16 MB for
// user_metadata and app_metadata together; the emulator keeps a tighter, documented bound so
// that tests of oversized metadata stay fast).
const maxMetadataBytes = 256 << 10

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
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		badRequest(w, "Payload validation error: 'Invalid JSON'.")
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
	for _, id := range e.st.byEmail[strings.ToLower(email)] {
		if e.st.users[id].Connection == conn.Name {
			writeError(w, http.StatusConflict, "auth0_idp_error", "The user already exists.")
			return
		}
	}
	now := e.cfg.Now()
	raw := randomHex(12)
	u := &user{
		UserID:        "auth0|" + raw,
		Connection:    conn.Name,
		Email:         strings.ToLower(email),
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
	// Auth0's defaults: the email as name, its local part as nickname, a gravatar picture.
	if u.Name == "" {
		u.Name = u.Email
	}
	if u.Nickname == "" {
		u.Nickname, _, _ = strings.Cut(u.Email, "@")
	}
	if u.Picture == "" {
		sum := md5.Sum([]byte(u.Email))
		u.Picture = "https://s.gravatar.com/avatar/" + hex.EncodeToString(sum[:]) + "?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2F" + strings.ToLower(u.Email[:min(2, len(u.Email))]) + ".png"
	}
	e.st.users[u.UserID] = u
	e.st.indexEmail(u)
	e.st.recordForSearch(u.UserID, u, now, e.cfg.SearchIndexLag)
	writeJSON(w, http.StatusCreated, u.view(nil, true))
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
	writeJSON(w, http.StatusOK, u.view(fields, include))
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
	out := []map[string]any{}
	for _, id := range e.st.byEmail[strings.ToLower(email)] {
		out = append(out, e.st.users[id].view(fields, include))
	}
	writeJSON(w, http.StatusOK, out)
}

func (e *Emulator) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if engine := q.Get("search_engine"); engine != "" && engine != "v3" {
		badRequest(w, "Query validation error: 'Invalid value \""+engine+"\"' on property search_engine. Only v3 is supported by this tenant.")
		return
	}
	page, perPage, msg := paging(q.Get("page"), q.Get("per_page"), 50)
	if msg != "" {
		badRequest(w, msg)
		return
	}
	if (page+1)*perPage > 1000 {
		badRequest(w, "You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation")
		return
	}
	var query node
	if s := q.Get("q"); s != "" {
		var err error
		if query, err = ParseQuery(s); err != nil {
			badRequest(w, fmt.Sprintf("Query validation error: %v", err))
			return
		}
	}
	fields, include := fieldSelection(r)
	e.mu.Lock()
	matches := e.search(query)
	if s := q.Get("sort"); s != "" {
		field, dir, _ := strings.Cut(s, ":")
		sort.SliceStable(matches, func(i, j int) bool {
			a, b := fmt.Sprint(fieldValue(matches[i], field)), fmt.Sprint(fieldValue(matches[j], field))
			if dir == "-1" {
				return a > b
			}
			return a < b
		})
	}
	total := len(matches)
	start := min(page*perPage, total)
	end := min(start+perPage, total)
	views := make([]map[string]any, 0, end-start)
	for _, u := range matches[start:end] {
		views = append(views, u.view(fields, include))
	}
	e.mu.Unlock()
	if q.Get("include_totals") == "true" {
		writeJSON(w, http.StatusOK, map[string]any{"start": start, "limit": perPage, "length": len(views), "total": total, "users": views})
		return
	}
	writeJSON(w, http.StatusOK, views)
}

// search returns the users the (lagging) index matches, sorted by user id. A query that only
// names user ids is answered from the index by id instead of a scan.
func (e *Emulator) search(query node) []*user {
	now := e.cfg.Now()
	if ids, ok := onlyUserIDs(query); ok {
		var out []*user
		for _, id := range ids {
			if u := e.st.visible(id, now); u != nil {
				out = append(out, u)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
		return out
	}
	if email, ok := onlyEmail(query); ok {
		// An exact email is answered from the email index, subject to the same lag.
		var out []*user
		for _, id := range e.st.byEmailAll(email, e.cfg.SearchIndexLag) {
			if u := e.st.visible(id, now); u != nil && strings.EqualFold(u.Email, email) {
				out = append(out, u)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
		return out
	}
	var out []*user
	for _, u := range e.st.searchable(now) {
		if query == nil || query.match(u) {
			out = append(out, u)
		}
	}
	return out
}

func (e *Emulator) patchUser(w http.ResponseWriter, r *http.Request) {
	var b userBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		badRequest(w, "Payload validation error: 'Invalid JSON'.")
		return
	}
	userMeta, appMeta, ok := parseBodyMetadata(w, b)
	if !ok {
		return
	}
	if appMeta != nil && !e.hasScope(r, "update:users_app_metadata") && !e.hasScope(r, "update:users") {
		writeError(w, http.StatusForbidden, "insufficient_scope", "Insufficient scope, expected any of: update:users,update:users_app_metadata")
		return
	}
	if (appMeta == nil || b.Email != nil || b.Name != nil || b.Password != nil || userMeta != nil) && !e.hasScope(r, "update:users") {
		writeError(w, http.StatusForbidden, "insufficient_scope", "Insufficient scope, expected any of: update:users")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u, ok := e.st.users[r.PathValue("id")]
	if !ok {
		notFound(w, "inexistent_user", "The user does not exist.")
		return
	}
	conn := e.st.connections[u.Connection]
	if !conn.isDatabase() {
		for field, set := range map[string]bool{"email": b.Email != nil, "username": b.Username != nil, "password": b.Password != nil, "phone_number": b.PhoneNumber != nil} {
			if set {
				badRequest(w, fmt.Sprintf("Cannot update %s for non-database connections (connection %s uses strategy %s).", field, conn.Name, conn.Strategy))
				return
			}
		}
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
		for _, id := range e.st.byEmail[strings.ToLower(*b.Email)] {
			if id != u.UserID && e.st.users[id].Connection == u.Connection {
				writeError(w, http.StatusConflict, "auth0_idp_error", "The specified new email already exists")
				return
			}
		}
	}
	if b.Password != nil && !strongPassword(*b.Password) {
		badRequest(w, "PasswordStrengthError: Password is too weak")
		return
	}
	if b.Email != nil {
		e.st.unindexEmail(u)
		u.Email = strings.ToLower(*b.Email)
		e.st.indexEmail(u)
		if b.EmailVerified == nil {
			u.EmailVerified = false
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
	if b.Password != nil {
		u.Password = *b.Password
		u.PasswordChanges++
	}
	u.UserMetadata = MergeMetadata(u.UserMetadata, userMeta)
	u.AppMetadata = MergeMetadata(u.AppMetadata, appMeta)
	now := e.cfg.Now()
	u.UpdatedAt = timestamp(now)
	if b.Password != nil {
		u.LastPasswordReset = u.UpdatedAt
	}
	e.st.recordForSearch(u.UserID, u, now, e.cfg.SearchIndexLag)
	writeJSON(w, http.StatusOK, u.view(nil, true))
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

// MergeMetadata applies a metadata patch the way Auth0 does: top-level keys are merged, a null
// value deletes its key, and any other value (nested objects included) replaces the old one
// whole. An empty object patch leaves the metadata unchanged.
func MergeMetadata(current, patch map[string]any) map[string]any {
	if patch == nil {
		return current
	}
	out := cloneMap(current)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = cloneValue(v)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// parseBodyMetadata validates both metadata objects of a body, answering 400 when one is invalid.
func parseBodyMetadata(w http.ResponseWriter, b userBody) (userMeta, appMeta map[string]any, ok bool) {
	var msg string
	if userMeta, msg = parseMetadata("user_metadata", b.UserMetadata, false); msg != "" {
		badRequest(w, msg)
		return nil, nil, false
	}
	if appMeta, msg = parseMetadata("app_metadata", b.AppMetadata, true); msg != "" {
		badRequest(w, msg)
		return nil, nil, false
	}
	return userMeta, appMeta, true
}

// parseMetadata validates a metadata object: key names without '.' or '$' (at any depth), no
// reserved app_metadata keys, bounded size. It returns Auth0's message when invalid.
func parseMetadata(field string, raw json.RawMessage, app bool) (map[string]any, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, ""
	}
	if len(raw) > maxMetadataBytes {
		return nil, fmt.Sprintf("Payload validation error: 'String is too long' on property %s (%d bytes, limit %d).", field, len(raw), maxMetadataBytes)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Sprintf("Payload validation error: 'Expected type object but found type %s' on property %s.", jsonType(raw), field)
	}
	if key := badKey(m); key != "" {
		return nil, fmt.Sprintf("Payload validation error: 'Invalid property name: %q, must not contain \".\" or \"$\"' on property %s.", key, field)
	}
	if app {
		for k := range m {
			if reservedAppMetadata[k] {
				return nil, fmt.Sprintf("Payload validation error: 'Invalid property name: %q is a reserved app_metadata field' on property app_metadata.", k)
			}
		}
	}
	return m, ""
}

func badKey(v any) string {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if strings.ContainsAny(k, ".$") {
				return k
			}
			if bad := badKey(child); bad != "" {
				return bad
			}
		}
	case []any:
		for _, child := range t {
			if bad := badKey(child); bad != "" {
				return bad
			}
		}
	}
	return ""
}

func jsonType(raw json.RawMessage) string {
	switch strings.TrimSpace(string(raw))[0] {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	default:
		return "number"
	}
}

func withoutNulls(m map[string]any) map[string]any {
	return MergeMetadata(nil, m)
}

// view renders the user as the API returns it, honouring fields/include_fields.
func (u *user) view(fields []string, include bool) map[string]any {
	raw, _ := json.Marshal(u)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return selectFields(m, fields, include)
}

// selectFields keeps (include) or drops the named fields of a rendered object.
func selectFields(m map[string]any, fields []string, include bool) map[string]any {
	if len(fields) == 0 {
		return m
	}
	out := map[string]any{}
	if include {
		for _, f := range fields {
			if v, ok := m[f]; ok {
				out[f] = v
			}
		}
		return out
	}
	for k, v := range m {
		out[k] = v
	}
	for _, f := range fields {
		delete(out, f)
	}
	return out
}

func fieldSelection(r *http.Request) ([]string, bool) {
	q := r.URL.Query()
	var fields []string
	if f := q.Get("fields"); f != "" {
		fields = strings.Split(f, ",")
	}
	return fields, q.Get("include_fields") != "false"
}

// paging parses page/per_page with Auth0's limits (per_page at most 100).
func paging(pageStr, perPageStr string, defaultPerPage int) (int, int, string) {
	page, perPage := 0, defaultPerPage
	var err error
	if pageStr != "" {
		if page, err = strconv.Atoi(pageStr); err != nil || page < 0 {
			return 0, 0, "Query validation error: 'Invalid type: string (expected integer)' on property page."
		}
	}
	if perPageStr != "" {
		if perPage, err = strconv.Atoi(perPageStr); err != nil || perPage < 0 {
			return 0, 0, "Query validation error: 'Invalid type: string (expected integer)' on property per_page."
		}
		if perPage > 100 {
			return 0, 0, "Query validation error: 'Number is greater than the maximum value of 100' on property per_page (Number of results per page. Defaults to 50.)."
		}
	}
	return page, perPage, ""
}

func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t\n") && !strings.Contains(domain, "@") && !strings.HasSuffix(domain, ".")
}

// strongPassword is Auth0's "fair" policy: at least 8 characters and 3 of lower case, upper
// case, digits and special characters.
func strongPassword(p string) bool {
	if len(p) < 8 {
		return false
	}
	var lower, upper, digit, special bool
	for _, r := range p {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			special = true
		}
	}
	n := 0
	for _, b := range []bool{lower, upper, digit, special} {
		if b {
			n++
		}
	}
	return n >= 3
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func setString(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}
