// Package testenv holds what the envtest suites (controllers/, test/faults, test/rbac) and the
// local programs (hack/dev, hack/bench) share: the control plane hack/envtest-toolchain.sh
// builds, started with the project's CRDs; the scheme; a log sink the suites scan for secrets;
// and managers set up as main.go sets them up.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/usersync/auth0-operator/internal/manager"
)

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Assets is the directory holding kube-apiserver, etcd and kubectl: $KUBEBUILDER_ASSETS (set by
// `make test`), or the cache hack/envtest-toolchain.sh fills, building it the first time.
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	out, err := exec.Command(filepath.Join(Root(), "hack", "envtest-toolchain.sh")).Output()
	if err != nil {
		return "", fmt.Errorf("cannot find or build the envtest control plane: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Start starts kube-apiserver and etcd from Assets with the project's CRDs.
func Start() (*envtest.Environment, *rest.Config, error) {
	assets, err := Assets()
	if err != nil {
		return nil, nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot start the envtest control plane: %w", err)
	}
	return env, cfg, nil
}

// Scheme knows the built-in kinds and the operator's.
func Scheme() *k8sruntime.Scheme { return manager.Scheme() }

// LogBuffer keeps everything written to it, from many goroutines, for the suites to scan.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Errorf is how a manager that stops with an error is reported (testing.T and GinkgoT have it).
type Errorf interface {
	Errorf(format string, args ...any)
}

// StartManager starts the manager main.go runs (internal/manager), and returns the function
// that stops it and waits until it has. Several managers may run in one process, one after the
// other or at once.
func StartManager(ctx context.Context, t Errorf, cfg *rest.Config, o manager.Options) (stop func(), err error) {
	o.SeveralPerProcess = true
	mgr, err := manager.New(cfg, o)
	if err != nil {
		return nil, err
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(mctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// CreateFromYAML creates each object of a multi-document YAML file (one of config/admission's
// policies, say), after edit (nil: none) has had its say on each.
func CreateFromYAML(ctx context.Context, c client.Client, raw []byte, edit func(*unstructured.Unstructured)) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if len(obj.Object) == 0 {
			continue
		}
		if edit != nil {
			edit(obj)
		}
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("cannot create %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
}
