"""Hub: selections to a dataset repo folder with its card, and that folder to and from the Hugging Face Hub.

Modules: `curate` (the one curation recipe: rank + LALP/GALP selections -> repo folder), `card`, `repo_folder`,
`publish` (one commit, retries), `pull`, `space` (the evaluate metric as a Space), `metric_cache`
(the metric in evaluate's local module cache).

May import: `selection`, `hf_localnat.errors`, `hf_localnat.records`, `hf_localnat.provenance`, huggingface_hub,
datasets (and evaluate, lazily, in `metric_cache` only: it loads torch). Must not import: torch, transformers, `scoring`
internals, `cli`.
"""
