#!/usr/bin/env bash
# Builds the e2e node's container images with no registry: each is a one-layer OCI archive (oci-layout,
# index.json, blobs) made from a root filesystem tar, cached under $TOOLCHAIN_DIR/node/images (never in the
# repo) and imported by the node with `ctr -n k8s.io image import`. These are LOCAL BUILDS standing in for the
# upstream images; their references (written to node/images/images.json, which e2e/node reads) are:
#   pause          synergyflow.local/pause:3.10.1        static /pause from k8s.io/kubernetes' build/pause/linux/pause.c;
#                                                        containerd's sandbox_image points at it
#   postgresql     synergyflow.local/postgresql:<17.x>   Debian trixie postgresql-17, binaries on PATH, postgres = 26:26.
#                                                        The e2e's Cluster sets imageName to it; CNPG reads the major
#                                                        version from the tag, so the tag is the packaged version.
#   pgbouncer      synergyflow.local/pgbouncer:<1.24.x>  Debian trixie pgbouncer at /usr/bin/pgbouncer (where CNPG's
#                                                        `manager pgbouncer run` execs it), user 998:996 as CNPG runs it.
#                                                        The operator's PGBOUNCER_IMAGE_NAME points at it.
#   psql           synergyflow.local/psql:<17.x>         Debian trixie postgresql-client-17, for the bootstrap Jobs.
#   cnpg-operator  synergyflow.local/cloudnative-pg:1.27.4  the toolchain's operator build at /manager: CNPG 1.27.4's
#                                                        bootstrap-controller init container runs
#                                                        `/manager bootstrap /controller/manager` from the operator image
#                                                        (OPERATOR_IMAGE_NAME), copying the instance manager into every
#                                                        instance and pooler pod.
#   backend        synergyflow.local/backend:<0.1.x>     the e2e's stand-in for SynergyFlow's backend and a JDBC load
#                                                        client (e2e/backend/, our own code: one jar built with Maven,
#                                                        PgJDBC + HikariCP + slf4j beside it in /app/lib) on Debian
#                                                        trixie's openjdk-21-jre-headless; runs as 10001:10001,
#                                                        writes only /tmp; `java -jar /app/backend.jar [serve|load]`.
#                                                        Maven's repository is cached in $TOOLCHAIN_DIR/maven-repo.
# Why PostgreSQL 17 and not the platform's 16: CNPG's instance manager runs initdb, pg_ctl, postgres,
# pg_controldata, pg_rewind, pg_basebackup and pg_isready. Debian (bookworm: 15, trixie: 17) has no 16, and the
# npm registry's 16.8 server build carries only initdb, pg_ctl and postgres, so a 16 image would lack
# pg_controldata, which CNPG reads on every status probe. What our program does to roles, databases and schemas
# is the same on 16 and 17. Everything is built with the PostgreSQL major of Debian trixie, named in the tag.
# Usage: build-node-images.sh [pause|postgresql|pgbouncer|psql|cnpg-operator|backend]...  (default: all; REBUILD=1 rebuilds)
# products: node/images/images.json node/images/pause.oci.tar node/images/postgresql.oci.tar node/images/pgbouncer.oci.tar node/images/psql.oci.tar node/images/cnpg-operator.oci.tar node/images/backend.oci.tar
set -euo pipefail
TOOLCHAIN_DIR="${SYNERGYFLOW_TOOLCHAIN:-$HOME/.cache/synergyflow-db-toolchain}"
K8S_VERSION="${K8S_VERSION:-v1.34.3}"
CNPG_VERSION="${CNPG_VERSION:-v1.27.4}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
out="$TOOLCHAIN_DIR/node/images"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
work="$(mktemp -d "$TOOLCHAIN_DIR/node/images-work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# build-all.sh runs the build-node-*.sh scripts in name order, this one before the packages it needs.
command -v mmdebstrap >/dev/null && command -v jq >/dev/null || bash "$(dirname "$0")/build-node-packages.sh"
for tool in mmdebstrap jq gcc sha256sum; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run e2e/toolchain/build-node-packages.sh first" >&2; exit 1; }
done

