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
        "full", description="text compared by the exact hash: 'full': the fuzzy normalization below (lowercase, "
        "numbers, punctuation, diacritics); 'whitespace': only collapse whitespace")
    fuzzy: bool = Field(True, description="MinHash-LSH near-duplicate removal")
    ngram: int = Field(5, ge=1, description="word n-gram shingle size (FineWeb: 5)")
    bands: int = Field(14, ge=1, description="LSH bands (FineWeb: 14)")
    rows: int = Field(8, ge=1, description="rows per band (FineWeb: 8)")
    threshold: float | None = Field(
        None, gt=0, lt=1, description="instead of bands and rows: derive bands x rows for this Jaccard threshold "
        "from num_perm (datasketch MinHashLSH's rule, equal weights on false positives and negatives)")
    num_perm: int = Field(112, ge=1, description="permutations when bands x rows come from threshold "
                                                 "(FineWeb: 112 = 14 x 8)")
    seed: int = Field(1, ge=0, description="seed of the MinHash permutations (datatrove MinhashConfig: 1)")
    lowercase: bool = Field(True, description="lowercase before hashing (datatrove TextNormConfig: True)")
    numbers: bool = Field(True, description="digit runs become 0 (datatrove TextNormConfig norm_numbers: True)")
    punctuation: bool = Field(True, description="punctuation and symbols become spaces (datatrove "
                                                "TextNormConfig remove_punctuation: True)")
    diacritics: bool = Field(True, description="strip diacritics, cafe = café (datatrove TextNormConfig "
                                               "norm_unicode_diacritics: True)")
    verify: bool = Field(True, description="check each candidate pair by the true Jaccard of its shingle sets "
                                           "(drops LSH false positives; costs one read of the files that hold "
                                           "candidates)")
    verify_threshold: float = Field(0.7, ge=0, le=1, description="verified pairs below this true Jaccard are not "
                                                                 "duplicates (0.7: about the 14 x 8 S-curve's "
                                                                 "midpoint, 0.72)")
    keep_order: list[str] = Field(
        default_factory=lambda: ["-quality_score", "crawl_date", "id"],
        description="keeper rule: columns compared in order, '-' = highest first; id breaks ties")
    max_bucket_pairs: int = Field(
        32, ge=2, description="buckets up to this size yield all pairs (when verifying), larger a star")
    batch_docs: int = Field(2000, ge=1, description="documents hashed per batch (bounds a task's temporaries)")
    against: list[str] = Field(
        default_factory=list, json_schema_extra={"metavar": "PRIOR_DEDUP_DIR"},
        description="earlier dedup outputs (e.g. last month's snapshot): every document that is an exact or near "
        "duplicate of one they kept is removed as duplicate_of_prior; they are only read (their signatures/ "
        "folder: nothing is hashed again); list every earlier snapshot, as each keeps only its own documents")
    components_in_memory_max: int = Field(
        20_000_000, ge=0, description="edges up to this count are clustered by union-find in client memory "
        "(peak ~120 bytes per edge, measured); more, or 0, run large-star / small-star on the cluster")

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
