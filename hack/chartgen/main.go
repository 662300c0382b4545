// Command chartgen keeps the Helm chart (charts/auth0-operator) in step with the kustomize
// configuration it packages (config/).
//
//	go run ./hack/chartgen sync       copies into the chart what config/ generates or holds: the
//	                                  CRDs, the RBAC rules (and the namespaced split of the
//	                                  controllers' ClusterRole), the admission policies, the alert
//	                                  rules and the Grafana dashboard; writes
//	                                  config/prometheus/prometheus_rule.yaml from the rules file.
//	go run ./hack/chartgen compare --helm bin/helm --kustomize bin/kustomize
//	                                  renders the chart (default, namespaced, monitoring and a
//	                                  renamed release) and checks each render is valid and is
//	                                  the same install as `kustomize build` of config/.
//	KUBEBUILDER_ASSETS=... go run ./hack/chartgen install --helm bin/helm
//	                                  creates the cluster-wide and the namespaced renders on the
//	                                  envtest kube-apiserver and checks that they are accepted and
//	                                  that their RBAC and admission policies do what they say.
//
// All run from the repository root (make chart-sync, chart-test, chart-apiserver-test).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
)

const (
	chartDir = "charts/auth0-operator"
	// The release and namespace under which the chart's names are those of `make deploy`.
	release   = "auth0-operator"
	namespace = "auth0-operator-system"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	if _, err := os.Stat("go.mod"); err != nil {
		fail("run from the repository root: %v", err)
	}
	var err error
	switch os.Args[1] {
	case "sync":
		err = sync()
	case "compare":
		err = compare(os.Args[2:])
	case "install":
		err = install(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fail("%v", err)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: chartgen sync | compare --helm HELM --kustomize KUSTOMIZE | install --helm HELM")
	os.Exit(2)
}

// cleanups run before the program exits on a failure or a signal (the envtest control plane is
// stopped, not left running).
var cleanups []func()

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "chartgen: "+format+"\n", args...)
	for _, f := range slices.Backward(cleanups) {
		f()
	}
	os.Exit(1)
}

func init() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fail("stopped by %v", s)
	}()
}
