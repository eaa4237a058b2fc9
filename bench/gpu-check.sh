#!/usr/bin/env bash
# The GPU checks of issue #9 in one run, on the lent GPU machine (NVIDIA GPU, CUDA 13, cuDNN 9,
# PyTorch in its python3, no JDK, no Maven, no network). Run from the project root after packing
# Java on the developer machine:
#     bench/gpu-check.sh --pack     # device-pack --tests kernels, then only what the kernels tests need
#     device tool: run with carry [".device"], command: bench/gpu-check.sh [--smoke]
#
#   bench/gpu-check.sh            environment and symbol check, smoke test, then every gpu-tagged test
#   bench/gpu-check.sh --smoke    environment and symbol check, smoke test only
#   bench/gpu-check.sh --pack     (developer machine) writes .device/, under the 64 MiB that travels
#   bench/gpu-check.sh --help
#
# Writes summary.txt and at most 7 more files (env.log, symbols.log, smoke.log, smoke-junit.xml,
# gpu-tests.log, gpu-junit.xml) under $OUT, or ./gpu-check-out when OUT is unset. Stops after the
# smoke test when it fails. The whole script stays under 5 minutes (a time limit per step).
# Exit status: 0 all passed, 1 a check failed, 2 bad usage or no .device/ pack.
set -uo pipefail

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
}

# On the developer machine: ../shared/tools/device-pack --tests kernels packs every module's test
# class path (over 80 MB with the JRE); only the kernels module's tests run on the GPU machine, so
# the other modules' jars and test classes are dropped. device-pack writes .git/info/exclude,
# which is no folder in a git worktree (.git is a file there): /dev/null stands in for it then
# (.gitignore already ignores /.device/).
pack() {
  local tool="" c size keep j d
  for c in "${DEVICE_PACK:-}" ../shared/tools/device-pack /work/shared/tools/device-pack; do
    [[ -n $c && -f $c ]] && { tool=$c; break; }
  done
  [[ -n $tool ]] || { echo "gpu-check: device-pack not found: set DEVICE_PACK to its path" >&2; return 2; }
  if [[ -f .git ]]; then
    bash <(sed 's|\.git/info/exclude|/dev/null|g' "$tool") --tests kernels || return 2
  else
    bash "$tool" --tests kernels || return 2
  fi
  keep=$(tr ':' '\n' < kernels/target/device-classpath.txt | xargs -n1 basename)
  for j in .device/lib/*.jar; do
    [[ $(basename "$j") == kernels.jar ]] || grep -qxF "$(basename "$j")" <<< "$keep" || rm -f "$j"
  done
  for d in .device/test-classes/*; do [[ $(basename "$d") == kernels ]] || rm -rf "$d"; done
  size=$(du -sb .device | cut -f1)
  echo "gpu-check: .device holds $((size / 1048576)) MiB: $(ls .device/lib | wc -l) jars, test classes of kernels"
  (( size < 64 * 1048576 )) || { echo "gpu-check: .device is over the 64 MiB that travels" >&2; return 1; }
}

smoke_only=0 pack_only=0
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --smoke) smoke_only=1 ;;
  --pack) pack_only=1 ;;
  "") ;;
  *) echo "gpu-check: unknown option '$1'" >&2; usage >&2; exit 2 ;;
esac
[[ $# -le 1 ]] || { echo "gpu-check: one option at most, got: $*" >&2; exit 2; }

cd "$(dirname "$0")/.." || exit 2
if [[ $pack_only == 1 ]]; then pack; exit $?; fi
if [[ ! -f .device/env.sh ]]; then
  echo "gpu-check: .device/env.sh is missing: run bench/gpu-check.sh --pack (device-pack --tests kernels) on the developer machine and carry .device" >&2
  exit 2
fi
out=${OUT:-$PWD/gpu-check-out}
mkdir -p "$out" || exit 2
summary=$out/summary.txt
: > "$summary"
started=$SECONDS
SMOKE_LIMIT=150   # seconds: the JVM start, NVRTC's first compile and cuDNN's searches fit well inside
TESTS_LIMIT=120   # seconds: what is left of the 5 minutes after the smoke test at most

note() { echo "$*" | tee -a "$summary"; }
# shellcheck disable=SC1091
source .device/env.sh || { echo "gpu-check: sourcing .device/env.sh failed" >&2; exit 2; }
export -f device-tests

note "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"

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
python3 - kernels/src/main/resources/dev/phalanx/kernels/cuda/native-functions.txt > "$out/symbols.log" 2>&1 <<'PY'
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
if [[ $? == 0 ]]; then note "symbols: PASS ($(tail -n 1 "$out/symbols.log"))"
else
  note "symbols: WARN ($(tail -n 1 "$out/symbols.log"); see symbols.log; calling a missing one kills the JVM)"
  grep -E '^(MISSING|cannot load)' "$out/symbols.log" | head -n 12 | tee -a "$summary"
fi

# Runs one JUnit selection with a time limit; copies its XML report to $out/$1-junit.xml.
run_tests() {
  local name=$1 limit=$2 reports rc
  shift 2
  reports=$(mktemp -d)
  OUT=$reports timeout "$limit" bash -c 'device-tests --details=tree --disable-ansi-colors "$@"' _ "$@" > "$out/$name.log" 2>&1
  rc=$?
  cp "$reports"/junit/TEST-junit-jupiter.xml "$out/$name-junit.xml" 2>/dev/null
  rm -rf "$reports"
  [[ $rc == 124 ]] && echo "gpu-check: $name stopped after its limit of $limit s" >> "$out/$name.log"
  return $rc
}
counts() { # the console launcher's totals from a log
  grep -E '\[ +[0-9]+ tests (successful|failed|skipped|aborted) +\]' "$1" | sed 's/[][]//g; s/  */ /g; s/^ //; s/ $//' | paste -sd, | sed 's/,/, /g'
}