# Records NAME -> REF in images.json (kept across partial builds).
record() {
  local json="$out/images.json"
  [ -s "$json" ] || echo '{}' > "$json"
  jq --arg n "$1" --arg r "$2" --arg f "$1.oci.tar" '.[$n] = {ref: $r, file: $f}' "$json" > "$json.tmp" && mv "$json.tmp" "$json"
}

# oci_archive NAME REF ROOTFS_TAR CONFIG_JSON: writes $out/NAME.oci.tar, a one-layer image (uncompressed layer:
# a local import gains nothing from gzip and it saves a minute per image). CONFIG_JSON is the image's "config"
# object (Env, Entrypoint, User...). The ref goes in io.containerd.image.name, which `ctr image import` uses.
oci_archive() {
  local name="$1" ref="$2" rootfs="$3" config="$4"
  local dir="$work/oci-$name"
  rm -rf "$dir" && mkdir -p "$dir/blobs/sha256"
  local layer_digest layer_size
  layer_digest="$(sha256sum "$rootfs" | cut -d' ' -f1)"
  layer_size="$(stat -c %s "$rootfs")"
  mv "$rootfs" "$dir/blobs/sha256/$layer_digest"
  jq -cn --argjson config "$config" --arg diff "sha256:$layer_digest" --arg created "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    '{architecture: "amd64", os: "linux", created: $created, config: $config,
      rootfs: {type: "layers", diff_ids: [$diff]},
      history: [{created: $created, created_by: "synergyflow-db e2e/toolchain/build-node-images.sh"}]}' > "$dir/config.json"
  local config_digest config_size
  config_digest="$(sha256sum "$dir/config.json" | cut -d' ' -f1)"
  config_size="$(stat -c %s "$dir/config.json")"
  mv "$dir/config.json" "$dir/blobs/sha256/$config_digest"
  jq -cn --arg cd "sha256:$config_digest" --argjson cs "$config_size" --arg ld "sha256:$layer_digest" --argjson ls "$layer_size" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $ld, size: $ls}]}' > "$dir/manifest.json"
  local manifest_digest manifest_size
  manifest_digest="$(sha256sum "$dir/manifest.json" | cut -d' ' -f1)"
  manifest_size="$(stat -c %s "$dir/manifest.json")"
  mv "$dir/manifest.json" "$dir/blobs/sha256/$manifest_digest"
  jq -cn --arg md "sha256:$manifest_digest" --argjson ms "$manifest_size" --arg ref "$ref" --arg tag "${ref##*:}" \
    '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
      annotations: {"io.containerd.image.name": $ref, "org.opencontainers.image.ref.name": $tag}}]}' > "$dir/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
  tar --numeric-owner --owner=0 --group=0 -cf "$out/$name.oci.tar.tmp" -C "$dir" oci-layout index.json blobs
  mv "$out/$name.oci.tar.tmp" "$out/$name.oci.tar"
  rm -rf "$dir"
  record "$name" "$ref"
  echo "image $ref -> $out/$name.oci.tar ($(( $(stat -c %s "$out/$name.oci.tar") / 1048576 )) MiB)"
}

# A tar of a directory as an image root: numeric root ownership, paths relative to /.
tar_dir() { tar --numeric-owner --owner=0 --group=0 -cf "$2" -C "$1" .; }

# debian_rootfs SUITE OUT_TAR HOOK_SCRIPT PACKAGES...: mmdebstrap minbase, no docs/man/locales (smaller, faster),
# HOOK_SCRIPT run on the host with the root directory as $1 after every package is installed; a build may add
# mmdebstrap options in the array rootfs_extra.
rootfs_extra=()
debian_rootfs() {
  local suite="$1" tarball="$2" hook="$3"; shift 3
  local packages; packages="$(IFS=,; echo "$*")"
  mmdebstrap --mode=root --variant=minbase --quiet \
    --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    ${rootfs_extra[@]+"${rootfs_extra[@]}"} \
    --customize-hook="bash $hook \"\$1\"" \
    "$suite" "$tarball" "$MIRROR"
}

