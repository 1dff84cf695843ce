"""Helpers for Reflector's tests and benchmarks; development only, never shipped in the product.

Modules by job: generated meetings (:mod:`.meetings`, :mod:`.meeting_scripts`), scorers
(:mod:`.scoring`), generated and real speech clips (:mod:`.speech`), free ports (:mod:`.ports`),
the API server in tests and benchmarks (:mod:`.servers`), an S3 server (:mod:`.seaweed`) and
the machine a benchmark ran on (:mod:`.machine`).
"""
