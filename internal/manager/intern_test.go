package manager

import (
	"fmt"
	"testing"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/usersync/auth0-operator/api/v1alpha1"
)

// decoded returns an Auth0User whose strings are all its own, as a watch event's decoding makes.
func decoded(i int) *v1alpha1.Auth0User {
	own := func(s string) string { return string([]byte(s)) }
	return &v1alpha1.Auth0User{
		ObjectMeta: metav1.ObjectMeta{Namespace: own("team-a"), Name: fmt.Sprintf("user-%d", i), Finalizers: []string{own("auth0.usersync.io/finalizer")}},
		Spec: v1alpha1.Auth0UserSpec{Connection: own("Username-Password-Authentication"), Email: fmt.Sprintf("u%d@example.com", i),
			DriftPolicy: v1alpha1.DriftPolicy(own("Correct")), TenantRef: &v1alpha1.TenantReference{SecretName: own("tenant")}},
		Status: v1alpha1.Auth0UserStatus{
			ReconcileStatus: v1alpha1.ReconcileStatus{Conditions: []metav1.Condition{{Type: own("Ready"), Status: metav1.ConditionStatus(own("True")), Reason: own("Succeeded"),
				Message: fmt.Sprintf("user auth0|%d matches the spec", i)}}},
			UserID: fmt.Sprintf("auth0|%d", i), TenantDomain: own("tenant.example.com"), ManagedUserMetadataKeys: []string{own("team")},
		},
	}
}

func same(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

func TestCachedUsersShareTheirRepeatedStrings(t *testing.T) {
	in := newInterner()
	a, b := decoded(1), decoded(2)
	if same(a.Spec.Connection, b.Spec.Connection) {
		t.Fatal("the fixture shares strings already")
	}
	in.user(a)
	in.user(b)
	for name, pair := range map[string][2]string{
		"namespace":     {a.Namespace, b.Namespace},
		"finalizer":     {a.Finalizers[0], b.Finalizers[0]},
		"connection":    {a.Spec.Connection, b.Spec.Connection},
		"drift policy":  {string(a.Spec.DriftPolicy), string(b.Spec.DriftPolicy)},
		"tenant Secret": {a.Spec.TenantRef.SecretName, b.Spec.TenantRef.SecretName},
		"condition":     {a.Status.Conditions[0].Reason, b.Status.Conditions[0].Reason},
		"status":        {string(a.Status.Conditions[0].Status), string(b.Status.Conditions[0].Status)},
		"tenant domain": {a.Status.TenantDomain, b.Status.TenantDomain},
		"metadata key":  {a.Status.ManagedUserMetadataKeys[0], b.Status.ManagedUserMetadataKeys[0]},
	} {
		if pair[0] != pair[1] || !same(pair[0], pair[1]) {
			t.Errorf("%s: %q and %q are not one copy", name, pair[0], pair[1])
		}
	}
	// What is each object's own is left as it is: values unchanged, nothing of it in the table.
	if a.Name != "user-1" || a.Spec.Email != "u1@example.com" || a.Status.UserID != "auth0|1" || a.Status.Conditions[0].Message != "user auth0|1 matches the spec" {
		t.Errorf("an object's own strings changed: %+v", a)
	}
	if _, ok := in.strings[a.Spec.Email]; ok {
		t.Error("an email was interned")
	}
}

func TestTheInternTableIsBounded(t *testing.T) {
	in := newInterner()
	for i := range 2 * maxInterned {
		u := decoded(i)
		u.Namespace = fmt.Sprintf("ns-%d", i)
		in.user(u)
		if u.Namespace != fmt.Sprintf("ns-%d", i) {
			t.Fatalf("namespace %d became %q", i, u.Namespace)
		}
	}
	if n := len(in.strings); n > maxInterned {
		t.Errorf("%d strings interned, more than %d", n, maxInterned)
	}
}
