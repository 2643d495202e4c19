#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go module proxy, cached by version.
# Usage: build-tools.sh <cache-dir>   (each tool lands in <cache-dir>/<tool>-<version>/)
set -euo pipefail
CACHE=${1:?cache dir}
K8S=${K8S_VERSION:-1.36.3}
ETCD=${ETCD_VERSION:-3.6.16}
KWOK=${KWOK_VERSION:-0.8.0}
HELM=${HELM_VERSION:-3.22.0}
command -v go >/dev/null || { echo "error: Go toolchain not found (install Go >= 1.26 from https://go.dev/dl)" >&2; exit 2; }
export CGO_ENABLED=0 GOFLAGS=-mod=mod
log() { printf '[build-tools] %s\n' "$*" >&2; }

wrapper() { # dir module-require-lines...
  local dir=$1; shift; rm -rf "$dir"; mkdir -p "$dir"; printf 'module local/tools\n\ngo 1.26\n\n%s\n' "$*" > "$dir/go.mod"
}

build_k8s() {
  local out=$CACHE/kubernetes-v$K8S minor patch staging w x
  local bins="kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy" b missing=""
  for b in $bins; do [ -x "$out/$b" ] || missing=1; done
  [ -z "$missing" ] && return 0
  log "building Kubernetes v$K8S ($bins); first time takes 15-30 min"
  minor=$(echo "$K8S" | cut -d. -f2); patch=$(echo "$K8S" | cut -d. -f3)
  staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller"
  [ "$minor" -ge 36 ] && staging="$staging cri-streaming streaming"
  w=$CACHE/.work/kubernetes-v$K8S
  local req="require k8s.io/kubernetes v$K8S

replace ("
  for m in $staging; do req="$req
	k8s.io/$m => k8s.io/$m v0.$minor.$patch"; done
  req="$req
)

tool (
	k8s.io/kubernetes/cmd/kube-apiserver
	k8s.io/kubernetes/cmd/kube-controller-manager
	k8s.io/kubernetes/cmd/kube-scheduler
	k8s.io/kubernetes/cmd/kubectl
	k8s.io/kubernetes/cmd/kubelet
	k8s.io/kubernetes/cmd/kube-proxy
)"
  wrapper "$w" "$req"
  (cd "$w" && go mod tidy)
  x=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    x="$x -X $p.gitVersion=v$K8S -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
  done
  mkdir -p "$out.tmp"
  (cd "$w" && go build -trimpath -ldflags "-s -w $x" -o "$out.tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_one() { # name version module pkg binary
  local name=$1 ver=$2 module=$3 pkg=$4 bin=$5 out w
  out=$CACHE/$name-v$ver
  [ -x "$out/$bin" ] && return 0
  log "building $name v$ver"
  w=$CACHE/.work/$name-v$ver
  wrapper "$w" "require $module v$ver

tool $pkg"
  (cd "$w" && go mod tidy)
  mkdir -p "$out.tmp"
  (cd "$w" && go build -trimpath -ldflags "-s -w $6" -o "$out.tmp/$bin" "$pkg")
  rm -rf "$out"; mv "$out.tmp" "$out"
}

what=${2:-all}
case $what in all|etcd) build_one etcd "$ETCD" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 etcd "";; esac
case $what in all|kwok)
  build_one kwok "$KWOK" sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok kwok ""
  # kwok's own node and volume Stages, from the module it was built from (pod Stages are the
  # project's: xtask/stages/)
  if [ ! -f "$CACHE/kwok-v$KWOK/stages/pvc-provision.yaml" ]; then
    src=$(cd "$CACHE/.work/kwok-v$KWOK" 2>/dev/null && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok || true)
    if [ -z "$src" ]; then wrapper "$CACHE/.work/kwok-v$KWOK" "require sigs.k8s.io/kwok v$KWOK"; src=$(cd "$CACHE/.work/kwok-v$KWOK" && go mod download -json sigs.k8s.io/kwok@v$KWOK | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); fi
    mkdir -p "$CACHE/kwok-v$KWOK/stages"
    cp "$src/kustomize/stage/node/fast/node-initialize.yaml" "$src/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" "$CACHE/kwok-v$KWOK/stages/"
    for f in pv-bind pv-delete pvc-provision pvc-delete; do cp "$src/kustomize/stage/volume/fast/$f.yaml" "$CACHE/kwok-v$KWOK/stages/"; done
    chmod u+w "$CACHE/kwok-v$KWOK/stages/"*
  fi;;
esac
# helm takes the Kubernetes version it assumes (for kubeVersion checks in lint/template) from ldflags.
K8S_MAJOR=$(echo "$K8S" | cut -d. -f1); K8S_MINOR=$(echo "$K8S" | cut -d. -f2)
HELM_LDFLAGS="-X helm.sh/helm/v3/internal/version.version=v$HELM"
for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  HELM_LDFLAGS="$HELM_LDFLAGS -X $p.k8sVersionMajor=$K8S_MAJOR -X $p.k8sVersionMinor=$K8S_MINOR"
done
case $what in all|helm) build_one helm "$HELM" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm helm "$HELM_LDFLAGS";; esac
case $what in all|kubernetes) build_k8s;; esac
log "tools ready in $CACHE"
