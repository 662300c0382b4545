package faults

import (
	"context"
	"fmt"
	"strings"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// workload is the mixed set of objects the suite declares, and what it expects of the tenant.
type workload struct {
	nss      []string
	users    []*v1alpha1.Auth0User
	bindings []*v1alpha1.Auth0RoleBinding
	deleted  map[string]bool // namespace/name of the Auth0Users deleted during the faults
	// appKeys are the emails of the users whose metadata the application wrote to.
	appKeys map[string]bool
}

func newWorkload(nsCount, perNS int) *workload {
	w := &workload{deleted: map[string]bool{}, appKeys: map[string]bool{}}
	for n := range nsCount {
		ns := fmt.Sprintf("team-%d", n)
		w.nss = append(w.nss, ns)
		for i := range perNS {
			u := &v1alpha1.Auth0User{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("user-%02d", i)},
				Spec: v1alpha1.Auth0UserSpec{
					Connection:        "Username-Password-Authentication",
					Email:             email(ns, i),
					Name:              fmt.Sprintf("User %d of %s", i, ns),
					PasswordSecretRef: &v1alpha1.SecretKeyReference{Name: "password"},
					UserMetadata:      map[string]apiextensionsv1.JSON{"team": jsonOf(ns), "idx": jsonOf(i)},
					AppMetadata:       map[string]apiextensionsv1.JSON{"tier": jsonOf("gold")},
					AdoptExisting:     i < adoptedPerNS,
				},
			}
			w.users = append(w.users, u)
		}
		for k := range bindingsPerNS {
			role := "viewer"
			if k%2 == 1 {
				role = "editor"
			}
			b := &v1alpha1.Auth0RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("binding-%d", k)},
				Spec:       v1alpha1.Auth0RoleBindingSpec{Roles: []v1alpha1.RoleReference{{Name: role}}},
			}
			if k == 0 {
				b.Spec.Permissions = []v1alpha1.PermissionReference{{ResourceServerIdentifier: reportsAPI, Name: "read:reports"}}
			}
			for i := 10 * k; i < 10*(k+1); i++ {
				b.Spec.Subjects = append(b.Spec.Subjects, v1alpha1.Subject{UserRef: fmt.Sprintf("user-%02d", i)})
			}
			w.bindings = append(w.bindings, b)
		}
	}
	return w
}

// seedTenant creates the users that exist before the operator: those the workload adopts, with
// keys the application owns, and bystanders the operator must never touch. It returns the
// bystanders as they were.
func (w *workload) seedTenant(g *WithT, tenant *emulator.Emulator) map[string]map[string]any {
	for _, ns := range w.nss {
		for i := range adoptedPerNS {
			_, err := tenant.CreateUser(emulator.SeedUser{Email: email(ns, i), Password: "Pre-Existing-Passw0rd",
				UserMetadata: map[string]any{"theme": fmt.Sprintf("dark-%d", i)}, AppMetadata: map[string]any{"app_owned": "keep"}})
			g.Expect(err).NotTo(HaveOccurred())
		}
	}
	bystanders := map[string]map[string]any{}
	for i := range 10 {
		id, err := tenant.CreateUser(emulator.SeedUser{Email: fmt.Sprintf("bystander-%d@elsewhere.example", i), Password: "Bystander-Passw0rd",
			UserMetadata: map[string]any{"n": i}, AppMetadata: map[string]any{"plan": "free"}})
		g.Expect(err).NotTo(HaveOccurred())
		bystanders[id] = tenant.User(id)
	}
	return bystanders
}

