package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// view renders the user as the API returns it, honouring fields/include_fields.
func (u *user) view(fields []string, include bool) map[string]any {
	raw, _ := json.Marshal(u)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return selectFields(m, fields, include)
}

// render is the user as an element of a response body. Without a field selection it is the
// user itself, encoded straight from its struct tags: going through a map would triple the
// cost of every read. Callers encode it under the lock, or pass an immutable search snapshot.
func (u *user) render(fields []string, include bool) any {
	if len(fields) == 0 {
		return u
	}
	return u.view(fields, include)
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

// pageRequest is an offset-paged list request: page, per_page and include_totals.
type pageRequest struct {
	page, perPage int
	totals        bool
}

// offsetPage reads page, per_page (default 50) and include_totals, answering 400 when invalid.
func offsetPage(w http.ResponseWriter, q url.Values) (pageRequest, bool) {
	page, perPage, msg := paging(q.Get("page"), q.Get("per_page"), 50)
	if msg != "" {
		badRequest(w, msg)
		return pageRequest{}, false
	}
	return pageRequest{page: page, perPage: perPage, totals: q.Get("include_totals") == "true"}, true
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