# Installed version of a Debian package inside the root being built (called from a hook).
pkg_version() { chroot "$1" dpkg-query -W -f='${Version}' "$2"; }

build_pause() {
  local gomod src
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
  src="$gomod/build/pause/linux/pause.c"
  [ -f "$src" ] || { echo "no $src in k8s.io/kubernetes@$K8S_VERSION" >&2; return 1; }
  mkdir -p "$work/pause-root"
  gcc -Os -Wall -static -o "$work/pause-root/pause" "$src"
  strip "$work/pause-root/pause"
  tar_dir "$work/pause-root" "$work/pause.tar"
  oci_archive pause synergyflow.local/pause:3.10.1 "$work/pause.tar" '{"Entrypoint":["/pause"],"User":"65535:65535"}'
}

build_postgresql() {
  cat > "$work/pg-hook.sh" <<'HOOK'
set -euo pipefail
root="$1"
# The package's postinst made a "main" cluster and a postgres system user: CNPG runs initdb itself, as 26:26.
rm -rf "$root/var/lib/postgresql/"[0-9]* "$root/etc/postgresql/"[0-9]*
# LLVM (and z3, which only LLVM links) is 160 MB of the image and serves JIT alone: without llvmjit.so PostgreSQL
# runs with JIT unavailable, which a test database never needs; the import into containerd gets that much faster.
rm -rf "$root/usr/lib/x86_64-linux-gnu/"libLLVM* "$root/usr/lib/x86_64-linux-gnu/"libz3* \
  "$root/usr/lib/postgresql/"*/lib/llvmjit* "$root/usr/lib/postgresql/"*/lib/bitcode
old_uid="$(chroot "$root" id -u postgres)"; old_gid="$(chroot "$root" id -g postgres)"
# gid 26 is Debian's "tape" group: unused in a container, it gives way to postgres.
sed -i '/^tape:x:26:/d' "$root/etc/group"
sed -i "s/^postgres:x:$old_uid:$old_gid:/postgres:x:26:26:/" "$root/etc/passwd"
sed -i "s/^postgres:x:$old_gid:/postgres:x:26:/" "$root/etc/group"
chroot "$root" find / -xdev \( -uid "$old_uid" -o -gid "$old_gid" \) -exec chown -h 26:26 {} +
major="$(ls "$root/usr/lib/postgresql")"
# On PATH for any caller, the pod's env or not: symlinks (postgres resolves its share dir through them).
for b in "$root/usr/lib/postgresql/$major/bin/"*; do ln -sf "/usr/lib/postgresql/$major/bin/$(basename "$b")" "$root/usr/local/bin/"; done
mkdir -p "$root/var/lib/postgresql/data" "$root/controller" "$root/run/postgresql"
chown 26:26 "$root/var/lib/postgresql" "$root/var/lib/postgresql/data" "$root/controller" "$root/run/postgresql"
chroot "$root" dpkg-query -W -f='${Version}' "postgresql-$major" > "$(dirname "$0")/postgresql.version"
echo "$major" > "$(dirname "$0")/postgresql.major"
HOOK
  debian_rootfs trixie "$work/postgresql.tar" "$work/pg-hook.sh" postgresql-17 ca-certificates
  local major version
  major="$(cat "$work/postgresql.major")"; version="$(cat "$work/postgresql.version")"; version="${version%%-*}"; version="${version%%+*}"
  oci_archive postgresql "synergyflow.local/postgresql:$version" "$work/postgresql.tar" \
    "$(jq -cn --arg path "/usr/lib/postgresql/$major/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
      '{Env: ["PATH=\($path)", "LANG=C.UTF-8"], User: "26:26", Cmd: ["postgres"], WorkingDir: "/var/lib/postgresql"}')"
}

