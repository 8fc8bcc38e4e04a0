#!/usr/bin/env bash
# Builds MoeCloud's four container images from Debian's packages and this checkout, with no registry pulls:
#   moecloud-operator, moecloud-silo, moecloud-gateway (moectl, run as `moectl gateway`) and moecloud-redis.
# Steps: a Debian root filesystem from mmdebstrap (cached under artifacts/images/rootfs), self-contained publishes of
# the three .NET programs (artifacts/images/publish), then one buildah commit per image. Each step is skipped when its
# inputs have not changed, so a re-run with nothing to do takes seconds. The layout matches infra/docker/Dockerfile:
# the program in /app, /app/entrypoint.sh as the entry point, user 65532, HTTP on 8080, only /tmp written.
# Usage: infra/images/build.sh [--tag TAG]   (TAG defaults to the chart's appVersion). Needs root, podman, buildah, mmdebstrap.
set -euo pipefail
shopt -s inherit_errexit

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
tag="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/moecloud/Chart.yaml)"
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    *) echo "usage: infra/images/build.sh [--tag TAG]" >&2; exit 2 ;;
  esac
done
work="$root/artifacts/images"
suite=bookworm
mkdir -p "$work/rootfs" "$work/publish"
for tool in podman buildah mmdebstrap dotnet; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required (infra/lib/deps.sh moecloud_install_container_tools installs it)" >&2; exit 1; }
done
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
started=$SECONDS

# 1. Root filesystems, one per package set, cached by the hash of that set: the .NET base (ICU, OpenSSL, CA
#    certificates, OpenBLAS for the silo's expert kernel) and Redis (Debian's redis-server and redis-cli).
rootfs() { # rootfs NAME PACKAGE... -> prints the imported base image's name
  local name="$1"; shift
  local packages; packages="$(IFS=,; echo "$*")"
  local key; key="$(echo "$suite $packages" | sha256sum | cut -c1-12)"
  local image="localhost/moecloud-rootfs-$name:$key"
  if ! podman image exists "$image"; then
    local tar="$work/rootfs/$name-$key.tar"
    if [ ! -s "$tar" ]; then
      echo "==> mmdebstrap $suite ($packages)" >&2
      mmdebstrap --quiet --format=tar --variant=apt --include="$packages" "$suite" "$tar.part" >&2
      mv "$tar.part" "$tar"
    fi
    podman import --quiet "$tar" "$image" >/dev/null
  fi
  echo "$image"
}
base="$(rootfs dotnet libicu72 libssl3 ca-certificates libopenblas0-pthread)"
redis_base="$(rootfs redis redis-server)"

# 2. Self-contained publishes, redone only when a source file is newer than the last publish. ReadyToRun: every
#    assembly carries precompiled code, so a container starts on it instead of compiling each method at first call
#    (docs/BENCHMARKS.md, *Elastic*, "Containers start on precompiled code"); hot methods are still recompiled optimised.
publish() { # publish NAME PROJECT
  local name="$1" project="$2" out="$work/publish/$1"
  local stamp="$out/.published"
  if [ -f "$stamp" ] && [ -z "$(find src operators Directory.Build.props Directory.Packages.props global.json \
       -newer "$stamp" -type f -not -path '*/bin/*' -not -path '*/obj/*' -print -quit)" ]; then
    return 0
  fi
  echo "==> dotnet publish $project (self-contained, linux-x64, ReadyToRun)" >&2
  rm -rf "$out"
  dotnet publish "$project" -c Release -r linux-x64 --self-contained -p:UseAppHost=true -p:PublishReadyToRun=true -o "$out" -nologo -v quiet >&2
  printf '#!/bin/sh\nexec /app/%s "$@"\n' "$(basename "$project")" > "$out/entrypoint.sh"
  chmod 0555 "$out/entrypoint.sh"
  touch "$stamp"
}
publish operator operators/MoeCloud.Operator
publish silo src/MoeCloud.Silo
publish gateway src/MoeCloud.Cli

# 3. Images. The label io.moecloud.inputs records what an image was built from (base image, published files, this
#    script); an image whose label matches is up to date.
commit() { # commit IMAGE BASE INPUTS -- BUILDAH-CONFIG-ARGS... (the working container is $ctr for a setup step)
  local image="$1" from="$2" inputs="$3"; shift 4
  if [ "$(podman image inspect --format '{{index .Labels "io.moecloud.inputs"}}' "$image:$tag" 2>/dev/null)" = "$inputs" ]; then
    echo "    $image:$tag is up to date" >&2
    return 0
  fi
  echo "==> buildah commit $image:$tag" >&2
  ctr="$(buildah from --pull-never --quiet "$from")"
  trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' RETURN
  [ -z "${setup:-}" ] || "$setup"
  buildah config \
    --label "org.opencontainers.image.version=$tag" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.source=https://github.com/moecloud/moecloud" \
    --label "io.moecloud.inputs=$inputs" \
    --env TMPDIR=/tmp "$@" "$ctr"
  buildah commit --quiet --rm "$ctr" "$image:$tag" >/dev/null
  trap - RETURN
}
dotnet_image() { # dotnet_image IMAGE NAME
  local image="$1" name="$2" dir="$work/publish/$2"
  local inputs; inputs="$( (podman image inspect --format '{{.Id}}' "$base"; cat "$0"; \
    find "$dir" -type f -printf '%P %s %T@\n' | sort) | sha256sum | cut -c1-16)"
  copy_app() { buildah copy --quiet --chown 0:0 "$ctr" "$dir" /app >/dev/null && buildah run "$ctr" rm -f /app/.published; }
  setup=copy_app commit "$image" "$base" "$inputs" -- \
    --env ASPNETCORE_URLS=http://+:8080 --env DOTNET_EnableDiagnostics=0 --env DOTNET_gcServer=1 \
    --workingdir /app --user 65532:65532 --port 8080 --entrypoint '["/app/entrypoint.sh"]' --cmd ''
}
dotnet_image moecloud-operator operator
dotnet_image moecloud-silo silo
dotnet_image moecloud-gateway gateway
# Redis runs as 999 (the chart's securityContext), data in /data (the chart mounts a volume there); the chart's args
# start with redis-server, so the image has no entry point and its command is redis-server.
redis_inputs="$( (podman image inspect --format '{{.Id}}' "$redis_base"; cat "$0") | sha256sum | cut -c1-16)"
redis_dirs() { buildah run "$ctr" sh -c 'mkdir -p /data && chown 999:999 /data'; }
setup=redis_dirs commit moecloud-redis "$redis_base" "$redis_inputs" -- \
  --user 999:999 --workingdir /data --port 6379 --entrypoint '[]' --cmd '["redis-server","--protected-mode","no"]'

echo "images moecloud-operator, moecloud-silo, moecloud-gateway, moecloud-redis (tag $tag) up to date in $((SECONDS - started)) s"
