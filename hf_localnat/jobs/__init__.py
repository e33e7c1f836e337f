"""The whole job from Python: one function per `localnat` command, with the command's options as keyword arguments.

`localnat X` parses its flags, calls `hf_localnat.X(...)` and prints the result's text; a notebook calls the same
function and gets the same result object. Checkpoints, resume, sampling, estimates, provenance and atomic writes live
here and below, never in `cli/`.

Layers (each imports only the layers below it; progress, echo and signal callbacks are passed down, never imported
up):

    cli  ->  jobs  ->  scoring | selection | hub | report  ->  io  ->  records, provenance, scores, errors, wording

Names agreed for this layer (one module per command, results in one module):

- `jobs.score.score(inputs, ...) -> ScoreResult` (the scored `Dataset`, its output path, its `Provenance`)
- `jobs.estimate.estimate(inputs, ...) -> Estimate` (the one estimate module: counts of SPEC §10 and device rates)
- `jobs.segment.segment(inputs, ...) -> SegmentResult`
- `jobs.rank.rank_teachers(scored, ...) -> TeacherRanking` (with its SPEC §13 evidence)
- `jobs.select.select(scored, ...) -> Selection` (kept and rejected rows, the mix report; `Slice` with `slice=`)
- `jobs.inspect.inspect(scored, ...) -> Report`
- `jobs.calibrate.calibrate(proxy, student, ...) -> Calibration`
- `jobs.publish.publish(scored, repo_id, ...) -> Publication`
- `jobs.pull.pull(repo_id, ...) -> Pulled` (its `.dataset` carries the provenance; the card's summary)
- `jobs.demo.demo(output, ...) -> Demo` (`localnat demo`: score the sample or CHAMP, curate, report)
- `jobs.results`: the result classes; each has `__str__` (the CLI's text), `to_dict()` (the CLI's `--json`),
  `to_pandas()` and `_repr_html_()`.
- `jobs.checkpoints`: checkpoints and resume (`ScoreRun`: how far a run got, for the report of an interruption).
- `jobs.progress`: the bars (`tqdm.auto`), moved by callbacks passed down; `jobs._inputs`: inputs as users hold them.

Agent traces (SPEC §14) follow the same layers: `io/turns.py` reads a conversation into turns (roles, content parts,
`tool_calls`, a JSON-typed column), `scoring/prepare/turns.py` builds the head, the units, the observation cap, the
rendering and the windows, `scoring/prepare/signals.py` the trace columns (`num_tool_calls`, `repeat_share`,
`error_share`, `observation_share`, declared in `records.py`).
"""
