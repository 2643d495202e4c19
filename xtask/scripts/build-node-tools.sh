#!/usr/bin/env bash
# Builds the real node's runtime from the Go module proxy, cached by version: containerd 2.x with
# its runc shim, runc (cgo, libseccomp), the CNI plugins, kube-router (NetworkPolicy), the
# local-path provisioner and crictl. kubelet and kube-proxy come with Kubernetes (build-tools.sh).
# Usage: build-node-tools.sh <cache-dir>   (each tool lands in <cache-dir>/<tool>-v<version>/)
set -euo pipefail
CACHE=${1:?cache dir}
CONTAINERD=${CONTAINERD_VERSION:-2.4.2}
RUNC=${RUNC_VERSION:-1.5.3}
CNI=${CNI_PLUGINS_VERSION:-1.10.0}
KUBE_ROUTER=${KUBE_ROUTER_VERSION:-2.1.0}
LOCAL_PATH=${LOCAL_PATH_VERSION:-0.0.30}
CRICTL=${CRICTL_VERSION:-1.37.0}
command -v go >/dev/null || { echo "error: Go toolchain not found (install Go >= 1.26 from https://go.dev/dl)" >&2; exit 2; }
export GOFLAGS=-mod=mod
log() { printf '[build-node-tools] %s\n' "$*" >&2; }

# build <name> <version> <module> <cgo 0|1> <tags> <ldflags> <binary=package>...
build() {
  local name=$1 ver=$2 module=$3 cgo=$4 tags=$5 ldflags=$6 out w spec bin pkg missing="" tools=""
  shift 6
  out=$CACHE/$name-v$ver
  for spec in "$@"; do [ -x "$out/${spec%%=*}" ] || missing=1; done
  [ -z "$missing" ] && return 0
  log "building $name v$ver"
  w=$CACHE/.work/$name-v$ver
  for spec in "$@"; do tools="$tools
	${spec#*=}"; done
  rm -rf "$w"; mkdir -p "$w"
  printf 'module local/tools\n\ngo 1.26\n\nrequire %s v%s\n\ntool (%s\n)\n' "$module" "$ver" "$tools" > "$w/go.mod"
  (cd "$w" && go mod tidy)
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  for spec in "$@"; do
    bin=${spec%%=*}; pkg=${spec#*=}
    (cd "$w" && CGO_ENABLED=$cgo go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$out.tmp/$bin" "$pkg")
  done
  rm -rf "$out"; mv "$out.tmp" "$out"
}

what=${2:-all}
case $what in all|containerd)
  build containerd "$CONTAINERD" github.com/containerd/containerd/v2 0 "no_btrfs no_devmapper no_zfs" \
    "-X github.com/containerd/containerd/v2/version.Version=v$CONTAINERD" \
    containerd=github.com/containerd/containerd/v2/cmd/containerd \
    containerd-shim-runc-v2=github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2;;
esac
case $what in all|runc)
  if ! pkg-config --exists libseccomp 2>/dev/null; then
    echo "error: runc needs libseccomp's headers to build (apt-get install libseccomp-dev pkg-config)" >&2; exit 2
  fi
  build runc "$RUNC" github.com/opencontainers/runc 1 "seccomp urfave_cli_no_docs" \
    "-X main.version=$RUNC" runc=github.com/opencontainers/runc;;
esac
case $what in all|cni)
  build cni-plugins "$CNI" github.com/containernetworking/plugins 0 "" "" \
    bridge=github.com/containernetworking/plugins/plugins/main/bridge \
    loopback=github.com/containernetworking/plugins/plugins/main/loopback \
    host-local=github.com/containernetworking/plugins/plugins/ipam/host-local \
    portmap=github.com/containernetworking/plugins/plugins/meta/portmap;;
esac
case $what in all|kube-router)
  build kube-router "$KUBE_ROUTER" github.com/cloudnativelabs/kube-router/v2 0 "" \
    "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v$KUBE_ROUTER" \
    kube-router=github.com/cloudnativelabs/kube-router/v2/cmd/kube-router;;
esac
case $what in all|local-path)
  build local-path-provisioner "$LOCAL_PATH" github.com/rancher/local-path-provisioner 0 "" "" \
    local-path-provisioner=github.com/rancher/local-path-provisioner;;
esac
case $what in all|crictl)
  build crictl "$CRICTL" sigs.k8s.io/cri-tools 0 "" "" crictl=sigs.k8s.io/cri-tools/cmd/crictl;;
esac
log "node tools ready in $CACHE"
