package controller_test

import (
	"fmt"
	"github.com/usersync/auth0-operator/internal/controller"
	"net/url"
	"strings"
	"sync/atomic"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

const testPassword = "Corr3ct-Horse-Battery-Staple"

var namespaceCounter atomic.Int64

// newNamespace creates a namespace of its own for one spec.
func newNamespace() string {
	name := fmt.Sprintf("spec-%d", namespaceCounter.Add(1))
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	return name
}

func tenantSecret(ns, name, clientID, clientSecret string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		StringData: map[string]string{"domain": tenantURL, "clientID": clientID, "clientSecret": clientSecret},
	}
}

func passwordSecret(ns, name, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		StringData: map[string]string{"password": password},
	}
}

func condition(conds []metav1.Condition, t string) *metav1.Condition {
	return meta.FindStatusCondition(conds, t)
}

// getUser fetches an Auth0User.
func getUser(obj *v1alpha1.Auth0User) func(g Gomega) *v1alpha1.Auth0User {
	return func(g Gomega) *v1alpha1.Auth0User {
		out := &v1alpha1.Auth0User{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), out)).To(Succeed())
		return out
	}
}

// statusOf returns the conditions and observed generation of either kind.
func statusOf(obj client.Object) ([]metav1.Condition, int64) {
	st := obj.(controller.Object).GetReconcileStatus()
	return st.Conditions, st.ObservedGeneration
}

// waitReady fetches obj into out until it is Ready for its current generation.
func waitReady[T client.Object](obj client.Object, out T) T {
	EventuallyWithOffset(2, func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), out)).To(Succeed())
		conds, observed := statusOf(out)
		ready := condition(conds, v1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), ready.Message)
		g.Expect(observed).To(Equal(out.GetGeneration()))
	}).Should(Succeed())
	return out
}

// waitStalled fetches obj into out until it is Stalled with the given reason.
func waitStalled[T client.Object](obj client.Object, out T, reason string) T {
	EventuallyWithOffset(2, func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), out)).To(Succeed())
		conds, _ := statusOf(out)
		st := condition(conds, v1alpha1.ConditionStalled)
		g.Expect(st).NotTo(BeNil())
		g.Expect(st.Reason).To(Equal(reason), st.Message)
	}).Should(Succeed())
	return out
}

// readyUser waits until the object is Ready for its current generation and returns it.
func readyUser(obj client.Object) *v1alpha1.Auth0User { return waitReady(obj, &v1alpha1.Auth0User{}) }

// stalledUser waits until the object is Stalled with the given reason and returns it.
func stalledUser(obj client.Object, reason string) *v1alpha1.Auth0User {
	return waitStalled(obj, &v1alpha1.Auth0User{}, reason)
}

func readyBinding(obj client.Object) *v1alpha1.Auth0RoleBinding {
	return waitReady(obj, &v1alpha1.Auth0RoleBinding{})
}

func stalledBinding(obj client.Object, reason string) *v1alpha1.Auth0RoleBinding {
	return waitStalled(obj, &v1alpha1.Auth0RoleBinding{}, reason)
}

// --- The emulated tenant, inspected and changed out of band (as an admin or application would).

func seed() emulator.Seed {
	return emulator.Seed{
		Connections: []emulator.Connection{{Name: "google-oauth2", Strategy: "google-oauth2"}},
		ResourceServers: []emulator.SeedResourceServer{
			{Name: "Reports API", Identifier: "https://api.example.com", Scopes: []string{"read:reports", "write:reports"}},
		},
		Roles: []emulator.SeedRole{
			{Name: "admin", Description: "Administrators", Permissions: []string{"https://api.example.com write:reports"}},
			{Name: "viewer", Description: "Read-only", Permissions: []string{"https://api.example.com read:reports"}},
			{Name: "editor", Description: "Editors"},
		},
	}
}

func emuUser(id string) map[string]any { return tenant.User(id) }

func emuUsersByEmail(email string) []map[string]any { return tenant.UsersByEmail(email) }

func emuPatch(id string, patch map[string]any) {
	ExpectWithOffset(1, tenant.PatchUser(id, patch)).To(Succeed())
}

func emuSetPassword(id, pw string) { emuPatch(id, map[string]any{"password": pw}) }

func emuPasswordIs(id, pw string) bool { return tenant.PasswordIs(id, pw) }

func emuDeleteUser(id string) { tenant.DeleteUser(id) }

func emuLoseNextCreate() { tenant.LoseNextResponses("POST /api/v2/users", 1) }

func emuCreateUser(email string, userMetadata map[string]any) string {
	id, err := tenant.CreateUser(emulator.SeedUser{Email: email, Password: testPassword, UserMetadata: userMetadata})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return id
}

// emuEvents returns the notes of the events about an object.
func emuEvents(ns, name string) []string {
	var list eventsv1.EventList
	ExpectWithOffset(1, k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var notes []string
	for _, ev := range list.Items {
		if ev.Regarding.Name == name {
			notes = append(notes, ev.Reason+": "+ev.Note)
		}
	}
	return notes
}

type callCount struct{ reads, writes int }

// emuCallsFor counts the Management API calls about one user made while fn runs.
func emuCallsFor(fn func(), userID string) callCount {
	before := len(tenant.Requests())
	fn()
	escaped := url.PathEscape(userID)
	var c callCount
	for _, line := range tenant.Requests()[before:] {
		if !strings.Contains(line, escaped) && !strings.Contains(line, userID) {
			continue
		}
		if strings.HasPrefix(line, "GET ") {
			c.reads++
		} else {
			c.writes++
		}
	}
	return c
}

// emuCallsMatching counts the Management API calls whose path or query mention s while fn runs.
func emuCallsMatching(fn func(), s string) int {
	before := len(tenant.Requests())
	fn()
	n := 0
	for _, line := range tenant.Requests()[before:] {
		if strings.Contains(line, s) || strings.Contains(line, url.QueryEscape(s)) {
			n++
		}
	}
	return n
}
