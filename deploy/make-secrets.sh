#!/usr/bin/env bash
# Makes, once, everything a deployment with TLS and tokens needs, in DIR:
#   ca.pem ca.key server.pem server.key client.pem client.key  (make-certs.sh)
#   tokens        the server's --tokens_file (hashes only)
#   worker.token  for workers' --token_file (role worker)
#   client.token  for researchers' CLI (role client; sweeps owned by "lab")
#   admin.token   for whoever runs the lab (role admin)
#
#   ./deploy/make-secrets.sh [--owner=UID:GID] DIR [SERVER_HOST_OR_IP ...]
#
# SERVER_HOST_OR_IP: the names clients use to reach the server (the first is
# the certificate's common name). Files that exist are kept, so running it
# again changes nothing. --owner chowns DIR's files (run as root for a
# container user). Needs openssl and forgetlab-server (on PATH, in build/, or
# $FORGETLAB_SERVER).
set -euo pipefail

owner=""
if [[ ${1:-} == --owner=* ]]; then
  owner=${1#--owner=}
  shift
fi
if [ $# -lt 1 ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
dir=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
server=${FORGETLAB_SERVER:-$(command -v forgetlab-server || echo "$here/../build/server/forgetlab-server")}
if [ ! -x "$server" ]; then
  echo "make-secrets: forgetlab-server not found; build it (./deploy/build.sh) or set FORGETLAB_SERVER" >&2
  exit 1
fi
certs=$here/make-certs.sh
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.pem" ]; then
  "$certs" "$dir" "$@"
fi
for pair in worker:workers client:lab admin:admin; do
  role=${pair%%:*}
  if [ ! -s "$dir/$role.token" ]; then
    "$server" tokens add --role="$role" --name="${pair#*:}" \
      --tokens_file="$dir/tokens" 2>/dev/null | tail -n 1 >"$dir/$role.token"
  fi
done
if [ -n "$owner" ]; then
  chown -R "$owner" "$dir"
fi
echo "make-secrets: $dir has ca.pem, server.pem/.key, client.pem/.key, tokens and {worker,client,admin}.token"
