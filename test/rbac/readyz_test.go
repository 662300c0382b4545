package rbac

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/manager"
	"github.com/usersync/auth0-operator/internal/testenv"
)

// /readyz answers ready only once the informers hold the cluster's objects: a manager whose
// service account may not list them yet (its role not bound) stays alive (/healthz) and not
// ready, so that a rollout does not take it for a working replica; once the role is bound it
// becomes ready without a restart.
func TestReadyOnlyOnceTheInformersHaveSynced(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	admin, operatorCfg := controlPlane(ctx, t, g)

	probeAddr := freeAddr(g)
	stop, err := testenv.StartManager(ctx, t, operatorCfg, manager.Options{
		Provider:       auth0.NewProvider(auth0.ProviderOptions{}),
		DefaultTenant:  types.NamespacedName{Namespace: operatorNS, Name: "auth0-tenant"},
		ClusterName:    "readyz",
		ResyncInterval: time.Minute,
		ProbeAddr:      probeAddr,
	})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() {
		// A manager whose caches never synced can take minutes to stop: the test does not wait.
		stopped := make(chan struct{})
		go func() { stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Log("the manager had not stopped after 30 s")
		}
	}()

	status := func(path string) func() int {
		return func() int {
			resp, err := http.Get("http://" + probeAddr + path)
			if err != nil {
				return 0
			}
			_ = resp.Body.Close()
			return resp.StatusCode
		}
	}
	g.Eventually(status("/healthz"), 30*time.Second).Should(Equal(http.StatusOK))
	g.Consistently(status("/readyz"), 3*time.Second).ShouldNot(Equal(http.StatusOK), "ready while its informers cannot list anything")

	apply(ctx, g, admin, "", "../../config/rbac/role.yaml", "../../config/rbac/role_binding.yaml")
	g.Eventually(status("/readyz"), time.Minute).Should(Equal(http.StatusOK))
}

// controlPlane starts a control plane for t (stopped with it) with the operator's namespace and
// its service account's identity, and returns an admin client and the operator's config.
func controlPlane(ctx context.Context, t *testing.T, g *WithT) (client.Client, *rest.Config) {
	env, cfg, err := testenv.Start()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = env.Stop() })
	operator, err := env.AddUser(envtest.User{Name: operatorUser, Groups: []string{"system:serviceaccounts", "system:authenticated"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	admin, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNS}})).To(Succeed())
	return admin, operator.Config()
}

// freeAddr is a local address nothing listens on.
func freeAddr(g *WithT) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { g.Expect(l.Close()).To(Succeed()) }()
	return l.Addr().String()
}
