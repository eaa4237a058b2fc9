#!/usr/bin/env bash
# The GPU checks of issue #9 in one run, on the lent GPU machine (NVIDIA GPU, CUDA 13, cuDNN 9,
# PyTorch 2.x in its python3, no JDK, no Maven, no network). Pack Java on the developer machine first:
#     bench/gpu-check.sh --pack       (device-pack --tests, then only what the GPU tests and the benchmark load)
#     device tool: run with carry [".device"], command: bench/gpu-check.sh [--smoke]
#
#   bench/gpu-check.sh            environment and symbol check, smoke test, every gpu-tagged test of every
#                                 module (kernels and runtime), conf/fashion-lenet.conf trained on cuda (2 epochs,
#                                 batch 64, lr 0.01) against the CPU's accuracy computed when packing (within 0.5
#                                 points), then the benchmark: phalanx bench --device cuda, cifar-lenet at batch 64
#                                 (also as a CUDA graph), 256 and 1024 and cifar-wide at 256, against PyTorch
#                                 (bench/pytorch_bench.py --device cuda), with the device's time per step (copy up,
#                                 compute) from timing events
#   bench/gpu-check.sh --smoke    environment and symbol check, smoke test only
#   bench/gpu-check.sh --pack     (developer machine) writes .device/ under the 64 MiB that travels (the working
#                                 tree counted in): the JRE, the jars, the test classes and Fashion-MNIST in one xz
#                                 archive, with the CPU's accuracy; and checks it here: fails when a class the GPU
#                                 run needs is missing
#   bench/gpu-check.sh --dry-run  (developer machine, after --pack) every step from the pack without a GPU: the GPU
#                                 tests are discovered and skip, the accuracy step trains 20 steps on sim:0 (not
#                                 compared), the benchmark runs on sim:0 (PyTorch, if python3 has it, on the cpu);
#                                 exit 0 when nothing failed
#   bench/gpu-check.sh --list     the gpu-tagged test classes of the sources, and the simulated twins --pack traces
#   bench/gpu-check.sh --help
#
# Writes summary.txt and at most 7 more files (env.log with the symbol check, smoke.log, smoke-junit.xml,
# gpu-tests.log, gpu-tests-junit.xml, accuracy.log, bench.log) under $OUT, or ./gpu-check-out when OUT is unset. Stops after
# the smoke test when it fails. The whole script stays under 5 minutes (a time limit per step).
# Exit status: 0 all passed, 1 a check failed, 2 bad usage or no .device/ pack.
set -uo pipefail

script=$(readlink -f "$0")
usage() { # the comment block above, without its '# '
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$script"
}

# The gpu-tagged test classes of the sources, one "module class" a line (the pack keeps their
# modules' test classes; a run checks that each was discovered). Those also tagged gpu-cluster
# are left out (cluster_gpu_classes): they need Pekko's cluster and remoting jars, which would
# push the pack over the 64 MiB that travels; they run where mvn test runs on GPUs.
gpu_classes() {
  local f m c
  grep -rlE --include='*.java' '^@Tag\("gpu"\)' ./*/src/test/java 2>/dev/null | sort | while read -r f; do
    grep -qE '^@Tag\("gpu-cluster"\)' "$f" && continue
    f=${f#./}
    m=${f%%/*}
    c=${f#*/src/test/java/}
    c=${c%.java}
    echo "$m ${c//\//.}"
  done
}

cluster_gpu_classes() {
  local f
  grep -rlE --include='*.java' '^@Tag\("gpu-cluster"\)' ./*/src/test/java 2>/dev/null | sort | while read -r f; do
    f=${f#./}; f=${f%.java}
    echo "${f%%/*} $(tr / . <<< "${f#*/src/test/java/}")"
  done
}

