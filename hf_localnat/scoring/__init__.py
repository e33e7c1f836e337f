"""Scoring: raw responses to LALP/GALP numbers (SPEC §1–7).

Pipeline: `segment` -> `align` (tokenize once, tokens to steps) -> `prefix` (P) -> `windows` -> `batching` ->
`engine`/`forward` (log-probs at scored positions) -> `aggregate`; `scorer` is the public facade, `config` the
knobs, `models` loading and identity, `fingerprint` the cache identity.

May import: `hf_localnat.errors`, `hf_localnat.records`, `hf_localnat.provenance`, torch, transformers, pysbd.
Must not import: `selection`, `hub`, `cli`.
"""
