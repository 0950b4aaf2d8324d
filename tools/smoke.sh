#!/usr/bin/env bash
# Smoke test for an operator: starts `certdns serve --demo` in a scratch folder on a loopback port the system picks
# (port 0; serve prints where it listens) and asks every demo name with dig, in the split SHA-256 form and the
# 56-hex form. Exits non-zero on any wrong answer, or when the server does not come up within 60 s.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

dotnet build -v q "$repo/src/CertDns.Cli" -o "$work/bin" >/dev/null
(cd "$work" && exec dotnet bin/certdns.dll serve --demo --listen "127.0.0.1:${PORT:-0}" >serve.log 2>&1) &
pid=$!
# Wait for "serving ... on 127.0.0.1:PORT (udp, tcp)", with a deadline; polling is the only way to watch a log.
deadline=$((SECONDS + 60))
port=
until port=$(sed -n 's/^serving .* on 127\.0\.0\.1:\([0-9][0-9]*\) (udp, tcp).*/\1/p' "$work/serve.log" 2>/dev/null) && [ -n "$port" ]; do
  kill -0 "$pid" 2>/dev/null || { echo "certdns serve exited:"; cat "$work/serve.log"; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { echo "certdns serve did not start in 60 s:"; cat "$work/serve.log"; exit 1; }
  sleep 0.1
done

ask() { dig @127.0.0.1 -p "$port" +short +norec "$1" "${2:-A}"; }
fail=0
asked=0
[ "$(ask test.status.example)" = 127.0.0.2 ] || { echo "test.status.example: wrong answer"; fail=1; }
while read -r status code name; do
  hex=${name%%.status.example}; hex=${hex/./}
  for form in "$name" "${hex:0:56}.status.example"; do
    got=$(ask "$form")
    printf '%-10s %-10s %s\n' "$status" "${got:-none}" "$form"
    [ "$got" = "$code" ] || { echo "  expected $code"; fail=1; }
  done
  asked=$((asked + 1))
done < <(awk '/^  [a-z]+ +127\./ {print $1, $2, $(NF-1)}' "$work/serve.log")
[ "$asked" -gt 0 ] || { echo "serve --demo listed no certificates:"; cat "$work/serve.log"; fail=1; }
exit $fail
