#!/usr/bin/env bash
# A throwaway one-node Kubernetes cluster built from source, for `make test-e2e`.
#
#   hack/e2e-node.sh up   IMAGE...   start it and import IMAGE... (podman images) into containerd
#   hack/e2e-node.sh down            stop every process it started, unmount, remove its network
#
# Control plane: etcd and kube-apiserver from hack/envtest-toolchain.sh, kube-controller-manager,
# kube-scheduler, kubelet and kube-proxy from hack/e2e-node-toolchain.sh (all v1.37.1, pinned).
# Node: a private containerd (Debian's 1.6, its own root, state and socket under E2E_DIR), runc,
# and Debian's CNI plugins (a bridge E2E_BRIDGE with E2E_GATEWAY on the host side). The API server
# advertises the gateway address, so pods reach it through the kubernetes Service (kube-proxy,
# iptables mode) and host processes listening on the gateway address (the emulated Auth0 tenant)
# are reachable from pods. Every component authenticates with one system:masters client
# certificate: this cluster lives for one test run and is never exposed.
#
# Needs root, cgroup v1 or v2 with cgroupfs, containerd, runc, containernetworking-plugins,
# iptables, conntrack, openssl, podman (apt-get install containerd runc containernetworking-plugins
# iptables conntrack openssl podman). Leaves E2E_DIR/env (KUBECONFIG, KUBECTL, E2E_GATEWAY...) and
# the logs E2E_DIR/logs/*.log.
set -euo pipefail

E2E_DIR="${E2E_DIR:-/tmp/auth0-operator-e2e}"
E2E_BRIDGE="${E2E_BRIDGE:-a0e2e0}"
E2E_SUBNET_PREFIX="${E2E_SUBNET_PREFIX:-10.244.77}"
E2E_GATEWAY="${E2E_SUBNET_PREFIX}.1"
SERVICE_CIDR="${E2E_SERVICE_CIDR:-10.96.77.0/24}"
SERVICE_IP="${SERVICE_CIDR%.*}.1"
API_PORT="${E2E_API_PORT:-16443}"
ETCD_PORT="${E2E_ETCD_PORT:-23790}"
NODE_NAME="${E2E_NODE_NAME:-e2e-node}"
PAUSE_IMAGE="localhost/auth0-operator-e2e-pause:1"
HERE="$(cd "$(dirname "$0")" && pwd)"

log() { echo "e2e-node: $*" >&2; }
die() { log "$*"; exit 1; }

ctr_() { ctr --address "${E2E_DIR}/containerd.sock" -n k8s.io "$@"; }

start_bg() { # name cmd...: start a component, remember its pid
  local name="$1"; shift
  "$@" >"${E2E_DIR}/logs/${name}.log" 2>&1 &
  echo $! > "${E2E_DIR}/pids/${name}"
}

wait_for() { # seconds what cmd...
  local t="$1" what="$2"; shift 2
  local end=$(( $(date +%s) + t ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) > end )); then log "timed out waiting for ${what}"; return 1; fi
    sleep 0.5
  done
}

certs() {
  local p="${E2E_DIR}/pki"; mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=auth0-operator-e2e-ca" \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  cat > "$p/apiserver.ext" <<EXT
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:${E2E_GATEWAY},IP:${SERVICE_IP}
extendedKeyUsage=serverAuth
EXT
  printf 'extendedKeyUsage=clientAuth\n' > "$p/client.ext"
  local name subj ext
  for name in apiserver admin; do
    if [[ $name == apiserver ]]; then subj="/CN=kube-apiserver"; ext="$p/apiserver.ext"
    else subj="/O=system:masters/CN=e2e-admin"; ext="$p/client.ext"; fi
    openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$p/$name.key" -out "$p/$name.csr" 2>/dev/null
    openssl x509 -req -in "$p/$name.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 2 \
      -extfile "$ext" -out "$p/$name.crt" 2>/dev/null
  done
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  cat > "${E2E_DIR}/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "https://${E2E_GATEWAY}:${API_PORT}", certificate-authority: "$p/ca.crt"}
users:
- name: admin
  user: {client-certificate: "$p/admin.crt", client-key: "$p/admin.key"}
contexts:
- name: e2e
  context: {cluster: e2e, user: admin, namespace: default}
current-context: e2e
KC
}