build_pgbouncer() {
  cat > "$work/pgb-hook.sh" <<'HOOK'
set -euo pipefail
root="$1"
# CNPG runs the pooler pod as 998:996 with a read-only view of nothing else: give the ids a name.
grep -q '^[^:]*:x:996:' "$root/etc/group" || echo 'pgbouncer:x:996:' >> "$root/etc/group"
grep -q '^[^:]*:x:998:' "$root/etc/passwd" || echo 'pgbouncer:x:998:996:PgBouncer:/controller:/usr/sbin/nologin' >> "$root/etc/passwd"
mkdir -p "$root/controller" && chown 998:996 "$root/controller"
# Debian installs /usr/sbin/pgbouncer; CNPG's `manager pgbouncer run` execs /usr/bin/pgbouncer.
[ -e "$root/usr/bin/pgbouncer" ] || ln -s ../sbin/pgbouncer "$root/usr/bin/pgbouncer"
[ -x "$root/usr/bin/pgbouncer" ] || { echo "no pgbouncer executable in the image" >&2; exit 1; }
chroot "$root" dpkg-query -W -f='${Version}' pgbouncer > "$(dirname "$0")/pgbouncer.version"
HOOK
  debian_rootfs trixie "$work/pgbouncer.tar" "$work/pgb-hook.sh" pgbouncer ca-certificates
  local version; version="$(cat "$work/pgbouncer.version")"; version="${version%%-*}"
  [ -n "$version" ] || { echo "pgbouncer version unknown" >&2; return 1; }
  oci_archive pgbouncer "synergyflow.local/pgbouncer:$version" "$work/pgbouncer.tar" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"User":"998:996","Cmd":["/usr/bin/pgbouncer"]}'
}

build_psql() {
  cat > "$work/psql-hook.sh" <<'HOOK'
set -euo pipefail
root="$1"
chroot "$root" dpkg-query -W -f='${Version}' postgresql-client-17 > "$(dirname "$0")/psql.version"
HOOK
  debian_rootfs trixie "$work/psql.tar" "$work/psql-hook.sh" postgresql-client-17 ca-certificates
  local version; version="$(cat "$work/psql.version")"; version="${version%%-*}"; version="${version%%+*}"
  oci_archive psql "synergyflow.local/psql:$version" "$work/psql.tar" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","LANG=C.UTF-8"],"Cmd":["psql"]}'
}

build_cnpg_operator() {
  local manager="$TOOLCHAIN_DIR/cnpg-$CNPG_VERSION/manager"
  [ -x "$manager" ] || { echo "no CNPG operator build at $manager: run e2e/toolchain/build-cnpg-operator.sh $CNPG_VERSION first" >&2; return 1; }
  local root="$work/operator-root"
  mkdir -p "$root/tmp" "$root/etc" "$root/controller"
  chmod 1777 "$root/tmp"
  cp "$manager" "$root/manager"
  # The toolchain build is a cgo binary: the image carries the host's loader and the libraries it links (the same
  # binary, copied into Debian trixie pods, runs there against trixie's newer glibc).
  if ldd "$manager" >/dev/null 2>&1; then
    ldd "$manager" | grep -o '/[^ ]*' | while read -r lib; do cp --parents -L "$lib" "$root/"; done
  fi
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/:/sbin/nologin\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
  tar_dir "$root" "$work/cnpg-operator.tar"
  oci_archive cnpg-operator "synergyflow.local/cloudnative-pg:${CNPG_VERSION#v}" "$work/cnpg-operator.tar" \
    '{"Entrypoint":["/manager"],"User":"65532:65532","Env":["PATH=/"]}'
}

