#!/usr/bin/env bash
# The real exporters' fixtures that are not committed (test/exports.ts): a venv from the
# local wheel mirror, then tools/make_exports.py into .probespec-cache/exports. Nothing is
# done when the stamp (a hash of the generator and its pins) matches; without a local
# mirror it says so and exits 0, and the tests that need them skip, saying why.
# The committed GenAI-builder fixtures need onnxruntime-genai's source:
#   tools/make_exports.py test/fixtures/exports --genai <checkout>/src/python/py/models --only <name>
set -euo pipefail
cd "$(dirname "$0")/.."
out=${PROBESPEC_EXPORTS:-.probespec-cache/exports}
stamp=$(cat tools/make_exports.py tools/make_fixtures.py tools/requirements-exports.txt | sha256sum | cut -c1-16)
if [ "$(cat "$out/COMPLETE" 2>/dev/null)" = "$stamp" ]; then echo "exports: up to date in $out"; exit 0; fi
# The mirror is the file:// index pip is configured with; the public index is never asked.
indexes=$( (pip3 config list 2>/dev/null || true) | sed -n "s/^[^=]*index-url='\(.*\)'$/\1/p" | tr ' ' '\n' | grep '^file://' || true)
if [ -z "$indexes" ]; then echo "exports: skipped, pip names no local wheel mirror (file:// index)"; exit 0; fi
first=$(echo "$indexes" | head -n 1)
extra=$(echo "$indexes" | tail -n +2 | sed 's/^/--extra-index-url /' | tr '\n' ' ')
venv=${PROBESPEC_VENV:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2086
"$venv/bin/pip" install -q --index-url "$first" $extra -r tools/requirements-exports.txt > "$out.pip.log" 2>&1 || { tail -n 20 "$out.pip.log"; exit 1; }
rm -f "$out.pip.log"
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
echo "exports: generating into $out (about 2 minutes)"
"$venv/bin/python" tools/make_exports.py "$out.tmp" > "$out.tmp.log" 2>&1 || { tail -n 30 "$out.tmp.log"; exit 1; }
grep -E ' ok' "$out.tmp.log" | tr '\n' ';' | sed 's/;/; /g'; echo
echo "$stamp" > "$out.tmp/COMPLETE"
rm -rf "$out" && mv "$out.tmp" "$out" && rm -f "$out.tmp.log"
