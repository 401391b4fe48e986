#!/usr/bin/env bash
# Makes a small certificate authority, a server certificate and a client
# certificate with openssl, for tests and small labs.
#
#   ./deploy/make-certs.sh DIR [HOST_OR_IP ...]
#
# DIR gets ca.pem (give it to clients and workers as --ca_cert, and to the
# server as --client_ca for mutual TLS), server.pem/server.key (the server's
# --tls_cert/--tls_key, valid for localhost, 127.0.0.1, ::1 and every
# HOST_OR_IP given) and client.pem/client.key (--client_cert/--client_key).
# The CA key, ca.key, signs nothing else: keep it offline or delete it.
# Certificates last 825 days. Keys are ECDSA P-256 and readable only by you.
set -euo pipefail

if [ $# -lt 1 ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
dir=$1
shift
command -v openssl >/dev/null || {
  echo "make-certs: openssl is missing; apt-get install openssl" >&2
  exit 1
}
mkdir -p "$dir"
umask 077

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for host in "$@"; do
  if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then
    san="$san,IP:$host"
  else
    san="$san,DNS:$host"
  fi
done
days=825

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key "$dir/ca.key"
openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$days" \
  -subj "/CN=forgetlab CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$dir/ca.pem"

# sign NAME CN EXTENSIONS: NAME.key and NAME.pem signed by the CA.
sign() {
  local name=$1 cn=$2 ext=$3
  key "$dir/$name.key"
  openssl req -new -key "$dir/$name.key" -subj "/CN=$cn" -out "$dir/$name.csr"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days "$days" -sha256 -extfile <(printf '%s\n' "$ext") \
    -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr"
}

sign server "${1:-localhost}" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san"
sign client "forgetlab-client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
rm -f "$dir/ca.srl"
chmod 644 "$dir/ca.pem" "$dir/server.pem" "$dir/client.pem"

echo "make-certs: wrote $dir/{ca,server,client}.pem and keys (server names: $san)"
