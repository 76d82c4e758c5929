FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY corpus_forge corpus_forge
COPY pipelines pipelines
COPY filters filters
COPY tokenize_bpe tokenize_bpe
COPY train_smoke train_smoke
COPY samples samples
COPY corpus_forge/dask.yaml /etc/dask/corpus-forge.yaml
RUN pip install --no-cache-dir . && \
    pip install --no-cache-dir --force-reinstall --no-deps "fasttext-numpy2-wheel==0.9.2"
