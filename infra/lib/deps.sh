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
}
