#!/usr/bin/env bash
# Runs Phalanx's and PyTorch's CPU benchmarks back to back, same machine, same threads.
#   bench/compare.sh [SECONDS]      (build first: mvn -q -DskipTests package)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-6}
row() { # threads mode batch
  local j p
  j=$(java -jar launcher/target/phalanx.jar bench --model cifar-lenet --threads "$1" --mode "$2" --batch-size "$3" --seconds "$secs" | tail -1 | grep -o '[0-9]*')
  p=$(/usr/bin/python3 bench/pytorch_bench.py --model cifar-lenet --threads "$1" --mode "$2" --batch-size "$3" --seconds "$secs" | tail -1 | grep -o '[0-9]*')
  printf '| %s | %s | %s | %s | %s | %.2fx |\n' "$1" "$2" "$3" "$j" "$p" "$(echo "$j / $p" | bc -l)"
}
echo "| threads | mode | batch | Phalanx images/s | PyTorch images/s | ratio |"
echo "| --- | --- | --- | --- | --- | --- |"
for t in 1 2; do
  for b in 4 64 256; do row "$t" train "$b"; done
  row "$t" infer 256
done