pause_image() { # a static binary that sleeps until a signal, FROM scratch
  local b="${E2E_DIR}/pause-build"; mkdir -p "$b"
  cat > "$b/main.go" <<'GO'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
GO
  (cd "$b" && cat > go.mod <<<'module pause' && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o pause .)
  printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' > "$b/Containerfile"
  podman build -q -t "${PAUSE_IMAGE}" -f "$b/Containerfile" "$b" >/dev/null
}

import_images() {
  local img
  for img in "$@"; do
    log "importing ${img} into containerd"
    podman save -q -o "${E2E_DIR}/image.tar" "${img}" >/dev/null || die "podman save ${img} failed (build it first: CONTAINER_TOOL=podman make docker-build)"
    ctr_ images import "${E2E_DIR}/image.tar" >/dev/null
    rm -f "${E2E_DIR}/image.tar"
  done
}

up() {
  [[ $(id -u) == 0 ]] || die "needs root (containerd, kubelet, network)"
  # A fresh Debian machine lacks the node's packages: install what is missing.
  local pkgs=()
  command -v containerd >/dev/null || pkgs+=(containerd)
  command -v runc >/dev/null || pkgs+=(runc)
  command -v iptables >/dev/null || pkgs+=(iptables)
  command -v conntrack >/dev/null || pkgs+=(conntrack)
  command -v socat >/dev/null || pkgs+=(socat)
  command -v openssl >/dev/null || pkgs+=(openssl)
  [[ -x /usr/lib/cni/bridge ]] || pkgs+=(containernetworking-plugins)
  if ((${#pkgs[@]})); then
    command -v apt-get >/dev/null || die "install ${pkgs[*]} (no apt-get here to do it)"
    log "installing ${pkgs[*]} with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"; } >/dev/null || die "apt-get install ${pkgs[*]} failed"
  fi
  for c in containerd runc ctr iptables openssl podman; do command -v "$c" >/dev/null || die "$c is not installed"; done
  [[ -x /usr/lib/cni/bridge ]] || die "the CNI plugins are not installed (apt-get install containernetworking-plugins)"
  if [[ -d "${E2E_DIR}/pids" ]] && compgen -G "${E2E_DIR}/pids/*" >/dev/null; then
    log "a previous run was not torn down; tearing it down first"; down
  fi
  local t0; t0=$(date +%s)
  local assets node
  assets="$("${HERE}/envtest-toolchain.sh" ${ENVTEST_ASSETS_DIR:+"$ENVTEST_ASSETS_DIR"})"
  node="$("${HERE}/e2e-node-toolchain.sh" ${E2E_NODE_DIR:+"$E2E_NODE_DIR"})"
  rm -rf "${E2E_DIR}"; mkdir -p "${E2E_DIR}"/{logs,pids,cni,etcd,kubelet,pod-logs,containerd}
  ls /run/netns 2>/dev/null | sort > "${E2E_DIR}/netns.before" || true
  kube_chains > "${E2E_DIR}/chains.before"
  certs

  # --- network: the bridge exists before any pod so that the API server can advertise it ---
  ip link add "${E2E_BRIDGE}" type bridge
  ip addr add "${E2E_GATEWAY}/24" dev "${E2E_BRIDGE}"
  ip link set "${E2E_BRIDGE}" up
  echo "${E2E_BRIDGE}" > "${E2E_DIR}/bridge"
  sysctl -qw net.ipv4.ip_forward=1 || true
  cat > "${E2E_DIR}/cni/10-e2e.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "auth0-operator-e2e", "plugins": [
  {"type": "bridge", "bridge": "${E2E_BRIDGE}", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "${E2E_SUBNET_PREFIX}.0/24", "gateway": "${E2E_GATEWAY}"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "${E2E_DIR}/cni/ipam"}},
  {"type": "loopback"}]}
JSON

  # --- containerd ---
  cat > "${E2E_DIR}/containerd.toml" <<TOML
