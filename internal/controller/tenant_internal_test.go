package controller

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
)

// secretStore answers Gets of one Secret, in full or as metadata, and counts the full reads.
type secretStore struct {
	secret    *corev1.Secret
	fullReads int
}

func (s *secretStore) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if s.secret == nil || key != client.ObjectKeyFromObject(s.secret) {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, key.Name)
	}
	switch o := obj.(type) {
	case *corev1.Secret:
		s.fullReads++
		s.secret.DeepCopyInto(o)
	case *metav1.PartialObjectMetadata:
		o.ObjectMeta = *s.secret.ObjectMeta.DeepCopy()
	}
	return nil
}

func (s *secretStore) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

type staticProvider struct{ made int }

func (p *staticProvider) ClientFor(context.Context, auth0.Tenant) (auth0.Client, error) {
	p.made++
	return &auth0.Fake{}, nil
}

func TestTenantSecretIsReadOnlyWhenItChanges(t *testing.T) {
	store := &secretStore{secret: &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "tenant", UID: "u1", ResourceVersion: "1"},
		Data:       map[string][]byte{"domain": []byte("t.example"), "clientID": []byte("id"), "clientSecret": []byte("s")},
	}}
	provider := &staticProvider{}
	r := &TenantResolver{Reader: store, Metadata: store, Provider: provider}
	ref := &v1alpha1.TenantReference{SecretName: "tenant"}
	ctx := context.Background()
	for range 3 {
		if _, err := r.ClientFor(ctx, "team", ref); err != nil {
			t.Fatal(err)
		}
	}
	if store.fullReads != 1 {
		t.Errorf("an unchanged tenant Secret was read %d times, want 1", store.fullReads)
	}

	store.secret.ResourceVersion = "2"
	if _, err := r.ClientFor(ctx, "team", ref); err != nil {
		t.Fatal(err)
	}
	if store.fullReads != 2 || provider.made != 2 {
		t.Errorf("a changed Secret: %d reads, %d clients made; want 2 and 2", store.fullReads, provider.made)
	}

	store.secret = nil
	if _, err := r.ClientFor(ctx, "team", ref); err == nil {
		t.Error("a deleted tenant Secret still resolves")
	}
	withoutCache := &TenantResolver{Reader: &secretStore{secret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "other"}}}, Provider: provider}
	if _, err := withoutCache.ClientFor(ctx, "team", &v1alpha1.TenantReference{SecretName: "other"}); err == nil {
		t.Error("a Secret without keys resolves")
	}
}

// conflictingWriter answers every patch as the API server answers one made against an older
// resourceVersion: another worker changed the Secret first.
type conflictingWriter struct{ client.Writer }

func (conflictingWriter) Patch(context.Context, client.Object, client.Patch, ...client.PatchOption) error {
	return apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, "tenant", nil)
}

func TestHoldingATenantSecretAnotherWorkerHeldFirstSucceeds(t *testing.T) {
	key := client.ObjectKey{Namespace: "team", Name: "tenant"}
	stale := &secretStore{secret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, ResourceVersion: "1"}}}
	held := &secretStore{secret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, ResourceVersion: "2",
		Finalizers: []string{TenantSecretFinalizer}}}}
	r := &TenantResolver{Reader: held, Metadata: stale, Writer: conflictingWriter{}}
	if err := r.hold(context.Background(), key); err != nil {
		t.Errorf("hold after another worker put the finalizer = %v, want nil", err)
	}
	r.Reader = stale // nobody put it: the conflict is an error, retried
	if err := r.hold(context.Background(), key); err == nil {
		t.Error("hold = nil although the finalizer is on the Secret nowhere")
	}
}
