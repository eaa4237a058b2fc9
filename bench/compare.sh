#!/usr/bin/env bash
# Phalanx against PyTorch on this machine: every row of issue #11's table, at 1 and 2 threads.
# Each row runs both sides in turn (Phalanx, PyTorch, Phalanx, ...), REPEATS times each, and
# prints the medians and their ratio. The pure-Java row compares Phalanx's fallback kernels
# with its native backend instead of with PyTorch.
#   bench/compare.sh [SECONDS] [REPEATS] [THREADS...]    (build first: mvn -q -DskipTests package)
#   e.g. bench/compare.sh 6 3 1 2; PHALANX_JAR picks another jar, ONEDNN_MAX_CPU_ISA=AVX2 caps oneDNN at AVX2
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-6}
repeats=${2:-3}
shift $(( $# > 2 ? 2 : $# )) || true
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)
jar=${PHALANX_JAR:-launcher/target/phalanx.jar}
py=/usr/bin/python3

[ -f "$jar" ] || { echo "compare.sh: $jar is missing; build it first: mvn -q -DskipTests package" >&2; exit 1; }
"$py" -c 'import torch' 2>/dev/null || { echo "compare.sh: PyTorch is missing for $py; install it: apt-get install python3-torch" >&2; exit 1; }
# PyTorch from Debian links libblas.so.3: the reference BLAS unless OpenBLAS provides it
blas=$(ldconfig -p | awk '/libblas\.so\.3 .*x86-64/ && !found {print $NF; found = 1}')
blas_real=$(readlink -f "${blas:-/nonexistent}" || true)
if [[ "$blas_real" != *openblas* ]]; then
  echo "compare.sh: libblas.so.3 resolves to '${blas_real:-nothing}', not OpenBLAS: PyTorch's Linear layers would run on the" >&2
  echo "reference BLAS, a weak baseline. Install OpenBLAS, which takes over libblas.so.3: apt-get install libopenblas0-pthread" >&2
  exit 1
fi

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# the pure-Java kernels run on the Vector API where the JVM has its module (a jar cannot add it);
# the JVM's one warning about an incubating module is dropped, anything else on stderr is shown
vector=(--add-modules jdk.incubator.vector)
phalanx() { # threads model mode batch [kernels] [java options...]
  local t=$1 m=$2 mode=$3 b=$4 k=${5:-auto}
  shift $(( $# > 5 ? 5 : $# ))
  java "$@" -jar "$jar" bench --threads "$t" --model "$m" --mode "$mode" --batch-size "$b" --kernels "$k" --seconds "$secs" \
    2> >(grep -v 'Using incubator modules' >&2) | awk '/^throughput:/ {print $2}'
}
pytorch() { # threads model mode batch
  OMP_NUM_THREADS="$1" OPENBLAS_NUM_THREADS="$1" "$py" bench/pytorch_bench.py --threads "$1" --model "$2" --mode "$3" \
    --batch-size "$4" --seconds "$secs" | awk '/^throughput:/ {print $2}'
}
row() { # threads model mode batch
  local a=() b=() i
  for ((i = 0; i < repeats; i++)); do a+=("$(phalanx "$@")"); b+=("$(pytorch "$@")"); done
  local ma mb
  ma=$(median "${a[@]}"); mb=$(median "${b[@]}")
  printf '| %s | %s %s, batch %s | %s (%s) | %s (%s) | %.2fx |\n' "$1" "$2" "$3" "$4" "$ma" "${a[*]}" "$mb" "${b[*]}" \
    "$(echo "$ma / $mb" | bc -l)"
}
fallback_row() { # threads label [java options...]: the pure-Java kernels against the native ones, in turn
  local t=$1 label=$2 a=() b=() i
  shift 2
  for ((i = 0; i < repeats; i++)); do a+=("$(phalanx "$t" cifar-lenet train 64 java "$@")"); b+=("$(phalanx "$t" cifar-lenet train 64 native)"); done
  local ma mb
  ma=$(median "${a[@]}"); mb=$(median "${b[@]}")
  printf '| %s | %s, cifar-lenet train, batch 64 | %s (%s) | native: %s (%s) | %.2fx of native |\n' "$t" "$label" \
    "$ma" "${a[*]}" "$mb" "${b[*]}" "$(echo "$ma / $mb" | bc -l)"
}

echo "CPU: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores;" \
  "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|fma|amx)' | tr '\n' ' ')"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-unset}; libblas.so.3 -> $blas_real"
java -jar "$jar" bench --threads 1 --seconds 0.01 --batch-size 2 2>/dev/null | sed -n 1p
java "${vector[@]}" -jar "$jar" bench --threads 1 --seconds 0.01 --batch-size 2 --kernels java 2>/dev/null | sed -n 1p
"$py" -c 'import torch; print("torch", torch.__version__)'
echo "each cell: median images/s (the $repeats runs of $secs s), Phalanx and PyTorch in turn"
echo
echo "| threads | row | Phalanx images/s | PyTorch images/s | ratio |"
echo "| --- | --- | --- | --- | --- |"
for t in "${threads[@]}"; do
  for b in 4 64 256; do row "$t" cifar-lenet train "$b"; done
  row "$t" cifar-lenet infer 256
  row "$t" cifar-wide train 64
  fallback_row "$t" "pure-Java fallback (Vector API)" "${vector[@]}"
  fallback_row "$t" "pure-Java fallback (scalar, no --add-modules)"
done
