package faults

import (
	"context"
	"fmt"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// Two namespaces whose lives end badly. team-gone is deleted as Kubernetes may delete a
// namespace: its tenant Secret first, then its objects; every Auth0 user it made must still be
// deleted. team-reused loses its objects with their finalizers force-removed (their Auth0 users
// stay), and a new team then declares objects of the same names: they must take nothing over
// and send no password there.
const (
	goneNS      = "team-gone"
	reusedNS    = "team-reused"
	churnUsers  = 6
	reusedCount = 4
)

type namespaceChurn struct {
	gone        []*v1alpha1.Auth0User
	goneBinding *v1alpha1.Auth0RoleBinding
	reused      []*v1alpha1.Auth0User
	// leaked are the Auth0 users team-reused's first objects left: id -> owner marker.
	leaked map[string]string
}

func newNamespaceChurn() *namespaceChurn {
	c := &namespaceChurn{leaked: map[string]string{}}
	c.goneBinding = &v1alpha1.Auth0RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: goneNS, Name: "viewers"},
		Spec: v1alpha1.Auth0RoleBindingSpec{TenantRef: &v1alpha1.TenantReference{SecretName: "tenant"},
			Roles: []v1alpha1.RoleReference{{Name: "viewer"}}}}
	for i := range churnUsers {
		u := churnUser(goneNS, i, "password")
		u.Spec.TenantRef = &v1alpha1.TenantReference{SecretName: "tenant"}
		c.gone = append(c.gone, u)
		c.goneBinding.Spec.Subjects = append(c.goneBinding.Spec.Subjects, v1alpha1.Subject{UserRef: u.Name})
	}
	for i := range reusedCount {
		c.reused = append(c.reused, churnUser(reusedNS, i, "password"))
	}
	return c
}

func churnUser(ns string, i int, passwordSecret string) *v1alpha1.Auth0User {
	return &v1alpha1.Auth0User{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("user-%02d", i)},
		Spec: v1alpha1.Auth0UserSpec{
			Connection:        "Username-Password-Authentication",
			Email:             email(ns, i),
			PasswordSecretRef: &v1alpha1.SecretKeyReference{Name: passwordSecret},
		},
	}
}

func (c *namespaceChurn) create(ctx context.Context, g *WithT, k8s client.Client, tenantURL string) {
	for _, ns := range []string{goneNS, reusedNS} {
		g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"faults.example/team": "yes"}}})).To(Succeed())
		g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "password"},
			StringData: map[string]string{"password": password(ns)}})).To(Succeed())
	}
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: goneNS, Name: "tenant"},
		StringData: map[string]string{"domain": tenantURL, "clientID": clientID, "clientSecret": clientSecret}})).To(Succeed())
	for _, u := range append(append([]*v1alpha1.Auth0User{}, c.gone...), c.reused...) {
		g.Expect(k8s.Create(ctx, u)).To(Succeed())
	}
	g.Expect(k8s.Create(ctx, c.goneBinding)).To(Succeed())
}

// deleteSecretsFirst deletes team-gone in the worst order a namespace deletion may take: its
// Secrets, then its objects.
func (c *namespaceChurn) deleteSecretsFirst(ctx context.Context, g *WithT, k8s client.Client) {
	for _, name := range []string{"tenant", "password"} {
		g.Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: goneNS, Name: name}})).To(Succeed())
	}
	g.Expect(k8s.Delete(ctx, c.goneBinding)).To(Succeed())
	for _, u := range c.gone {
		g.Expect(k8s.Delete(ctx, u)).To(Succeed())
	}
}

// notConverged lists what of team-gone is still there (nothing may stay Terminating, the tenant
// Secret included once nothing needs it) and team-reused's objects not yet Ready.
func (c *namespaceChurn) notConverged(ctx context.Context, k8s client.Client) []string {
	var out []string
	for _, obj := range []client.Object{c.goneBinding, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: goneNS, Name: "tenant"}}} {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object)); !apierrors.IsNotFound(err) {
			out = append(out, "still there: "+goneNS+"/"+obj.GetName())
		}
	}
	for _, u := range c.gone {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), &v1alpha1.Auth0User{}); !apierrors.IsNotFound(err) {
			out = append(out, "still there: "+goneNS+"/"+u.Name)
		}
	}
	for _, u := range c.reused {
		cur := &v1alpha1.Auth0User{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), cur); err != nil || !ready(cur.Status.Conditions, cur.Generation, cur.Status.ObservedGeneration) {
			out = append(out, "user "+reusedNS+"/"+u.Name)
		}
	}
	return out
}

// leakAndReuse force-removes the finalizers of team-reused's objects and deletes them (their
// Auth0 users stay, marked), then declares new objects of the same names with another password.
// Each must stall (UserExists) rather than take the old user over.
func (c *namespaceChurn) leakAndReuse(ctx context.Context, g *WithT, k8s client.Client) {
	for _, u := range c.reused {
		cur := &v1alpha1.Auth0User{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), cur)).To(Succeed())
		c.leaked[cur.Status.UserID] = "faults/" + reusedNS + "/" + cur.Name + "/" + string(cur.UID)
		g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), cur); err != nil {
				return err
			}
			cur.Finalizers = nil
			return k8s.Update(ctx, cur)
		})).To(Succeed())
		g.Expect(k8s.Delete(ctx, cur)).To(Succeed())
		g.Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(u), &v1alpha1.Auth0User{}))
		}).Should(BeTrue())
	}
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: reusedNS, Name: "password-2"},
		StringData: map[string]string{"password": newTeamPassword}})).To(Succeed())
	for i := range c.reused {
		g.Expect(k8s.Create(ctx, churnUser(reusedNS, i, "password-2"))).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		for i := range c.reused {
			cur := &v1alpha1.Auth0User{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(churnUser(reusedNS, i, "")), cur)).To(Succeed())
			g.Expect(cur.Status.UserID).To(BeEmpty(), "a new object took over %s", cur.Name)
			g.Expect(stalledWith(cur.Status.Conditions, "UserExists")).To(BeTrue(), "%s: %v", cur.Name, cur.Status.Conditions)
		}
	}).Should(Succeed())
}

const newTeamPassword = "New-Team-Passw0rd-4R"

// check: team-gone left no user in Auth0; team-reused's leaked users are untouched: still
// marked by the objects that made them, with their passwords.
func (c *namespaceChurn) check(g *WithT, tenant *emulator.Emulator) {
	for _, u := range c.gone {
		g.Expect(tenant.UsersByEmail(u.Spec.Email)).To(BeEmpty(), "%s outlived its namespace", u.Spec.Email)
	}
	g.Expect(c.leaked).To(HaveLen(reusedCount))
	for id, owner := range c.leaked {
		u := tenant.User(id)
		g.Expect(u).NotTo(BeNil())
		g.Expect(u["app_metadata"]).To(HaveKeyWithValue("usersync_owner", owner))
		g.Expect(tenant.PasswordIs(id, password(reusedNS))).To(BeTrue(), "a password reached %s, which the new object does not own", id)
	}
}

func stalledWith(conds []metav1.Condition, reason string) bool {
	for _, c := range conds {
		if c.Type == v1alpha1.ConditionStalled && c.Status == metav1.ConditionTrue {
			return c.Reason == reason
		}
	}
	return false
}