version = 2
root = "${E2E_DIR}/containerd/root"
state = "${E2E_DIR}/containerd/state"
[grpc]
  address = "${E2E_DIR}/containerd.sock"
[ttrpc]
  address = "${E2E_DIR}/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${E2E_DIR}/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
TOML
  start_bg containerd containerd --config "${E2E_DIR}/containerd.toml"
  wait_for 30 containerd ctr_ version
  pause_image
  import_images "${PAUSE_IMAGE}" "$@"

  # --- control plane ---
  local p="${E2E_DIR}/pki" kc="${E2E_DIR}/kubeconfig"
  start_bg etcd "${assets}/etcd" --data-dir "${E2E_DIR}/etcd" \
    --listen-client-urls "http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "default=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync
  start_bg kube-apiserver "${assets}/kube-apiserver" --etcd-servers "http://127.0.0.1:${ETCD_PORT}" \
    --bind-address 0.0.0.0 --secure-port "${API_PORT}" --advertise-address "${E2E_GATEWAY}" \
    --service-cluster-ip-range "${SERVICE_CIDR}" --authorization-mode Node,RBAC \
    --client-ca-file "$p/ca.crt" --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --kubelet-client-certificate "$p/admin.crt" --kubelet-client-key "$p/admin.key" \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local --allow-privileged=true
  wait_for 120 kube-apiserver "${assets}/kubectl" --kubeconfig "$kc" get --raw /readyz
  start_bg kube-controller-manager "${node}/kube-controller-manager" --kubeconfig "$kc" \
    --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" --bind-address 127.0.0.1 --secure-port 0 \
    --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" --leader-elect=false \
    --service-cluster-ip-range "${SERVICE_CIDR}" --cluster-name auth0-operator-e2e
  start_bg kube-scheduler "${node}/kube-scheduler" --kubeconfig "$kc" \
    --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false

  # --- node ---
  cat > "${E2E_DIR}/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://${E2E_DIR}/containerd.sock
address: ${E2E_GATEWAY}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$p/ca.crt"}
authorization: {mode: Webhook}
clusterDomain: cluster.local
failSwapOn: false
podLogsDir: ${E2E_DIR}/pod-logs
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
YAML
  start_bg kubelet "${node}/kubelet" --config "${E2E_DIR}/kubelet.yaml" --kubeconfig "$kc" \
    --root-dir "${E2E_DIR}/kubelet" --hostname-override "${NODE_NAME}" --node-ip "${E2E_GATEWAY}"
  cat > "${E2E_DIR}/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$kc"}
mode: iptables
clusterCIDR: ${E2E_SUBNET_PREFIX}.0/24
hostnameOverride: ${NODE_NAME}
bindAddress: ${E2E_GATEWAY}
metricsBindAddress: 127.0.0.1:10349
healthzBindAddress: 127.0.0.1:10356
conntrack: {maxPerCore: 0, min: 0}
YAML
  start_bg kube-proxy "${node}/kube-proxy" --config "${E2E_DIR}/kube-proxy.yaml"

  local k=("${assets}/kubectl" --kubeconfig "$kc")
  wait_for 120 "node ${NODE_NAME} Ready" "${k[@]}" wait --for=condition=Ready "node/${NODE_NAME}" --timeout 2s
  wait_for 60 "the default ServiceAccount" "${k[@]}" get serviceaccount default
  cat > "${E2E_DIR}/env" <<ENV
export KUBECONFIG=${kc}
export KUBECTL=${assets}/kubectl
export E2E_DIR=${E2E_DIR}
export E2E_GATEWAY=${E2E_GATEWAY}
export E2E_NODE_NAME=${NODE_NAME}
ENV
  log "up in $(( $(date +%s) - t0 ))s: node ${NODE_NAME} Ready; source ${E2E_DIR}/env"
}

IPT_CHAINS=(KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT KUBE-PROXY-CANARY)
kube_chains() { # "cmd table chain" for the chains the kubelet and kube-proxy leave behind
  local cmd table chain
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle; do
      for chain in "${IPT_CHAINS[@]}"; do
        if "$cmd" -t "$table" -S "$chain" >/dev/null 2>&1; then echo "$cmd $table $chain"; fi
      done
    done
  done
  return 0
}