build_backend() {
  local src="$here/../backend" app="$work/backend-app"
  command -v mvn >/dev/null && command -v java >/dev/null || { echo "missing mvn/java: apt-get install maven openjdk-17-jdk-headless" >&2; return 1; }
  # The build directory and Maven's repository stay outside the repo (target/ and ~/.m2 untouched).
  local mvn_start; mvn_start=$(date +%s)
  mvn -B -q -f "$src/pom.xml" -Dmaven.repo.local="$TOOLCHAIN_DIR/maven-repo" -Dbackend.build.dir="$work/backend-target" package
  echo "backend: maven package in $(( $(date +%s) - mvn_start ))s"
  mkdir -p "$app/lib"
  cp "$work/backend-target/backend.jar" "$app/"
  cp "$work/backend-target/lib/"*.jar "$app/lib/"
  local version
  # Smoke on the host's JDK first (a broken jar fails here, before the minute of mmdebstrap).
  java -jar "$app/backend.jar" selfcheck
  version="$(java -jar "$app/backend.jar" --version)"
  [ -n "$version" ] && [ "$version" != null ] || { echo "backend: no Implementation-Version in the jar's manifest" >&2; return 1; }
  cat > "$work/backend-hook.sh" <<'HOOK'
set -euo pipefail
root="$1"
# Our jar and its libraries, root-owned and world-readable: the pod may run as any uid.
cp -r "$(dirname "$0")/backend-app" "$root/app"
chown -R 0:0 "$root/app" && chmod -R u=rwX,go=rX "$root/app"
# The JRE reads its CDS archive and modules only: nothing else to write but /tmp (an emptyDir in the pod).
chmod 1777 "$root/tmp"
java="$(chroot "$root" readlink -f /usr/bin/java)"
[ -x "$root$java" ] || { echo "no java in the image (/usr/bin/java -> $java)" >&2; exit 1; }
# The CDS archive for heaps above 32 GB (no compressed oops): 15 MB no pod of ours uses (the JVM runs without
# CDS then). The JRE's lib/modules (140 MB) stays whole: trimming it needs jlink and jmods, which a JRE lacks.
rm -f "$root$(dirname "$java")/../lib/server/classes_nocoops.jsa"
# The image's JRE runs the jar as the pod's uid (no passwd entry for it).
chroot --userspec=10001:10001 "$root" /usr/bin/java -XX:-UsePerfData -jar /app/backend.jar selfcheck
chroot "$root" dpkg-query -W -f='${Version}' openjdk-21-jre-headless > "$(dirname "$0")/backend.jre"
# ca-certificates-java's trigger made the JDK trust store once the JRE was configured (PgJDBC uses sslrootcert, not it).
[ -s "$root/etc/ssl/certs/java/cacerts" ] || echo "note: no Java trust store in the image" >&2
rmdir "$root/usr/share/man/man1" "$root/usr/share/man" 2>/dev/null || true
HOOK
  # The JRE's postinst registers update-alternatives with man-page slave links: their directory must exist even
  # though the pages themselves are excluded ("error creating symbolic link '/usr/share/man/man1/java.1.gz...'").
  rootfs_extra=(--essential-hook='mkdir -p "$1/usr/share/man/man1"')
  debian_rootfs trixie "$work/backend.tar" "$work/backend-hook.sh" openjdk-21-jre-headless
  echo "backend: JRE openjdk-21-jre-headless $(cat "$work/backend.jre")"
  oci_archive backend "synergyflow.local/backend:$version" "$work/backend.tar" \
    "$(jq -cn --arg jre "$(cat "$work/backend.jre")" '{
      Entrypoint: ["java", "-jar", "/app/backend.jar"], Cmd: ["serve"], User: "10001:10001", WorkingDir: "/tmp",
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
        "JAVA_TOOL_OPTIONS=-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData"],
      ExposedPorts: {"8080/tcp": {}},
      Labels: {"org.opencontainers.image.source": "e2e/backend", "io.synergyflow.jre": ("openjdk-21-jre-headless " + $jre)}}')"
}

wanted=("$@")
[ "${#wanted[@]}" -gt 0 ] || wanted=(pause postgresql pgbouncer psql cnpg-operator backend)
failed=()
for name in "${wanted[@]}"; do
  if [ -s "$out/$name.oci.tar" ] && [ -z "${REBUILD:-}" ] && jq -e --arg n "$name" '.[$n]' "$out/images.json" >/dev/null 2>&1; then
    echo "cached $name"; continue
  fi
  start=$(date +%s)
  # A subshell outside any condition, so that set -e stops a build at its first failing command.
  set +e; ( set -e; "build_${name//-/_}" ); rc=$?; set -e
  if [ "$rc" = 0 ]; then echo "built $name in $(( $(date +%s) - start ))s"; else failed+=("$name"); fi
done
[ "${#failed[@]}" -eq 0 ] || { echo "images not built: ${failed[*]}" >&2; exit 1; }
