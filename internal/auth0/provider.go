package auth0

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/auth0/go-auth0/management"
)

// ProviderOptions configure every tenant client a Provider makes.
type ProviderOptions struct {
	// RequestsPerSecond paces a tenant until its first response announces the real limit;
	// 0 means unpaced until then.
	RequestsPerSecond float64
	// Reserve is the share of a tenant's announced budget left for its other clients (0 to 0.9).
	Reserve float64
	// Timeout bounds one HTTP attempt (not the waits for the rate limit); default 30s.
	Timeout time.Duration
	// Observer receives request and rate-limit metrics; nil: none.
	Observer Observer
	// UserAgent is sent with every request; default "auth0-operator".
	UserAgent string
}

// Provider hands out one Client per tenant credential, sharing one rate limiter per tenant
// domain across them.
type Provider struct {
	opts ProviderOptions

	mu       sync.Mutex
	clients  map[string]Client
	limiters map[string]*limiter
}

// NewProvider makes a Provider.
func NewProvider(opts ProviderOptions) *Provider {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "auth0-operator"
	}
	return &Provider{opts: opts, clients: map[string]Client{}, limiters: map[string]*limiter{}}
}

// ClientFor returns the Client of a tenant credential, making it on first use. A rotated secret
// or CA makes a new client (the key includes their hashes, never the secret itself).
func (p *Provider) ClientFor(_ context.Context, t Tenant) (Client, error) {
	base, err := baseURL(t.Domain)
	if err != nil {
		return nil, err
	}
	secretHash := sha256.Sum256([]byte(t.ClientSecret + "\x00" + string(t.CACertPEM)))
	key := base.String() + "|" + t.ClientID + "|" + hex.EncodeToString(secretHash[:])

	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c, nil
	}
	lim, ok := p.limiters[base.Host]
	if !ok {
		lim = newLimiter(p.opts.RequestsPerSecond, p.opts.Reserve)
		p.limiters[base.Host] = lim
	}

	httpTransport := http.DefaultTransport.(*http.Transport).Clone()
	httpTransport.MaxIdleConnsPerHost = 32
	if len(t.CACertPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.CACertPEM) {
			return nil, errors.New("the tenant's caCert holds no PEM certificate")
		}
		httpTransport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	plain := &http.Client{Transport: httpTransport, Timeout: p.opts.Timeout}
	tokens := newTokenSource(plain, base, t.ClientID, t.ClientSecret, p.opts.Timeout)
	authed := &http.Client{
		// No client timeout: it would include the waits for the rate limit. The transport
		// bounds each attempt instead; the caller's context bounds the whole call.
		Transport: &transport{base: httpTransport, tokens: tokens, limiter: lim, observer: p.opts.Observer, timeout: p.opts.Timeout},
	}
	opts := []management.Option{
		management.WithClient(authed),
		// Our transport retries 429 after the announced reset; 5xx go back to the controller,
		// whose backoff is the retry. The SDK's own retries would double both.
		management.WithNoRetries(),
		// The transport sets the Authorization header; a static placeholder keeps the SDK from
		// starting its own client-credentials flow.
		management.WithStaticToken("set-by-transport"),
		management.WithUserAgent(p.opts.UserAgent),
		management.WithNoAuth0ClientInfo(),
	}
	if base.Scheme == "http" {
		opts = append(opts, management.WithInsecure())
	}
	m, err := management.New(base.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot create the Management API client: %w", err)
	}
	c := &sdkClient{m: m, sensitive: tokens.sensitive}
	// The client of an old secret is kept, not evicted: two objects may still name different
	// Secrets of one credential during a rotation, and evicting would make them thrash (a new
	// client and token fetch per call). A client weighs a few kilobytes.
	p.clients[key] = c
	return c, nil
}

// baseURL parses a tenant domain: a bare host means HTTPS; an explicit http:// is accepted for
// the emulator.
func baseURL(domain string) (*url.URL, error) {
	domain = strings.TrimSpace(strings.TrimSuffix(domain, "/"))
	if domain == "" {
		return nil, errors.New("the tenant domain is empty")
	}
	if !strings.Contains(domain, "://") {
		domain = "https://" + domain
	}
	u, err := url.Parse(domain)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("the tenant domain %q is not a host name or http(s) URL", domain)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}
