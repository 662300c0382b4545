//go:build e2e

// Package e2e installs the operator as a pod on a real one-node cluster (hack/e2e-node.sh) and
// checks it end to end against the emulated Auth0 tenant, served by this test process on the
// node's bridge address so that pods reach it. Run it with `make test-e2e`; by hand:
//
//	hack/e2e-node.sh up localhost/auth0-operator:dev && source /tmp/auth0-operator-e2e/env
//	HELM=bin/helm-v3.22.0 E2E_IMAGE=localhost/auth0-operator:dev go test -tags e2e ./test/e2e -v -count=1
//	hack/e2e-node.sh down
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/usersync/auth0-operator/pkg/emulator"
)

const (
	systemNS  = "auth0-operator-system"
	samplesNS = "e2e-samples"
	release   = "auth0-operator"
	clientID  = "e2e-operator"
	demoAPI   = "https://api.example.com"
	leaseName = "auth0-operator.usersync.io"
)

var (
	kubectlBin = envOr("KUBECTL", "kubectl")
	helmBin    = envOr("HELM", "helm")
	image      = envOr("E2E_IMAGE", "localhost/auth0-operator:dev")
	repoRoot   = func() string { _, f, _, _ := runtime.Caller(0); return filepath.Join(filepath.Dir(f), "..", "..") }()
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(t *testing.T, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s%s", filepath.Base(name), strings.Join(args, " "), err, errb.String(), out.String())
	}
	return out.String(), nil
}

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, "", kubectlBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kubectlIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := run(t, stdin, kubectlBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func helm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, "", helmBin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually polls f until it returns nil, failing with its last error after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = f(); err == nil {
			return time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
	return 0
}

type pod struct {
	Metadata struct {
		Name              string  `json:"name"`
		DeletionTimestamp *string `json:"deletionTimestamp"`
	} `json:"metadata"`
	Spec struct {
		Containers []struct {
			SecurityContext map[string]any `json:"securityContext"`
		} `json:"containers"`
	} `json:"spec"`
	Status struct {
		Phase      string `json:"phase"`
		PodIP      string `json:"podIP"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
		ContainerStatuses []struct {
			Ready        bool `json:"ready"`
			RestartCount int  `json:"restartCount"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

func (p pod) ready() bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True" && p.Status.Phase == "Running" && p.Metadata.DeletionTimestamp == nil
		}
	}
	return false
}

func managerPods(t *testing.T) []pod {
	t.Helper()
	var list struct{ Items []pod }
	out := kubectl(t, "get", "pods", "-n", systemNS, "-l", "app.kubernetes.io/name=auth0-operator", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func readyPods(t *testing.T) []pod {
	var r []pod
	for _, p := range managerPods(t) {
		if p.ready() {
			r = append(r, p)
		}
	}
	return r
}

func leaseHolder(t *testing.T) string {
	t.Helper()
	out, err := run(t, "", kubectlBin, "get", "lease", "-n", systemNS, leaseName, "-o", "jsonpath={.spec.holderIdentity}")
	if err != nil {
		return ""
	}
	return out
}

func demoSeed() emulator.Seed {
	return emulator.Seed{
		ResourceServers: []emulator.SeedResourceServer{
			{Name: "Reports API", Identifier: demoAPI, Scopes: []string{"read:reports", "write:reports"}},
		},
		Roles: []emulator.SeedRole{
			{Name: "platform-admin", Permissions: []string{demoAPI + " write:reports"}},
			{Name: "reports-viewer", Permissions: []string{demoAPI + " read:reports"}},
		},
		Users: []emulator.SeedUser{{Email: "carol@example.com", Name: "Carol Existing", Password: "Pre-Existing-Pass-1"}},
	}
}

func tenantSecret(ns, domain, secret string, ca []byte) string {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "auth0-tenant", "namespace": ns},
		"stringData": map[string]string{"domain": domain, "clientID": clientID, "clientSecret": secret, "caCert": string(ca)},
	})
	return string(b)
}

