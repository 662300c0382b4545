# auth0-operator Makefile. Tools are installed into ./bin at pinned versions; the envtest control
# plane (kube-apiserver, etcd, kubectl) is built from source by hack/envtest-toolchain.sh and
# cached outside the checkout so that fresh clones reuse it.

# The manager image `make docker-build` builds and `make docker-push` pushes, and the tool that
# does both: docker (kubebuilder's default) or podman (a machine without Docker: README, Install).
IMG ?= auth0-operator:dev
CONTAINER_TOOL ?= docker
# The version the image's labels carry: the nearest tag, else the commit (-dirty with changes).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
KUBECTL ?= kubectl
# Where the envtest binaries live; empty means the toolchain script's default cache directory.
ENVTEST_ASSETS_DIR ?=

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the kubebuilder markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./internal/controller/..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: envtest
envtest: ## Build (once) the envtest control plane from pinned Go modules and print its directory.
	@hack/envtest-toolchain.sh $(ENVTEST_ASSETS_DIR)

.PHONY: test
test: manifests generate vet ## Unit tests, then envtest + Ginkgo integration tests against the emulator.
	KUBEBUILDER_ASSETS="$$(hack/envtest-toolchain.sh $(ENVTEST_ASSETS_DIR))" go test ./... -count=1 -timeout 30m

.PHONY: check-generated
check-generated: manifests generate ## Fail when generated files differ from what is committed.
	@git diff --exit-code -- api config || { echo "generated files are stale: run 'make manifests generate' and commit"; exit 1; }

##@ Build

.PHONY: build
build: ## Build the manager binary.
	go build -o $(LOCALBIN)/manager ./cmd/manager

.PHONY: emulator
emulator: ## Build the standalone Auth0 emulator into bin/auth0-emulator.
	go build -o $(LOCALBIN)/auth0-emulator ./hack/auth0-emulator

.PHONY: run
run: manifests generate ## Run the manager against the cluster in ~/.kube/config.
	go run ./cmd/manager $(ARGS)

# Stamped into the image's OCI labels with VERSION: by the Dockerfile's LABEL (its ARGs) and by
# --label, because podman 4's layer cache reuses a LABEL step whose ARG values changed.
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
# Extra flags for `$(CONTAINER_TOOL) build` and `push`. With podman, the build never pulls: the
# base images come from hack/container-setup.sh (pulled there, or built there when they cannot be);
# and podman 4 does not set TARGETOS/TARGETARCH itself.
CONTAINER_BUILD_FLAGS ?= $(if $(filter podman,$(notdir $(CONTAINER_TOOL))),--pull=never --build-arg TARGETOS=linux --build-arg TARGETARCH=$$(go env GOARCH 2>/dev/null))
CONTAINER_PUSH_FLAGS ?=

.PHONY: docker-build
docker-build: ## Build the manager image IMG with CONTAINER_TOOL (docker; podman: set up by hack/container-setup.sh when needed).
ifeq ($(notdir $(CONTAINER_TOOL)),podman)
	@hack/container-setup.sh --if-needed
else
	@command -v $(CONTAINER_TOOL) >/dev/null || { echo "docker-build: '$(CONTAINER_TOOL)' is not installed; without Docker, use CONTAINER_TOOL=podman (see README, Install)" >&2; exit 1; }
	@timeout 30 $(CONTAINER_TOOL) version >/dev/null 2>&1 || { echo "docker-build: '$(CONTAINER_TOOL) version' cannot reach the engine; start it, or use CONTAINER_TOOL=podman (see README, Install)" >&2; exit 1; }
endif
	$(CONTAINER_TOOL) build $(CONTAINER_BUILD_FLAGS) -t $(IMG) \
	  --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) --build-arg CREATED=$(BUILD_DATE) \
	  --label org.opencontainers.image.version=$(VERSION) --label org.opencontainers.image.revision=$(REVISION) \
	  --label org.opencontainers.image.created=$(BUILD_DATE) \
	  --build-arg GOPROXY="$$(go env GOPROXY 2>/dev/null)" --build-arg GOSUMDB="$$(go env GOSUMDB 2>/dev/null)" \
	  --build-arg GOPRIVATE="$$(go env GOPRIVATE 2>/dev/null)" .

.PHONY: docker-push
docker-push: ## Push the image IMG with CONTAINER_TOOL (after docker-build: make docker-build docker-push IMG=...).
	$(CONTAINER_TOOL) push $(CONTAINER_PUSH_FLAGS) $(IMG)

