#!/usr/bin/env bash
# Smoke test for an operator: starts `certdns serve --demo` in a scratch folder on a free loopback port and asks
# every demo name with dig, in the split SHA-256 form and the 56-hex form. Exits non-zero on the first wrong answer.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
port=${PORT:-15353}
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

dotnet build -v q "$repo/src/CertDns.Cli" -o "$work/bin" >/dev/null
(cd "$work" && exec dotnet bin/certdns.dll serve --demo --listen "127.0.0.1:$port" >serve.log 2>&1) &
pid=$!
for _ in $(seq 100); do grep -q '^serving ' "$work/serve.log" 2>/dev/null && break; sleep 0.1; done

ask() { dig @127.0.0.1 -p "$port" +short +norec "$1" "${2:-A}"; }
fail=0
[ "$(ask test.status.example)" = 127.0.0.2 ] || { echo "test.status.example: wrong answer"; fail=1; }
while read -r status code name; do
  hex=${name%%.status.example}; hex=${hex/./}
  for form in "$name" "${hex:0:56}.status.example"; do
    got=$(ask "$form")
    printf '%-10s %-10s %s\n' "$status" "${got:-none}" "$form"
    [ "$got" = "$code" ] || { echo "  expected $code"; fail=1; }
  done
done < <(awk '/^  [a-z]+ +127\./ {print $1, $2, $(NF-1)}' "$work/serve.log")
exit $fail
