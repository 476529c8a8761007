#!/usr/bin/env bash
# A stand-in for the image's base, python:3.11.7-slim-bookworm, built from Debian's packages
# because no image registry is reachable from these machines: debootstrap's minimal bookworm
# plus python3.11 and python3.11-venv, imported into the Docker engine at DOCKER_HOST.
#
#   tests/image/build_base.sh TAG [CACHE_DIR]      e.g. titanic-base:bookworm
#
# CACHE_DIR keeps the downloaded .deb files between builds (default: a temporary folder);
# DEBIAN_MIRROR overrides the mirror debootstrap downloads from.
# So that apt and pip work inside `docker build --network host`, as they do on this machine,
# the root file system gets this machine's ways to its package mirrors:
#   - its CA bundle (/etc/ssl/certs/ca-certificates.crt), which may hold a proxy's CA;
#   - its Debian sources (/etc/apt/sources.list.d/debian.sources, the file the real base
#     has too) and the Acquire:: settings of its apt configuration (proxies, validity checks);
#   - an /etc/pip.conf with that CA bundle, and this machine's pip index and proxy if it has
#     ones over http(s) (local find-links and constraint files are not there inside).
# The real base's python is /usr/local/bin/python3.11 (3.11.7); this one is Debian's
# /usr/bin/python3.11 (3.11.2). deployment/install.sh runs `python3.11` from the PATH: either.
set -euo pipefail
tag="${1:?usage: $0 TAG [CACHE_DIR]}"
cache="${2:-}"
# This machine's Debian mirror: the first of its deb822 sources, else Debian's own.
mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
mirror="${DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
if [ -n "$cache" ]; then mkdir -p "$cache/debs"; debs="$cache/debs"; else debs="$work/debs"; mkdir "$debs"; fi

# Two stages, so that dpkg can skip its fsyncs (a throwaway tree: a third less time).
debootstrap --foreign --variant=minbase --cache-dir="$debs" \
  --include=python3.11,python3.11-venv,python3-distutils bookworm "$root" "$mirror" >"$work/log" 2>&1 \
  || { tail -20 "$work/log" >&2; exit 1; }
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/unsafe-io"
# As Debian's slim images (the real base's own): no manuals, documents or translations, now
# or from later packages, and apt keeps no caches in the layers that install them.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
CFG
chroot "$root" /debootstrap/debootstrap --second-stage >"$work/log" 2>&1 \
  || { tail -20 "$work/log" >&2; exit 1; }
rm "$root/etc/dpkg/dpkg.cfg.d/unsafe-io"
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG

mkdir -p "$root/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
  rm -f "$root/etc/apt/sources.list"
fi
cat /etc/apt/apt.conf /etc/apt/apt.conf.d/* 2>/dev/null | grep -E '^Acquire::.*;\s*$' \
  >"$root/etc/apt/apt.conf.d/90host-acquire" || true
python3 - >"$root/etc/pip.conf" <<'PY'
import os, subprocess
try:  # pip's own view: its files and PIP_* variables ("global.index-url='…'" lines).
    listed = subprocess.run(["python3", "-m", "pip", "config", "list"], capture_output=True,
                            text=True, check=False).stdout.splitlines()
except OSError:
    listed = []
found = {line.split("=", 1)[0].rsplit(".", 1)[-1]: line.split("=", 1)[1].strip("'\"")
         for line in listed if "=" in line}
found.update({k[4:].lower().replace("_", "-"): v for k, v in os.environ.items()
              if k.startswith("PIP_")})
found.setdefault("timeout", found.get("default-timeout", ""))
print("[global]\ncert = /etc/ssl/certs/ca-certificates.crt")
for name in ("index-url", "extra-index-url", "trusted-host", "proxy"):
    kept = [value for value in found.get(name, "").split() if name == "trusted-host"
            or value.startswith(("http://", "https://"))]
    if kept:
        print(f"{name} = {' '.join(kept)}")
if found["timeout"].isdigit():
    print(f"timeout = {found['timeout']}")
PY

# The real base has no package lists either: a Dockerfile runs apt-get update first. The first
# stage unpacked its packages without dpkg, so without the exclusions above: their files go too.
rm -rf "$root/debootstrap" "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
  "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/{man,info,groff}
find "$root/usr/share/doc" -type f ! -name copyright -delete
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
# As the real base: UTF-8 text, python3.11 on the PATH, python as the command.
tar --numeric-owner -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3.11"]' - "$tag" >/dev/null
echo "built $tag ($(chroot "$root" python3.11 --version))"
