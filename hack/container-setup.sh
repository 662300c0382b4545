#!/usr/bin/env bash
# Makes `CONTAINER_TOOL=podman make docker-build` work on a machine with no Docker engine and no
# registry to pull from (Debian 12 as root, e.g. CI). `make docker-build` runs it with --if-needed
# when CONTAINER_TOOL is podman; `make docker-bases` runs it in full. Idempotent. It:
#   1. installs podman (and runc, busybox-static) with apt-get when podman is missing;
#   2. writes /etc/containers/containers.conf when there is none, or when this script wrote it
#      (first line below): runc (crun refuses hybrid cgroup v1/v2 hosts), cgroupfs (no systemd),
#      and nofile/nproc ulimits within the host's hard limits (podman's defaults are higher, and
#      setrlimit fails in a sandbox that caps them). A containers.conf you wrote is left alone;
#   3. provides every base image the Dockerfile names (its FROM lines): an image already in
#      podman's storage is kept; else it is pulled; else (no registry, or CONTAINER_BASES=local)
#      it is built here FROM scratch under the same name, so that the Dockerfile builds unchanged:
#        golang:X.Y                     the host's Go toolchain (must be Go X.Y) + busybox-static
#        gcr.io/distroless/static[:*]   passwd/group with nonroot 65532, the host's CA bundle,
#                                       /usr/share/zoneinfo, /tmp (1777), /home/nonroot
#   4. checks that podman can run a container (a RUN step) with the builder image.
#
# Usage: hack/container-setup.sh [--if-needed | --rebuild]
#   --if-needed  skip the final check when nothing had to be installed, written or built
#   --rebuild    rebuild the base images this script built (e.g. after upgrading the host's Go)
# Environment: CONTAINER_BASES=auto (default: pull, else build locally) | local | pull
#              CONTAINER_PULL_TIMEOUT=60 (seconds a pull may take before falling back)
set -euo pipefail
cd "$(dirname "$0")/.."

readonly MARKER="# Written by auth0-operator's hack/container-setup.sh; remove this line to keep your own edits."
readonly CONF=/etc/containers/containers.conf
# Recorded as the image's history comment (not a label: labels would be inherited by the
# operator image). --rebuild replaces only images carrying it.
readonly LOCAL_COMMENT="auth0-operator hack/container-setup.sh: local base image"
BASES_MODE="${CONTAINER_BASES:-auto}"
PULL_TIMEOUT="${CONTAINER_PULL_TIMEOUT:-60}"

log() { echo "container-setup: $*" >&2; }
die() { log "error: $*"; exit 1; }

mode="full"
case "${1:-}" in
  "") ;;
  --if-needed) mode="if-needed" ;;
  --rebuild) mode="rebuild" ;;
  *) die "unknown argument ${1} (usage: $0 [--if-needed | --rebuild])" ;;
esac
case "${BASES_MODE}" in auto | local | pull) ;; *) die "CONTAINER_BASES must be auto, local or pull" ;; esac

# The Dockerfile's external base images: FROM arguments that are not earlier stages' names.
base_refs() {
  awk 'toupper($1) == "FROM" {
         i = 2; while ($i ~ /^--/) i++
         if (!($i in stage)) print $i
         if (tolower($(i+1)) == "as") stage[$(i+2)] = 1
       }' Dockerfile | sort -u
}

