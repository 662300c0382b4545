package main

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/usersync/auth0-operator/api/v1alpha1"
)

// watched are the resources whose writes are counted over a window (the steady-state resync,
// the drift phase), the operator's own two kinds first (printWrites relies on it). Events,
// Secrets and the (cluster-scoped) policies are watched in every namespace: envtest runs no
// other controller and the bench writes nothing to them during a window, so each write is the
// manager's.
var watched = []struct {
	label, namespace string
	gvr              schema.GroupVersionResource
}{
	{"Auth0User", ns, v1alpha1.GroupVersion.WithResource("auth0users")},
	{"Auth0RoleBinding", ns, v1alpha1.GroupVersion.WithResource("auth0rolebindings")},
	{"Auth0TenancyPolicy", "", v1alpha1.GroupVersion.WithResource("auth0tenancypolicies")},
	{"events", "", schema.GroupVersionResource{Group: "events.k8s.io", Version: "v1", Resource: "events"}},
	{"Secrets", "", corev1.SchemeGroupVersion.WithResource("secrets")},
}

// startWatches starts a writeWatch on every watched resource, in the order of watched.
func startWatches(ctx context.Context, dyn dynamic.Interface) ([]*writeWatch, error) {
	watches := make([]*writeWatch, len(watched))
	for i, w := range watched {
		var err error
		if watches[i], err = startWatch(ctx, dyn, w.label, w.gvr, w.namespace); err != nil {
			for _, started := range watches[:i] {
				_ = started.stop()
			}
			return nil, err
		}
	}
	return watches, nil
}

// stopWatches stops them all and returns the first error any of them met.
func stopWatches(watches []*writeWatch) error {
	var first error
	for _, w := range watches {
		if err := w.stop(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// writeWatch counts the writes to one resource from the resourceVersion of a fresh List on, so
// that only the window's changes are seen. Every watch event is a write that changed the object:
// the API server sends none for a no-op update, which keeps the resourceVersion.
type writeWatch struct {
	label  string
	res    dynamic.ResourceInterface
	last   map[string]*unstructured.Unstructured // each object as last seen, to tell status writes
	rv     string                                // the last resourceVersion seen, to resume from
	status int                                   // updates that changed .status and nothing the user owns
	other  int                                   // every other create, update or delete
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

func startWatch(ctx context.Context, dyn dynamic.Interface, label string, gvr schema.GroupVersionResource, namespace string) (*writeWatch, error) {
	w := &writeWatch{label: label, res: dyn.Resource(gvr).Namespace(namespace), last: map[string]*unstructured.Unstructured{}, done: make(chan struct{})}
	list, err := w.res.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot list %s: %w", label, err)
	}
	for i := range list.Items {
		w.last[key(&list.Items[i])] = &list.Items[i]
	}
	w.rv = list.GetResourceVersion()
	ctx, w.cancel = context.WithCancel(ctx)
	go w.run(ctx)
	return w, nil
}

func (w *writeWatch) run(ctx context.Context) {
	defer close(w.done)
	// The API server ends a watch after its request timeout (--min-request-timeout, 30 to 60
	// minutes): resume from the last resourceVersion seen, so that no write is missed. Bookmarks
	// keep that version recent; if it has been compacted away regardless, the new watch answers
	// 410 Gone and the bench fails rather than undercount.
	for ctx.Err() == nil {
		wi, err := w.res.Watch(ctx, metav1.ListOptions{ResourceVersion: w.rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() == nil {
				w.err = fmt.Errorf("cannot watch %s from resourceVersion %s: %w", w.label, w.rv, err)
			}
			return
		}
		for ev := range wi.ResultChan() {
			if ev.Type == watch.Error {
				if ctx.Err() != nil {
					return // stop cancelled the watch; client-go reports that as an error event too
				}
				w.err = fmt.Errorf("watch of %s failed: %w", w.label, apierrors.FromObject(ev.Object))
				wi.Stop()
				return
			}
			obj, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			w.rv = obj.GetResourceVersion()
			switch {
			case ev.Type == watch.Bookmark:
				continue
			case ev.Type == watch.Deleted && w.label == "events":
				continue // Events expire by their TTL: the API server's deletion, not the manager's
			case ev.Type == watch.Modified && statusOnly(w.last[key(obj)], obj):
				w.status++
			default:
				w.other++
			}
			w.last[key(obj)] = obj
		}
		wi.Stop()
	}
}

// stop ends the watch at the end of the window; a write made just before it may be delivered a
// few milliseconds late and missed, which is far below the figures' resolution.
func (w *writeWatch) stop() error {
	w.cancel()
	<-w.done
	return w.err
}

func key(obj *unstructured.Unstructured) string { return obj.GetNamespace() + "/" + obj.GetName() }

// statusOnly tells a status write (through the status subresource, or any update that changed
// .status alone) from a write to what the user or the manager's finalizer own.
func statusOnly(before, after *unstructured.Unstructured) bool {
	if before == nil {
		return false
	}
	same := func(fields ...string) bool {
		a, _, _ := unstructured.NestedFieldNoCopy(before.Object, fields...)
		b, _, _ := unstructured.NestedFieldNoCopy(after.Object, fields...)
		return equality.Semantic.DeepEqual(a, b)
	}
	return !same("status") && same("spec") && same("metadata", "finalizers") &&
		same("metadata", "labels") && same("metadata", "annotations")
}

// printWrites prints the status writes and other writes to the operator's own objects during a
// window, then every write watched.
func printWrites(window string, watches []*writeWatch) {
	var status, other, all []string
	var nstatus, nother, nall int
	for _, w := range watches[:2] { // Auth0User, Auth0RoleBinding
		status = append(status, fmt.Sprintf("%s %d", w.label, w.status))
		other = append(other, fmt.Sprintf("%s %d", w.label, w.other))
		nstatus, nother = nstatus+w.status, nother+w.other
	}
	for _, w := range watches {
		all = append(all, fmt.Sprintf("%s %d", w.label, w.status+w.other))
		nall += w.status + w.other
	}
	fmt.Printf("status writes during %s: %d (%s)\n", window, nstatus, strings.Join(status, ", "))
	fmt.Printf("other writes to them (spec, metadata, create, delete): %d (%s)\n", nother, strings.Join(other, ", "))
	fmt.Printf("API server writes of any kind during it: %d (%s)\n", nall, strings.Join(all, ", "))
}
