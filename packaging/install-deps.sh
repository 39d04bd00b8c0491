#!/usr/bin/env bash
# Installs the Debian packages listed in packaging/debian-build-deps.txt that are missing.
# Nothing is installed (and apt is not touched) when everything is present.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# A line is "package" or "package cmd=NAME": the latter also counts as present when the command
# NAME is on PATH from another package (npm ships inside NodeSource's nodejs, which conflicts with
# Debian's npm package).
missing=()
while read -r p opt; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then continue; fi
  if [[ ${opt:-} == cmd=* ]] && command -v "${opt#cmd=}" >/dev/null 2>&1; then continue; fi
  missing+=("$p")
done < <(grep -v '^\s*#' "$here/debian-build-deps.txt" | awk 'NF{print $1, $2}')
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "error: not root; install them with: apt-get install ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
