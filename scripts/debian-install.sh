#!/usr/bin/env bash
# scripts/debian-install.sh PACKAGE...: installs from Debian those of the packages that are missing; the
# one place the project runs apt-get. Two installs at once (make install's chromium while the stack
# installs redis-server) would fail on dpkg's lock, so each install holds a lock of its own first, and
# apt waits for dpkg's lock held by anything else.
set -euo pipefail
missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
((${#missing[@]})) || exit 0
sudo=()
[[ $(id -u) == 0 ]] || sudo=(sudo)
exec 9>"${TMPDIR:-/tmp}/votemon-apt.lock"
flock 9
echo ">> installing ${missing[*]} from Debian (first run only)"
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600)
"${apt[@]}" update
"${apt[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
