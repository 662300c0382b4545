# Builds the manager image from source (`make docker-build`, which passes the build args). The
# result runs as a non-root user on a read-only root filesystem (see config/manager/manager.yaml).
# The builder stage copies exactly what the manager needs; .ci/run builds the manager from those
# paths alone, so a missing one fails CI. Where the two base images cannot be pulled (no
# registry), hack/container-setup.sh builds look-alikes of them locally for podman.
# RUN --mount needs BuildKit (Docker's default builder since 23.0) or podman/buildah.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
# The host's module proxy and checksum database (make docker-build passes `go env`'s); unset or
# empty, Go's defaults apply.
ARG GOPROXY
ARG GOSUMDB
ARG GOPRIVATE
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY api/ api/
COPY internal/ internal/
COPY pkg/ pkg/
# The compile cache outlives the layer, so that a source change recompiles only what it touches.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w" -o manager ./cmd/manager

FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532
ENTRYPOINT ["/manager"]
# Last, so that changing them rebuilds nothing else.
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED
LABEL org.opencontainers.image.title="auth0-operator" \
      org.opencontainers.image.description="Kubernetes operator managing Auth0 users and role grants" \
      org.opencontainers.image.source="https://github.com/usersync/auth0-operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
