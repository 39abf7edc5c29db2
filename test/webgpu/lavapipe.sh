#!/usr/bin/env bash
# Fetches Mesa's lavapipe (a Vulkan driver that runs on the CPU) and the Vulkan loader from Debian's archive, by
# package name, and unpacks them into a cache folder without installing anything (dpkg-deb -x, no root needed for
# the result). A cache that is already there is reused as it is. Prints the cache folder on stdout; the folder holds
# env.sh (LD_LIBRARY_PATH, VK_DRIVER_FILES, VK_ICD_FILENAMES) and packages.txt (what was unpacked, with versions).
#
# Why backports: bookworm's own Mesa (22.3) is too old for the Dawn build of the `webgpu` npm package 0.6.2;
# bookworm-backports' (25.0) works (docs/gpu.md). Its newer libdrm/libelf/libwayland come from backports too.
#
#   SIZESEG_LAVAPIPE_CACHE  the cache folder (default $SIZESEG_HOME/lavapipe, else $XDG_CACHE_HOME/sizeseg/lavapipe,
#                           else ~/.cache/sizeseg/lavapipe: outside the repository, like the data cache)
#   SIZESEG_DEBIAN_MIRROR   the archive (default http://deb.debian.org/debian)
set -euo pipefail

SUITE=bookworm
PACKAGES=(mesa-vulkan-drivers libvulkan1)
# Node itself links these, so the host has them; unpacking Debian's copies next to the host's dynamic loader would
# mix C libraries.
HOST_PACKAGES=' libc6 libgcc-s1 gcc-12-base libstdc++6 '

mirror="${SIZESEG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if [ -n "${SIZESEG_LAVAPIPE_CACHE:-}" ]; then cache="$SIZESEG_LAVAPIPE_CACHE"
elif [ -n "${SIZESEG_HOME:-}" ]; then cache="$SIZESEG_HOME/lavapipe"
elif [ -n "${XDG_CACHE_HOME:-}" ]; then cache="$XDG_CACHE_HOME/sizeseg/lavapipe"
else cache="$HOME/.cache/sizeseg/lavapipe"
fi

fail() { echo "test:webgpu: $*" >&2; exit 1; }

if [ -f "$cache/env.sh" ]; then
  echo "$cache"
  exit 0
fi

[ ! -e "$cache" ] || fail "$cache is not a lavapipe cache (it has no env.sh); remove it, or set SIZESEG_LAVAPIPE_CACHE to another folder"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null \
  || fail "needs apt-get and dpkg-deb (a Debian or Ubuntu machine) to fetch lavapipe; see docs/gpu.md"
[ "$(uname -m)" = x86_64 ] || fail "lavapipe is fetched for amd64 only; this machine is $(uname -m)"

mkdir -p "$(dirname "$cache")"
# Built in a temporary folder beside the cache and renamed at the end: an interrupted fetch leaves no half cache.
work="$(mktemp -d "$cache.tmp-XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/apt-cache" "$work/debs" "$work/root"
printf 'deb %s %s main\ndeb %s %s-backports main\n' "$mirror" "$SUITE" "$mirror" "$SUITE" > "$work/sources.list"
# A private apt: its own sources, index and an empty "installed" list, so the dependency closure is the same on every
# machine, and the host's apt state is neither read nor written.
apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent
  -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/nonexistent
  -o "Dir::State::Lists=$work/lists" -o Dir::State::status=/dev/null -o "Dir::Cache=$work/apt-cache"
  -o Debug::NoLocking=1 -o APT::Install-Recommends=false -o Acquire::Languages=none
  -o APT::Update::Error-Mode=any -o Acquire::Retries=1 -o Acquire::http::Timeout=20
  -o "APT::Sandbox::User=$(id -un)"
)

echo "test:webgpu: fetching lavapipe from $mirror ($SUITE-backports) into $cache" >&2
if ! log="$(apt-get "${apt_opts[@]}" update 2>&1)"; then
  fail "cannot reach Debian's archive $mirror ($(grep -m1 -E '^(E|W):' <<<"$log" | cut -c1-200)); check the network or set SIZESEG_DEBIAN_MIRROR"
fi
# The packages and their dependencies as apt would install them on an empty system, preferring backports.
if ! plan="$(apt-get "${apt_opts[@]}" -s -t "$SUITE-backports" install "${PACKAGES[@]}" 2>&1)"; then
  fail "apt cannot resolve ${PACKAGES[*]} from $SUITE-backports: $(grep -m1 -E '^E:|Depends:' <<<"$plan" | cut -c1-200)"
fi
wanted=()
while read -r _ name version _; do
  [[ "$HOST_PACKAGES" == *" $name "* ]] || wanted+=("$name=${version#(}")
done < <(grep '^Inst ' <<<"$plan")
[ "${#wanted[@]}" -gt 0 ] || fail "apt planned no packages for ${PACKAGES[*]} (its output changed?): $(tr "\n" " " <<<"$plan" | cut -c1-200)"

if ! log="$(cd "$work/debs" && apt-get "${apt_opts[@]}" download "${wanted[@]}" 2>&1)"; then
  fail "cannot download from Debian's archive $mirror ($(grep -m1 -E '^(E|W):' <<<"$log" | cut -c1-200)); check the network or set SIZESEG_DEBIAN_MIRROR"
fi
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
printf '%s\n' "${wanted[@]}" | tr '=' ' ' > "$work/packages.txt"

icd="$(find "$work/root" -path '*/vulkan/icd.d/lvp_icd*.json' | head -n1)"
lvp="$(find "$work/root" -name 'libvulkan_lvp.so' | head -n1)"
[ -n "$icd" ] && [ -n "$lvp" ] || fail "mesa-vulkan-drivers from $SUITE-backports has no lavapipe (lvp_icd*.json, libvulkan_lvp.so)"
root_final="$cache/root"
# The ICD file names the driver by its path once the folder is renamed into place.
sed "s#\"library_path\": *\"[^\"]*\"#\"library_path\": \"$root_final${lvp#"$work/root"}\"#" "$icd" > "$work/lvp_icd.json"
libdirs="$(find "$work/root" -name '*.so*' -printf '%h\n' | sort -u | sed "s#^$work/root#$root_final#" | paste -sd:)"
cat > "$work/env.sh" <<EOF
# lavapipe from Debian $SUITE-backports, unpacked by test/webgpu/lavapipe.sh; only the tests use it
export LD_LIBRARY_PATH="$libdirs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export VK_DRIVER_FILES="$cache/lvp_icd.json"
export VK_ICD_FILENAMES="$cache/lvp_icd.json"
EOF
rm -rf "$work/lists" "$work/apt-cache" "$work/debs" "$work/sources.list"
if ! mv -T "$work" "$cache" 2>/dev/null; then
  # another run finished first: use its cache
  [ -f "$cache/env.sh" ] || fail "cannot move the unpacked packages into $cache"
  echo "$cache"
  exit 0
fi
trap - EXIT
echo "test:webgpu: unpacked $(wc -l < "$cache/packages.txt") packages ($(du -sh "$cache" | cut -f1)): $(grep -E '^(mesa-vulkan-drivers|libvulkan1) ' "$cache/packages.txt" | paste -sd, | sed 's/,/, /g')" >&2
echo "$cache"
