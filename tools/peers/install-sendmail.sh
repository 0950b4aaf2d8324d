#!/usr/bin/env bash
# Installs the Sendmail 8.17 binary (Debian's sendmail-bin) into a private folder, beside whatever MTA the
# machine has: Debian allows one mail-transport-agent package at a time. The tests run `sendmail -bt` and, for the
# stamping recipe, a Sendmail daemon with a configuration of their own (tests/CertDns.EndToEnd.Tests/SendmailStampTests.cs).
# Usage: tools/peers/install-sendmail.sh [DEST]   (default: .peers/sendmail in the repository)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-$repo/.peers/sendmail}
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends libdb5.3 libldap-2.5-0 liblockfile1 libnsl2 libsasl2-2 libssl3 libwrap0 >/dev/null
if [ ! -x "$dest/usr/libexec/sendmail/sendmail" ]; then
  work=$(mktemp -d)
  (cd "$work" && apt-get download sendmail-bin >/dev/null 2>&1)
  mkdir -p "$dest"
  dpkg -x "$work"/sendmail-bin_*.deb "$dest"
  rm -rf "$work"
fi
echo "sendmail: $dest/usr/libexec/sendmail/sendmail"
