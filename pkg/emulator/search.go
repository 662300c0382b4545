package emulator

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// The subset of Lucene query syntax that Auth0's user search (v3) accepts and people write:
//
//	email:"jane@example.com"   name:jane   name:j*   NOT blocked:true   _exists_:app_metadata.team
//	user_id:("auth0|1" OR "auth0|2")   created_at:[2024-01-01 TO 2024-12-31]   (a OR b) AND c
//
// A bare term searches the usual profile fields. Matching is case-insensitive.

type node interface {
	match(u *user) bool
}

type orNode []node
type andNode []node
type notNode struct{ n node }

// termNode matches one field (or the default fields when field is empty).
type termNode struct {
	field  string
	value  string // lower-cased
	prefix bool   // value ended with *
	phrase bool
}

type rangeNode struct {
	field          string
	lo, hi         string
	loIncl, hiIncl bool
}

type existsNode struct{ field string }

func (n orNode) match(u *user) bool {
	for _, c := range n {
		if c.match(u) {
			return true
		}
	}
	return false
}

func (n andNode) match(u *user) bool {
	for _, c := range n {
		if !c.match(u) {
			return false
		}
	}
	return true
}

func (n notNode) match(u *user) bool { return !n.n.match(u) }

var defaultFields = []string{"email", "name", "nickname", "given_name", "family_name", "username", "user_id"}

func (n termNode) match(u *user) bool {
	fields := []string{n.field}
	if n.field == "" {
		fields = defaultFields
	}
	for _, f := range fields {
		v := fieldValue(u, f)
		if s, ok := v.(string); ok { // the common case, without allocating
			if n.matchString(f, s) {
				return true
			}
			continue
		}
		for _, s := range values(v) {
			if n.matchString(f, s) {
				return true
			}
		}
	}
	return false
}

// matchString compares one value: user ids exactly, everything else ignoring case.
func (n termNode) matchString(field, s string) bool {
	if field == "user_id" {
		if n.prefix {
			return strings.HasPrefix(s, n.value)
		}
		return s == n.value
	}
	if n.prefix {
		return len(s) >= len(n.value) && strings.EqualFold(s[:len(n.value)], n.value)
	}
	return strings.EqualFold(s, n.value)
}

func (n rangeNode) match(u *user) bool {
	for _, v := range values(fieldValue(u, n.field)) {
		s := strings.ToLower(v)
		if n.lo != "*" && (s < n.lo || !n.loIncl && s == n.lo) {
			continue
		}
		if n.hi != "*" && (s > n.hi && !strings.HasPrefix(s, n.hi) || !n.hiIncl && s == n.hi) {
			continue
		}
		return true
	}
	return false
}

func (n existsNode) match(u *user) bool { return fieldValue(u, n.field) != nil }

// fieldValue returns a user's field by search name, following dots into metadata.
func fieldValue(u *user, field string) any {
	switch field {
	case "user_id":
		return u.UserID
	case "email":
		return nonEmptyAny(u.Email)
	case "email_verified":
		return u.EmailVerified
	case "username":
		return nonEmptyAny(u.Username)
	case "phone_number":
		return nonEmptyAny(u.PhoneNumber)
	case "name":
		return nonEmptyAny(u.Name)
	case "given_name":
		return nonEmptyAny(u.GivenName)
	case "family_name":
		return nonEmptyAny(u.FamilyName)
	case "nickname":
		return nonEmptyAny(u.Nickname)
	case "blocked":
		if u.Blocked == nil {
			return nil
		}
		return *u.Blocked
	case "created_at":
		return u.CreatedAt
	case "updated_at":
		return u.UpdatedAt
	case "identities.connection", "connection":
		return u.Connection
	case "identities.provider":
		return u.Identities[0].Provider
	}
	root, rest, _ := strings.Cut(field, ".")
	var m map[string]any
	switch root {
	case "user_metadata":
		m = u.UserMetadata
	case "app_metadata":
		m = u.AppMetadata
	default:
		return nil
	}
	if rest == "" {
		if m == nil {
			return nil
		}
		return m
	}
	var cur any = m
	// Walk the dotted path without splitting it: this runs for every user of a scan.
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ".")
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = obj[part]; !ok {
			return nil
		}
	}
	return cur
}