.PHONY: docker-bases
docker-bases: ## podman only: install and configure podman if missing, provide the Dockerfile's base images (pulled, else built here).
	hack/container-setup.sh

##@ Deployment

.PHONY: install
install: manifests $(KUSTOMIZE) ## Install the CRDs into the cluster in ~/.kube/config.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests $(KUSTOMIZE) ## Remove the CRDs from the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy-manifests
deploy-manifests: manifests $(KUSTOMIZE) ## Print what `make deploy` applies.
	$(KUSTOMIZE) build config/default
	@echo ---
	$(KUSTOMIZE) build config/admission

# A count of executions, not a duration: with a duration, Go 1.26's fuzz coordinator can fail a
# clean run with "context deadline exceeded" as time runs out (golang/go#75804, fixed in 1.27).
FUZZTIME ?= 50000x
.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 50000x executions); seed corpora already run in `make test`.
	go test ./internal/userdiff -run '^$$' -fuzz '^FuzzTranslateSpec$$' -fuzztime $(FUZZTIME)
	go test ./internal/userdiff -run '^$$' -fuzz '^FuzzCompareConverges$$' -fuzztime $(FUZZTIME)
	go test ./internal/grants -run '^$$' -fuzz '^FuzzPlanUser$$' -fuzztime $(FUZZTIME)
	go test ./pkg/emulator -run '^$$' -fuzz '^FuzzParseQuery$$' -fuzztime $(FUZZTIME)
	go test ./pkg/emulator -run '^$$' -fuzz '^FuzzMergeMetadata$$' -fuzztime $(FUZZTIME)

.PHONY: namespaced-manifests
namespaced-manifests: manifests $(KUSTOMIZE) ## Print a namespaced install (config/namespaced; see README).
	$(KUSTOMIZE) build config/namespaced

.PHONY: deploy
deploy: manifests $(KUSTOMIZE) ## Deploy the operator (image IMG) to the cluster in ~/.kube/config; the tree is left as it is.
	tmp="$$(mktemp -d)" && trap 'rm -rf "$$tmp"' EXIT && cp -r config "$$tmp/" && \
	  (cd "$$tmp/config/manager" && $(KUSTOMIZE) edit set image controller=$(IMG)) && \
	  $(KUSTOMIZE) build "$$tmp/config/default" | $(KUBECTL) apply --server-side -f -
	$(KUSTOMIZE) build config/admission | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: $(KUSTOMIZE) ## Remove the operator from the cluster.
	$(KUSTOMIZE) build config/admission | $(KUBECTL) delete --ignore-not-found -f -
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

##@ Tools

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

$(CONTROLLER_GEN): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

$(KUSTOMIZE): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $@

##@ Embedded default

.PHONY: dev
dev: manifests ## Local control plane + emulated Auth0 tenant + manager; applies config/samples and shows them (Ctrl-C stops all).
	go run ./hack/dev $(ARGS)

.PHONY: dev-check
dev-check: manifests ## Run the embedded default non-interactively: exit 0 once every sample is Ready and the tenant holds it.
	go run ./hack/dev --once

##@ Helm and Prometheus

# The Helm chart (charts/auth0-operator) packages config/: `chart-sync` copies into it what config/
# generates (CRDs, RBAC rules) or holds (admission policies, alert rules, dashboard), `chart-check`
# fails when that copy is stale or not committed, `chart-test` renders the chart and compares it
# with `kustomize build` of config/, `chart-apiserver-test` installs it with helm on a real API
# server (envtest's). helm and promtool are built from pinned modules into ./bin
# (Prometheus v3.16.0 is the Go module version v0.316.0; built without the cloud service-discovery
# plugins, which promtool's rule tests do not use).
HELM_VERSION ?= v3.22.0
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
PROMTOOL_VERSION ?= v0.316.0
PROMTOOL ?= $(LOCALBIN)/promtool-$(PROMTOOL_VERSION)

.PHONY: chart-sync
chart-sync: manifests ## Copy config/'s CRDs, RBAC rules, admission policies, alert rules and dashboard into the Helm chart.
	go run ./hack/chartgen sync

.PHONY: chart-check
chart-check: manifests ## Fail when the Helm chart's copies of config/ are stale or not committed (runs chart-sync).
	hack/chart-check.sh

