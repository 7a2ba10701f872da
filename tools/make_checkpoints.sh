#!/usr/bin/env bash
# The HF checkpoint fixtures (test/checkpoints.test.ts), not committed (about 5 MB): transformers' own
# classes saved by save_pretrained, with transformers' own references, into .probespec-cache/checkpoints.
# It runs in the venv tools/make_exports.sh builds from the local wheel mirror; nothing is done when the
# stamp matches, and without that venv it says so and exits 0 (the tests that need the fixtures skip, saying why).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${PROBESPEC_CHECKPOINTS:-.probespec-cache/checkpoints}
venv=${PROBESPEC_VENV:-.venv}
stamp=$(cat tools/make_checkpoints.py tools/make_fixtures.py tools/requirements-exports.txt | sha256sum | cut -c1-16)
if [ "$(cat "$out/COMPLETE" 2>/dev/null)" = "$stamp" ]; then echo "checkpoints: up to date in $out"; exit 0; fi
if ! "$venv/bin/python" -c "import torch, transformers, safetensors" 2>/dev/null; then
  echo "checkpoints: skipped, $venv has no torch, transformers and safetensors (tools/make_exports.sh installs them from the local wheel mirror)"
  exit 0
fi
mkdir -p "$(dirname "$out")"
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
"$venv/bin/python" tools/make_checkpoints.py "$out.tmp" > "$out.tmp.log" 2>&1 || { tail -n 30 "$out.tmp.log"; exit 1; }
echo "checkpoints: $(grep -c ' ok$' "$out.tmp.log") generated into $out"
echo "$stamp" > "$out.tmp/COMPLETE"
rm -rf "$out" && mv "$out.tmp" "$out" && rm -f "$out.tmp.log"
