#!/usr/bin/env bash
# Builds the local `otelcol-llm` distribution once per builder manifest and links it into the
# checkout. The binary lives in a cache outside the checkout, keyed by the manifest's hash (and
# the Go version), so fresh clones on the same machine reuse it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
manifest="$here/builder-config.yaml"
builder_version="v0.161.0"

command -v go >/dev/null || { echo "collector/build.sh: Go is needed to build the collector (https://go.dev/dl/)" >&2; exit 1; }
key="$( (cat "$manifest"; go version; echo "$builder_version") | sha256sum | cut -c1-16)"
cache_root="${OTEL_LLM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-llm}"
out="$cache_root/collector/$key"
binary="$out/build/otelcol-llm"

mkdir -p "$out" "$repo/.cache/bin"
(
  # One build at a time per key, even when two checkouts ask at once.
  flock 9
  if [ ! -x "$binary" ]; then
    echo "Building otelcol-llm (cold build takes a few minutes; cached in $out)"
    start=$(date +%s)
    GOBIN="$cache_root/tools/$builder_version" go install "go.opentelemetry.io/collector/cmd/builder@$builder_version"
    (cd "$out" && "$cache_root/tools/$builder_version/builder" --config "$manifest" >"$out/build.log" 2>&1) \
      || { tail -40 "$out/build.log" >&2; exit 1; }
    echo "Built otelcol-llm in $(( $(date +%s) - start )) s"
  fi
) 9>"$out/.lock"
ln -sfn "$binary" "$repo/.cache/bin/otelcol-llm"