.PHONY: helm-lint
helm-lint: $(HELM) ## helm lint --strict the chart, with its default values and each charts/auth0-operator/ci/*-values.yaml.
	$(HELM) lint --strict charts/auth0-operator
	@for f in charts/auth0-operator/ci/*-values.yaml; do echo "$(HELM) lint --strict charts/auth0-operator -f $$f"; \
	  $(HELM) lint --strict charts/auth0-operator -f "$$f" || exit 1; done

.PHONY: chart-test
chart-test: $(HELM) $(KUSTOMIZE) ## Render the chart (default, namespaced, monitoring, renamed) and compare it with kustomize build of config/.
	go run ./hack/chartgen compare --helm $(HELM) --kustomize $(KUSTOMIZE)

.PHONY: chart-apiserver-test
chart-apiserver-test: $(HELM) ## helm install the chart (cluster-wide and namespaced) on the envtest API server; check RBAC, admission policies, uninstall.
	KUBEBUILDER_ASSETS="$$(hack/envtest-toolchain.sh $(ENVTEST_ASSETS_DIR))" go run ./hack/chartgen install --helm $(HELM)

.PHONY: prometheus-test
prometheus-test: $(PROMTOOL) ## promtool check and unit-test the alert rules, check the dashboard's queries and metric names.
	PROMTOOL=$(PROMTOOL) hack/promtool-test.sh

$(HELM): | $(LOCALBIN)
	hack/helm-tools.sh helm $(HELM_VERSION) $@

$(PROMTOOL): | $(LOCALBIN)
	hack/helm-tools.sh promtool $(PROMTOOL_VERSION) $@

##@ End to end

# `make test-e2e` runs the operator as a pod on a throwaway one-node cluster built here from source
# (hack/e2e-node.sh: etcd and kube-apiserver from hack/envtest-toolchain.sh; kubelet,
# kube-controller-manager, kube-scheduler and kube-proxy v1.37.1 from hack/e2e-node-toolchain.sh,
# cached in ~/.cache/auth0-operator; Debian's containerd, runc and CNI plugins), with the image of
# `make docker-build` (podman) imported into containerd, and runs test/e2e (build tag e2e) against
# the emulated tenant: helm install, probes, lease and takeover, metrics authorisation, samples,
# namespace deletion, helm uninstall, make deploy/undeploy. Needs root. The cluster is torn down
# at the end, pass or fail (E2E_KEEP_LOGS=1 keeps $(E2E_DIR)/logs).
# Build the image first: CONTAINER_TOOL=podman make docker-build.
E2E_DIR ?= /tmp/auth0-operator-e2e
E2E_NODE_DIR ?=
# The image's name in containerd: podman saves a short name as localhost/NAME.
E2E_IMG ?= $(if $(findstring /,$(IMG)),$(IMG),localhost/$(IMG))
E2E_TEST_FLAGS ?= -v

.PHONY: e2e-toolchain
e2e-toolchain: ## Build (once) the e2e node's kubelet, kube-controller-manager, kube-scheduler, kube-proxy and print their directory.
	@hack/envtest-toolchain.sh $(ENVTEST_ASSETS_DIR) >/dev/null
	@hack/e2e-node-toolchain.sh $(E2E_NODE_DIR)

.PHONY: test-e2e
test-e2e: manifests $(HELM) $(KUSTOMIZE) e2e-toolchain ## Run the operator as a pod on a one-node cluster built from source, check it end to end, tear down (root; image from make docker-build).
	@podman image exists $(E2E_IMG) || { echo "test-e2e: no image $(E2E_IMG): run CONTAINER_TOOL=podman make docker-build first" >&2; exit 1; }
	export E2E_DIR=$(E2E_DIR) E2E_NODE_DIR=$(E2E_NODE_DIR) ENVTEST_ASSETS_DIR=$(ENVTEST_ASSETS_DIR); \
	  trap 'hack/e2e-node.sh down' EXIT; trap 'exit 130' INT TERM; \
	  hack/e2e-node.sh up $(E2E_IMG); \
	  source $(E2E_DIR)/env; \
	  HELM=$(HELM) E2E_IMAGE=$(E2E_IMG) go test -tags e2e ./test/e2e -count=1 -timeout 20m $(E2E_TEST_FLAGS)

.PHONY: e2e-up
e2e-up: e2e-toolchain ## Start the e2e cluster and leave it running (source $(E2E_DIR)/env to use it; make e2e-down stops it).
	E2E_DIR=$(E2E_DIR) hack/e2e-node.sh up $(E2E_IMG)

.PHONY: e2e-down
e2e-down: ## Tear the e2e cluster down: processes, containers, mounts, bridge, kube-proxy's iptables rules.
	E2E_DIR=$(E2E_DIR) hack/e2e-node.sh down
