package controller

import (
	"context"
	"errors"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/conditions"
	"github.com/usersync/auth0-operator/internal/policy"
)

// +kubebuilder:rbac:groups=auth0.usersync.io,resources=auth0tenancypolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// TenancyPolicies answers, from the manager's cache, what the objects of a namespace may do
// according to the Auth0TenancyPolicy objects selecting it (see internal/policy).
type TenancyPolicies struct {
	Reader client.Reader
	// Required refuses objects in namespaces no policy selects; without it such namespaces are
	// unrestricted (a cluster with one team).
	Required bool
}

// For evaluates the policies of one namespace. Only the namespace's metadata is cached.
func (p *TenancyPolicies) For(ctx context.Context, namespace string) (policy.Effective, error) {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := p.Reader.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		return policy.Effective{}, KubernetesError("cannot get namespace %s: %w", namespace, err)
	}
	var list v1alpha1.Auth0TenancyPolicyList
	if err := p.Reader.List(ctx, &list); err != nil {
		return policy.Effective{}, KubernetesError("cannot list Auth0TenancyPolicies: %w", err)
	}
	return policy.For(namespace, ns.Labels, list.Items, p.Required), nil
}

// Denied turns a policy's refusal into the Stalled condition PolicyDenied; other errors pass.
func Denied(err error) error {
	var d *policy.Denial
	if errors.As(err, &d) {
		return Stalled(conditions.ReasonPolicyDenied, "denied by tenancy policy: %s", d.Message)
	}
	return err
}

// WatchTenancy re-reconciles the objects a policy change may allow or deny: those in the
// namespaces the policy selected before or selects now, and those of a namespace whose labels
// change.
func WatchTenancy(b *builder.Builder, c client.Reader, newList func() client.ObjectList) *builder.Builder {
	return b.
		Watches(&v1alpha1.Auth0TenancyPolicy{}, policyEvents(c, newList)).
		WatchesMetadata(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, ns client.Object) []reconcile.Request {
				return requestsIn(ctx, c, newList(), ns.GetName())
			}), builder.WithPredicates(predicate.LabelChangedPredicate{}))
}

// policyEvents enqueues the objects of the namespaces a created, changed or deleted policy
// selects (for a change, with its old selector or its new one).
func policyEvents(c client.Reader, newList func() client.ObjectList) handler.EventHandler {
	enqueue := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], policies ...client.Object) {
		var selectors []labels.Selector
		for _, p := range policies {
			if sel, err := metav1.LabelSelectorAsSelector(&p.(*v1alpha1.Auth0TenancyPolicy).Spec.NamespaceSelector); err == nil {
				selectors = append(selectors, sel)
			}
		}
		namespaces := &metav1.PartialObjectMetadataList{}
		namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
		if err := c.List(ctx, namespaces); err != nil {
			log.FromContext(ctx).Error(err, "cannot list namespaces to re-check against a changed tenancy policy")
			return
		}
		for _, ns := range namespaces.Items {
			if slices.ContainsFunc(selectors, func(sel labels.Selector) bool { return sel.Matches(labels.Set(ns.Labels)) }) {
				for _, req := range requestsIn(ctx, c, newList(), ns.Name) {
					q.Add(req)
				}
			}
		}
	}
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.ObjectOld, e.ObjectNew)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
	}
}

// requestsIn lists the objects of a kind in a namespace ("" for all) as reconcile requests.
func requestsIn(ctx context.Context, c client.Reader, list client.ObjectList, namespace string) []reconcile.Request {
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		// A namespaced install caches only its namespaces, yet sees every Namespace: one it does
		// not watch holds nothing of its. controller-runtime's multi-namespace cache says so
		// with an untyped error.
		if !strings.Contains(err.Error(), "unknown namespace for the cache") {
			log.FromContext(ctx).Error(err, "cannot list objects to re-check against the tenancy policy", "namespace", namespace)
		}
		return nil
	}
	var reqs []reconcile.Request
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		obj := o.(client.Object)
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
		return nil
	})
	return reqs
}
