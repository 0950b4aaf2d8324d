#!/usr/bin/env bash
# CRL ingestion benchmark: one command. Generates an N-entry CRL with `openssl ca -gencrl` (P-256 and RSA-2048
# CAs), then times `openssl crl -inform DER -noout -CAfile ca.pem` and `certdns ca add` + `certdns crl ingest`
# on the same file in the same run, and prints time ratios and peak RSS (from /usr/bin/time -v) as a table.
#
#   tools/crlbench/crlbench.sh [entries=1000000] [workdir=/tmp/crlbench]     (RUNS=3: medians of 3 interleaved runs;
#   peak RSS is the largest seen)
#
# The openssl index file is written directly (awk) rather than by revoking a million certificates one by one.
set -euo pipefail
N=${1:-1000000}
WORK=${2:-/tmp/crlbench}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$WORK"
cd "$WORK"

echo "building certdns (Release, ReadyToRun, as deployed)..." >&2
# ReadyToRun spares a short-lived cron process the JIT warm-up (about 0.2 s of a 1.5 s ingest here).
dotnet publish "$ROOT/src/CertDns.Cli" -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
    -o "$WORK/bin" --nologo -v quiet >/dev/null
CERTDNS="$WORK/bin/certdns"

RUNS=${RUNS:-3}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Peak RSS (kB) and wall seconds of a command, via GNU time.
measure() {
    local out=$1; shift
    /usr/bin/time -v -o "$out.time" "$@" >"$out.stdout" 2>"$out.stderr" || { cat "$out.stderr" >&2; return 1; }
    local rss wall
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out.time")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out.time" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    echo "$wall $rss"
}

make_ca() { # name keyalg
    local name=$1 alg=$2 dir="$WORK/$1"
    [ -f "$dir/crl.der" ] && [ "$(cat "$dir/entries" 2>/dev/null)" = "$N" ] && return 0
    rm -rf "$dir"; mkdir -p "$dir"
    if [ "$alg" = ec ]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key" 2>/dev/null
    else
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/ca.key" 2>/dev/null
    fi
    openssl req -new -x509 -key "$dir/ca.key" -subj "/CN=crlbench $name" -days 3650 -sha256 \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -addext "basicConstraints=critical,CA:true" -out "$dir/ca.pem"
    cat >"$dir/ca.cnf" <<CNF
[ca]
default_ca = bench
[bench]
database = $dir/index.txt
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_crl_days = 7
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
CNF
    echo 1000 >"$dir/crlnumber"
    # index.txt: R <expiry> <revocation>[,reason] <serial hex> unknown <dn>; serials are distinct 16-byte values.
    awk -v n="$N" 'BEGIN {
        split("keyCompromise,superseded,cessationOfOperation,affiliationChanged,certificateHold", r, ",");
        for (i = 1; i <= n; i++) {
            reason = (i % 7 == 0) ? "," r[(i % 5) + 1] : "";
            printf "R\t301231000000Z\t25%02d%02d%02d%02d%02dZ%s\t7A%030X\tunknown\t/CN=c%d\n",
                i % 12 + 1, i % 28 + 1, i % 24, i % 60, (i * 7) % 60, reason, i, i;
        }
    }' >"$dir/index.txt"
    local t0=$SECONDS
    openssl ca -gencrl -config "$dir/ca.cnf" -out "$dir/crl.pem" 2>"$dir/gencrl.log"
    echo "openssl ca -gencrl ($name, $N entries): $((SECONDS - t0)) s" >&2
    openssl crl -in "$dir/crl.pem" -outform DER -out "$dir/crl.der"
    echo "$N" >"$dir/entries"
}

printf '| CA key | entries | CRL size | openssl crl -noout | certdns ingest | time ratio | openssl RSS | certdns RSS | certdns baseline RSS | (RSS - baseline) / size | re-ingest |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
for spec in p256:ec rsa2048:rsa; do
    name=${spec%%:*}; alg=${spec##*:}
    make_ca "$name" "$alg"
    dir="$WORK/$name"
    size=$(stat -c %s "$dir/crl.der")
    # Warm the page cache for both tools alike.
    cat "$dir/crl.der" >/dev/null
    # The machine is shared: each side runs $RUNS times, interleaved, and the medians are compared.
    o_walls=(); c_walls=(); o_rss=0; c_rss=0
    for _ in $(seq "$RUNS"); do
        read -r w r < <(measure "$dir/openssl" openssl crl -inform DER -in "$dir/crl.der" -noout -CAfile "$dir/ca.pem")
        grep -q "verify OK" "$dir/openssl.stderr" "$dir/openssl.stdout" || { echo "openssl did not verify the $name CRL" >&2; exit 2; }
        o_walls+=("$w"); [ "$r" -gt "$o_rss" ] && o_rss=$r
        rm -f "$dir/bench.db"*
        "$CERTDNS" --db "$dir/bench.db" ca add "$dir/ca.pem" >/dev/null
        read -r b_wall b_rss < <(measure "$dir/baseline" "$CERTDNS" --db "$dir/bench.db" ca list)
        read -r w r < <(measure "$dir/certdns" "$CERTDNS" --db "$dir/bench.db" crl ingest "$dir/crl.der")
        grep -q "$N entries" "$dir/certdns.stdout" || { echo "certdns did not store $N entries: $(cat "$dir/certdns.stdout")" >&2; exit 2; }
        c_walls+=("$w"); [ "$r" -gt "$c_rss" ] && c_rss=$r
    done
    o_wall=$(median "${o_walls[@]}"); c_wall=$(median "${c_walls[@]}")
    read -r r_wall _ < <(measure "$dir/again" "$CERTDNS" --db "$dir/bench.db" crl ingest "$dir/crl.der")
    awk -v name="$name" -v n="$N" -v size="$size" -v ow="$o_wall" -v orss="$o_rss" -v cw="$c_wall" -v crss="$c_rss" -v brss="$b_rss" -v rw="$r_wall" 'BEGIN {
        printf "| %s | %d | %.1f MB | %.2f s | %.2f s | %.2fx | %.0f MB | %.0f MB | %.0f MB | %.2fx | %.2f s |\n",
            name, n, size/1e6, ow, cw, cw/ow, orss/1024, crss/1024, brss/1024, (crss-brss)*1024/size, rw }'
done
