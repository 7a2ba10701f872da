#!/usr/bin/env bash
# Builds .gpu-bundle/: everything scripts/gpu-check.sh needs on a bare Linux x86-64 machine
# with an NVIDIA GPU and no Node: a compressed Node binary, onnxruntime-node's linux-x64 part,
# Debian's Vulkan loader, the check bundled with esbuild, and a few analogs with their token ids.
set -euo pipefail
cd "$(dirname "$0")/.."
B=.gpu-bundle
rm -rf "$B" && mkdir -p "$B/node_modules"
xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > "$B/node.xz"
ORT=node_modules/onnxruntime-node
mkdir -p "$B/node_modules/onnxruntime-node/bin/napi-v6/linux"
cp -r "$ORT/package.json" "$ORT/dist" "$B/node_modules/onnxruntime-node/"
cp -r "$ORT/bin/napi-v6/linux/x64" "$B/node_modules/onnxruntime-node/bin/napi-v6/linux/"
xz -T2 -6 "$B/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"
cp -r node_modules/onnxruntime-common "$B/node_modules/"
(cd "$B" && apt-get download -qq libvulkan1 >/dev/null)
npx esbuild scripts/gpu-check.ts --bundle --platform=node --format=esm --target=node20 --external:onnxruntime-node --outfile="$B/check.mjs" --log-level=warning
npx tsx scripts/gpu-analogs.ts "$B"
du -sh "$B"
