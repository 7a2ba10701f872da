#!/usr/bin/env bash
# Runs the GPU check from .gpu-bundle/ (built here by scripts/gpu-bundle.sh) on a bare machine:
#   bash scripts/gpu-check.sh        (device tool: carry [".gpu-bundle"]; results land in $OUT)
set -euo pipefail
cd "$(dirname "$0")/.."
B=$(pwd)/.gpu-bundle
W=$(mktemp -d)
xz -dc "$B/node.xz" > "$W/node" && chmod +x "$W/node"
cp -r "$B/node_modules" "$W/" && xz -d "$W/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1.xz"
for f in "$B"/*.deb; do dpkg -x "$f" "$W/vulkan"; done
export LD_LIBRARY_PATH="$W/vulkan/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
# NVIDIA's Vulkan ICD, where the driver installs it outside the usual paths.
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$icd" ] && export VK_DRIVER_FILES="$icd" && break
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /' || echo "gpu: nvidia-smi not found"
cp "$B/check.mjs" "$W/" && cp -r "$B/analogs" "$B/manifest.json" "$W/"
cd "$W" && PROBESPEC_ORT_LOG_LEVEL=error ./node check.mjs "$W" "${OUT:-$W}"