# 3. The smoke test: each binding once, compared with the CPU. Nothing else runs when it fails.
run_tests smoke "$SMOKE_LIMIT" --select-class dev.phalanx.kernels.cuda.CudaSmokeGpuTest
rc=$?
ok=$(grep -cE '\[ +5 tests successful +\]' "$out/smoke.log")
if [[ $rc != 0 || $ok != 1 ]]; then
  note "smoke: FAIL (exit $rc; $(counts "$out/smoke.log")); see smoke.log"
  grep -E '✘|Assumption failed|Exception|Error' "$out/smoke.log" | head -n 20 | tee -a "$summary"
  note "total: $((SECONDS - started)) s"
  exit 1
fi
note "smoke: PASS ($(counts "$out/smoke.log"))"
grep '^\[smoke\]' "$out/smoke.log" | tee -a "$summary"
[[ $smoke_only == 1 ]] && { note "total: $((SECONDS - started)) s"; exit 0; }

# 4. Every gpu-tagged test: the device contract on cuda:0 (the tests the simulated device passes
#    in mvn test, unchanged), discovery, the smoke test again, and (runtime module) tensors on
#    cuda:0: the golden ops that have device kernels, the golden LeNet step and optimizers, and
#    LeNet trained on cuda:0 against the CPU (GoldenCudaGpuTest, GoldenDeviceOptimGpuTest,
#    DeviceLeNetGpuTest).
left=$((290 - (SECONDS - started)))
(( left < TESTS_LIMIT )) && TESTS_LIMIT=$left
run_tests gpu-tests "$TESTS_LIMIT" --include-tag gpu
rc=$?
if [[ $rc == 0 ]] && ! grep -qE '\[ +[1-9][0-9]* tests (skipped|aborted) +\]' "$out/gpu-tests.log"; then
  note "gpu tests: PASS ($(counts "$out/gpu-tests.log"))"
else
  note "gpu tests: FAIL (exit $rc; $(counts "$out/gpu-tests.log")); see gpu-tests.log"
  grep -E '✘' "$out/gpu-tests.log" | head -n 20 | tee -a "$summary"
fi
note "not built yet, so not run: golden tests of the ops without device kernels, replicas on one GPU through DataParallel, the benchmark"
note "total: $((SECONDS - started)) s"
[[ $rc == 0 ]]
