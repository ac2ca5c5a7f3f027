# Shared by .ci/run and .ci/run-min (sourced, not run): a fresh virtual environment with the CPU
# build of torch, removed on exit, and run_pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
python -m pip install -q --upgrade pip
# The CPU build of torch from local disk; a fresh resolve could pull a multi-GB CUDA build.
python -m pip install -q torch==2.13.0

run_pytest() {
    # pytest exits 5 when it collected no tests: that is not a failure of the code under test.
    local rc=0
    "$@" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then exit "$rc"; fi
}
