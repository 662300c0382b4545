package emulator

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

func (r *role) view() map[string]any {
	return map[string]any{"id": r.ID, "name": r.Name, "description": r.Description}
}

func (e *Emulator) createRole(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.Name == "" {
		badRequest(w, "Payload validation error: 'Missing required property: name'.")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, existing := range e.st.roles {
		if existing.Name == b.Name {
			writeError(w, http.StatusConflict, "", "Role name already exists")
			return
		}
	}
	ro := &role{ID: "rol_" + randomAlnum(16), Name: b.Name, Description: b.Description}
	e.st.roles[ro.ID] = ro
	writeJSON(w, http.StatusOK, ro.view())
}

func (e *Emulator) listRoles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pg, ok := offsetPage(w, q)
	if !ok {
		return
	}
	filter := strings.ToLower(q.Get("name_filter"))
	e.mu.Lock()
	var all []map[string]any
	for _, ro := range e.sortedRoles() {
		if filter == "" || strings.Contains(strings.ToLower(ro.Name), filter) {
			all = append(all, ro.view())
		}
	}
	e.mu.Unlock()
	writePage(w, pg, "roles", all)
}

func (e *Emulator) sortedRoles() []*role {
	out := make([]*role, 0, len(e.st.roles))
	for _, ro := range e.st.roles {
		out = append(out, ro)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// writePage answers an offset-paged list, bare or wrapped with totals.
func writePage(w http.ResponseWriter, pg pageRequest, key string, all []map[string]any) {
	start := min(pg.page*pg.perPage, len(all))
	end := min(start+pg.perPage, len(all))
	items := all[start:end]
	if items == nil {
		items = []map[string]any{}
	}
	if pg.totals {
		writeJSON(w, http.StatusOK, map[string]any{"start": start, "limit": pg.perPage, "length": len(items), "total": len(all), key: items})
		return
	}
	writeJSON(w, http.StatusOK, items)
}

func (e *Emulator) roleOr404(w http.ResponseWriter, r *http.Request) *role {
	ro, ok := e.st.roles[r.PathValue("id")]
	if !ok {
		notFound(w, "inexistent_role", "The role does not exist.")
		return nil
	}
	return ro
}

func (e *Emulator) getRole(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ro := e.roleOr404(w, r); ro != nil {
		writeJSON(w, http.StatusOK, ro.view())
	}
}

func (e *Emulator) updateRole(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
	}
	if !decodeBody(w, r, &b) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ro := e.roleOr404(w, r)
	if ro == nil {
		return
	}
	setString(&ro.Name, b.Name)
	setString(&ro.Description, b.Description)
	writeJSON(w, http.StatusOK, ro.view())
}

func (e *Emulator) deleteRole(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ro := e.roleOr404(w, r); ro != nil {
		delete(e.st.roles, ro.ID)
		for _, roles := range e.st.userRoles {
			delete(roles, ro.ID)
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	}
}

type permissionsBody struct {
	Permissions []permissionRef `json:"permissions"`
}

// validPermissions answers 400 unless every permission is a scope of an existing API.
func (e *Emulator) validPermissions(w http.ResponseWriter, perms []permissionRef) bool {
	if len(perms) == 0 {
		badRequest(w, "Payload validation error: 'Too few items (0), minimum 1' on property permissions.")
		return false
	}
	for _, p := range perms {
		rs := e.apiByIdentifier(p.ResourceServerIdentifier)
		if rs == nil {
			writeError(w, http.StatusNotFound, "inexistent_resource_server", "Resource server not found: "+p.ResourceServerIdentifier)
			return false
		}
		found := false
		for _, s := range rs.Scopes {
			found = found || s.Value == p.PermissionName
		}
		if !found {
			badRequest(w, "Scope '"+p.PermissionName+"' is not defined on resource server '"+p.ResourceServerIdentifier+"'")
			return false
		}
	}
	return true
}

func (e *Emulator) permissionViews(perms []permissionRef, source map[string]any) []map[string]any {
	out := make([]map[string]any, 0, len(perms))
	for _, p := range perms {
		v := map[string]any{"permission_name": p.PermissionName, "resource_server_identifier": p.ResourceServerIdentifier, "description": ""}
		if rs := e.apiByIdentifier(p.ResourceServerIdentifier); rs != nil {
			v["resource_server_name"] = rs.Name
			for _, s := range rs.Scopes {
				if s.Value == p.PermissionName {
					v["description"] = s.Description
				}
			}
		}
		for k, x := range source {
			v[k] = x
		}
		out = append(out, v)
	}
	return out
}

func (e *Emulator) getRolePermissions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pg, ok := offsetPage(w, q)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ro := e.roleOr404(w, r)
	if ro == nil {
		return
	}
	writePage(w, pg, "permissions", e.permissionViews(sortedPerms(ro.permissions), nil))
}

func (e *Emulator) addRolePermissions(w http.ResponseWriter, r *http.Request) {
	var b permissionsBody
	if !decodeBody(w, r, &b) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ro := e.roleOr404(w, r)
	if ro == nil || !e.validPermissions(w, b.Permissions) {
		return
	}
	for _, p := range b.Permissions {
		if !containsPerm(ro.permissions, p) {
			ro.permissions = append(ro.permissions, p)
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{})
}

func (e *Emulator) removeRolePermissions(w http.ResponseWriter, r *http.Request) {
	var b permissionsBody
	if !decodeBody(w, r, &b) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ro := e.roleOr404(w, r)
	if ro == nil {
		return
	}
	kept := ro.permissions[:0]
	for _, p := range ro.permissions {
		if !containsPerm(b.Permissions, p) {
			kept = append(kept, p)
		}
	}
	ro.permissions = kept
	w.WriteHeader(http.StatusNoContent)
}

// getRoleUsers lists a role's members with offset paging, or checkpoint paging when `take` or
// `from` is given: {"users":[...],"next":"<opaque>"}, ordered by user id.
func (e *Emulator) getRoleUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	e.mu.Lock()
	defer e.mu.Unlock()
	ro := e.roleOr404(w, r)
	if ro == nil {
		return
	}
	var ids []string
	for uid, roles := range e.st.userRoles {
		if roles[ro.ID] {
			ids = append(ids, uid)
		}
	}
	sort.Strings(ids)
	view := func(id string) map[string]any {
		u := e.st.users[id]
		return map[string]any{"user_id": u.UserID, "email": u.Email, "name": u.Name, "picture": u.Picture}
	}
	if q.Has("take") || q.Has("from") {
		take := 50
		if s := q.Get("take"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 100 {
				badRequest(w, "Query validation error: 'Number is greater than the maximum value of 100' on property take.")
				return
			}
			take = n
		}
		start := 0
		if from := q.Get("from"); from != "" {
			after, err := base64.RawURLEncoding.DecodeString(from)
			if err != nil {
				badRequest(w, "Query validation error: 'Invalid checkpoint' on property from.")
				return
			}
			start = sort.SearchStrings(ids, string(after))
			if start < len(ids) && ids[start] == string(after) {
				start++
			}
		}
		end := min(start+take, len(ids))
		users := make([]map[string]any, 0, end-start)
		for _, id := range ids[start:end] {
			users = append(users, view(id))
		}
		body := map[string]any{"users": users}
		if end < len(ids) {
			body["next"] = base64.RawURLEncoding.EncodeToString([]byte(ids[end-1]))
		}
		writeJSON(w, http.StatusOK, body)
		return
	}
	pg, ok := offsetPage(w, q)
	if !ok {
		return
	}
	all := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		all = append(all, view(id))
	}
	writePage(w, pg, "users", all)
}

