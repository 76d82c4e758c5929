"""Options of the dedup step (keys as in a recipe's ``dedup:`` block); defaults are FineWeb's (datatrove
``MinhashConfig``: 5-grams, 14 bands x 8 rows, datatrove's ``TextNormConfig`` normalization)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from corpus_forge.config import StageConfig
from pipelines.dedup.minhash import MinHasher, TextNorm, lsh_params


class DedupConfig(StageConfig):
    """Options of the dedup stage (keys as in a recipe's ``dedup:`` block)."""

    exact: bool = Field(True, description="remove documents whose normalized text is identical")
    exact_normalization: Literal["full", "whitespace"] = Field(
        "full", description="'full': the fuzzy normalization below; 'whitespace': only collapse whitespace")
    fuzzy: bool = Field(True, description="MinHash-LSH near-duplicate removal")
    ngram: int = Field(5, ge=1, description="word n-gram shingle size (FineWeb: 5)")
    bands: int = Field(14, ge=1, description="LSH bands (FineWeb: 14)")
    rows: int = Field(8, ge=1, description="rows per band (FineWeb: 8)")
    threshold: float | None = Field(
        None, gt=0, lt=1, description="derive bands x rows for this Jaccard threshold (uses num_perm)")
    num_perm: int = Field(112, ge=1, description="permutations when bands x rows come from threshold")
    seed: int = Field(1, ge=0, description="seed of the MinHash permutations")
    lowercase: bool = True
    numbers: bool = Field(True, description="digit runs become 0")
    punctuation: bool = Field(True, description="punctuation and symbols become spaces")
    diacritics: bool = Field(True, description="strip diacritics")
    verify: bool = Field(True, description="check candidate pairs by true Jaccard of their shingle sets")
    verify_threshold: float = Field(0.7, ge=0, le=1, description="pairs below this Jaccard are dropped")
    keep_order: list[str] = Field(
        default_factory=lambda: ["-quality_score", "crawl_date", "id"],
        description="keeper rule: columns compared in order, '-' = highest first; id breaks ties")
    max_bucket_pairs: int = Field(
        32, ge=2, description="buckets up to this size yield all pairs (when verifying), larger a star")
    batch_docs: int = Field(2000, ge=1, description="documents hashed per batch")
    components_in_memory_max: int = Field(
        20_000_000, ge=0, description="edges up to this count are clustered in client memory")

    @model_validator(mode="after")
    def _check(self) -> DedupConfig:
        if not (self.exact or self.fuzzy):
            raise ValueError("nothing to do: exact and fuzzy are both off")
        for key in self.keep_order:
            if not key.lstrip("-"):
                raise ValueError(f"keep_order: empty column name in {self.keep_order}")
        return self

    def band_rows(self) -> tuple[int, int]:
        if self.threshold is not None:
            return lsh_params(self.threshold, self.num_perm)
        return self.bands, self.rows

    def hasher(self) -> MinHasher:
        bands, rows = self.band_rows()
        norm = TextNorm(self.lowercase, self.numbers, self.punctuation, self.diacritics)
        return MinHasher(ngram=self.ngram, bands=bands, rows=rows, seed=self.seed, norm=norm)
