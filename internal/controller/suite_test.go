package controller_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/auth0"
	"github.com/usersync/auth0-operator/internal/manager"
	"github.com/usersync/auth0-operator/internal/testenv"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

// The suite runs the real manager against a real kube-apiserver and etcd (envtest) and the
// project's Auth0 emulator over HTTP. Each spec works in a namespace of its own.

const (
	testClientID     = "operator-client"
	testClientSecret = "operator-client-secret-do-not-log"
	dbConnection     = "Username-Password-Authentication"
	// resync is short so that drift is observed within a spec's patience.
	resync = 2 * time.Second
	// searchLag is the emulated search index's lag behind writes.
	searchLag = 700 * time.Millisecond
)

var (
	cfg       *rest.Config
	k8s       client.Client
	testEnv   *envtest.Environment
	tenant    *emulator.Emulator
	tenantURL string
	ctx       context.Context
	cancel    context.CancelFunc
	logSink   = &testenv.LogBuffer{}
	// stopManager stops the manager and waits until it has.
	stopManager func()
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	// Bindings wait a couple of seconds to gather subject changes; everything else is faster.
	SetDefaultEventuallyTimeout(10 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	// Everything the manager logs is kept, so that specs can check no secret ever appears in it.
	logf.SetLogger(zap.New(zap.WriteTo(logSink), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	var err error
	testEnv, cfg, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	Expect(err).NotTo(HaveOccurred())

	installAdmissionPolicy()

	tenant, err = emulator.New(emulator.Config{
		Clients: map[string]emulator.Client{
			testClientID: {Secret: testClientSecret},
			"read-only":  {Secret: "read-only-secret", Scopes: []string{"read:users"}},
		},
		// Auth0's search index lags its writes; the operator must not mistake the lag for drift
		// or deletion, nor miss a change made during it.
		SearchIndexLag: searchLag,
	})
	Expect(err).NotTo(HaveOccurred())
	tenantURL, err = tenant.Start("127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	Expect(tenant.Seed(seed())).To(Succeed())

	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "auth0-operator-system"}})).To(Succeed())
	Expect(k8s.Create(ctx, tenantSecret("auth0-operator-system", "default-tenant", testClientID, testClientSecret))).To(Succeed())

	// Specs run under a policy allowing everything, except in namespaces labelled restricted,
	// where the tenancy policy specs set their own.
	Expect(k8s.Create(ctx, &v1alpha1.Auth0TenancyPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "unrestricted-specs"},
		Spec: v1alpha1.Auth0TenancyPolicySpec{
			NamespaceSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: restrictedLabel, Operator: metav1.LabelSelectorOpDoesNotExist}}},
			DefaultTenant: true,
			Connections:   []string{"*"},
			Roles:         []string{"*"},
			Permissions:   []v1alpha1.PermissionRule{{ResourceServerIdentifier: "*", Scopes: []string{"*"}}},
			Adoption:      &v1alpha1.AdoptionRule{Allowed: true},
		},
	})).To(Succeed())

	stopManager, err = testenv.StartManager(ctx, GinkgoT(), cfg, manager.Options{
		Provider:             auth0.NewProvider(auth0.ProviderOptions{}),
		DefaultTenant:        types.NamespacedName{Namespace: "auth0-operator-system", Name: "default-tenant"},
		ClusterName:          "envtest",
		ResyncInterval:       resync,
		ObserveInterval:      resync,
		RequireTenancyPolicy: true,
	})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if stopManager != nil {
		stopManager()
	}
	cancel()
	if tenant != nil {
		Expect(tenant.Close()).To(Succeed())
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
	By("checking that no secret reached the manager's logs")
	Expect(logSink.String()).NotTo(ContainSubstring(testClientSecret))
	Expect(logSink.String()).NotTo(ContainSubstring(testPassword))
})
