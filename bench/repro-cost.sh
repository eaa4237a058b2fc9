#!/usr/bin/env bash
# The reproducible mode's cost (issue #13): for each batch size and thread count, REPEATS rounds
# of `phalanx bench` in the default mode, then with --reproducible, each in a JVM of its own; the
# measure is the compute CPU time per step (the "compute CPU time" line: this thread and the
# backend's workers), which a busy machine disturbs less than the wall clock. Prints each round,
# then the medians in ms of CPU per step and their ratio. With OTHER_JAR set, every round also
# runs the reproducible mode of that jar (e.g. a build before a change), after the two others.
#   bench/repro-cost.sh [SECONDS] [REPEATS] [BATCHES] [THREADS]
#   e.g. bench/repro-cost.sh 6 5 "4 64 256" "1 2"   (build first: mvn -q -DskipTests package)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-6}
repeats=${2:-5}
batches=${3:-4 64 256}
threads=${4:-1 2}
jar=${PHALANX_JAR:-launcher/target/phalanx.jar}
other=${OTHER_JAR:-}
[ -f "$jar" ] || { echo "repro-cost.sh: $jar is missing; build it first: mvn -q -DskipTests package" >&2; exit 1; }
[ -z "$other" ] || [ -f "$other" ] || { echo "repro-cost.sh: OTHER_JAR=$other is missing" >&2; exit 1; }

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms_per_step() { # jar batch threads [--reproducible]: ms of compute CPU per step
  local j=$1 b=$2 t=$3
  shift 3
  java -jar "$j" bench --model cifar-lenet --batch-size "$b" --threads "$t" --seconds "$secs" "$@" \
    | awk -v b="$b" '/^compute CPU time/ {printf "%.3f\n", 1000 * b / $(NF - 3)}'
}

echo "$(date -u '+%F %H:%M') UTC, load $(cut -d' ' -f1-3 /proc/loadavg); $jar${other:+, OTHER_JAR=$other}"
for t in $threads; do
  for b in $batches; do
    d=() r=() o=()
    for ((i = 0; i < repeats; i++)); do
      d+=("$(ms_per_step "$jar" "$b" "$t")")
      r+=("$(ms_per_step "$jar" "$b" "$t" --reproducible)")
      [ -z "$other" ] || o+=("$(ms_per_step "$other" "$b" "$t" --reproducible)")
      echo "  threads $t, batch $b, round $((i + 1)): default ${d[-1]} ms, reproducible ${r[-1]} ms${other:+, OTHER_JAR reproducible ${o[-1]} ms}"
    done
    md=$(median "${d[@]}"); mr=$(median "${r[@]}")
    line=$(printf '| %s | %s | %s | %s | %.2f |' "$t" "$b" "$md" "$mr" "$(echo "$mr / $md" | bc -l)")
    if [ -n "$other" ]; then
      mo=$(median "${o[@]}")
      line+=$(printf ' %s | %.2f |' "$mo" "$(echo "$mo / $md" | bc -l)")
    fi
    echo "$line   (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done
echo "$(date -u '+%H:%M') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
