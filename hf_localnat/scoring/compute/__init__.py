"""Windows to numbers: `pipeline` (chunks of prepared rows, the next one prepared meanwhile: `prefetch`) -> `engine`
(plan batches: `batching`, `packing`; back off on out-of-memory) -> `forward` (the model, log-probs at scored positions
only; `blockmask`, the opt-in approximation) -> `aggregate` (step scores, LALP, GALP, the SPEC §7 records)."""
