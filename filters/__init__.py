"""Document and URL filters: language ID, heuristics, quality classifier, karma and URL filters."""
