package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/conditions"
)

// Keys of a tenant Secret.
const (
	TenantKeyDomain       = "domain"
	TenantKeyClientID     = "clientID"
	TenantKeyClientSecret = "clientSecret"
	// TenantKeyCACert optionally holds the PEM of the only CA trusted for the tenant (the
	// emulator's); real Auth0 tenants leave it out.
	TenantKeyCACert = "caCert"
)

// ClientProvider returns the Auth0 client of a tenant; *auth0.Provider is the real one.
type ClientProvider interface {
	ClientFor(ctx context.Context, t auth0.Tenant) (auth0.Client, error)
}

// TenantResolver turns an object's tenant reference into an Auth0 client. A tenant Secret is only
// ever read from the object's own namespace; the default tenant's Secret lives in the operator's.
type TenantResolver struct {
	// Reader reads Secrets straight from the API server (the manager's cache never holds them).
	Reader client.Reader
	// Metadata reads Secrets' metadata from the manager's cache (the controllers watch it); a
	// tenant Secret is read again only when its resourceVersion moved. Nil: read every time.
	Metadata client.Reader
	Provider ClientProvider
	// Default names the default tenant's Secret; empty Name means there is no default tenant.
	Default types.NamespacedName
	// Writer puts TenantSecretFinalizer on tenant Secrets (see ClientFor); nil: it is not put
	// (unit tests with a fake client).
	Writer client.Writer

	mu sync.Mutex
	// resolved are the clients made from each tenant Secret, by the version they came from.
	resolved map[types.NamespacedName]resolvedTenant
	// domains are the domains tenant Secrets name, for comparing bindings' tenants.
	domains map[types.NamespacedName]domainEntry
}

type resolvedTenant struct {
	version string
	client  auth0.Client
}

// SecretVersion is the UID and resourceVersion of a Secret as the metadata cache has them, or ""
// when it cannot tell (no cache, or a namespace a namespaced install does not watch).
func (t *TenantResolver) SecretVersion(ctx context.Context, key types.NamespacedName) string {
	m, err := t.cachedMetadata(ctx, key)
	if err != nil {
		return ""
	}
	return versionOf(m)
}

// cachedMetadata reads a Secret's metadata from the manager's cache (never its content).
func (t *TenantResolver) cachedMetadata(ctx context.Context, key types.NamespacedName) (*metav1.PartialObjectMetadata, error) {
	if t.Metadata == nil {
		return nil, apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
	}
	m := secretMetadata()
	return m, t.Metadata.Get(ctx, key, m)
}

func versionOf(o metav1.Object) string { return string(o.GetUID()) + "/" + o.GetResourceVersion() }

// ClientFor resolves the tenant of an object in namespace ns. Before the client is handed out,
// the tenant Secret carries TenantSecretFinalizer (tenantsecret.go): credentials outlive the
// objects that may still need them to clean up in Auth0.
func (t *TenantResolver) ClientFor(ctx context.Context, ns string, ref *v1alpha1.TenantReference) (auth0.Client, error) {
	key := t.Default
	if ref != nil {
		key = types.NamespacedName{Namespace: ns, Name: ref.SecretName}
	} else if key.Name == "" {
		return nil, Stalled(conditions.ReasonTenantUnavailable, "spec.tenantRef is empty and the operator has no default tenant (--default-tenant-secret)")
	}
	if err := t.hold(ctx, key); err != nil {
		return nil, err
	}
	if v := t.SecretVersion(ctx, key); v != "" {
		t.mu.Lock()
		known, ok := t.resolved[key]
		t.mu.Unlock()
		if ok && known.version == v {
			return known.client, nil
		}
	}
	var secret corev1.Secret
	if err := t.Reader.Get(ctx, key, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, Stalled(conditions.ReasonTenantUnavailable, "tenant Secret %s not found", key)
		}
		return nil, KubernetesError("cannot get tenant Secret %s: %w", key, err)
	}
	tenant := auth0.Tenant{
		Domain:       string(secret.Data[TenantKeyDomain]),
		ClientID:     string(secret.Data[TenantKeyClientID]),
		ClientSecret: string(secret.Data[TenantKeyClientSecret]),
		CACertPEM:    secret.Data[TenantKeyCACert],
	}
	var missing []string
	for _, k := range []string{TenantKeyDomain, TenantKeyClientID, TenantKeyClientSecret} {
		if len(secret.Data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, Stalled(conditions.ReasonTenantUnavailable, "tenant Secret %s lacks the keys %v", key, missing)
	}
	c, err := t.Provider.ClientFor(ctx, tenant)
	if err != nil {
		return nil, Stalled(conditions.ReasonTenantUnavailable, "tenant Secret %s: %v", key, err)
	}
	t.mu.Lock()
	if t.resolved == nil {
		t.resolved = map[types.NamespacedName]resolvedTenant{}
	}
	t.resolved[key] = resolvedTenant{version: versionOf(&secret), client: c}
	t.rememberDomain(key, &secret)
	t.mu.Unlock()
	return c, nil
}

// TenantKey names the tenant Secret an object uses: "default", or namespace/name.
func TenantKey(ns string, ref *v1alpha1.TenantReference) string {
	if ref == nil {
		return "default"
	}
	return ns + "/" + ref.SecretName
}

// domainTTL bounds how long a tenant Secret's domain is trusted when the metadata cache cannot
// tell the Secret's version (a namespace a namespaced install does not watch): a Secret repointed
// at another tenant is noticed within it.
const domainTTL = 5 * time.Minute

type domainEntry struct {
	domain  string
	version string // of the Secret the domain was read from
	at      time.Time
}

// Domain is the tenant domain a tenant Secret names, lower-cased and without scheme, read again
// only when the Secret changed (Secrets are not in the manager's cache).
func (t *TenantResolver) Domain(ctx context.Context, ns string, ref *v1alpha1.TenantReference) (string, error) {
	key := t.Default
	if ref != nil {
		key = types.NamespacedName{Namespace: ns, Name: ref.SecretName}
	}
	if key.Name == "" {
		return "", fmt.Errorf("no default tenant")
	}
	version := t.SecretVersion(ctx, key)
	t.mu.Lock()
	e, ok := t.domains[key]
	t.mu.Unlock()
	if ok && (version != "" && e.version == version || version == "" && time.Since(e.at) < domainTTL) {
		return e.domain, nil
	}
	var secret corev1.Secret
	if err := t.Reader.Get(ctx, key, &secret); err != nil {
		return "", KubernetesError("cannot get tenant Secret %s: %w", key, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rememberDomain(key, &secret), nil
}

// rememberDomain records the domain a tenant Secret names, normalised; t.mu is held.
func (t *TenantResolver) rememberDomain(key types.NamespacedName, secret *corev1.Secret) string {
	domain := strings.ToLower(strings.TrimSpace(string(secret.Data[TenantKeyDomain])))
	domain = strings.TrimPrefix(strings.TrimPrefix(domain, "https://"), "http://")
	domain = strings.TrimSuffix(domain, "/")
	if t.domains == nil {
		t.domains = map[types.NamespacedName]domainEntry{}
	}
	t.domains[key] = domainEntry{domain: domain, version: versionOf(secret), at: time.Now()}
	return domain
}
