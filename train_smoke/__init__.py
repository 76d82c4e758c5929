"""Small GPT pretraining on packed mixes, and mix ablations (``corpus-forge train`` / ``corpus-forge ablate``).

- ``config.py``: every train option, declared once (:class:`TrainConfig`), and the named model sizes;
- ``model.py``: the GPT (RoPE, RMSNorm, SDPA attention, tied embedding);
- ``data.py``: windows from llm.c shards by memmap, in a seeded, exactly resumable order;
- ``evaluate.py``: val loss, bits per byte on the fixed texts in ``eval_texts/``, zero-shot HellaSwag;
- ``train.py``: the loop; ``cli.py``: its command;
- ``ablate.py``: the ``ablate`` step (mix x seed runs on Dask; results.csv/md, loss.png, bpb.png).
"""