# The fully qualified name podman gives a reference (golang:1.26 -> docker.io/library/golang:1.26),
# so that images built here are found exactly where the Dockerfile's FROM looks.
qualify() {
  local ref="$1" first="${1%%/*}"
  [[ "${ref}" == *:* || "${ref}" == *@* ]] || ref="${ref}:latest"
  if [[ "${ref}" != */* ]]; then
    echo "docker.io/library/${ref}"
  elif [[ "${first}" != *.* && "${first}" != *:* && "${first}" != localhost ]]; then
    echo "docker.io/${ref}"
  else
    echo "${ref}"
  fi
}

mapfile -t REFS < <(base_refs)
[[ ${#REFS[@]} -gt 0 ]] || die "no FROM line found in the Dockerfile"

# --- 1. podman -----------------------------------------------------------------------------------
changed=0  # set when this run installs, writes or builds something: then check the result
need_pkgs=()
command -v podman >/dev/null || need_pkgs+=(podman)
# runc: crun (podman's default on Debian) refuses hosts with hybrid cgroups.
command -v runc >/dev/null || ! command -v apt-get >/dev/null || need_pkgs+=(runc)
apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || die "install $* (no apt-get here to do it)"
  [[ ${EUID} -eq 0 ]] || die "installing $* needs root (apt-get)"
  log "installing $* with apt-get"
  if [[ ${apt_updated} -eq 0 ]]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  changed=1
}
[[ ${#need_pkgs[@]} -eq 0 ]] || apt_install "${need_pkgs[@]}"

# --- 2. containers.conf --------------------------------------------------------------------------
if [[ ! -e "${CONF}" ]] || [[ "$(head -n 1 "${CONF}")" == "${MARKER}" ]]; then
  if [[ ${EUID} -ne 0 ]]; then
    log "not root: leaving ${CONF} alone"
  else
    # Podman (as root) raises nofile and nproc to its own maxima (1048576), which setrlimit
    # refuses where the host's hard limits are lower and CAP_SYS_RESOURCE is withheld (a
    # sandbox): ask for the host's hard limits instead. conmon, the parent of the container's
    # process, holds nproc at most kernel.pid_max (measured: 32768 where the shell has 96364).
    nofile="$(ulimit -Hn)"; nproc="$(ulimit -Hu)"
    pidmax="$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)"
    [[ "${nofile}" == unlimited || "${nofile}" -gt 1048576 ]] && nofile=1048576
    [[ "${nproc}" == unlimited || "${nproc}" -gt "${pidmax}" ]] && nproc="${pidmax}"
    runtime=runc
    command -v runc >/dev/null || runtime=crun
    # cgroupfs: no systemd to manage cgroups (a container or a minimal VM); on a systemd host,
    # cgroupfs still works for root.
    new="$(cat <<EOF
${MARKER}
# Settings podman needs on this machine (see the script for why).
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]

[engine]
runtime = "${runtime}"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
)"
    if [[ ! -e "${CONF}" ]] || [[ "$(cat "${CONF}")" != "${new}" ]]; then
      mkdir -p "$(dirname "${CONF}")"
      printf '%s\n' "${new}" > "${CONF}"
      changed=1
      log "wrote ${CONF} (runtime ${runtime}, cgroupfs, nofile ${nofile}, nproc ${nproc})"
    fi
  fi
elif [[ "${mode}" != if-needed ]]; then
  log "${CONF} exists and was not written by this script: left as it is (podman here may need" \
    "runtime = \"runc\", cgroup_manager = \"cgroupfs\" and default_ulimits within the hard limits: nofile $(ulimit -Hn), nproc $(ulimit -Hu) and kernel.pid_max)"
fi

# --- 3. base images ------------------------------------------------------------------------------
workdir="$(mktemp -d "${TMPDIR:-/var/tmp}/container-setup.XXXXXX")"
trap 'rm -rf "${workdir}"' EXIT

# import ROOTFS_TAR NAME CHANGE...: one layer, the image config from Dockerfile-style changes.
import_image() {
  local tar="$1" name="$2"; shift 2
  local changes=()
  for c in "$@"; do changes+=(--change "${c}"); done
  podman import --quiet --message "${LOCAL_COMMENT}" "${changes[@]}" "${tar}" "${name}" >/dev/null
}

skeleton() {  # skeleton DIR: the files both images have
  local r="$1"
  mkdir -p "${r}"/{etc/ssl/certs,tmp,root,home,usr/local/bin,usr/bin,bin,sbin}
  chmod 1777 "${r}/tmp"
  chmod 0700 "${r}/root"
  [[ -s /etc/ssl/certs/ca-certificates.crt ]] || die "no CA bundle at /etc/ssl/certs/ca-certificates.crt (apt-get install ca-certificates)"
  cp /etc/ssl/certs/ca-certificates.crt "${r}/etc/ssl/certs/"
  printf 'hosts: files dns\n' > "${r}/etc/nsswitch.conf"
}

build_distroless_static() {  # the distroless static image's layout, nonroot variant's config
  local name="$1" r="${workdir}/static"
  skeleton "${r}"
  cat > "${r}/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat > "${r}/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
  if [[ -d /usr/share/zoneinfo ]]; then
    mkdir -p "${r}/usr/share"
    cp -a /usr/share/zoneinfo "${r}/usr/share/"
  else
    log "warning: no /usr/share/zoneinfo on this host (apt-get install tzdata): ${name} has no time zone data"
  fi
  tar -C "${r}" --numeric-owner --owner=0 --group=0 -cf "${workdir}/static.tar" .
  # /home/nonroot belongs to nonroot (appended with its own owner: works without root too).
  mkdir -p "${workdir}/home/home/nonroot"
  chmod 0700 "${workdir}/home/home/nonroot"
  tar -C "${workdir}/home" --numeric-owner --owner=65532 --group=65532 -rf "${workdir}/static.tar" ./home/nonroot
  import_image "${workdir}/static.tar" "${name}" \
    "USER 65532" "WORKDIR /home/nonroot" \
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
}

build_golang() {  # the official golang image's layout and environment, from the host's Go
  local name="$1" tag="$2" r="${workdir}/golang" go goroot gover want
  go="$(command -v go || echo /usr/local/go/bin/go)"
  [[ -x "${go}" ]] || die "the ${name} base image is made from the host's Go toolchain: install Go ${tag} in /usr/local/go"
  goroot="$("${go}" env GOROOT)"
  gover="$("${go}" env GOVERSION)"
  want="go${tag%%-*}"  # golang:1.26 and golang:1.26-bookworm want go1.26 or go1.26.N
  if [[ "${want}" != go1* ]]; then
    log "warning: ${name}: cannot tell which Go the tag means; using the host's ${gover}"
  elif [[ "${gover}" != "${want}" && "${gover}" != "${want}".* ]]; then
    die "the Dockerfile wants ${name} but the host's Go (${goroot}) is ${gover}: install ${want} in /usr/local/go, or make the image available to podman"
  fi
  # /bin/sh for RUN steps: busybox-static (Debian's plain busybox is linked dynamically).
  if command -v dpkg-query >/dev/null &&
    ! dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
    apt_install busybox-static
  fi
  [[ -x /bin/busybox ]] || die "busybox-static is needed for ${name}'s /bin/sh (apt-get install busybox-static)"
  skeleton "${r}"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > "${r}/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "${r}/etc/group"
  cp /bin/busybox "${r}/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do
    [[ -e "${r}/bin/${applet}" ]] || ln -s busybox "${r}/bin/${applet}"
  done
  mkdir -p "${r}/go/bin" "${r}/go/src" "${r}/usr/local"
  chmod 1777 "${r}/go"
  # Go's own test suite is not needed to build; everything else as in the distribution.
  tar -C "${goroot}" --exclude=./test -cf - . | (mkdir -p "${r}/usr/local/go" && tar -C "${r}/usr/local/go" -xf -)
  tar -C "${r}" --numeric-owner --owner=0 --group=0 -cf "${workdir}/golang.tar" .
  import_image "${workdir}/golang.tar" "${name}" \
    "ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "ENV GOLANG_VERSION=${gover#go}" "ENV GOPATH=/go" "ENV GOTOOLCHAIN=local" \
    "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
    "WORKDIR /go"
}

is_local() { [[ "$(podman image inspect --format '{{.Comment}}' "$1" 2>/dev/null)" == "${LOCAL_COMMENT}" ]]; }

for ref in "${REFS[@]}"; do
  name="$(qualify "${ref}")"
  if podman image exists "${name}"; then
    if [[ "${mode}" == rebuild ]] && is_local "${name}"; then
      log "${ref}: rebuilding the local image"
    else
      continue
    fi
  elif [[ "${BASES_MODE}" != local ]]; then
    log "${ref}: pulling ${name}"
    if timeout "${PULL_TIMEOUT}" podman pull --quiet "${name}" >/dev/null 2>"${workdir}/pull.log"; then
      continue
    fi
    [[ "${BASES_MODE}" == pull ]] && { cat "${workdir}/pull.log" >&2; die "${ref}: pull failed"; }
    log "${ref}: cannot pull ($(tail -n 1 "${workdir}/pull.log" | cut -c1-160)); building it locally"
  fi
  start=${SECONDS}
  changed=1
  case "${ref}" in
    golang:* | library/golang:* | docker.io/library/golang:*) build_golang "${name}" "${ref##*golang:}" ;;
    gcr.io/distroless/static | gcr.io/distroless/static:*) build_distroless_static "${name}" ;;
    *) die "${ref}: cannot be pulled and this script does not know how to build it (see its header)" ;;
  esac
  log "${ref}: built ${name} locally in $((SECONDS - start))s ($(podman image inspect --format '{{.Size}}' "${name}" | awk '{printf "%d MB", $1/1e6}'))"
done

# --- 4. can podman run a build step? -------------------------------------------------------------
[[ "${mode}" != if-needed || ${changed} -eq 1 ]] || exit 0
for ref in "${REFS[@]}"; do
  case "${ref}" in
    golang:* | library/golang:* | docker.io/library/golang:*)
      if ! out="$(podman run --rm --pull=never --network=none "$(qualify "${ref}")" /bin/sh -c 'go version' 2>&1)"; then
        echo "${out}" >&2
        die "podman cannot run a container here (a RUN step would fail too); see ${CONF}"
      fi
      log "podman runs containers: ${out}"
      ;;
  esac
done
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -F -f <(for r in "${REFS[@]}"; do qualify "${r}"; done) |
  sed 's/^/container-setup: base image ready: /' >&2 || true
