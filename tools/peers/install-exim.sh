#!/usr/bin/env bash
# Installs Exim 4 (Debian exim4-daemon-heavy) into a private folder, beside whatever MTA the machine has:
# Debian allows one mail-transport-agent package at a time, so the tests run Exim from here instead.
# Usage: tools/peers/install-exim.sh [DEST]   (default: .peers/exim in the repository)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-$repo/.peers/exim}
export DEBIAN_FRONTEND=noninteractive

# Exim's shared libraries are ordinary packages with no MTA conflict; swaks is the SMTP test client.
apt-get install -y -qq --no-install-recommends libgnutls-dane0 libidn12 libmariadb3 libpq5 libspf2-2 libperl5.36 \
  libsasl2-2 libdb5.3 libnsl2 libldap-2.5-0 swaks libnet-ssleay-perl libio-socket-ssl-perl iproute2 >/dev/null

# The binary is built to run as Debian-exim; that user normally comes from exim4-base's postinst.
getent passwd Debian-exim >/dev/null || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin Debian-exim

if [ ! -x "$dest/usr/sbin/exim4" ]; then
  work=$(mktemp -d)
  (cd "$work" && apt-get download exim4-daemon-heavy >/dev/null 2>&1)
  mkdir -p "$dest"
  dpkg -x "$work"/exim4-daemon-heavy_*.deb "$dest"
  rm -rf "$work"
fi
"$dest/usr/sbin/exim4" -bV -C /dev/null >/dev/null 2>&1 || true
echo "exim: $dest/usr/sbin/exim4"
