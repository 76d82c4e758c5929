"""What the filters use that is not itself a filter: n-gram hashing, the word tokenizer, the fastText
backend and URL normalization."""
