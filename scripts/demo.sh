#!/usr/bin/env bash
# The demo: installs dependencies, builds, then on loopback (every process
# with its own RocksDB in a temporary directory):
#   1. tccd + two bank services: transfers with TCC, one refused;
#   2. tccd + inventory, orders and payment services: orders placed as sagas,
#      as one-shot TCC and as interactive TCC, with compensations.
# Prints outcomes and the services' state, then shuts everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
B="${BUILD_DIR:-build}"
WORK="$(mktemp -d /tmp/tcc-demo.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {  # file
  for _ in $(seq 1 300); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    sleep 0.05
  done
  echo "timed out waiting for $1" >&2
  return 1
}

echo "== starting bank-a, bank-b (participants) and tccd (coordinator) in $WORK"
"$B/examples/bank/bank_server" --listen=127.0.0.1:0 --data_dir="$WORK/bank-a" \
  --accounts=alice:1000,carol:500 --port_file="$WORK/bank-a.port" \
  2>"$WORK/bank-a.log" &
pids+=($!)
"$B/examples/bank/bank_server" --listen=127.0.0.1:0 --data_dir="$WORK/bank-b" \
  --accounts=bob:1000,dave:200 --port_file="$WORK/bank-b.port" \
  2>"$WORK/bank-b.log" &
pids+=($!)
PA=$(wait_port "$WORK/bank-a.port")
PB=$(wait_port "$WORK/bank-b.port")
cat > "$WORK/participants.textproto" <<CONF
participant { name: "bank-a" target: "127.0.0.1:$PA" }
participant { name: "bank-b" target: "127.0.0.1:$PB" }
CONF
"$B/coordinator/tccd" --listen=127.0.0.1:0 --data_dir="$WORK/tccd" \
  --config="$WORK/participants.textproto" --port_file="$WORK/tccd.port" \
  2>"$WORK/tccd.log" &
pids+=($!)
PC=$(wait_port "$WORK/tccd.port")
echo "   bank-a on :$PA, bank-b on :$PB, tccd on :$PC"
echo
status=0
"$B/examples/bank/bank_client" --coordinator="127.0.0.1:$PC" \
  --banks="bank-a=127.0.0.1:$PA,bank-b=127.0.0.1:$PB" --demo || status=$?

echo
echo "== order example: starting inventory, orders, payment and a second tccd"
for role in inventory orders payment; do
  "$B/examples/order/shop_server" --role=$role --listen=127.0.0.1:0 \
    --data_dir="$WORK/$role" --port_file="$WORK/$role.port" \
    --stock=widget:10,gadget:2 --wallets=alice:100,bob:20 \
    2>"$WORK/$role.log" &
  pids+=($!)
done
PI=$(wait_port "$WORK/inventory.port")
PO=$(wait_port "$WORK/orders.port")
PP=$(wait_port "$WORK/payment.port")
cat > "$WORK/shop.textproto" <<CONF
participant { name: "inventory" target: "127.0.0.1:$PI" }
participant { name: "orders" target: "127.0.0.1:$PO" }
participant { name: "payment" target: "127.0.0.1:$PP" }
CONF
"$B/coordinator/tccd" --listen=127.0.0.1:0 --data_dir="$WORK/tccd-shop" \
  --config="$WORK/shop.textproto" --port_file="$WORK/tccd-shop.port" \
  2>"$WORK/tccd-shop.log" &
pids+=($!)
PS=$(wait_port "$WORK/tccd-shop.port")
echo
"$B/examples/order/shop_client" --coordinator="127.0.0.1:$PS" \
  --inventory="127.0.0.1:$PI" --orders="127.0.0.1:$PO" \
  --payment="127.0.0.1:$PP" --demo || status=$?
echo
echo "== payment service log (compensations included)"
sed 's/^/   /' "$WORK/payment.log"
echo "== shutting down"
exit $status
