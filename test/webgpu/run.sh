#!/usr/bin/env bash
# npm run test:webgpu — the gpu backend's real WGSL path (GPU.js → WGSL → Dawn → Vulkan) on Mesa's lavapipe, a
# Vulkan driver that runs on the CPU, so that path is tested on machines without a GPU (CI). lavapipe comes from
# Debian's archive into a cache folder (test/webgpu/lavapipe.sh); nothing is installed. The backend refuses software
# adapters unless asked: only these tests opt in (SIZESEG_GPU_TEST_MODE=webgpu, --allow-software).
#   1. the gpu test suite in webgpu mode (every kernel against float64 references, training steps against the cpu
#      backend, and a planted kernel error that the comparison must catch);
#   2. the device check (docs/gpu.md) with few repetitions: kernels, then W1 training steps of ResUNet-lite
#      [16, 32, 64, 128] on a batch of 2 with its first loss compared to the cpu backend's.
# Correctness only: llvmpipe's timings say nothing about a GPU.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The paths this runner depends on, in one place.
GPU_TESTS=test/kernels/gpu        # the gpu backend's tests; their backend follows SIZESEG_GPU_TEST_MODE
DEVICE_CHECK=bench/gpu/deviceBench.ts  # the device check and benchmark script (docs/gpu.md)
LAVAPIPE=test/webgpu/lavapipe.sh  # fetches lavapipe, prints its cache folder

t0=$SECONDS
cache="$(bash "$LAVAPIPE")"
# shellcheck source=/dev/null
. "$cache/env.sh"
echo "test:webgpu: lavapipe from $cache ($(grep '^mesa-vulkan-drivers ' "$cache/packages.txt"))"

echo "test:webgpu: 1/2 $GPU_TESTS in webgpu mode on lavapipe"
SIZESEG_WEBGPU_SOFTWARE=1 SIZESEG_GPU_TEST_MODE=webgpu npx vitest run "$GPU_TESTS"

echo "test:webgpu: 2/2 $DEVICE_CHECK --allow-software (kernels, 3 W1 steps on a batch of 2)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# The report goes to a file (its JSON is long); the log is shown only when a check fails.
if ! npx tsx "$DEVICE_CHECK" --allow-software --reps 1 --train-reps 2 --train-batch 2 --train-budget-s 60 \
    --out "$out" > "$out/stdout" 2> "$out/log"; then
  grep -E 'FAIL|ERROR|fatal|error' "$out/log" | head -n 40 >&2 || tail -n 40 "$out/log" >&2
  echo "test:webgpu: the device check failed (above; run it alone: npx tsx $DEVICE_CHECK --allow-software after '. $cache/env.sh')" >&2
  exit 1
fi
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const l = r.training?.lossCheck;
if (!l) { console.error("test:webgpu: the device check ran no W1 loss check"); process.exit(1); }
console.log(`test:webgpu: device check: ${r.checks.length} checks ok on ${r.backend.adapter?.description ?? "?"}; ` +
  `W1 first loss gpu ${l.gpuLoss} vs cpu ${l.cpuLoss} (relative ${l.relError.toExponential(1)}); ${(r.totalMs / 1000).toFixed(0)} s`);
' "$out/gpu-bench.json"
echo "test:webgpu: passed in $((SECONDS - t0)) s"