func (w *workload) createObjects(ctx context.Context, g *WithT, k8s client.Client, tenantURL string) {
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNS}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: "tenant"},
		StringData: map[string]string{"domain": tenantURL, "clientID": clientID, "clientSecret": clientSecret}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &v1alpha1.Auth0TenancyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "teams"},
		Spec: v1alpha1.Auth0TenancyPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"faults.example/team": "yes"}},
			DefaultTenant:     true,
			Connections:       []string{"Username-Password-Authentication"},
			Roles:             []string{"viewer", "editor"},
			Permissions:       []v1alpha1.PermissionRule{{ResourceServerIdentifier: reportsAPI, Scopes: []string{"read:*"}}},
			Adoption:          &v1alpha1.AdoptionRule{Allowed: true, EmailDomains: []string{"*.faults.example"}},
		},
	})).To(Succeed())
	for _, ns := range w.nss {
		g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"faults.example/team": "yes"}}})).To(Succeed())
		g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "password"},
			StringData: map[string]string{"password": password(ns)}})).To(Succeed())
	}
	for _, u := range w.users {
		g.Expect(k8s.Create(ctx, u)).To(Succeed())
	}
	for _, b := range w.bindings {
		g.Expect(k8s.Create(ctx, b)).To(Succeed())
	}
}

func changed(i int) bool  { return i >= changedFrom && i < changedTo }
func released(i int) bool { return i >= changedFrom && i < releasedBefore }

// changeSpecs changes the metadata of some users during the faults, and drops an app_metadata
// key from some: the change must land, and the dropped key be deleted from Auth0.
func (w *workload) changeSpecs(ctx context.Context, g *WithT, k8s client.Client) {
	for _, u := range w.users {
		i := index(u)
		if !changed(i) {
			continue
		}
		g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
				return err
			}
			u.Spec.UserMetadata["idx"] = jsonOf(fmt.Sprintf("v2-%d", i))
			if released(i) {
				u.Spec.AppMetadata = nil
			}
			return k8s.Update(ctx, u)
		})).To(Succeed())
	}
}

func (w *workload) deleteSome(ctx context.Context, g *WithT, k8s client.Client) {
	for _, u := range w.users {
		if index(u) >= deletedFrom {
			g.Expect(k8s.Delete(ctx, u)).To(Succeed())
			w.deleted[u.Namespace+"/"+u.Name] = true
		}
	}
}

// applicationWrites is the application writing keys of its own into the users' metadata.
func (w *workload) applicationWrites(tenant *emulator.Emulator) {
	for _, u := range tenant.Users() {
		e, _ := u["email"].(string)
		if !strings.HasSuffix(e, ".faults.example") || w.appKeys[e] {
			continue
		}
		if tenant.PatchUser(u["user_id"].(string), map[string]any{
			"user_metadata": map[string]any{"app_theme": "set-by-app"},
			"app_metadata":  map[string]any{"app_flag": true},
		}) == nil {
			w.appKeys[e] = true
		}
	}
}

func (w *workload) passwords() []string {
	var out []string
	for _, ns := range w.nss {
		out = append(out, password(ns))
	}
	return out
}

// notConverged lists the objects not yet Ready for their generation, and the deleted ones
// still present.
func (w *workload) notConverged(ctx context.Context, k8s client.Client) []string {
	var out []string
	for _, u := range w.users {
		cur := &v1alpha1.Auth0User{}
		err := k8s.Get(ctx, client.ObjectKeyFromObject(u), cur)
		switch {
		case w.deleted[u.Namespace+"/"+u.Name]:
			if !apierrors.IsNotFound(err) {
				out = append(out, "deleted "+u.Namespace+"/"+u.Name)
			}
		case err != nil || !ready(cur.Status.Conditions, cur.Generation, cur.Status.ObservedGeneration):
			out = append(out, "user "+u.Namespace+"/"+u.Name)
		}
	}
	for _, b := range w.bindings {
		cur := &v1alpha1.Auth0RoleBinding{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(b), cur); err != nil || !ready(cur.Status.Conditions, cur.Generation, cur.Status.ObservedGeneration) {
			out = append(out, "binding "+b.Namespace+"/"+b.Name)
		}
	}
	return out
}

