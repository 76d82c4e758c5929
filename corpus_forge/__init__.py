"""corpus-forge: WARC to curated, deduplicated, decontaminated, tokenized pretraining shards."""

__version__ = "0.1.0"
