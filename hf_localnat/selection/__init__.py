"""Selection: scored rows to teacher rankings, per-question choices and mix reports (SPEC §8).

Modules: `layout` (wide -> long, question ids), `rank` (teacher ranking with bootstrap intervals), `evidence` (how
sure the ranking is, SPEC §13), `select` (per-question selection, rejected rows, mix report), `slices` (top, middle
and bottom pilot slices), `calibrate` (a proxy student against the student), `bootstrap` (the one resampling module
`rank`, `evidence` and `calibrate` share), `plot`.

May import: `hf_localnat.errors`, `hf_localnat.records`, `hf_localnat.provenance`, `hf_localnat.scores`, numpy,
scipy.stats, pyarrow, datasets.
Must not import: torch, transformers, `scoring`, `hub`, `cli`.
"""
