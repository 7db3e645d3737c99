#!/bin/sh
# Run the smart-sim matrix of bench/RESULTS.md and print it as a table.
#   bench/results.sh BUILD_DIR [MESSAGES] [SEED]
# Every row is one command: smart-sim --receivers N --loss P --messages M
# --seed S [--shared Q], run one after the other.
set -eu
sim=$1/bench/smart-sim
m=${2:-10000}
seed=${3:-1}
echo "| receivers | loss | shared | complete | naks_per_loss | repairs_per_loss | naks_per_seq_loss | repairs_per_seq_loss | dup_deliveries | sim_ms | wall_ms |"
echo "|---:|---:|---:|:---:|---:|---:|---:|---:|---:|---:|---:|"
row() { # n loss shared
  if [ "$3" = 0 ]; then extra=""; else extra="--shared $3"; fi
  out=$("$sim" --receivers "$1" --loss "$2" --messages "$m" --seed "$seed" $extra || true)
  info=$(echo "$out" | tail -n 2 | head -n 1)
  last=$(echo "$out" | tail -n 1)
  get() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  echo "| $1 | $2 | $3 | $(get complete "$last") | $(get naks_per_loss "$last") | $(get repairs_per_loss "$last") | $(get naks_per_seq_loss "$info") | $(get repairs_per_seq_loss "$info") | $(get dup_deliveries "$last") | $(get sim_ms "$last") | $(get wall_ms "$last") |"
}
for p in 0.01 0.05 0.2; do
  for n in 10 100 1000 10000; do row $n $p 0; done
done
for n in 10 100 1000 10000; do row $n 0 0.01; done
