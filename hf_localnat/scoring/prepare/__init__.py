"""Text to windows, on the CPU with no model: `segment` (steps, SPEC §1) -> `align` (tokenize once, tokens to steps,
§2) -> `prefix` (P, §3) -> `windows` (one model input per step and the GALP pass, §4–5) -> `rows` (one response
prepared, or its `score_error` reason). Plain Python and the tokenizer: no torch import."""
