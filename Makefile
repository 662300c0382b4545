# auth0-operator Makefile. Tools are installed into ./bin at pinned versions; the envtest control
# plane (kube-apiserver, etcd, kubectl) is built from source by hack/envtest-toolchain.sh and
# cached outside the checkout so that fresh clones reuse it.

IMG ?= auth0-operator:dev
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

.PHONY: docker-build
docker-build: ## Build the manager image (needs a Docker engine).
	docker build -t $(IMG) .

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
deploy: manifests $(KUSTOMIZE) ## Deploy the operator to the cluster in ~/.kube/config.
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -
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
