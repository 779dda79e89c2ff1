# One cached virtualenv, created once and reused by every command (CI too).
VENV ?= $(HOME)/.cache/sfumato/venv
SDK_VENV ?= $(HOME)/.cache/sfumato/sdk-venv
export CARGO_TARGET_DIR ?= $(HOME)/.cache/sfumato/target
PYTHON ?= python3

BIN := $(VENV)/bin
export VIRTUAL_ENV := $(VENV)
# The checkout path is part of the key: editable installs point at one checkout.
DEPS_HASH := $(shell (echo $(CURDIR); cat pyproject.toml plugins/*/pyproject.toml docs/example-plugin/pyproject.toml) 2>/dev/null | sha256sum | cut -c1-16)
DEPS_STAMP := $(VENV)/.deps-$(DEPS_HASH)
SDK_STAMP := $(SDK_VENV)/.stability-sdk-0.8.6
PLUGINS := plugins/sfumato-diffusers plugins/sfumato-upscale docs/example-plugin

.PHONY: setup build serve test test-fast rust-test lint bench sdk-venv browser clean-venv dist

setup: $(DEPS_STAMP) build

$(DEPS_STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "maturin>=1.8,<2"
	$(BIN)/maturin develop --release --extras test --quiet
# uv (from the test extra) keeps torch in its cache: tests/distributions installs it again from there.
	for plugin in $(PLUGINS); do $(BIN)/uv pip install --quiet -e $$plugin || exit 1; done
	rm -f $(VENV)/.deps-* && touch $@

# Rebuilds the native extension when the crate changed (incremental, seconds when not).
# The extension is abi3 (_ops.abi3.so): a per-version _ops.cpython-*.so left by an older
# build would be imported before it.
build: $(DEPS_STAMP)
	rm -f host/sfumato/_ops.cpython-*.so
	$(BIN)/maturin develop --release --skip-install --quiet

sdk-venv: $(SDK_STAMP)

$(SDK_STAMP):
	test -x $(SDK_VENV)/bin/python || $(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install --quiet "stability-sdk==0.8.6"
	touch $@

# Release artifacts in dist/: sfumato's abi3 wheel and sdist, a wheel and an sdist per plugin.
dist: $(DEPS_STAMP)
	$(BIN)/python tests/distributions/build_dists.py dist

serve: setup
	$(BIN)/sfumato serve

rust-test:
	cargo test --manifest-path rust_ops/Cargo.toml --quiet
	cargo clippy --manifest-path rust_ops/Cargo.toml --all-targets --quiet -- -D warnings

# The playground's tests drive Debian's Chromium (tests/browser): installed when missing.
browser:
	command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

test: setup sdk-venv rust-test browser
	$(BIN)/python -m pytest -q

test-fast: setup browser
	$(BIN)/python -m pytest -q -m "not torch and not slow"

# Peers used only by the image-op benchmark, never by the project.
BENCH_PEERS := cykooz.resizer kornia-rs fpng pyvips pyvips-binary

bench: setup sdk-venv
	$(BIN)/pip install --quiet $(BENCH_PEERS)
	$(BIN)/python bench/bench_http.py
	$(BIN)/python bench/bench_wire.py
	$(BIN)/python bench/bench_grpc_decode.py
	$(BIN)/python bench/bench_grpc.py
	$(BIN)/python bench/bench_imageops.py
	$(BIN)/python plugins/sfumato-diffusers/bench/bench_engine_overhead.py
	$(BIN)/python plugins/sfumato-upscale/bench/bench_upscale.py
	$(BIN)/python bench/bench_batching.py
	$(BIN)/python bench/bench_cancel.py
	$(BIN)/python bench/load_test.py --seconds 60
	$(BIN)/python bench/bench_backbone.py
	$(BIN)/python bench/load_test.py --queue --seconds 60

clean-venv:
	rm -rf $(VENV) $(SDK_VENV)
