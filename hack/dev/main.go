// Command dev is the operator's embedded default: it starts a local control plane (the envtest
// kube-apiserver and etcd built by hack/envtest-toolchain.sh), an emulated Auth0 tenant seeded
// with roles and an API, and the manager; applies config/samples; and shows the objects going
// Ready. It runs until interrupted (Ctrl-C stops everything it started), or with --once exits
// after checking that the samples are Ready and the tenant holds what they declare.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/usersync/auth0-operator/api/v1alpha1"
	"github.com/usersync/auth0-operator/internal/manager"
	"github.com/usersync/auth0-operator/internal/testenv"
	"github.com/usersync/auth0-operator/pkg/emulator"
)

const (
	namespace    = "demo"
	systemNS     = "auth0-operator-system"
	tenantSecret = "auth0-tenant"
	devClientID  = "dev-operator"
	readyTimeout = 3 * time.Minute
	dbConnection = "Username-Password-Authentication"
	demoAPI      = "https://api.example.com"
)

func main() {
	once := flag.Bool("once", false, "exit after the samples are Ready and the emulated tenant holds them (for CI)")
	samples := flag.String("samples", "config/samples", "directory of sample manifests to apply")
	stateDir := flag.String("state-dir", "bin/dev", "directory for the kubeconfig and the emulator's CA")
	verbose := flag.Bool("v", false, "show the manager's logs")
	existing := flag.Bool("existing-cluster", false, "use the cluster in $KUBECONFIG (CRDs installed with `make install`) and the real tenant in $AUTH0_DOMAIN, $AUTH0_CLIENT_ID, $AUTH0_CLIENT_SECRET instead of the local control plane and the emulator")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.WriteTo(logWriter(*verbose))))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *once, *existing, *samples, *stateDir); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func logWriter(verbose bool) *os.File {
	if verbose {
		return os.Stderr
	}
	devNull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	return devNull
}

