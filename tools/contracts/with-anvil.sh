#!/usr/bin/env bash
# Usage: tools/contracts/with-anvil.sh COMMAND [ARG...]
#
# Starts a private anvil on a free port (never reusing a node someone else left on 8545),
# gives Brownie a throw-away data folder whose "development" network attaches to it, runs
# COMMAND, then stops anvil. Set ANVIL_PORT to attach to an anvil you started yourself
# (`make anvil`) instead: nothing is started or stopped then.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export PATH="$root/node_modules/.bin:$PATH"
export SOLCX_BINARY_PATH="$root/node_modules/.solcx"

home=$(mktemp -d "${TMPDIR:-/tmp}/fastpay-brownie.XXXXXX")
anvil_pid=""
cleanup() {
  if [[ -n "$anvil_pid" ]]; then kill "$anvil_pid" 2>/dev/null || true; wait "$anvil_pid" 2>/dev/null || true; fi
  rm -rf "$home"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rpc_up() { # true once something answers JSON-RPC on port $1
  python3 - "$1" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}",
    data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode(),
    headers={"Content-Type": "application/json"},
)
try:
    urllib.request.urlopen(req, timeout=1).read()
except Exception:
    sys.exit(1)
PY
}

if [[ -n "${ANVIL_PORT:-}" ]]; then
  port=$ANVIL_PORT
  rpc_up "$port" || { echo "with-anvil: nothing answers on 127.0.0.1:$port (start it with: make anvil)" >&2; exit 1; }
else
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  anvil --host 127.0.0.1 --port "$port" --hardfork cancun --gas-limit 60000000 --base-fee 0 --silent &
  anvil_pid=$!
  for _ in $(seq 100); do
    kill -0 "$anvil_pid" 2>/dev/null || { echo "with-anvil: anvil exited (port $port taken?)" >&2; anvil_pid=""; exit 1; }
    rpc_up "$port" && break
    sleep 0.1
  done
  rpc_up "$port" || { echo "with-anvil: anvil did not answer on port $port" >&2; exit 1; }
fi

mkdir -p "$home/.brownie"
sed "s/@PORT@/$port/" tools/contracts/network-config.yaml > "$home/.brownie/network-config.yaml"
export FASTPAY_ANVIL_PORT=$port
HOME=$home "$@"