func TestE2E(t *testing.T) {
	gateway := os.Getenv("E2E_GATEWAY")
	if gateway == "" || os.Getenv("KUBECONFIG") == "" {
		t.Skip("no e2e cluster: run `make test-e2e` (hack/e2e-node.sh up sets KUBECONFIG and E2E_GATEWAY)")
	}

	// The emulated tenant, on the bridge address: reachable from the pods, over HTTPS with its own CA.
	clientSecret := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	tenant, err := emulator.New(emulator.Config{Clients: map[string]emulator.Client{clientID: {Secret: clientSecret}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tenant.Close() })
	if err := tenant.Seed(demoSeed()); err != nil {
		t.Fatal(err)
	}
	tenantURL, ca := serveTLS(t, gateway, tenant.Handler())
	t.Logf("emulated tenant at %s", tenantURL)

	// --- helm install -------------------------------------------------------------------------
	kubectlIn(t, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+systemNS+`","labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`,
		"apply", "-f", "-")
	kubectlIn(t, tenantSecret(systemNS, tenantURL, clientSecret, ca), "apply", "-f", "-")
	repo, tag, _ := strings.Cut(image, ":")
	installed := time.Now()
	helm(t, "install", release, "charts/auth0-operator", "-n", systemNS,
		"--set", "image.repository="+repo, "--set", "image.tag="+tag, "--set", "image.pullPolicy=Never",
		"--set", "defaultTenantSecret=auth0-tenant", "--set", "clusterName=e2e", "--set", "resyncInterval=30s",
		"--wait", "--timeout", "3m")
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			_, _ = run(t, "", helmBin, "uninstall", release, "-n", systemNS, "--wait", "--timeout", "2m")
		}
	})

	var leader pod
	t.Run("pod Running and Ready through its probes", func(t *testing.T) {
		d := eventually(t, 2*time.Minute, "manager pod Ready", func() error {
			if r := readyPods(t); len(r) == 1 {
				leader = r[0]
				return nil
			}
			return fmt.Errorf("pods: %+v", managerPods(t))
		})
		t.Logf("pod %s Ready %s after helm install started", leader.Metadata.Name, time.Since(installed).Round(time.Second))
		_ = d
		if n := leader.Status.ContainerStatuses[0].RestartCount; n != 0 {
			t.Errorf("manager restarted %d times", n)
		}
		// Ready means the readiness probe (/readyz on :8081) passed; ask the liveness endpoint too.
		if out := kubectl(t, "get", "--raw", "/api/v1/namespaces/"+systemNS+"/pods/"+leader.Metadata.Name+":8081/proxy/healthz"); strings.TrimSpace(out) != "ok" {
			t.Errorf("/healthz through the API server's pod proxy: %q", out)
		}
	})
	if leader.Metadata.Name == "" {
		t.FailNow()
	}

	t.Run("leader lease held", func(t *testing.T) {
		eventually(t, time.Minute, "lease held by "+leader.Metadata.Name, func() error {
			if h := leaseHolder(t); !strings.HasPrefix(h, leader.Metadata.Name) {
				return fmt.Errorf("holder %q", h)
			}
			return nil
		})
	})

	t.Run("metrics over HTTPS only to an authorised token", func(t *testing.T) {
		// A reader bound to the chart's metrics-reader ClusterRole, and a service account without it.
		kubectl(t, "create", "serviceaccount", "-n", systemNS, "e2e-metrics-reader")
		kubectl(t, "create", "serviceaccount", "-n", systemNS, "e2e-nobody")
		kubectl(t, "create", "clusterrolebinding", "e2e-metrics-reader", "--clusterrole="+release+"-metrics-reader",
			"--serviceaccount="+systemNS+":e2e-metrics-reader")
		t.Cleanup(func() {
			_, _ = run(t, "", kubectlBin, "delete", "clusterrolebinding", "e2e-metrics-reader", "--ignore-not-found")
		})
		good := strings.TrimSpace(kubectl(t, "create", "token", "-n", systemNS, "e2e-metrics-reader"))
		bad := strings.TrimSpace(kubectl(t, "create", "token", "-n", systemNS, "e2e-nobody"))
		// Through the metrics Service's ClusterIP (kube-proxy) and directly at the pod.
		svcIP := strings.TrimSpace(kubectl(t, "get", "service", "-n", systemNS, release+"-controller-manager-metrics-service", "-o", "jsonpath={.spec.clusterIP}"))
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the manager's certificate is self-signed
		get := func(url, token string) (int, string, error) {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return 0, "", err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b), nil
		}
		for _, host := range []string{leader.Status.PodIP, svcIP} {
			url := "https://" + host + ":8443/metrics"
			eventually(t, time.Minute, "authorised scrape of "+url, func() error {
				code, body, err := get(url, good)
				if err != nil {
					return err
				}
				if code != http.StatusOK || !strings.Contains(body, "controller_runtime_reconcile_total") {
					return fmt.Errorf("status %d, body %.200q", code, body)
				}
				return nil
			})
			if code, _, err := get(url, ""); err != nil || code != http.StatusUnauthorized {
				t.Errorf("%s without a token: %d %v, want 401", url, code, err)
			}
			if code, _, err := get(url, bad); err != nil || code != http.StatusForbidden {
				t.Errorf("%s with an unauthorised token: %d %v, want 403", url, code, err)
			}
			if code, _, err := get("http://"+host+":8443/metrics", good); err == nil && code == http.StatusOK {
				t.Errorf("plain HTTP on :8443 served the metrics")
			}
			t.Logf("%s: 200 with the reader's token, 401 without, 403 for another account, no plain HTTP", url)
		}
	})

	t.Cleanup(func() { // after a failure, while the operator still runs to remove its finalizers
		_, _ = run(t, "", kubectlBin, "delete", "namespace", samplesNS, "--ignore-not-found", "--timeout=60s")
	})
	t.Run("samples Ready, then cleaned up by the namespace controller", func(t *testing.T) {
		kubectlIn(t, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+samplesNS+`","labels":{"auth0.usersync.io/team":"platform"}}}`,
			"apply", "-f", "-")
		kubectlIn(t, tenantSecret(samplesNS, tenantURL, clientSecret, ca), "apply", "-f", "-")
		for _, f := range []string{"auth0_v1alpha1_auth0tenancypolicy.yaml", "auth0_v1alpha1_auth0user.yaml", "auth0_v1alpha1_auth0rolebinding.yaml"} {
			kubectl(t, "apply", "-n", samplesNS, "-f", filepath.Join("config", "samples", f))
		}
		start := time.Now()
		for _, obj := range []string{"auth0user/alice", "auth0user/bob", "auth0rolebinding/platform-team"} {
			eventually(t, 3*time.Minute, obj+" Ready", func() error {
				_, err := run(t, "", kubectlBin, "wait", "-n", samplesNS, "--for=condition=Ready", obj, "--timeout=5s")
				return err
			})
		}
		t.Logf("samples Ready %s after apply", time.Since(start).Round(100*time.Millisecond))
		for _, email := range []string{"alice@example.com", "bob@example.com"} {
			if u := tenant.UsersByEmail(email); len(u) != 1 {
				t.Fatalf("the tenant holds %d users %s, want 1", len(u), email)
			}
		}
		alice := tenant.UsersByEmail("alice@example.com")[0]["user_id"].(string)
		if roles := tenant.UserRoleIDs(alice); len(roles) != 2 {
			t.Errorf("alice has roles %v in the tenant, want platform-admin and reports-viewer", roles)
		}

		// The real namespace controller deletes the objects; the operator's finalizers delete the
		// users (alice: deletionPolicy Delete, the default) before the namespace goes.
		start = time.Now()
		kubectl(t, "delete", "namespace", samplesNS, "--wait=false")
		usersGone := eventually(t, 3*time.Minute, "alice and bob deleted from the tenant", func() error {
			for _, email := range []string{"alice@example.com", "bob@example.com"} {
				if u := tenant.UsersByEmail(email); len(u) != 0 {
					return fmt.Errorf("%s still in the tenant", email)
				}
			}
			return nil
		})
		nsGone := eventually(t, 3*time.Minute, "namespace "+samplesNS+" gone", func() error {
			if out, err := run(t, "", kubectlBin, "get", "namespace", samplesNS, "--ignore-not-found", "-o", "name"); err != nil || out != "" {
				return fmt.Errorf("still there: %q %v", out, err)
			}
			return nil
		})
		t.Logf("namespace deletion: users gone from the tenant after %s, namespace gone after %s",
			usersGone.Round(100*time.Millisecond), (time.Since(start)).Round(100*time.Millisecond))
		_ = nsGone
		if len(tenant.UsersByEmail("carol@example.com")) != 1 {
			t.Errorf("carol (bound by email, never created by the operator) was deleted from the tenant")
		}
	})

	t.Run("lease taken over by a second replica", func(t *testing.T) {
		kubectl(t, "scale", "deployment", "-n", systemNS, release+"-controller-manager", "--replicas=2")
		var standby pod
		eventually(t, 2*time.Minute, "two Ready replicas", func() error {
			r := readyPods(t)
			if len(r) != 2 {
				return fmt.Errorf("%d Ready", len(r))
			}
			for _, p := range r {
				if p.Metadata.Name != leader.Metadata.Name {
					standby = p
				}
			}
			return nil
		})
		if h := leaseHolder(t); !strings.HasPrefix(h, leader.Metadata.Name) {
			t.Fatalf("lease holder %q, want %s", h, leader.Metadata.Name)
		}
		// Any other replica may win: the standby, or the pod the ReplicaSet starts in the deleted
		// one's place (both try as soon as the old leader releases the lease on shutdown).
		kubectl(t, "delete", "pod", "-n", systemNS, leader.Metadata.Name, "--wait=false")
		var holder string
		d := eventually(t, 90*time.Second, "lease taken over by another replica", func() error {
			holder = leaseHolder(t)
			if holder == "" || strings.HasPrefix(holder, leader.Metadata.Name) {
				return fmt.Errorf("holder %q", holder)
			}
			return nil
		})
		who := "the standby"
		if !strings.HasPrefix(holder, standby.Metadata.Name) {
			who = "the replacement pod"
		}
		t.Logf("lease taken over by %s (%s) %s after the leader's pod was deleted", who, strings.Split(holder, "_")[0], d.Round(100*time.Millisecond))
		if d > 10*time.Second {
			t.Errorf("takeover took %s: the leader did not release the lease on shutdown", d)
		}
		leader = standby
		kubectl(t, "scale", "deployment", "-n", systemNS, release+"-controller-manager", "--replicas=1")
	})

	t.Run("helm uninstall leaves nothing stuck", func(t *testing.T) {
		helm(t, "uninstall", release, "-n", systemNS, "--wait", "--timeout", "2m")
		uninstalled = true
		eventually(t, time.Minute, "manager pods gone", func() error {
			if p := managerPods(t); len(p) != 0 {
				return fmt.Errorf("%d pods", len(p))
			}
			return nil
		})
		// Only the kept CRDs remain of the release: no RBAC, no admission policies, no lease holder.
		for _, kind := range []string{"clusterrole", "clusterrolebinding", "validatingadmissionpolicy", "validatingadmissionpolicybinding",
			"mutatingadmissionpolicy", "mutatingadmissionpolicybinding"} {
			if out := kubectl(t, "get", kind, "-l", "app.kubernetes.io/instance="+release, "-o", "name"); strings.TrimSpace(out) != "" {
				t.Errorf("left after uninstall: %s", out)
			}
		}
		if out := kubectl(t, "get", "crd", "-o", "name"); !strings.Contains(out, "auth0users.auth0.usersync.io") {
			t.Errorf("CRDs not kept: %s", out)
		}
		// The system namespace (with the tenant Secret the operator put a finalizer on) deletes.
		kubectl(t, "delete", "serviceaccount", "-n", systemNS, "e2e-metrics-reader", "e2e-nobody")
		start := time.Now()
		kubectl(t, "delete", "namespace", systemNS, "--wait=false")
		eventually(t, 2*time.Minute, "namespace "+systemNS+" deleted", func() error {
			if out, err := run(t, "", kubectlBin, "get", "namespace", systemNS, "--ignore-not-found", "-o", "name"); err != nil || out != "" {
				out2, _ := run(t, "", kubectlBin, "get", "namespace", systemNS, "-o", "jsonpath={.status.conditions}")
				return fmt.Errorf("still there: %v %s", err, out2)
			}
			return nil
		})
		t.Logf("namespace %s deleted %s after helm uninstall", systemNS, time.Since(start).Round(100*time.Millisecond))
	})

	if os.Getenv("E2E_SKIP_DEPLOY") != "" {
		return
	}
	t.Run("make deploy, Ready, lease held, make undeploy", func(t *testing.T) {
		mk := func(target string) {
			t.Helper()
			cmd := exec.Command("make", target, "IMG="+image, "KUBECTL="+kubectlBin)
			cmd.Dir = repoRoot
			cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MAKELEVEL=")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make %s: %v\n%s", target, err, out)
			}
		}
		mk("deploy")
		deployed := true
		t.Cleanup(func() {
			if deployed {
				mk("undeploy")
			}
		})
		var p pod
		eventually(t, 2*time.Minute, "the deployed manager pod Ready", func() error {
			var list struct{ Items []pod }
			out := kubectl(t, "get", "pods", "-n", systemNS, "-l", "control-plane=controller-manager", "-o", "json")
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				return err
			}
			if len(list.Items) != 1 || !list.Items[0].ready() {
				return fmt.Errorf("pods: %+v", list.Items)
			}
			p = list.Items[0]
			return nil
		})
		eventually(t, time.Minute, "lease held by "+p.Metadata.Name, func() error {
			if h := leaseHolder(t); !strings.HasPrefix(h, p.Metadata.Name) {
				return fmt.Errorf("holder %q", h)
			}
			return nil
		})
		t.Logf("make deploy: pod %s Ready and leader", p.Metadata.Name)
		mk("undeploy")
		deployed = false
		eventually(t, 2*time.Minute, "namespace "+systemNS+" gone after make undeploy", func() error {
			if out, err := run(t, "", kubectlBin, "get", "namespace", systemNS, "--ignore-not-found", "-o", "name"); err != nil || out != "" {
				return fmt.Errorf("still there: %q %v", out, err)
			}
			return nil
		})
	})
}
