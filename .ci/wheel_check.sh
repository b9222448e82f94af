#!/usr/bin/env bash
# Wheel check: build medclip's wheel, install it into a clean venv, and run it from a temporary folder
# (no repository on sys.path), so a file the code reads at run time but the wheel lacks fails here.
#
# Offline by design. The clean venv has no site-packages of its own except the wheel (installed with
# --no-deps); the third-party dependencies (torch, open_clip, ...) are borrowed read-only from the project
# venv through a .pth line appended *after* the wheel install. That keeps medclip itself only from the
# wheel: the project venv's editable-install hook (__editable__*.pth) is not run, because Python executes
# .pth files only in site directories, not in folders a .pth line adds. The script checks this.
# Usage: .ci/wheel_check.sh [PROJECT_PYTHON]   (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PY=${1:-.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

echo "wheel check: building the wheel"
"$PY" -m pip wheel --quiet --no-build-isolation --no-deps --wheel-dir "$WORK/dist" "$REPO" >"$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log"; exit 1; }
rm -rf "$REPO/build"
WHEEL=$(ls "$WORK"/dist/medclip-*.whl)
DEPS=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

python_base=$("$PY" -c 'import sys; print(sys._base_executable)')
"$python_base" -m venv --without-pip "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$PY" -m pip --python "$VPY" install --quiet --no-deps --no-index "$WHEEL"
SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$DEPS" >"$SITE/zz_medclip_deps.pth"

mkdir "$WORK/run"
cd "$WORK/run"
"$VPY" - "$SITE" <<'PYEOF'
import sys
import medclip, medclip_configs, zeroshot
site = sys.argv[1]
for mod in (medclip, medclip_configs, zeroshot):
    assert mod.__file__.startswith(site), f"{mod.__name__} imported from {mod.__file__}, not from the wheel"
print("wheel check: medclip imported from", site)
PYEOF
BIN="$WORK/venv/bin"
"$BIN/medclip-eval" --help >/dev/null
"$BIN/medclip-eval" --list-suites | grep -q "^demo "
"$BIN/medclip-fewshot" --help >/dev/null
"$BIN/medclip-train" --config configs/train/demo.yaml --print-config >/dev/null
"$BIN/medclip-shards" build --out shards --workers 1 --no-progress \
    sources.demo.train=1 sources.demo.val=1 sources.demo.test=2 sources.demo.test_shifted=1 >/dev/null
"$BIN/medclip-eval" --suite demo --model medclip-tiny --data-root shards --device cpu --workers 0 \
    --out report --datasets demo >"$WORK/eval.log" 2>&1 || { cat "$WORK/eval.log"; exit 1; }
grep -q "n=34" "$WORK/eval.log" || { cat "$WORK/eval.log"; echo "wheel check: unexpected eval output"; exit 1; }
test -s report/report.md
echo "wheel check: ok ($(basename "$WHEEL"): --help, --list-suites, shipped train config, demo shards, zero-shot run)"