// checkTenant checks that the tenant holds exactly the declared users, once each, with their
// declared metadata, the application's keys, and the declared roles and permissions.
// checkTenant checks every declared user, the bystanders, and that the tenant holds nothing else
// but the users left behind on purpose (leaked).
func (w *workload) checkTenant(ctx context.Context, g *WithT, k8s client.Client, tenant *emulator.Emulator, bystanders map[string]map[string]any, leaked int) {
	byEmail := map[string][]map[string]any{}
	all := tenant.Users()
	for _, u := range all {
		e, _ := u["email"].(string)
		byEmail[e] = append(byEmail[e], u)
	}
	live := 0
	for _, decl := range w.users {
		i := index(decl)
		if w.deleted[decl.Namespace+"/"+decl.Name] {
			g.Expect(byEmail[decl.Spec.Email]).To(BeEmpty(), "deleted %s is still in Auth0", decl.Name)
			continue
		}
		live++
		obj := &v1alpha1.Auth0User{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(decl), obj)).To(Succeed())
		found := byEmail[decl.Spec.Email]
		g.Expect(found).To(HaveLen(1), "users with email %s", decl.Spec.Email)
		u := found[0]
		id := u["user_id"].(string)
		g.Expect(obj.Status.UserID).To(Equal(id))
		um, _ := u["user_metadata"].(map[string]any)
		am, _ := u["app_metadata"].(map[string]any)
		g.Expect(am).To(HaveKeyWithValue("usersync_owner", "faults/"+decl.Namespace+"/"+decl.Name+"/"+string(obj.UID)))
		g.Expect(um).To(HaveKeyWithValue("team", decl.Namespace))
		if changed(i) {
			g.Expect(um).To(HaveKeyWithValue("idx", fmt.Sprintf("v2-%d", i)), id)
		} else {
			g.Expect(um).To(HaveKeyWithValue("idx", BeNumerically("==", i)), id)
		}
		if released(i) {
			g.Expect(am).NotTo(HaveKey("tier"), "released key of %s", id)
		} else {
			g.Expect(am).To(HaveKeyWithValue("tier", "gold"), id)
		}
		if w.appKeys[decl.Spec.Email] {
			g.Expect(um).To(HaveKeyWithValue("app_theme", "set-by-app"), "application key of %s", id)
			g.Expect(am).To(HaveKeyWithValue("app_flag", true), "application key of %s", id)
		}
		if i < adoptedPerNS {
			g.Expect(um).To(HaveKeyWithValue("theme", fmt.Sprintf("dark-%d", i)), "pre-existing key of adopted %s", id)
			g.Expect(am).To(HaveKeyWithValue("app_owned", "keep"), "pre-existing key of adopted %s", id)
		}
		g.Expect(tenant.PasswordIs(id, password(decl.Namespace))).To(BeTrue(), "password of %s", id)

		var wantRoles, wantPerms []string
		if k := i / 10; k < bindingsPerNS {
			wantRoles = []string{tenant.RoleID(map[bool]string{true: "viewer", false: "editor"}[k%2 == 0])}
			if k == 0 {
				wantPerms = []string{reportsAPI + " read:reports"}
			}
		}
		g.Expect(tenant.UserRoleIDs(id)).To(ConsistOf(wantRoles), "roles of %s", id)
		g.Expect(tenant.UserPermissions(id)).To(ConsistOf(wantPerms), "permissions of %s", id)
	}
	for id, before := range bystanders {
		g.Expect(tenant.User(id)).To(Equal(before), "a user outside the operator changed")
	}
	g.Expect(all).To(HaveLen(live+len(bystanders)+leaked), "users in the tenant: the declared ones, the bystanders and those left behind on purpose, no orphan")
}

func index(u *v1alpha1.Auth0User) int {
	var i int
	_, _ = fmt.Sscanf(u.Name, "user-%d", &i)
	return i
}
