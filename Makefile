# Set-up and the two everyday commands. Everything lives in .venv at the repository root, created on first use and
# reused after; it is refreshed when pyproject.toml changes.
#   make demo   the main job, end to end, on the embedded default (no GPU, no Ollama, no network)
#   make test   the whole test suite
VENV     ?= .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
# The editable install is strict: it links every file of every room into build/, where editors and type checkers
# find `tunesmith.trainer` just as Python does. A link tree knows only the files it was made with, so it is made
# again whenever the list of files (or pyproject.toml) changes; LINKS records the list it was made from.
LINKS    := $(VENV)/.linked
STRICT   := --config-settings editable_mode=strict
FILES_ID := $(shell { cat pyproject.toml; find spine trainer packager modelfiles server publish -type f \
              ! -path '*/__pycache__/*' | sort; } | cksum | cut -d' ' -f1)
# CPU build of PyTorch, installed before anything else so that no dependency pulls in a CUDA build. Where pip's
# index serves only CUDA builds (PyPI on Linux), name PyTorch's CPU index:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH    ?= torch==2.13.0
TORCH_INDEX ?=
# llama.cpp's native CPU build (AVX-512/AMX picked up from the build machine) crashes on batched decode on some
# CPUs; a portable build does not and is as fast for our use.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
# llama.cpp's own converter, from the same llama-cpp-python release we depend on: the oracle the tests check ours against.
REFERENCE := .cache/reference/llama.cpp
LLAMA_CPP_PYTHON := llama-cpp-python==0.3.36
PYTEST_ARGS ?=
# The real Ollama that tests/ollama/ runs against: this binary, else `ollama` on PATH, else those tests are skipped.
export OLLAMA_BIN

.PHONY: setup demo test lint typecheck go browser reference clean

setup: $(STAMP)
	@test "$$(cat $(LINKS) 2>/dev/null)" = "$(FILES_ID)" \
	  || { $(PY) -m pip install -q --no-deps -e . $(STRICT) && echo "$(FILES_ID)" > $(LINKS); }

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e '.[dev]' $(STRICT)
	echo "$(FILES_ID)" > $(LINKS)
	touch $@

demo: setup
	$(VENV)/bin/tunesmith demo

test: lint typecheck go browser reference
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff (pinned in the dev extra) with pyproject's settings: lint findings and formatting, over the whole tree.
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# mypy (pinned in the dev extra) with pyproject's settings, over the package as Python imports it: each module once,
# under its import name. It finds them through build/'s link tree, so each finding's path is turned back into the
# folder the file lives in (build/.../tunesmith/trainer/x.py is trainer/x.py, build/.../tunesmith/x.py spine/x.py).
typecheck: setup
	@found=$$($(PY) -m mypy -p tunesmith); status=$$?; printf '%s\n' "$$found" | sed -E \
	  -e 's#^build/__editable__[^/]*/tunesmith/(modelfiles|packager|trainer|server|publish)/#\1/#' \
	  -e 's#^build/__editable__[^/]*/tunesmith/#spine/#'; exit $$status

# Every bench that needs no GPU, each against its anchor run side by side, then one table of ratios (bench/README.md).
# About ten minutes on two vCPUs; LiteLLM's proxy is installed into .cache/bench/litellm-venv on first use.
.PHONY: bench
bench: setup reference
	$(PY) bench/run_all.py

.PHONY: screenshots
# The studio's pictures in the README (docs/studio/*.png), taken again by its browser tests.
screenshots: setup browser
	TUNESMITH_SCREENSHOTS=docs/studio $(PY) -m pytest tests/studio -q

# Go's text/template renders our Modelfile templates exactly as Ollama does (tests/go/).
go:
	@command -v go >/dev/null || { apt-get update -qq && apt-get install -y -qq golang-go >/dev/null; } \
	  || { echo "Go is needed for the template tests: install golang-go (Debian/Ubuntu) or Go from go.dev"; exit 1; }

# Debian's chromium, which the studio's browser tests drive through Playwright (never a browser download).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "chromium is needed for the studio tests: install Debian's chromium package"; exit 1; }

reference: $(REFERENCE)/convert_hf_to_gguf.py

$(REFERENCE)/convert_hf_to_gguf.py:
	rm -rf .cache/reference && mkdir -p .cache/reference/sdist
	$(PY) -m pip download -q --no-deps --no-binary :all: "$(LLAMA_CPP_PYTHON)" -d .cache/reference/sdist
	tar -xzf .cache/reference/sdist/*.tar.gz -C .cache/reference/sdist --wildcards \
	  '*/vendor/llama.cpp/convert_hf_to_gguf.py' '*/vendor/llama.cpp/convert_lora_to_gguf.py' \
	  '*/vendor/llama.cpp/conversion/*' '*/vendor/llama.cpp/gguf-py/*' '*/vendor/llama.cpp/models/templates/*'
	mv .cache/reference/sdist/*/vendor/llama.cpp $(REFERENCE)
	rm -rf .cache/reference/sdist

clean:
	rm -rf $(VENV) .cache build *.egg-info
