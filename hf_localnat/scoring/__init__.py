"""Scoring: raw responses to LALP/GALP numbers (SPEC §1–7), in two halves.

- `prepare/`, text to windows (CPU, no model): `segment` -> `align` -> `prefix` -> `windows`, assembled per response
  by `rows` (or a `score_error` reason).
- `compute/`, windows to numbers: `pipeline` (chunks, `prefetch`) -> `engine` (`batching`, `packing`, out-of-memory
  back-off) -> `forward` (log-probs at scored positions; `blockmask`) -> `aggregate` (the SPEC §7 records).

Around them: `scorer` is the public facade, `hf_datasets` its `Dataset.map` integration (`__call__`, features,
fingerprint, pickling, rank placement, fork handling), `config` the definition of the number (`ScoringDefinition`)
apart from the speed knobs (`ComputeOptions`), `models` loading, `fingerprint` the student's identity and the cache
key (the scorer's `Provenance`), `estimate` the SPEC §10 counts, `ray_engine` a run on a Ray cluster.

May import: `hf_localnat.errors`, `hf_localnat.records`, `hf_localnat.provenance`, torch, transformers, pysbd.
Must not import: `selection`, `hub`, `cli`.
"""
