package controller

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
)

// stubKind answers every pass with err.
type stubKind struct{ err error }

func (k *stubKind) Reconcile(context.Context, *v1alpha1.Auth0User) error { return k.err }
func (k *stubKind) Delete(context.Context, *v1alpha1.Auth0User) error    { return nil }
func (k *stubKind) ReadyMessage(*v1alpha1.Auth0User) string              { return "ready" }
func (k *stubKind) ResyncAfter(_ *v1alpha1.Auth0User, stalled bool) time.Duration {
	if stalled {
		return 2 * time.Minute
	}
	return time.Minute
}

// TestShellSummarizesAndWritesOnlyChanges runs the shell over one object through success, an
// edit into a stall, and repeated passes, counting the status writes it sends.
func TestShellSummarizesAndWritesOnlyChanges(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = v1alpha1.AddToScheme(scheme)
	obj := &v1alpha1.Auth0User{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "u", Generation: 1}}
	statusWrites := 0
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(obj).WithStatusSubresource(obj).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			statusWrites++
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		}}).Build()
	kind := &stubKind{}
	recorder := events.NewFakeRecorder(10)
	r := &Reconciler[*v1alpha1.Auth0User]{Client: c, Recorder: recorder, Kind: kind, New: func() *v1alpha1.Auth0User { return &v1alpha1.Auth0User{} }}
	pass := func() (ctrl.Result, *v1alpha1.Auth0User) {
		t.Helper()
		res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
		if err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		got := &v1alpha1.Auth0User{}
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), got); err != nil {
			t.Fatal(err)
		}
		return res, got
	}

	res, got := pass()
	if !conditions.IsTrue(got.Status.Conditions, v1alpha1.ConditionReady) || got.Status.ObservedGeneration != 1 || res.RequeueAfter != time.Minute {
		t.Fatalf("after success: %+v, requeue %v", got.Status, res.RequeueAfter)
	}
	if got.Status.LastSyncTime == nil || statusWrites != 1 {
		t.Fatalf("a first success writes the status once with lastSyncTime: writes %d, %+v", statusWrites, got.Status.LastSyncTime)
	}
	pass()
	pass()
	if statusWrites != 1 {
		t.Fatalf("passes that change nothing wrote the status %d more times", statusWrites-1)
	}

	// The spec is edited into something only a change can fix.
	got.Generation = 2
	if err := c.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	kind.err = Stalled(conditions.ReasonInvalidSpec, "key %q has a dot", "a.b")
	res, got = pass()
	st := got.Status
	if !conditions.IsTrue(st.Conditions, v1alpha1.ConditionStalled) || conditions.Reason(st.Conditions, v1alpha1.ConditionStalled) != conditions.ReasonInvalidSpec {
		t.Fatalf("not stalled: %+v", st.Conditions)
	}
	if st.ObservedGeneration != 2 {
		t.Fatalf("a terminal stall is an observation: observedGeneration %d, want 2", st.ObservedGeneration)
	}
	if res.RequeueAfter != 2*time.Minute {
		t.Fatalf("a stalled object waits for the resync, requeue %v", res.RequeueAfter)
	}
	if len(recorder.Events) != 1 {
		t.Fatalf("want one Warning event for the stall, got %d", len(recorder.Events))
	}
	writes := statusWrites
	pass()
	if statusWrites != writes || len(recorder.Events) != 1 {
		t.Fatalf("the same stall again wrote %d statuses and %d more events", statusWrites-writes, len(recorder.Events)-1)
	}
}

// The status patch carries only what the pass changed: a pass working from a cached copy older
// than the last write must not undo what it did not touch (a user id, a binding's grants).
func TestStatusMergePatchSendsOnlyWhatChanged(t *testing.T) {
	ready := []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "InSync"}}
	waiting := []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "PolicyDenied"}}
	tests := []struct {
		name          string
		before, after v1alpha1.Auth0UserStatus
		want          string
	}{
		{"nothing changed", v1alpha1.Auth0UserStatus{UserID: "a"}, v1alpha1.Auth0UserStatus{UserID: "a"}, `{"status":{}}`},
		{"a stale copy's pass changes its conditions alone", // the server has a user id this copy lacks
			v1alpha1.Auth0UserStatus{CreateAttempted: true, ReconcileStatus: v1alpha1.ReconcileStatus{Conditions: ready}},
			v1alpha1.Auth0UserStatus{CreateAttempted: true, ReconcileStatus: v1alpha1.ReconcileStatus{Conditions: waiting}},
			`{"status":{"conditions":[{"type":"Ready","status":"False","lastTransitionTime":null,"reason":"PolicyDenied","message":""}]}}`},
		{"a field set and one cleared", v1alpha1.Auth0UserStatus{CreateAttempted: true}, v1alpha1.Auth0UserStatus{UserID: "a"},
			`{"status":{"createAttempted":null,"userID":"a"}}`},
		{"a nested object is diffed",
			v1alpha1.Auth0UserStatus{Password: &v1alpha1.PasswordStatus{SecretUID: "u", SecretResourceVersion: "1", Key: "pw"}},
			v1alpha1.Auth0UserStatus{Password: &v1alpha1.PasswordStatus{SecretUID: "u", SecretResourceVersion: "2", Key: "pw"}},
			`{"status":{"password":{"secretResourceVersion":"2"}}}`},
		{"a list is sent whole", v1alpha1.Auth0UserStatus{ManagedUserMetadataKeys: []string{"a", "b"}},
			v1alpha1.Auth0UserStatus{ManagedUserMetadataKeys: []string{"a"}}, `{"status":{"managedUserMetadataKeys":["a"]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := statusMergePatch(&tt.before, &tt.after)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("patch = %s\nwant    %s", got, tt.want)
			}
		})
	}
}