# The simulated twins of the gpu-tagged classes outside the kernels module: each such GPU test
# extends the test it repeats on cuda:0 (which runs on sim:N), so the twin runs the same test code
# on the CPU. Fails when a GPU test extends nothing concrete: it would have no twin to trace.
gpu_twins() {
  local m c f sup found
  gpu_classes | while read -r m c; do
    [[ $m == kernels ]] && continue
    f=$m/src/test/java/${c//.//}.java
    sup=$(sed -n 's/^\(public \)\{0,1\}\(final \)\{0,1\}class [A-Za-z0-9_]* extends \([A-Za-z0-9_]*\).*/\3/p' "$f" | head -n 1)
    found=$(find "$m/src/test/java" -name "$sup.java" 2>/dev/null)
    if [[ -z $sup || $(wc -l <<< "$found") != 1 || -z $found ]] || grep -q "abstract class $sup" "$found"; then
      echo "gpu-check: $c has no concrete test of its module to repeat on cuda:0 (extends '${sup:-nothing}')" >&2
      return 1
    fi
    found=${found#"$m/src/test/java/"}
    found=${found%.java}
    echo "${found//\//.}"
  done | sort -u
}

# Where the pack is, in PACK: .device/travel.tar.xz (what --pack leaves) unpacked into a folder of
# this run's own (removed at exit; PHALANX_PACK_DIR names another), or, while --pack builds it, the
# staging layout of .device/ itself (device-pack's env.sh). python3 unpacks, since its lzma module is
# there wherever PyTorch is, an xz program not for certain; the data set travels as raw IDX files
# (xz packs them 4 MB tighter than gzip), checked against the SHA-256 sums the pack recorded and
# gzipped at level 1 under the names Phalanx looks for (its reader takes either, the names it finds
# are the .gz ones).
PACK="" PACK_TMP=""
unpack() {
  local dest
  if [[ -f .device/travel.tar.xz ]]; then
    if [[ -n ${PHALANX_PACK_DIR:-} ]]; then dest=$PHALANX_PACK_DIR; mkdir -p "$dest" || return 1
    else dest=$(mktemp -d "${TMPDIR:-/tmp}/phalanx-pack.XXXXXX") || return 1; PACK_TMP=$dest; trap 'rm -rf "$PACK_TMP"' EXIT
    fi
    python3 - .device/travel.tar.xz "$dest" <<'PY' || { echo "gpu-check: unpacking .device/travel.tar.xz into $dest failed" >&2; return 1; }
import gzip, hashlib, os, re, sys, tarfile
src, dest = sys.argv[1], sys.argv[2]
with tarfile.open(src, "r:xz") as t:
    t.extractall(dest, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
data = os.path.join(dest, "data", "fashion-mnist")
want = {}
ref = os.path.join(dest, "fashion-reference.txt")
if os.path.exists(ref):
    for line in open(ref):
        m = re.match(r"sha256 (\S+) ([0-9a-f]{64})$", line.strip())
        if m: want[m.group(1)] = m.group(2)
for name, digest in sorted(want.items()):
    raw = open(os.path.join(data, name), "rb").read()
    if hashlib.sha256(raw).hexdigest() != digest:
        sys.exit("gpu-check: %s in the pack is not the file the CPU's accuracy was computed on (SHA-256 differs)" % name)
    with gzip.open(os.path.join(data, name + ".gz"), "wb", compresslevel=1) as g:
        g.write(raw)
    os.remove(os.path.join(data, name))
PY
    PACK=$dest
  elif [[ -f .device/env.sh ]]; then
    PACK=$PWD/.device
  else
    echo "gpu-check: .device/travel.tar.xz is missing: run bench/gpu-check.sh --pack (device-pack --tests, trimmed, packed with the data) on the developer machine and carry .device" >&2
    return 2
  fi
}

# The CPU-side exercise of the pack (--pack runs it twice: traced on the full pack, to learn which
# jars are loaded, and as the check on the trimmed one): the GPU tests' twins on sim:N must pass,
# and --dry-run (discovery of every GPU test, which skip here; phalanx bench on sim:0) must pass.
exercise() { # out-folder
  local out=$1 twins args=() c rc=0
  mkdir -p "$out"
  twins=$(gpu_twins) || return 1
  for c in $twins; do args+=(--select-class "$c"); done
  (
    # shellcheck disable=SC1091
    unpack && source "$PACK/env.sh" && OUT=$out/twins device-tests --details=tree --disable-ansi-colors "${args[@]}"
  ) > "$out/twins.log" 2>&1 || rc=1
  if [[ $rc != 0 ]] || ! grep -qE '\[ +[1-9][0-9]* tests successful +\]' "$out/twins.log"; then
    echo "gpu-check: the GPU tests' twins failed on the packed class path ($(echo $twins | tr ' ' ',')); see $out/twins.log:" >&2
    grep -E '✘|NoClassDefFound|ClassNotFound|Exception' "$out/twins.log" | head -n 12 >&2
    return 1
  fi
  OUT=$out/dry bash "$script" --dry-run > "$out/dry-run.log" 2>&1 || {
    echo "gpu-check: --dry-run failed on the packed class path; see $out/dry-run.log:" >&2
    tail -n 20 "$out/dry-run.log" >&2
    return 1
  }
}

# On the developer machine: device-pack --tests packs every module's test class path (over 80 MB
# with the JRE). The GPU machine needs less; the rule for what stays:
#   - every jar of the kernels module's test class path (its GPU tests call JavaCPP's CUDA presets,
#     whose classes nothing on the CPU loads), and the kernels module's classes;
#   - of the other jars (the modules' own classes included), those from which a class is loaded
#     while the pack is exercised on the CPU (exercise above: the runtime module's GPU tests' twins
#     on sim:N, every GPU test discovered and skipping, phalanx bench --device sim), as
#     -Xlog:class+load records it: the GPU tests run the same test code on cuda:0, and CudaDevice's
#     classes are in the kernels module. Traced without the jars of what a GPU run never enters
#     (NOT_TRACED: cluster mode's remoting, cluster and distributed data, Pekko Streams, Pekko HTTP,
#     the test kits): Pekko loads the serializers and extensions that each of their reference.conf
#     files names whenever the jar is on the class path, used or not;
#   - the test classes of the modules that have gpu-tagged tests.
# The dropped jars are listed in .device/dropped.txt. Then the data set and the CPU's accuracy
# (stage_data), and what travels is made one xz archive (make_travel). The check: the same exercise
# again on that archive, unpacked, with its JRE; a missing class fails the pack, naming the log. device-pack
# writes .git/info/exclude, which is no folder in a git worktree (.git is a file there): /dev/null
# stands in for it then (.gitignore already ignores /.device/).
NOT_TRACED='^pekko-(remote|cluster|distributed-data|coordination|stream|http|testkit|actor-testkit)'
pack() {
  local tool="" c keep j d size tree trace total kernels_path modules jars limit=$((64 * 1048576))
  for c in "${DEVICE_PACK:-}" ../shared/tools/device-pack /work/shared/tools/device-pack; do
    [[ -n $c && -f $c ]] && { tool=$c; break; }
  done
  [[ -n $tool ]] || { echo "gpu-check: device-pack not found: set DEVICE_PACK to its path" >&2; return 2; }
  # a previous pack's archive would stand in for the staging layout below
  rm -rf .device/travel.tar.xz .device/fashion-reference.txt .device/data
  if [[ -f .git ]]; then
    bash <(sed 's|\.git/info/exclude|/dev/null|g' "$tool") --tests kernels || return 2
  else
    bash "$tool" --tests kernels || return 2
  fi
  modules=$(gpu_classes | cut -d' ' -f1 | sort -u)
  for d in .device/test-classes/*; do grep -qxF "$(basename "$d")" <<< "$modules" || rm -rf "$d"; done
  stage_data || return 1

  : > .device/dropped.txt
  drop() { echo "$(du -k "$1" | cut -f1) KiB $(basename "$1") ($2)" >> .device/dropped.txt; rm -f "$1"; }
  kernels_path=$(tr ':' '\n' < kernels/target/device-classpath.txt | xargs -n1 basename; echo kernels.jar)
  for j in .device/lib/*.jar; do
    grep -qxF "$(basename "$j")" <<< "$kernels_path" && continue
    [[ $(basename "$j") =~ $NOT_TRACED ]] && drop "$j" "a mode no GPU run enters"
  done
  trace=$(mktemp -d)
  echo "gpu-check: tracing the classes the GPU run loads (the GPU tests' twins on sim, discovery, bench on sim)..."
  JAVA_TOOL_OPTIONS="-Xlog:class+load=info:file=$trace/classes-%p.log" exercise "$trace/run" || {
    echo "gpu-check: the pack failed its exercise before the trace could trim it (see the log named above)" >&2
    return 1
  }
  keep=$( { echo "$kernels_path"; cat "$trace"/classes-*.log | sed -n 's/.* source: .*\/\([^/]*\.jar\)\(!\/\)\{0,1\}$/\1/p'; } | sort -u)
  for j in .device/lib/*.jar; do
    grep -qxF "$(basename "$j")" <<< "$keep" || drop "$j" "no class loaded"
  done
  jars=$(ls .device/lib | wc -l)
  echo "gpu-check: kept $jars jars, dropped $(wc -l < .device/dropped.txt) (.device/dropped.txt)"
  make_travel || return 1

  echo "gpu-check: checking the packed archive (the same exercise, unpacked, with its JRE)..."
  # a pack that fails its check loses its archive, so that no GPU run starts from it
  exercise "$trace/check" || {
    rm -f .device/travel.tar.xz
    echo "gpu-check: the packed archive misses what the GPU run needs (logs under $trace/check); .device/travel.tar.xz removed" >&2
    return 1
  }
  rm -rf "$trace"

  size=$(du -sb .device | cut -f1)
  # what travels besides: the tracked and untracked-not-ignored files of the working tree
  tree=$(git ls-files -co --exclude-standard -z | xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
  total=$((size + tree))
  echo "gpu-check: .device holds $((size / 1048576)) MiB ($size bytes: $jars jars, test classes of $(echo $modules | tr ' ' ','), Fashion-MNIST," \
       "the JRE); with the working tree's $((tree / 1048576)) MiB, $((total / 1048576)) MiB ($total bytes) of the 64 MiB that travels"
  (( total < limit )) || { rm -f .device/travel.tar.xz; echo "gpu-check: .device and the working tree are over the 64 MiB that travels; .device/travel.tar.xz removed" >&2; return 1; }
}

# The accuracy step's data and figure. Fashion-MNIST's four files from where Phalanx finds them here
# (FASHION_MNIST_DIR, else ./data/fashion-mnist, else Debian's dataset-fashion-mnist under
# /usr/share/datasets), staged in .device/data; and the CPU's accuracy: conf/fashion-lenet.conf
# trained on this machine's CPU with the GPU run's arguments (ACCURACY_ARGS: same recipe, same seed),
# then phalanx eval on that run, its confusion matrix counted. Written, with the files' SHA-256 sums,
# to .device/fashion-reference.txt.
ACCURACY_ARGS="--epochs 2 --batch-size 64 --lr 0.01"
FASHION_FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
stage_data() {
  local src="" d f run ct
  for d in "${FASHION_MNIST_DIR:-}" data/fashion-mnist /usr/share/datasets/fashion-mnist; do
    [[ -n $d ]] || continue
    for f in $FASHION_FILES; do [[ -f $d/$f.gz ]] || continue 2; done
    src=$d; break
  done
  [[ -n $src ]] || { echo "gpu-check: Fashion-MNIST not found (FASHION_MNIST_DIR, data/fashion-mnist, /usr/share/datasets/fashion-mnist): apt-get install dataset-fashion-mnist, or java -jar launcher/target/phalanx.jar download fashion-mnist" >&2; return 1; }
  mkdir -p .device/data/fashion-mnist
  for f in $FASHION_FILES; do cp "$src/$f.gz" .device/data/fashion-mnist/ || return 1; done
  run=$(mktemp -d)
  echo "gpu-check: the CPU's accuracy: phalanx train conf/fashion-lenet.conf --device cpu $ACCURACY_ARGS, then phalanx eval (Fashion-MNIST from $src)..."
  # shellcheck disable=SC2086
  java -jar launcher/target/phalanx.jar train conf/fashion-lenet.conf --device cpu $ACCURACY_ARGS --data .device/data/fashion-mnist \
      --out "$run/run" --log-every 500 > "$run/train.log" 2>&1 \
    && java -jar launcher/target/phalanx.jar eval "$run/run" --device cpu --data .device/data/fashion-mnist > "$run/eval.log" 2>&1 || {
    echo "gpu-check: the CPU's reference run failed; see $run/train.log and $run/eval.log" >&2; tail -n 5 "$run"/*.log >&2; return 1; }
  ct=$(accuracy_of "$run/eval.log")
  [[ -n $ct ]] || { echo "gpu-check: no confusion matrix in $run/eval.log" >&2; return 1; }
  {
    echo "# The CPU's accuracy that bench/gpu-check.sh's accuracy step compares the GPU's with (made by --pack)"
    echo "recipe conf/fashion-lenet.conf $ACCURACY_ARGS"
    echo "made on $(hostname), $(date -u +%Y-%m-%dT%H:%M:%SZ): $(grep -m 1 '^Using ' "$run/train.log")"
    echo "train said: $(grep '^\[epoch ' "$run/train.log" | tail -n 1)"
    echo "correct ${ct% *} of ${ct#* }"
    echo "accuracy $(awk -v c="${ct% *}" -v t="${ct#* }" 'BEGIN {printf "%.2f", 100 * c / t}')"
    for f in $FASHION_FILES; do echo "sha256 $f $(gzip -dc "$src/$f.gz" | sha256sum | cut -d' ' -f1)"; done
  } > .device/fashion-reference.txt
  rm -rf "$run"
  echo "gpu-check: the CPU's accuracy: $(sed -n 's/^accuracy //p' .device/fashion-reference.txt) % (.device/fashion-reference.txt)"
}

# "correct total" from phalanx eval's confusion matrix (its overall line rounds to whole percents):
# the diagonal and the sum of the ten rows, each row's last ten numbers before its "(k: name)".
accuracy_of() {
  awk '/^Confusion matrix/ {m = 1; next}
       m && /\([0-9]+: / && r < 10 {sub(/ *\([0-9]+: .*$/, ""); d += $(NF - 9 + r); for (i = NF - 9; i <= NF; i++) t += $i; r++}
       END {if (r == 10 && t > 0) print d, t}' "$1"
}

# What travels: one xz archive, .device/travel.tar.xz, of the JRE made again by jlink without its own
# compression (xz packs the plain image into about 14 MB, where jlink's zip and gzip give 25), the jars
# and JUnit's console launcher rewritten with their entries stored (30 MB of deflated jars become
# about 14 MB of xz), the test classes, the data set as raw IDX files (4 MB under gzip's 31) and the
# reference, with env.sh made to find them wherever the archive is unpacked. The staging layout goes.
make_travel() {
  local stage jdk f
  stage=$(mktemp -d) || return 1
  echo "gpu-check: packing what travels into .device/travel.tar.xz (jlink without compression, jars stored, xz -9)..."
  jdk=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
  "$jdk/bin/jlink" --add-modules "$(cat .device/jre.modules)" --compress=0 --strip-debug --no-header-files --no-man-pages \
      --output "$stage/jre" > "$stage/jlink.log" 2>&1 || { cat "$stage/jlink.log" >&2; return 1; }
  rm -f "$stage/jlink.log"
  mkdir -p "$stage/lib" "$stage/data/fashion-mnist"
  python3 - "$stage" .device/lib/*.jar .device/junit-platform-console-standalone.jar <<'PY' || return 1
import os, sys, zipfile
stage = sys.argv[1]
for jar in sys.argv[2:]:
    name = os.path.basename(jar)
    out = os.path.join(stage, "lib" if os.path.dirname(jar).endswith("lib") else "", name)
    with zipfile.ZipFile(jar) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info)
            stored = zipfile.ZipInfo(info.filename, info.date_time)
            stored.external_attr, stored.compress_type = info.external_attr, zipfile.ZIP_STORED
            dst.writestr(stored, data)
PY
  cp -r .device/test-classes "$stage/" && cp .device/fashion-reference.txt "$stage/" || return 1
  for f in $FASHION_FILES; do gzip -dc ".device/data/fashion-mnist/$f.gz" > "$stage/data/fashion-mnist/$f" || return 1; done
  # device-pack's env.sh, made to find the JRE, jars and test classes beside itself
  { echo 'export PHALANX_PACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)'
    sed -e 's|^tar xzf \.device/jre\.tgz -C /tmp && export PATH=/tmp/jre/bin:\$PATH$|export PATH=$PHALANX_PACK/jre/bin:$PATH|' \
        -e 's|"\$PWD"/\.device/|"$PHALANX_PACK"/|g' -e 's|\$PWD/\.device/out|$PHALANX_PACK/out|g' \
        -e 's|java -jar \.device/|java -jar "$PHALANX_PACK"/|g' .device/env.sh
  } > "$stage/env.sh"
  if grep -n '\.device' "$stage/env.sh" >&2; then
    echo "gpu-check: device-pack's env.sh changed: the lines above still name .device (make_travel rewrites its paths)" >&2; return 1
  fi
  tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner -cf - . | xz -9 -T2 > .device/travel.tar.xz || return 1
  rm -rf "$stage" .device/jre.tgz .device/lib .device/test-classes .device/junit-platform-console-standalone.jar .device/env.sh .device/data
  echo "gpu-check: .device/travel.tar.xz: $(du -b .device/travel.tar.xz | cut -f1) bytes"
}

mode=gpu
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --smoke) mode=smoke ;;
  --pack) mode=pack ;;
  --dry-run) mode=dry ;;
  --list) mode=list ;;
  "") ;;
  *) echo "gpu-check: unknown option '$1'" >&2; usage >&2; exit 2 ;;
esac
[[ $# -le 1 ]] || { echo "gpu-check: one option at most, got: $*" >&2; exit 2; }

cd "$(dirname "$0")/.." || exit 2
if [[ $mode == pack ]]; then pack; exit $?; fi
if [[ $mode == list ]]; then
  gpu_classes | sed 's/^/gpu test: /'
  cluster_gpu_classes | sed 's/^/left out of the pack (gpu-cluster: needs the cluster jars): /'
  gpu_twins | sed 's/^/twin: /'
  exit "${PIPESTATUS[0]}"
fi
started=$SECONDS
unpack || exit 2
unpacked=$((SECONDS - started))
out=${OUT:-$PWD/gpu-check-out}
mkdir -p "$out" || exit 2
summary=$out/summary.txt
: > "$summary"
SMOKE_LIMIT=120   # seconds: the JVM start, NVRTC's first compile and cuDNN's searches fit well inside
TESTS_LIMIT=150   # seconds at most for every gpu-tagged test, less when the smoke test took long
ACCURACY_LIMIT=75 # seconds kept for the accuracy step: train (2 epochs: 1,876 steps, each epoch's test pass), then eval
EVAL_LIMIT=25     #   of which eval's at most: a JVM, NVRTC's compile, the 10,000 test images
BENCH_LIMIT=95    # seconds kept for the benchmark: 4 rows of 2 runs of a JVM or python start, a second's warm-up and the timed windows
BENCH_SECONDS=2   # timed seconds per run (5 windows): 2 rather than 3 since the rows are 4 now, one with its CUDA graph timed too
TOTAL_LIMIT=290   # the whole script: under 5 minutes
ACCURACY_POINTS=0.5
# model:batch, and :graph to time the step captured into a CUDA graph too (the issue's goal: 2x PyTorch at LeNet batch 64)
BENCH_ROWS="cifar-lenet:64:graph cifar-lenet:256 cifar-lenet:1024 cifar-wide:256"
if [[ $mode == dry ]]; then
  BENCH_SECONDS=0.2 BENCH_ROWS="cifar-lenet:4:graph cifar-lenet:8 cifar-wide:2"   # the simulated device is slow: small batches prove the path
  bench_device=sim:0 torch_device=cpu
else
  bench_device=cuda torch_device=cuda
fi

note() { echo "$*" | tee -a "$summary"; }
# shellcheck disable=SC1091
source "$PACK/env.sh" || { echo "gpu-check: sourcing $PACK/env.sh failed" >&2; exit 2; }
export -f device-tests

note "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)$([[ $mode == dry ]] && echo ' (dry run: no GPU expected; the GPU tests skip, the accuracy step and the benchmark run on sim:0)')"
note "pack: $([[ $PACK == "$PWD/.device" ]] && echo "the staging layout of .device (--pack at work)" || echo "unpacked from .device/travel.tar.xz in $unpacked s")"

# 1. The machine: GPU, driver, the CUDA libraries' pip packages, Java.
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1
  echo
  pkgs=$(python3 -m pip list 2>/dev/null | awk 'tolower($1) ~ /^(nvidia-|torch$)/ {print $1}')
  [[ -n $pkgs ]] && python3 -m pip show $pkgs 2>/dev/null | grep -E '^(Name|Version):' | paste - - | sed 's/Name: //; s/\tVersion: / /'
  echo
  java -version 2>&1
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
} > "$out/env.log" 2>&1
note "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1 || echo 'nvidia-smi failed')"
note "libraries: $(grep -E '^(nvidia-|torch)' "$out/env.log" | tr '\n' ';' | sed 's/;$//')"

# 2. Every CUDA function Phalanx calls exists in this machine's libraries (a missing one kills the
#    JVM with "symbol lookup error" instead of failing a test).
symbols=$(mktemp)
python3 - kernels/src/main/resources/dev/phalanx/kernels/cuda/native-functions.txt > "$symbols" 2>&1 <<'PY'
import ctypes, sys
# the presets' libjnicudnn.so links cuDNN's sub-libraries, not the libcudnn.so.9 shim: look in all
ALSO = {"libcudnn.so.9": ["libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9"]}
def has(lib, fn):
    return any(libs.get(l) is not None and hasattr(libs[l], fn) for l in [lib] + ALSO.get(lib, []))
libs, missing, checked = {}, [], 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    lib, fn = line.split()
    for l in [lib] + ALSO.get(lib, []):
        if l not in libs:
            try:
                libs[l] = ctypes.CDLL(l)
                print("loaded", l)
            except OSError as e:
                libs[l] = None
                print("cannot load", l, ":", e)
    checked += 1
    if not has(lib, fn):
        missing.append(lib + " " + fn)
for m in missing:
    print("MISSING", m)
print("%d functions checked, %d missing" % (checked, len(missing)))
sys.exit(1 if missing else 0)
PY
src=$?
{ echo; echo "== the symbol check: every CUDA function Phalanx calls, in this machine's libraries"; cat "$symbols"; } >> "$out/env.log"
if [[ $src == 0 ]]; then note "symbols: PASS ($(tail -n 1 "$symbols"))"
else
  note "symbols: WARN ($(tail -n 1 "$symbols"); see env.log; calling a missing one kills the JVM)"
  grep -E '^(MISSING|cannot load)' "$symbols" | head -n 12 | tee -a "$summary"
fi
rm -f "$symbols"

# Runs one JUnit selection with a time limit; copies its XML report to $out/$1-junit.xml.
run_tests() {
  local name=$1 limit=$2 reports rc
  shift 2
  reports=$(mktemp -d)
  OUT=$reports timeout -k 10 "$limit" bash -c 'device-tests --details=tree --disable-ansi-colors "$@"' _ "$@" > "$out/$name.log" 2>&1
  rc=$?
  cp "$reports"/junit/TEST-junit-jupiter.xml "$out/$name-junit.xml" 2>/dev/null
  rm -rf "$reports"
  [[ $rc == 124 ]] && echo "gpu-check: $name stopped after its limit of $limit s" >> "$out/$name.log"
  return $rc
}
count() { # the console launcher's count of tests in one state (found, successful, failed, skipped, aborted) from a log
  grep -E "\[ +[0-9]+ tests $2 +\]" "$1" | grep -oE '[0-9]+' | head -n 1
}
counts() { # the console launcher's totals from a log
  grep -E '\[ +[0-9]+ tests (successful|failed|skipped|aborted) +\]' "$1" | sed 's/[][]//g; s/  */ /g; s/^ //; s/ $//' | paste -sd, | sed 's/,/, /g'
}
# Every test found was aborted by its assumption (no GPU here) and none failed: a dry run's pass.
all_skipped() {
  local found
  found=$(count "$1" found)
  [[ -n $found && $found -gt 0 && $(count "$1" failed) == 0 && $(count "$1" successful) == 0 ]] \
    && (( $(count "$1" aborted) + $(count "$1" skipped) == found ))
}
skip_reason() {
  grep -oE 'Assumption failed: .*' "$1" | head -n 1 | sed 's/^Assumption failed: //'
}
# The gpu-tagged classes of the sources that none of the logs' test trees names.
undiscovered() {
  local m c
  gpu_classes | while read -r m c; do grep -qE "(^|[^A-Za-z0-9_])${c##*.}( |$)" "$@" || echo "${c##*.}"; done
}

# 3. The smoke test: each binding once, compared with the CPU. Nothing else runs when it fails.
run_tests smoke "$SMOKE_LIMIT" --select-class dev.phalanx.kernels.cuda.CudaSmokeGpuTest
rc=$?
if [[ $mode == dry ]]; then
  if [[ $rc == 0 ]] && all_skipped "$out/smoke.log"; then
    note "smoke: SKIP, as expected without a GPU ($(counts "$out/smoke.log"): $(skip_reason "$out/smoke.log"))"
  else
    note "smoke: FAIL (exit $rc; $(counts "$out/smoke.log")); see smoke.log"
    grep -E '✘|Exception|Error' "$out/smoke.log" | head -n 20 | tee -a "$summary"
    note "total: $((SECONDS - started)) s"
    exit 1
  fi
else
  ok=$(grep -cE '\[ +5 tests successful +\]' "$out/smoke.log")
  if [[ $rc != 0 || $ok != 1 ]]; then
    note "smoke: FAIL (exit $rc; $(counts "$out/smoke.log")); see smoke.log"
    grep -E '✘|Assumption failed|Exception|Error' "$out/smoke.log" | head -n 20 | tee -a "$summary"
    note "total: $((SECONDS - started)) s"
    exit 1
  fi
  note "smoke: PASS ($(counts "$out/smoke.log"))"
  grep '^\[smoke\]' "$out/smoke.log" | tee -a "$summary"
fi
[[ $mode == smoke ]] && { note "total: $((SECONDS - started)) s"; exit 0; }

# 4. Every gpu-tagged test of every module: the device contract on cuda:0 (the tests the simulated
#    device passes in mvn test, unchanged), discovery, and the runtime
#    module's tensors on cuda:0: the golden ops, the golden LeNet step and optimizers, the device
#    math, LeNet trained on cuda:0 against the CPU, and 1, 2 and 3 replicas on cuda:0 through
#    DataParallel (GoldenCudaGpuTest, GoldenDeviceOptimGpuTest, DeviceMathGpuTest,
#    DeviceLeNetGpuTest, DeviceDataParallelGpuTest). Each class the sources tag must be discovered.
failed=0
left=$((TOTAL_LIMIT - BENCH_LIMIT - ACCURACY_LIMIT - (SECONDS - started)))
(( left < TESTS_LIMIT )) && TESTS_LIMIT=$left
(( TESTS_LIMIT < 10 )) && TESTS_LIMIT=10
# (the smoke test ran above: not again)
run_tests gpu-tests "$TESTS_LIMIT" --include-tag gpu --exclude-tag gpu-cluster --exclude-classname '.*\.CudaSmokeGpuTest'
rc=$?
missing=$(undiscovered "$out/smoke.log" "$out/gpu-tests.log" | paste -sd, | sed 's/,/, /g')
if [[ -n $missing ]]; then
  note "gpu tests: FAIL (not discovered, so not run: $missing; is its module's test class path in the pack?); see gpu-tests.log"
  failed=1
elif [[ $mode == dry ]]; then
  if [[ $rc == 0 ]] && all_skipped "$out/gpu-tests.log"; then
    note "gpu tests: SKIP, as expected without a GPU: all $(gpu_classes | wc -l) tagged classes discovered ($(counts "$out/gpu-tests.log"): $(skip_reason "$out/gpu-tests.log"))"
  else
    note "gpu tests: FAIL (exit $rc; $(counts "$out/gpu-tests.log")); see gpu-tests.log"
    grep -E '✘' "$out/gpu-tests.log" | head -n 20 | tee -a "$summary"
    failed=1
  fi
elif [[ $rc == 0 ]] && ! grep -qE '\[ +[1-9][0-9]* tests (skipped|aborted) +\]' "$out/gpu-tests.log"; then
  note "gpu tests: PASS ($(counts "$out/gpu-tests.log"))"
else
  note "gpu tests: FAIL (exit $rc; $(counts "$out/gpu-tests.log")); see gpu-tests.log"
  grep -E '✘' "$out/gpu-tests.log" | head -n 20 | tee -a "$summary"
  failed=1
fi

# 5. conf/fashion-lenet.conf trained on the device for 2 epochs at batch 64 and lr 0.01 (phalanx train,
#    then phalanx eval on its run; on cuda with one GPU: one replica, its step captured into a CUDA
#    graph), on the full data set from the pack, against the CPU's accuracy of the same recipe and seed
#    that --pack computed: within ACCURACY_POINTS points. The dry run trains 20 steps on sim:0 and
#    compares nothing: the path, the data and the format are what it proves.
ref=$PACK/fashion-reference.txt
cpu_acc=$(sed -n 's/^accuracy //p' "$ref" 2>/dev/null)
cpu_ct=$(sed -n 's/^correct \([0-9]*\) of \([0-9]*\)$/\1\/\2/p' "$ref" 2>/dev/null)
read -r -a acc_args <<< "$ACCURACY_ARGS"
[[ $mode == dry ]] && acc_args+=(--max-steps 20)
acc_run=$(mktemp -d "${TMPDIR:-/tmp}/phalanx-accuracy.XXXXXX")
acc_started=$SECONDS
left=$((TOTAL_LIMIT - BENCH_LIMIT - (SECONDS - started)))
(( left > ACCURACY_LIMIT )) && left=$ACCURACY_LIMIT
train_limit=$((left - EVAL_LIMIT))
(( train_limit < 10 )) && train_limit=10
{
  echo "== phalanx train conf/fashion-lenet.conf --device $bench_device ${acc_args[*]} (limit $train_limit s)"
  timeout -k 10 "$train_limit" java -cp "$CLASSPATH" dev.phalanx.launcher.Main train conf/fashion-lenet.conf --device "$bench_device" "${acc_args[@]}" \
    --data "$PACK/data/fashion-mnist" --out "$acc_run/run" --log-every 500 2>&1
  trc=$?
  echo "== exit $trc after $((SECONDS - acc_started)) s"
  erc=""
  if [[ $trc == 0 ]]; then
    eval_started=$SECONDS
    echo "== phalanx eval (the run) --device $bench_device (limit $EVAL_LIMIT s)"
    timeout -k 10 "$EVAL_LIMIT" java -cp "$CLASSPATH" dev.phalanx.launcher.Main eval "$acc_run/run" --device "$bench_device" --data "$PACK/data/fashion-mnist" 2>&1
    erc=$?
    echo "== exit $erc after $((SECONDS - eval_started)) s"
  fi
  echo "== the CPU's reference ($ref):"
  cat "$ref" 2>&1
} > "$out/accuracy.log"
ct=$(accuracy_of "$out/accuracy.log")
acc_s=$((SECONDS - acc_started))
rm -rf "$acc_run"
if [[ -z $ct ]]; then
  why=$(grep -E '^== exit [1-9]' "$out/accuracy.log" | head -n 1)
  note "accuracy: FAIL (no confusion matrix from phalanx eval: ${why:-see accuracy.log}; $(grep -vE '^(==|#|sha256 )' "$out/accuracy.log" | grep -iE 'error|exception|no CUDA|killed' | head -n 1)); see accuracy.log"
  failed=1
else
  acc=$(awk -v c="${ct% *}" -v t="${ct#* }" 'BEGIN {printf "%.2f", 100 * c / t}')
  got="${acc} % (${ct% *}/${ct#* }) after $(sed -n 's/^Finished Training: \([0-9]*\) steps.*/\1/p' "$out/accuracy.log") steps on $bench_device"
  if [[ $mode == dry ]]; then
    note "accuracy: DRY ($got: 20 steps, not compared; the GPU run compares ${ACCURACY_ARGS} on cuda with the CPU's ${cpu_acc:-?} %, within $ACCURACY_POINTS points; $acc_s s)"
  elif [[ -z $cpu_acc ]]; then
    note "accuracy: FAIL ($got; the pack holds no CPU accuracy to compare with: $ref)"
    failed=1
  else
    diff=$(awk -v a="$acc" -v b="$cpu_acc" 'BEGIN {d = a - b; printf "%.2f", d < 0 ? -d : d}')
    verdict=$(awk -v d="$diff" -v p="$ACCURACY_POINTS" 'BEGIN {print (d <= p + 1e-9) ? "PASS" : "FAIL"}')
    [[ $verdict == PASS ]] || failed=1
    note "accuracy: $verdict (conf/fashion-lenet.conf $ACCURACY_ARGS: $got, the CPU's $cpu_acc % ($cpu_ct, computed when packing): $diff points apart, within $ACCURACY_POINTS allowed; $acc_s s)"
  fi
fi

# 6. The benchmark: phalanx bench on the device (model, optimizer state and batch there, the host
#    synchronising every 8 steps) against PyTorch eager the same way, each row in turn; with the
#    device's own time per step from timing events (the batch's copy up, the compute), and for a
#    :graph row the step captured into one CUDA graph and replayed too.
field() { awk -v k="$2" 'index($0, k) == 1 {print $(NF - 1); exit}' <<< "$1"; }
# "copy up X ms, compute Y ms" from phalanx bench's "device time per step" line that starts with $2
split_of() { sed -n "s/^$2device time per step ([^)]*): copy up \([0-9.]*\) ms (.*), compute \([0-9.]*\) ms (.*/copy up \1 ms, compute \2 ms/p" <<< "$1" | head -n 1; }
{ echo "bench rows: $BENCH_ROWS, $BENCH_SECONDS s timed each, phalanx on $bench_device, PyTorch on $torch_device"; } > "$out/bench.log"
torch_ok=1
python3 -c 'import torch' > /dev/null 2>&1 || torch_ok=0
for row in $BENCH_ROWS; do
  IFS=: read -r model batch graph <<< "$row"
  left=$((TOTAL_LIMIT - (SECONDS - started)))
  if (( left < 15 )); then note "bench $model batch $batch: SKIP (the script's $TOTAL_LIMIT s are spent)"; continue; fi
  graph_args=()
  [[ $graph == graph ]] && graph_args=(--cuda-graph on)
  p=$(timeout -k 10 $((left / 2)) java -cp "$CLASSPATH" dev.phalanx.launcher.Main bench --device "$bench_device" --model "$model" \
        --batch-size "$batch" --seconds "$BENCH_SECONDS" "${graph_args[@]}" 2>&1)
  prc=$?
  { echo "== phalanx bench --device $bench_device --model $model --batch-size $batch ${graph_args[*]} (exit $prc)"; echo "$p"; } >> "$out/bench.log"
  pt="" trc=""
  if [[ $torch_ok == 1 ]]; then
    t=$(timeout -k 10 $((left / 2)) python3 bench/pytorch_bench.py --device "$torch_device" --model "$model" --batch-size "$batch" \
          --seconds "$BENCH_SECONDS" 2>&1)
    trc=$?
    { echo "== python3 bench/pytorch_bench.py --device $torch_device --model $model --batch-size $batch (exit $trc)"; echo "$t"; } >> "$out/bench.log"
    pt=$(field "$t" "throughput:")
  fi
  ph=$(field "$p" "throughput:")
  if [[ $prc != 0 || -z $ph ]]; then
    note "bench $model batch $batch: FAIL (phalanx bench exit $prc: $(grep -vE '^(Picked up|model |device: )' <<< "$p" | tail -n 1)); see bench.log"
    failed=1
    continue
  fi
  enq=$(sed -n 's/^host enqueue: \([0-9.]*\) ms per step of \([0-9.]*\) ms (\([0-9]*\) %.*/\1 of \2 ms per step (\3 %)/p' <<< "$p")
  dev=$(split_of "$p" "")
  line="bench $model batch $batch: phalanx $ph images/s on $bench_device (host enqueue ${enq:-?}; device per step: ${dev:-?})"
  if [[ -n $pt && $trc == 0 ]]; then
    line+=", PyTorch $pt images/s on $torch_device: $(awk -v a="$ph" -v b="$pt" 'BEGIN {printf "%.2fx", a / b}')"
  elif [[ $torch_ok == 1 ]]; then
    line+=", PyTorch FAIL (exit $trc; see bench.log)"
    [[ $mode == dry ]] || failed=1
  else
    line+=", PyTorch: python3 has no torch here"
    [[ $mode == dry ]] || failed=1   # the GPU machine's python3 has PyTorch: the comparison is part of the check
  fi
  if [[ $graph == graph ]]; then
    g=$(sed -n 's/^CUDA graph (the step captured once, one replay per step): [0-9.]* ms per step, host enqueue \([0-9.]*\) ms per step, \([0-9]*\) images\/s: \([0-9.]*x\) the eager.*/\2 images\/s, \3 the eager steps, host enqueue \1 ms per step/p' <<< "$p")
    gdev=$(split_of "$p" "CUDA graph ")
    if [[ -z $g ]]; then
      line+="; CUDA graph: FAIL (no graph line; see bench.log)"
      failed=1
    else
      gph=${g%% images/s*}
      line+="; CUDA graph: $g; device per replay: ${gdev:-?}"
      [[ -n $pt && $trc == 0 ]] && line+=", $(awk -v a="$gph" -v b="$pt" 'BEGIN {printf "%.2fx", a / b}') PyTorch"
    fi
  fi
  note "$line"
done
d=$(grep -m 1 '^device: ' "$out/bench.log")
[[ -n $d ]] && note "bench phalanx's $d"
d=$(grep -m 1 '^torch ' "$out/bench.log")
[[ -n $d ]] && note "bench PyTorch: $d"

note "total: $((SECONDS - started)) s"
[[ $failed == 0 ]]