func (e *Emulator) assignRoleUsers(w http.ResponseWriter, r *http.Request) {
	users, ok := decodeList(w, r, "users")
	if !ok {
		return
	}
	if len(users) > 1000 {
		badRequest(w, "Payload validation error: 'Too many items (more than 1000)' on property users.")
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ro := e.roleOr404(w, r)
	if ro == nil {
		return
	}
	for _, id := range users {
		if _, ok := e.st.users[id]; !ok {
			notFound(w, "inexistent_user", "The user does not exist.")
			return
		}
	}
	for _, id := range users {
		e.grantRole(id, ro.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (e *Emulator) grantRole(userID, roleID string) {
	if e.st.userRoles[userID] == nil {
		e.st.userRoles[userID] = map[string]bool{}
	}
	e.st.userRoles[userID][roleID] = true
}

func (e *Emulator) userOr404(w http.ResponseWriter, r *http.Request) *user {
	u, ok := e.st.users[r.PathValue("id")]
	if !ok {
		notFound(w, "inexistent_user", "The user does not exist.")
		return nil
	}
	return u
}

func (e *Emulator) getUserRoles(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pg, ok := offsetPage(w, q)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userOr404(w, r)
	if u == nil {
		return
	}
	var all []map[string]any
	for _, ro := range e.sortedRoles() {
		if e.st.userRoles[u.UserID][ro.ID] {
			all = append(all, ro.view())
		}
	}
	writePage(w, pg, "roles", all)
}

func (e *Emulator) assignUserRoles(w http.ResponseWriter, r *http.Request) {
	roleIDs, ok := decodeList(w, r, "roles")
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userOr404(w, r)
	if u == nil {
		return
	}
	for _, id := range roleIDs {
		if _, ok := e.st.roles[id]; !ok {
			notFound(w, "inexistent_role", "The role does not exist.")
			return
		}
	}
	for _, id := range roleIDs {
		e.grantRole(u.UserID, id)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) removeUserRoles(w http.ResponseWriter, r *http.Request) {
	roleIDs, ok := decodeList(w, r, "roles")
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userOr404(w, r)
	if u == nil {
		return
	}
	for _, id := range roleIDs {
		delete(e.st.userRoles[u.UserID], id)
	}
	w.WriteHeader(http.StatusNoContent)
}

// getUserPermissions lists the permissions granted directly and through roles, each with its
// sources, as Auth0 does.
func (e *Emulator) getUserPermissions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pg, ok := offsetPage(w, q)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userOr404(w, r)
	if u == nil {
		return
	}
	sources := map[permissionRef][]map[string]any{}
	for p := range e.st.userPerms[u.UserID] {
		sources[p] = append(sources[p], map[string]any{"source_id": "", "source_name": "", "source_type": "DIRECT"})
	}
	for _, ro := range e.sortedRoles() {
		if !e.st.userRoles[u.UserID][ro.ID] {
			continue
		}
		for _, p := range ro.permissions {
			sources[p] = append(sources[p], map[string]any{"source_id": ro.ID, "source_name": ro.Name, "source_type": "ROLE"})
		}
	}
	perms := make([]permissionRef, 0, len(sources))
	for p := range sources {
		perms = append(perms, p)
	}
	var all []map[string]any
	for _, p := range sortedPerms(perms) {
		all = append(all, e.permissionViews([]permissionRef{p}, map[string]any{"sources": sources[p]})...)
	}
	writePage(w, pg, "permissions", all)
}

func (e *Emulator) assignUserPermissions(w http.ResponseWriter, r *http.Request) {
	var b permissionsBody
	if !decodeBody(w, r, &b) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userOr404(w, r)
	if u == nil || !e.validPermissions(w, b.Permissions) {
		return
	}
	if e.st.userPerms[u.UserID] == nil {
		e.st.userPerms[u.UserID] = map[permissionRef]bool{}
	}
	for _, p := range b.Permissions {
		e.st.userPerms[u.UserID][p] = true
	}
	writeJSON(w, http.StatusCreated, map[string]any{})
}

func (e *Emulator) removeUserPermissions(w http.ResponseWriter, r *http.Request) {
	var b permissionsBody
	if !decodeBody(w, r, &b) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.userOr404(w, r)
	if u == nil {
		return
	}
	for _, p := range b.Permissions {
		delete(e.st.userPerms[u.UserID], p)
	}
	w.WriteHeader(http.StatusNoContent)
}

func containsPerm(list []permissionRef, p permissionRef) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

func sortedPerms(perms []permissionRef) []permissionRef {
	out := append([]permissionRef(nil), perms...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].ResourceServerIdentifier != out[j].ResourceServerIdentifier {
			return out[i].ResourceServerIdentifier < out[j].ResourceServerIdentifier
		}
		return out[i].PermissionName < out[j].PermissionName
	})
	return out
}
