"""Scoring: raw responses to LALP/GALP numbers (SPEC §1–7).

Pipeline: `rows` (per row: `segment` -> `align` (tokenize once, tokens to steps) -> `prefix` (P) -> `windows`, or a
`score_error` reason) -> `pipeline` (chunks, `prefetch`) -> `engine` (`batching`, `forward`, `blockmask`: log-probs at
scored positions) -> `aggregate` (step scores, LALP, GALP, the SPEC §7 records). `scorer` is the public facade,
`hf_datasets` its `Dataset.map` integration (`__call__`, features, fingerprint, pickling, rank placement, fork
handling), `config` the definition of the number (`ScoringDefinition`) apart from the speed knobs (`ComputeOptions`),
`models` loading, `fingerprint` the student's identity and the cache key (the scorer's `Provenance`), `ray_engine`
a run on a Ray cluster.

May import: `hf_localnat.errors`, `hf_localnat.records`, `hf_localnat.provenance`, torch, transformers, pysbd.
Must not import: `selection`, `hub`, `cli`.
"""
