package emulator

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// allScopes is what a client without explicit scopes gets.
var allScopes = []string{
	"read:users", "create:users", "update:users", "update:users_app_metadata", "delete:users",
	"read:roles", "create:roles", "update:roles", "delete:roles",
	"read:role_members", "create:role_members", "delete:role_members",
	"read:resource_servers", "create:resource_servers", "update:resource_servers", "delete:resource_servers",
}

var (
	keyOnce   sync.Once
	sharedKey *rsa.PrivateKey
	keyErr    error
)

// signingKey is generated once per process: 2048-bit RSA generation takes long enough that
// tests starting many emulators would notice.
func signingKey() (*rsa.PrivateKey, error) {
	keyOnce.Do(func() { sharedKey, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	return sharedKey, keyErr
}

type claims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
	Scope     string `json:"scope"`
	GrantType string `json:"gty"`
	AZP       string `json:"azp"`
}

// token implements POST /oauth/token for the client-credentials grant.
func (e *Emulator) token(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		Audience     string `json:"audience"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		_ = r.ParseForm()
		req.GrantType, req.ClientID, req.ClientSecret, req.Audience = r.PostForm.Get("grant_type"), r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), r.PostForm.Get("audience")
	} else if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Invalid request body"})
		return
	}
	if req.GrantType != "client_credentials" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "unauthorized_client", "error_description": "Grant type '" + req.GrantType + "' not allowed for the client."})
		return
	}
	unauthorized := func() {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "access_denied", "error_description": "Unauthorized"})
	}
	if id, secret, present, ok := basicCredentials(r); present {
		// client_secret_basic: the credentials are in the Authorization header, and the body
		// usually carries neither. Credentials also in the body must agree with the header's.
		if !ok || req.ClientID != "" && req.ClientID != id || req.ClientSecret != "" && req.ClientSecret != secret {
			unauthorized()
			return
		}
		req.ClientID, req.ClientSecret = id, secret
	}
	client, ok := e.cfg.Clients[req.ClientID]
	if !ok || client.Secret != req.ClientSecret {
		unauthorized()
		return
	}
	if !e.audienceAccepted(r, req.Audience) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "access_denied", "error_description": "Service not enabled within domain: " + req.Audience})
		return
	}
	scopes := client.Scopes
	if scopes == nil {
		scopes = allScopes
	}
	now := e.cfg.Now()
	c := claims{
		Issuer: "https://" + e.domain(r) + "/", Subject: req.ClientID + "@clients", Audience: req.Audience,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(e.cfg.TokenTTL).Unix(), Scope: strings.Join(scopes, " "),
		GrantType: "client-credentials", AZP: req.ClientID,
	}
	tok, err := e.sign(c)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "scope": c.Scope, "expires_in": int64(e.cfg.TokenTTL / time.Second), "token_type": "Bearer",
	})
}

// basicCredentials reads HTTP Basic client authentication (client_secret_basic): present says
// whether the request uses it, ok whether the header is well formed. Per RFC 6749 §2.3.1 the
// client id and secret are form-encoded before being joined and base64-encoded, as
// golang.org/x/oauth2 does; a value that does not decode is taken as sent.
func basicCredentials(r *http.Request) (id, secret string, present, ok bool) {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, false
	}
	id, secret, ok = r.BasicAuth()
	if !ok || id == "" {
		return "", "", true, false
	}
	return formDecoded(id), formDecoded(secret), true, true
}

func formDecoded(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// domain is the tenant's domain as named in tokens' issuer.
func (e *Emulator) domain(r *http.Request) string {
	if e.cfg.Domain != "" {
		return e.cfg.Domain
	}
	return r.Host
}

// audienceAccepted reports whether aud names this tenant's Management API: the configured
// Domain's, or the one of the Host the client dialled (the SDK derives the audience from the
// domain it was given, host:port for a local emulator).
func (e *Emulator) audienceAccepted(r *http.Request, aud string) bool {
	return aud == "https://"+r.Host+"/api/v2/" || e.cfg.Domain != "" && aud == "https://"+e.cfg.Domain+"/api/v2/"
}

func (e *Emulator) sign(c claims) (string, error) {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"emulator"}`))
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signingInput := header + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, e.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("cannot sign token: %w", err)
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// maxVerifiedTokens bounds the cache of verified tokens; clients reuse a handful of tokens.
const maxVerifiedTokens = 10_000

// verify checks a bearer token's signature, expiry and audience. Verified tokens are cached:
// an RSA verification per request would dominate the emulator's cost.
func (e *Emulator) verify(r *http.Request, token string) (*claims, string) {
	v, cached := e.verified.Load(token)
	c, _ := v.(*claims)
	if !cached {
		var problem string
		if c, problem = e.verifySignature(token); c == nil {
			return nil, problem
		}
		if e.verifiedCount.Add(1) > maxVerifiedTokens {
			e.verified.Clear()
			e.verifiedCount.Store(0)
		}
		e.verified.Store(token, c)
	}
	if e.cfg.Now().Unix() >= c.ExpiresAt {
		return nil, "Expired token received for JSON Web Token validation"
	}
	if !e.audienceAccepted(r, c.Audience) {
		return nil, "Bad audience: " + c.Audience
	}
	return c, ""
}

func (e *Emulator) verifySignature(token string) (*claims, string) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, "Bad HTTP authentication header format"
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, "Invalid token"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&e.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return nil, "Invalid token"
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, "Invalid token"
	}
	var c claims
	if json.Unmarshal(raw, &c) != nil {
		return nil, "Invalid token"
	}
	return &c, ""
}

type claimsKey struct{}

// authorize answers 401 without a valid token and 403 when it lacks every one of the scopes.
// It returns the request carrying the token's claims, for handlers whose checks depend on the
// body (see grantedScope).
func (e *Emulator) authorize(w http.ResponseWriter, r *http.Request, anyOf []string) (*http.Request, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		writeError(w, http.StatusUnauthorized, "", "Missing authentication")
		return r, false
	}
	c, problem := e.verify(r, token)
	if c == nil {
		writeError(w, http.StatusUnauthorized, "", problem)
		return r, false
	}
	r = r.WithContext(context.WithValue(r.Context(), claimsKey{}, c))
	if !grantedScope(r, anyOf...) {
		insufficientScope(w, anyOf...)
		return r, false
	}
	return r, true
}

// grantedScope reports whether the request's verified token carries any of the scopes.
func grantedScope(r *http.Request, anyOf ...string) bool {
	c, _ := r.Context().Value(claimsKey{}).(*claims)
	if c == nil {
		return false
	}
	granted := strings.Fields(c.Scope)
	for _, s := range anyOf {
		if slices.Contains(granted, s) {
			return true
		}
	}
	return false
}

func insufficientScope(w http.ResponseWriter, anyOf ...string) {
	writeError(w, http.StatusForbidden, "insufficient_scope", "Insufficient scope, expected any of: "+strings.Join(anyOf, ","))
}
