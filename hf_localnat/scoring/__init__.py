"""Scoring: raw responses to LALP/GALP numbers (SPEC §1–7).

Pipeline: `segment` -> `align` (tokenize once, tokens to steps) -> `prefix` (P) -> `windows` -> `batching` ->
`engine`/`forward` (log-probs at scored positions) -> `aggregate`; `scorer` is the public facade, `hf_datasets` its
`Dataset.map` integration (features, fingerprint, pickling, rank placement, fork handling), `config` the definition
of the number (`ScoringDefinition`) apart from the speed knobs (`ComputeOptions`), `models` loading, `fingerprint`
the student's identity and the cache key (the scorer's `Provenance`).

May import: `hf_localnat.errors`, `hf_localnat.records`, `hf_localnat.provenance`, torch, transformers, pysbd.
Must not import: `selection`, `hub`, `cli`.
"""