func run(ctx context.Context, once, existing bool, samplesDir, stateDir string) error {
	var (
		cfg        *rest.Config
		kubectl    = "kubectl"
		kubeconfig = os.Getenv("KUBECONFIG")
		tenantData map[string]string
		tenant     *emulator.Emulator
		err        error
	)
	if existing {
		if cfg, err = ctrl.GetConfig(); err != nil {
			return err
		}
		tenantData = map[string]string{"domain": os.Getenv("AUTH0_DOMAIN"), "clientID": os.Getenv("AUTH0_CLIENT_ID"), "clientSecret": os.Getenv("AUTH0_CLIENT_SECRET")}
		for k, v := range tenantData {
			if v == "" {
				return fmt.Errorf("--existing-cluster needs $AUTH0_DOMAIN, $AUTH0_CLIENT_ID and $AUTH0_CLIENT_SECRET (%s is empty)", k)
			}
		}
	} else {
		assets, err := testenv.Assets()
		if err != nil {
			return err
		}
		fmt.Println("starting the local control plane (kube-apiserver and etcd from", assets+")")
		var env *envtest.Environment
		if env, cfg, err = testenv.Start(); err != nil {
			return err
		}
		defer func() { _ = env.Stop() }()
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			return err
		}
		if kubeconfig, err = writeKubeconfig(env, stateDir); err != nil {
			return err
		}
		kubectl = filepath.Join(assets, "kubectl")

		clientSecret := randomSecret()
		if tenant, err = emulator.New(emulator.Config{Clients: map[string]emulator.Client{devClientID: {Secret: clientSecret}}}); err != nil {
			return err
		}
		defer func() { _ = tenant.Close() }()
		tenantURL, err := tenant.Start("127.0.0.1:0")
		if err != nil {
			return err
		}
		if err := tenant.Seed(demoSeed()); err != nil {
			return err
		}
		tenantData = map[string]string{"domain": tenantURL, "clientID": devClientID, "clientSecret": clientSecret}
	}

	scheme := testenv.Scheme()
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	for _, ns := range []string{namespace, systemNS} {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
			return err
		}
	}
	// The sample Auth0TenancyPolicy governs namespaces with this label.
	if err := k8s.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"auth0.usersync.io/team":"platform"}}}`))); err != nil {
		return fmt.Errorf("cannot label namespace %s: %w", namespace, err)
	}

	mgr, err := manager.New(cfg, manager.Options{
		DefaultTenant:        types.NamespacedName{Namespace: systemNS, Name: tenantSecret},
		ClusterName:          "dev",
		ResyncInterval:       30 * time.Second,
		RequireTenancyPolicy: true,
	})
	if err != nil {
		return err
	}
	mgrCtx, stopManager := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	defer func() { stopManager(); <-mgrDone }()

	if err := applySamples(ctx, k8s, samplesDir, tenantData); err != nil {
		return err
	}
	// The default tenant, for samples without a tenantRef.
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: tenantSecret}, StringData: tenantData}); client.IgnoreAlreadyExists(err) != nil {
		return err
	}

	fmt.Printf("\nkubeconfig:       %s\n", kubeconfig)
	if tenant != nil {
		fmt.Printf("emulated tenant:  %s (client %s; its secret is in Secret %s/%s)\n", tenantData["domain"], devClientID, namespace, tenantSecret)
	} else {
		fmt.Printf("tenant:           %s\n", tenantData["domain"])
	}
	fmt.Printf("try:              %s --kubeconfig %s get auth0users,auth0rolebindings -n %s\n\n", kubectl, kubeconfig, namespace)

	waitErr := waitReady(ctx, k8s, kubectl, kubeconfig)
	if waitErr == nil && tenant != nil {
		waitErr = verifyTenant(ctx, k8s, tenant)
	}
	if once || waitErr != nil {
		return waitErr
	}
	fmt.Println("\nthe operator keeps reconciling; press Ctrl-C to stop everything")
	select {
	case <-ctx.Done():
	case err := <-mgrDone:
		mgrDone <- err
		return err
	}
	fmt.Println("\nstopping the manager, the emulator and the control plane")
	return nil
}

func writeKubeconfig(env *envtest.Environment, dir string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("cannot create a kubeconfig: %w", err)
	}
	raw, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path, _ := filepath.Abs(filepath.Join(dir, "kubeconfig"))
	return path, os.WriteFile(path, raw, 0o600)
}

// applySamples creates every object in the sample manifests in the demo namespace; the tenant
// Secret's placeholder values are replaced by the emulated tenant's.
func applySamples(ctx context.Context, k8s client.Client, dir string, tenant map[string]string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, file := range files {
		if filepath.Base(file) == "kustomization.yaml" {
			continue
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := dec.Decode(&obj.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				f.Close()
				return fmt.Errorf("%s: %w", file, err)
			}
			if len(obj.Object) == 0 {
				continue
			}
			if obj.GetKind() != "Auth0TenancyPolicy" { // the one cluster-scoped sample
				obj.SetNamespace(namespace)
			}
			if obj.GetKind() == "Secret" && obj.GetName() == tenantSecret {
				_ = unstructured.SetNestedStringMap(obj.Object, tenant, "stringData")
			}
			if err := k8s.Create(ctx, obj); err != nil {
				f.Close()
				return fmt.Errorf("cannot apply %s %s from %s: %w", obj.GetKind(), obj.GetName(), file, err)
			}
			fmt.Printf("applied %s/%s\n", strings.ToLower(obj.GetKind()), obj.GetName())
		}
		f.Close()
	}
	return nil
}

// waitReady prints `kubectl get` whenever the objects' readiness changes, until all are Ready.
func waitReady(ctx context.Context, k8s client.Client, kubectl, kubeconfig string) error {
	deadline := time.Now().Add(readyTimeout)
	last := ""
	for {
		users := &v1alpha1.Auth0UserList{}
		bindings := &v1alpha1.Auth0RoleBindingList{}
		if err := k8s.List(ctx, users, client.InNamespace(namespace)); err != nil {
			return err
		}
		if err := k8s.List(ctx, bindings, client.InNamespace(namespace)); err != nil {
			return err
		}
		var conds [][]metav1.Condition
		for _, u := range users.Items {
			conds = append(conds, u.Status.Conditions)
		}
		for _, b := range bindings.Items {
			conds = append(conds, b.Status.Conditions)
		}
		ready, state := 0, ""
		for _, c := range conds {
			if meta.IsStatusConditionTrue(c, v1alpha1.ConditionReady) {
				ready++
			}
			if r := meta.FindStatusCondition(c, v1alpha1.ConditionReady); r != nil {
				state += string(r.Status)
			}
		}
		if state != last {
			last = state
			cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", kubeconfig, "get", "auth0users,auth0rolebindings", "-n", namespace)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			_ = cmd.Run()
			fmt.Println()
		}
		if len(conds) > 0 && ready == len(conds) {
			fmt.Printf("all %d sample objects are Ready\n", ready)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d sample objects became Ready within %s", ready, len(conds), readyTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// demoSeed is the emulated tenant's starting content: the roles and the API the samples use.
func demoSeed() emulator.Seed {
	return emulator.Seed{
		ResourceServers: []emulator.SeedResourceServer{
			{Name: "Reports API", Identifier: demoAPI, Scopes: []string{"read:reports", "write:reports"}},
		},
		Roles: []emulator.SeedRole{
			{Name: "platform-admin", Description: "Platform administrators", Permissions: []string{demoAPI + " write:reports"}},
			{Name: "reports-viewer", Description: "Read-only access to reports", Permissions: []string{demoAPI + " read:reports"}},
		},
		// A user that exists in the tenant before the operator, bound by email in the samples.
		Users: []emulator.SeedUser{{Email: "carol@example.com", Name: "Carol Existing", Password: "Pre-Existing-Pass-1",
			UserMetadata: map[string]any{"theme": "dark"}}},
	}
}

// verifyTenant checks that the emulated tenant holds what the samples declare: one user per
// Auth0User with its email, owned metadata and owner marker.
func verifyTenant(ctx context.Context, k8s client.Client, tenant *emulator.Emulator) error {
	users := &v1alpha1.Auth0UserList{}
	if err := k8s.List(ctx, users, client.InNamespace(namespace)); err != nil {
		return err
	}
	for _, u := range users.Items {
		found := tenant.UsersByEmail(u.Spec.Email)
		if len(found) != 1 {
			return fmt.Errorf("the tenant holds %d users with email %s, want 1", len(found), u.Spec.Email)
		}
		remote := found[0]
		if remote["user_id"] != u.Status.UserID {
			return fmt.Errorf("user %s: tenant has id %v, status says %s", u.Name, remote["user_id"], u.Status.UserID)
		}
		meta, _ := remote["user_metadata"].(map[string]any)
		for k := range u.Spec.UserMetadata {
			if _, ok := meta[k]; !ok {
				return fmt.Errorf("user %s: user_metadata.%s is missing in the tenant", u.Name, k)
			}
		}
		app, _ := remote["app_metadata"].(map[string]any)
		if app["usersync_owner"] != "dev/"+namespace+"/"+u.Name+"/"+string(u.UID) {
			return fmt.Errorf("user %s: owner marker is %v", u.Name, app["usersync_owner"])
		}
	}
	bindings := &v1alpha1.Auth0RoleBindingList{}
	if err := k8s.List(ctx, bindings, client.InNamespace(namespace)); err != nil {
		return err
	}
	granted := 0
	for _, b := range bindings.Items {
		for _, sub := range b.Status.Subjects {
			held := tenant.UserRoleIDs(sub.UserID)
			for _, ref := range b.Spec.Roles {
				id := ref.ID
				if id == "" {
					id = tenant.RoleID(ref.Name)
				}
				if !slices.Contains(held, id) {
					return fmt.Errorf("binding %s: %s does not hold role %s", b.Name, sub.Subject, ref.Name+ref.ID)
				}
				granted++
			}
			perms := tenant.UserPermissions(sub.UserID)
			for _, p := range b.Spec.Permissions {
				if !slices.Contains(perms, p.ResourceServerIdentifier+" "+p.Name) {
					return fmt.Errorf("binding %s: %s lacks permission %s", b.Name, sub.Subject, p.Name)
				}
				granted++
			}
		}
	}
	fmt.Printf("the emulated tenant holds the %d declared users with their metadata, and the %d declared grants\n", len(users.Items), granted)
	return nil
}
