"""Stage definitions (extract, filter, karma, dedup, decontaminate) and YAML recipes."""
