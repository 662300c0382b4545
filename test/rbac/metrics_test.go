package rbac

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/manager"
	"github.com/usersync/auth0-operator/internal/testenv"
)

// The metrics endpoint serves HTTPS only to a token the API server authenticates and whose user
// may get /metrics (the metrics-reader ClusterRole), with no more than the shipped metrics-auth
// role for the manager's own reviews. make test-e2e checks the same through a pod and a Service.
func TestMetricsOnlyToAnAuthorisedToken(t *testing.T) {
	g := NewWithT(t)
	logs := &testenv.LogBuffer{}
	logf.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	admin, operatorCfg := controlPlane(ctx, t, g)
	apply(ctx, g, admin, "", "../../config/rbac/role.yaml", "../../config/rbac/role_binding.yaml",
		"../../config/rbac/metrics_auth_role.yaml", "../../config/rbac/metrics_auth_role_binding.yaml",
		"../../config/rbac/metrics_reader_role.yaml")

	// Two service accounts: one bound to metrics-reader, one not.
	token := func(name string) string {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: name}}
		g.Expect(admin.Create(ctx, sa)).To(Succeed())
		tr := &authenticationv1.TokenRequest{}
		g.Expect(admin.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
		g.Expect(tr.Status.Token).NotTo(BeEmpty())
		return tr.Status.Token
	}
	reader, nobody := token("prometheus"), token("nobody")
	g.Expect(admin.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: operatorNS, Name: "prometheus"}}})).To(Succeed())

	addr := freeAddr(g)
	stop, err := testenv.StartManager(ctx, t, operatorCfg, manager.Options{
		Provider:       auth0.NewProvider(auth0.ProviderOptions{}),
		DefaultTenant:  types.NamespacedName{Namespace: operatorNS, Name: "auth0-tenant"},
		ClusterName:    "metrics",
		ResyncInterval: time.Minute,
		MetricsAddr:    addr,
		SecureMetrics:  true,
	})
	g.Expect(err).NotTo(HaveOccurred())
	defer stop()

	// The certificate is the manager's self-signed one, as in the chart's default.
	httpClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	scrape := func(scheme, bearer string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, scheme+"://"+addr+"/metrics", nil)
		g.Expect(err).NotTo(HaveOccurred())
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// The controllers' metrics appear once they have started: 8 Auth0User workers and 2 binding
	// passes at once by default (README).
	g.Eventually(func() string { _, body := scrape("https", reader); return body }, time.Minute).Should(And(
		ContainSubstring("controller_runtime_reconcile_total"),
		ContainSubstring(`controller_runtime_max_concurrent_reconciles{controller="auth0user"} 8`),
		ContainSubstring(`controller_runtime_max_concurrent_reconciles{controller="auth0rolebinding"} 2`)))
	code, body := scrape("https", reader)
	g.Expect(code).To(Equal(http.StatusOK))

	code, body = scrape("https", nobody)
	g.Expect(code).To(Equal(http.StatusForbidden), body)
	g.Expect(body).To(ContainSubstring("system:serviceaccount:" + operatorNS + ":nobody"))
	code, _ = scrape("https", "not-a-token")
	g.Expect(code).To(Equal(http.StatusUnauthorized))
	code, _ = scrape("https", "")
	g.Expect(code).To(Equal(http.StatusUnauthorized))
	code, _ = scrape("http", reader)
	g.Expect(code).NotTo(Equal(http.StatusOK), "plain HTTP served the metrics")

	// A role bound later takes effect within the time a denial is kept (10 s).
	g.Expect(admin.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "nobody-metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: operatorNS, Name: "nobody"}}})).To(Succeed())
	g.Eventually(func() int { code, _ := scrape("https", nobody); return code }, 30*time.Second, time.Second).Should(Equal(http.StatusOK))

	out := logs.String()
	g.Expect(strings.ToLower(out)).NotTo(ContainSubstring("forbidden"), "the manager was refused a review")
	g.Expect(out).NotTo(ContainSubstring(reader))
	g.Expect(out).NotTo(ContainSubstring(nobody))
}
