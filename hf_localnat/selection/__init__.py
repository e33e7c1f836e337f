"""Selection: scored rows to teacher rankings, per-question choices and mix reports (SPEC §8).

Modules: `layout` (wide -> long, question ids), `rank` (teacher ranking with bootstrap intervals), `select`
(per-question selection, rejected rows, mix report), `calibrate` (a proxy student against the student), `bootstrap`
(the percentile-bootstrap helpers `rank` and `calibrate` share), `plot`.

May import: `hf_localnat.errors`, `hf_localnat.records`, `hf_localnat.provenance`, numpy, pyarrow, datasets.
Must not import: torch, transformers, `scoring`, `hub`, `cli`.
"""