func nonEmptyAny(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// values flattens a field value into the strings a term is compared with.
func values(v any) []string {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		var out []string
		for _, x := range t {
			out = append(out, values(x)...)
		}
		return out
	case map[string]any:
		return nil
	case float64:
		return []string{strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", t), "0"), ".")}
	default:
		return []string{fmt.Sprint(t)}
	}
}

// onlyUserIDs recognises `user_id:"a"` and `user_id:(a OR b ...)`, answered by id lookup.
func onlyUserIDs(n node) ([]string, bool) {
	switch t := n.(type) {
	case termNode:
		if t.field == "user_id" && !t.prefix {
			return []string{t.raw()}, true
		}
	case orNode:
		var ids []string
		for _, c := range t {
			sub, ok := onlyUserIDs(c)
			if !ok {
				return nil, false
			}
			ids = append(ids, sub...)
		}
		return ids, true
	}
	return nil, false
}

// onlyEmail recognises `email:"a@b.c"` (exact, not a prefix).
func onlyEmail(n node) (string, bool) {
	t, ok := n.(termNode)
	if !ok || t.field != "email" || t.prefix {
		return "", false
	}
	return t.value, true
}

// raw is the term's value as written; user ids are case-sensitive, so the lookup uses the
// original spelling kept in value's case-preserved twin.
func (n termNode) raw() string { return n.value }

// ParseQuery parses a users search query.
func ParseQuery(s string) (node, error) {
	p := &parser{toks: tokenize(s)}
	if len(p.toks) == 0 {
		return nil, errors.New("empty query")
	}
	n, err := p.or("")
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	return n, nil
}

type token struct {
	text   string
	quoted bool
}

func tokenize(s string) []token {
	var toks []token
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(' || r == ')' || r == '[' || r == ']' || r == '{' || r == '}' || r == ':':
			toks = append(toks, token{text: string(r)})
			i++
		case r == '"':
			j := i + 1
			var b strings.Builder
			for j < len(rs) && rs[j] != '"' {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
				}
				b.WriteRune(rs[j])
				j++
			}
			toks = append(toks, token{text: b.String(), quoted: true})
			i = j + 1
		default:
			j := i
			var b strings.Builder
			for j < len(rs) && !unicode.IsSpace(rs[j]) && !strings.ContainsRune("()[]{}:\"", rs[j]) {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
				}
				b.WriteRune(rs[j])
				j++
			}
			toks = append(toks, token{text: b.String()})
			i = j
		}
	}
	return toks
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() (token, bool) {
	if p.pos >= len(p.toks) {
		return token{}, false
	}
	return p.toks[p.pos], true
}

func (p *parser) isOp(word string) bool {
	t, ok := p.peek()
	return ok && !t.quoted && (t.text == word || word == "AND" && t.text == "&&" || word == "OR" && t.text == "||")
}

// or := and (OR and)*; within a field group, terms inherit the group's field.
func (p *parser) or(field string) (node, error) {
	var parts orNode
	for {
		n, err := p.and(field)
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
		if !p.isOp("OR") {
			break
		}
		p.pos++
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return parts, nil
}

// and := unary ((AND)? unary)*; juxtaposition is AND, as in Auth0's default operator.
func (p *parser) and(field string) (node, error) {
	var parts andNode
	for {
		n, err := p.unary(field)
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
		if p.isOp("AND") {
			p.pos++
			continue
		}
		t, ok := p.peek()
		if !ok || t.text == ")" && !t.quoted || p.isOp("OR") {
			break
		}
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return parts, nil
}

func (p *parser) unary(field string) (node, error) {
	if p.isOp("NOT") {
		p.pos++
		n, err := p.unary(field)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	t, ok := p.peek()
	if !ok {
		return nil, errors.New("unexpected end of query")
	}
	if strings.HasPrefix(t.text, "-") && !t.quoted && len(t.text) > 1 {
		p.toks[p.pos].text = t.text[1:]
		n, err := p.unary(field)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	if t.text == "(" && !t.quoted {
		p.pos++
		n, err := p.or(field)
		if err != nil {
			return nil, err
		}
		if t, ok := p.peek(); !ok || t.text != ")" {
			return nil, errors.New("missing )")
		}
		p.pos++
		return n, nil
	}
	// field:...
	if !t.quoted && p.pos+1 < len(p.toks) && p.toks[p.pos+1].text == ":" && !p.toks[p.pos+1].quoted {
		name := t.text
		p.pos += 2
		if name == "_exists_" {
			v, ok := p.peek()
			if !ok {
				return nil, errors.New("_exists_ needs a field")
			}
			p.pos++
			return existsNode{field: v.text}, nil
		}
		if v, ok := p.peek(); ok && !v.quoted && (v.text == "[" || v.text == "{") {
			return p.rangeOf(name)
		}
		return p.unary(name)
	}
	p.pos++
	if t.text == ")" || t.text == ":" {
		return nil, fmt.Errorf("unexpected %q", t.text)
	}
	value := t.text
	prefix := !t.quoted && strings.HasSuffix(value, "*")
	if prefix {
		value = strings.TrimSuffix(value, "*")
	}
	if field == "user_id" {
		// Ids are exact and case-sensitive; keep them as written.
		return termNode{field: field, value: value, prefix: prefix, phrase: t.quoted}, nil
	}
	return termNode{field: field, value: strings.ToLower(value), prefix: prefix, phrase: t.quoted}, nil
}

func (p *parser) rangeOf(field string) (node, error) {
	open := p.toks[p.pos].text
	p.pos++
	if p.pos+3 >= len(p.toks)+1 {
		return nil, errors.New("incomplete range")
	}
	lo, _ := p.peek()
	p.pos++
	to, _ := p.peek()
	if to.text != "TO" {
		return nil, errors.New("range needs TO")
	}
	p.pos++
	hi, _ := p.peek()
	p.pos++
	closeTok, ok := p.peek()
	if !ok || closeTok.text != "]" && closeTok.text != "}" {
		return nil, errors.New("unterminated range")
	}
	p.pos++
	return rangeNode{field: field, lo: strings.ToLower(lo.text), hi: strings.ToLower(hi.text), loIncl: open == "[", hiIncl: closeTok.text == "]"}, nil
}
