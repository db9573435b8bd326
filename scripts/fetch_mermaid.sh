#!/usr/bin/env bash
# Bundle mermaid into the inspector (no CDN): npm pack of a pinned version, integrity-checked,
# unpacked to drpo/ui/static/vendor/ (git-ignored; scripts/setup.sh runs this).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=11.17.2
INTEGRITY=sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80/qt5gHO73aCleBBg==
DEST=drpo/ui/static/vendor
if [ -f "$DEST/mermaid.min.js" ] && [ "$(cat "$DEST/VERSION" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
. scripts/apt.sh
command -v npm >/dev/null || apt_install npm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "mermaid@$VERSION" >/dev/null)
tgz="$tmp/mermaid-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "fetch_mermaid: integrity mismatch for mermaid@$VERSION" >&2
  exit 1
fi
tar xzf "$tgz" -C "$tmp" package/dist/mermaid.min.js package/LICENSE
mkdir -p "$DEST"
cp "$tmp/package/dist/mermaid.min.js" "$DEST/mermaid.min.js"
cp "$tmp/package/LICENSE" "$DEST/LICENSE.mermaid"
echo "$VERSION" >"$DEST/VERSION"
