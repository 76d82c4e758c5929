"""Patched copies of third-party code, kept apart and marked as such.

``trafilatura_fast``: parts of trafilatura 2.3.1's extraction path, rewritten for speed and checked to give
the same text as ``trafilatura.extract`` (all 4,172 benchmark pages; ``tests/pipelines/test_trafilatura_fast.py``
against a fresh process). It is used only for that pinned version; any other version or option goes through
``trafilatura.extract`` itself. Licence: trafilatura's (Apache-2.0).
"""
