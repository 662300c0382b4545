package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"

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

	mu sync.Mutex
	// resolved are the clients made from each tenant Secret, by the version they came from.
	resolved map[types.NamespacedName]resolvedTenant
}

type resolvedTenant struct {
	version string
	client  auth0.Client
}

// secretVersion is the UID and resourceVersion of a Secret as the metadata cache has them, or ""
// when it cannot tell (no cache, or a namespace a namespaced install does not watch).
func (t *TenantResolver) secretVersion(ctx context.Context, key types.NamespacedName) string {
	if t.Metadata == nil {
		return ""
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := t.Metadata.Get(ctx, key, m); err != nil {
		return ""
	}
	return versionOf(m)
}

func versionOf(o metav1.Object) string { return string(o.GetUID()) + "/" + o.GetResourceVersion() }

// errStalled is a failure that retrying cannot fix: the object waits for its spec, a Secret or
// the tenant to change. Reason and message go into the Stalled condition.
type errStalled struct {
	reason  string
	message string
}

func (e *errStalled) Error() string { return e.message }

func stalled(reason, format string, args ...any) error {
	return &errStalled{reason: reason, message: fmt.Sprintf(format, args...)}
}

// ClientFor resolves the tenant of an object in namespace ns.
func (t *TenantResolver) ClientFor(ctx context.Context, ns string, ref *v1alpha1.TenantReference) (auth0.Client, error) {
	key := t.Default
	if ref != nil {
		key = types.NamespacedName{Namespace: ns, Name: ref.SecretName}
	} else if key.Name == "" {
		return nil, stalled(conditions.ReasonTenantUnavailable, "spec.tenantRef is empty and the operator has no default tenant (--default-tenant-secret)")
	}
	if v := t.secretVersion(ctx, key); v != "" {
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
			return nil, stalled(conditions.ReasonTenantUnavailable, "tenant Secret %s not found", key)
		}
		return nil, fmt.Errorf("cannot get tenant Secret %s: %w", key, err)
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
		return nil, stalled(conditions.ReasonTenantUnavailable, "tenant Secret %s lacks the keys %v", key, missing)
	}
	c, err := t.Provider.ClientFor(ctx, tenant)
	if err != nil {
		return nil, stalled(conditions.ReasonTenantUnavailable, "tenant Secret %s: %v", key, err)
	}
	t.mu.Lock()
	if t.resolved == nil {
		t.resolved = map[types.NamespacedName]resolvedTenant{}
	}
	t.resolved[key] = resolvedTenant{version: versionOf(&secret), client: c}
	t.mu.Unlock()
	return c, nil
}

// classify turns an error of a reconcile step into the condition it deserves. Terminal errors
// (Auth0 rejected the request, or the object's input is wrong) stall the object; everything else
// is retried with backoff. Messages come from Auth0 or from this operator, never from a Secret.
func classify(err error) (reason, message string, terminal bool) {
	var st *errStalled
	if errors.As(err, &st) {
		return st.reason, st.message, true
	}
	var a0 *auth0.Error
	if errors.As(err, &a0) {
		if auth0.IsRetryable(err) {
			return conditions.ReasonAuth0Unavailable, err.Error(), false
		}
		return conditions.ReasonAuth0Rejected, err.Error(), true
	}
	return conditions.ReasonAuth0Unavailable, err.Error(), false
}