stop_pid() { # name [signal]
  local f="${E2E_DIR}/pids/$1" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "-${2:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  [[ -d "${E2E_DIR}" ]] || { log "nothing to tear down"; return 0; }
  log "tearing down"
  # The kubelet first, so that it restarts nothing; then every container and sandbox it left.
  stop_pid kubelet
  stop_pid kube-proxy
  if [[ -S "${E2E_DIR}/containerd.sock" ]] && [[ -f "${E2E_DIR}/pids/containerd" ]]; then
    local task
    for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$task" >/dev/null 2>&1 || true; done
    sleep 1
    for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$task" >/dev/null 2>&1 || true; done
    for task in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$task" >/dev/null 2>&1 || true; done
  fi
  stop_pid kube-scheduler
  stop_pid kube-controller-manager
  stop_pid kube-apiserver
  stop_pid etcd
  stop_pid containerd
  # kube-proxy's iptables rules.
  if [[ -f "${E2E_DIR}/kube-proxy.yaml" ]]; then
    local node; node="$("${HERE}/e2e-node-toolchain.sh" ${E2E_NODE_DIR:+"$E2E_NODE_DIR"} 2>/dev/null)" || true
    [[ -x "${node}/kube-proxy" ]] && "${node}/kube-proxy" --cleanup --config "${E2E_DIR}/kube-proxy.yaml" >"${E2E_DIR}/logs/kube-proxy-cleanup.log" 2>&1 || true
  fi
  # The kubelet's canary chains and the KUBE-FIREWALL chain that --cleanup keeps, unless they
  # were there before this cluster.
  if [[ -f "${E2E_DIR}/chains.before" ]]; then
    local cmd table chain hook
    while read -r cmd table chain; do
      grep -qx "$cmd $table $chain" "${E2E_DIR}/chains.before" && continue
      for hook in INPUT OUTPUT FORWARD PREROUTING POSTROUTING; do
        while "$cmd" -t "$table" -D "$hook" -j "$chain" 2>/dev/null; do :; done
      done
      "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
      "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
    done < <(kube_chains)
  fi
  # Network namespaces the sandboxes left (only those created during this run), then the bridge.
  if [[ -f "${E2E_DIR}/netns.before" ]]; then
    local ns
    for ns in $(comm -13 "${E2E_DIR}/netns.before" <(ls /run/netns 2>/dev/null | sort)); do
      [[ $ns == cni-* ]] || continue
      ip netns delete "$ns" 2>/dev/null || { umount "/run/netns/$ns" 2>/dev/null; rm -f "/run/netns/$ns"; }
    done
  fi
  if [[ -f "${E2E_DIR}/bridge" ]]; then
    local br; br="$(cat "${E2E_DIR}/bridge")"
    ip link show "$br" >/dev/null 2>&1 && ip link delete "$br"
  fi
  # Mounts under E2E_DIR (pod volumes, snapshots, shm), deepest first.
  local m
  for _ in 1 2 3; do
    mapfile -t mounts < <(awk -v d="${E2E_DIR}/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
    (( ${#mounts[@]} == 0 )) && break
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
  if awk -v d="${E2E_DIR}/" 'index($2, d) == 1 {found=1} END {exit !found}' /proc/self/mounts; then
    log "mounts remain under ${E2E_DIR}; leaving it"; return 1
  fi
  if [[ -n "${E2E_KEEP_LOGS:-}" ]]; then
    rm -rf "${E2E_DIR}"/{containerd,kubelet,etcd,pod-logs,cni,pids}; log "logs kept in ${E2E_DIR}/logs"
  else
    rm -rf "${E2E_DIR}"
  fi
  log "down"
}

trap 'log "failed at line ${LINENO}: ${BASH_COMMAND} (logs in ${E2E_DIR}/logs)"' ERR

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  *) echo "usage: $0 up [IMAGE...] | down" >&2; exit 2 ;;
esac
