#!/usr/bin/env bash
# Installs Postfix 3.7 (Debian's postfix package) into a private folder, beside whatever MTA the machine has:
# Debian allows one mail-transport-agent package at a time, so the tests run Postfix from here instead.
# Usage: tools/peers/install-postfix.sh [DEST]   (default: .peers/postfix in the repository)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-$repo/.peers/postfix}
export DEBIAN_FRONTEND=noninteractive

# Its shared libraries come with ordinary packages; swaks drives it over STARTTLS.
apt-get install -y -qq --no-install-recommends libicu72 libssl3 libsasl2-2 libdb5.3 libnsl2 swaks libnet-ssleay-perl libio-socket-ssl-perl >/dev/null

# The accounts postfix's postinst would have made.
getent group postdrop >/dev/null || groupadd --system postdrop
getent passwd postfix >/dev/null || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postfix

if [ ! -x "$dest/usr/sbin/postfix" ]; then
  work=$(mktemp -d)
  (cd "$work" && apt-get download postfix >/dev/null 2>&1)
  mkdir -p "$dest"
  dpkg -x "$work"/postfix_*.deb "$dest"
  rm -rf "$work"
fi
echo "postfix: $dest/usr/sbin/postfix"
