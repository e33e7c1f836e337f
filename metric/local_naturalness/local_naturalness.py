# Copyright 2025 The hf-localnat authors. Licensed under the Apache License, Version 2.0.
"""Local naturalness (LALP) and global naturalness (GALP) of responses under a student model, as an `evaluate` metric.

A thin wrapper of `hf_localnat.LocalNaturalnessScorer`: the numbers are the scorer's (see SPEC.md of hf-localnat).
Note for editors: evaluate 0.4.6 reads this file's imports line by line and picks the first `EvaluationModule`
subclass it finds, so keep one import per line and subclass through `import evaluate` (a top-level
`from evaluate import Metric` would make `evaluate.load` return the base class).
"""

import json
import os
import warnings

import datasets
import evaluate

import hf_localnat
import hf_localnat.io.shapes
import hf_localnat.io.turns

_CITATION = """\
@article{just2025signal,
  title   = {The Signal is in the Steps: Local Scoring for Reasoning Data Selection},
  author  = {Just, Hoang Anh and Ko, Myeongseob and Jia, Ruoxi},
  journal = {arXiv preprint arXiv:2510.03988},
  year    = {2025}
}
@article{zhang2025grape,
  title   = {The Best Instruction-Tuning Data are Those That Fit},
  author  = {Zhang, Dylan and Dai, Qirun and Peng, Hao},
  journal = {arXiv preprint arXiv:2502.04194},
  year    = {2025}
}
"""

_DESCRIPTION = """\
Local naturalness (LALP, arXiv 2510.03988) scores a reasoning trace by how natural each of its steps is to a student
model: every step (a sentence, by default) is scored by the student conditioned only on the question and the `window`
preceding steps, and LALP is the unweighted mean of the step scores. GALP (from GRAPE, arXiv 2502.04194) is the mean
log-probability of the whole response in one pass. Natural log; higher means more natural to the student. LALP ranks
teachers and selects distillation data from long, multi-teacher traces where GALP fails.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]` or `list[list[str]]`): the responses (reasoning traces) to score; a list of steps per
        response selects `segmenter="given"`.
    questions (`list[str]`, *optional*): the question of each response (`None` entries: no question).
    messages (`list[list[dict]]`, *optional*): instead of `predictions`/`questions`, one conversation per response
        (role/content or ShareGPT from/value turns): the response is its last assistant turn, the question the last
        user turn before it; one without such a pair gets `score_error="invalid_conversation"` (SPEC §9). With
        `segmenter="turns"` (passed to `compute`), each conversation is an agent trace scored turn by turn (SPEC §14).
    tools (`list`, *optional*): with `segmenter="turns"`, each conversation's tools (JSON schemas) for the template.
    max_observation_tokens (`int`, *optional*, defaults to 1024): with `segmenter="turns"`, the cap on tool results.
    response_part (`str`, *optional*, defaults to `"full"`): `"full"`, `"thinking"` (the `<think>` block) or
        `"answer"` (what follows it).
    model_id (`str`, *optional*): Hub id or local folder of the student; `None` = the embedded SmolLM2-135M-Instruct.
    model (`PreTrainedModel`, *optional*): an already loaded student (instead of `model_id`).
    tokenizer (`str` or tokenizer, *optional*): defaults to the model's own (must be a fast tokenizer).
    revision (`str`, *optional*): Hub revision of `model_id`.
    window (`int` or `str`, *optional*, defaults to 4): preceding steps each step is conditioned on, or a share
        of them such as `"10%"` (SPEC §12).
    segmenter (`str`, *optional*): `"sentence"` (default for strings), `"line"`, `"paragraph"`, `"given"` or
        `"turns"` (agent traces, with `messages=`).
    prompt_format (`str`, *optional*, defaults to `"auto"`): `"chat"`, `"plain"`, `"none"` or `"auto"`.
    max_length (`int`, *optional*): token bound on every model input; defaults to the model's maximum.
    dtype (`str`, *optional*, defaults to `"auto"`): float32 on CPU, bfloat16 on GPU, or a dtype name.
    device (`str`, *optional*): any torch device string; defaults to `cuda` when available, else `cpu`.
    batch_tokens (`int`, *optional*, defaults to 16384): token budget of one forward batch.
    scores (`str` or `list[str]`, *optional*, defaults to `"lalp,galp"`): more score columns from the same forward
        passes (SPEC §11): `lalp_drop`, `galp_drop`, `rsr` (lower is better), or `"all"`.
    drop_tokens (`int`, *optional*, defaults to 2): the tokens at the start of every step the drop scores leave out.
Returns:
    lalp (`list[float | None]`): local naturalness of each response (`None` if it could not be scored).
    galp (`list[float | None]`): global naturalness of each response.
    lalp_steps (`list[list[float | None]]`): the score of each step of each response.
    score_error (`list[str | None]`): why a response has no score (`empty_response`, ...), else `None`.
    mean_lalp (`float | None`), mean_galp (`float | None`): means over the scored responses.
    With `scores`: each other score (`rsr`, ...) per response, and its `mean_<score>`. With `segmenter="turns"`: the
    trace columns (`num_tool_calls`, `repeat_share`, `error_share`, `observation_share`) per conversation.
Examples:
    >>> local_naturalness = evaluate.load("local_naturalness")  # doctest: +SKIP
    >>> results = local_naturalness.compute(
    ...     predictions=["First, 2 + 2 = 4. So the answer is 4."], questions=["What is 2 + 2?"], window=4
    ... )  # doctest: +SKIP
    >>> sorted(results)  # doctest: +SKIP
    ['galp', 'lalp', 'lalp_steps', 'mean_galp', 'mean_lalp', 'score_error']
"""


def _mean(values):
    scored = [v for v in values if v is not None]
    return sum(scored) / len(scored) if scored else None


# `evaluate` stores inputs in Arrow before `_compute` sees them, and Arrow takes only valid text. So a value that is
# not text (a number, a lone surrogate, ...) or is missing is stored as a marked string, and read back as a value the
# scorer gives its SPEC §4 reason. A real string starting with the mark gets a second one, so nothing is misread.
_MARK = "\x00"
_MISSING = _MARK + "missing"
_NOT_TEXT = _MARK + "not text"
_INVALID_CONVERSATION = _MARK + hf_localnat.io.shapes.INVALID_CONVERSATION


class _NotText:
    """What a stored non-text value becomes again: the scorer gives it `invalid_response`/`_question`/`_steps`."""

    def __repr__(self):
        return "<not text>"


def _store_text(value):
    if value is None:
        return _MISSING
    if isinstance(value, _InputError):
        return _INVALID_CONVERSATION
    if not hf_localnat.scoring.prepare.segment.is_text(value):
        return _NOT_TEXT
    return _MARK + value if value.startswith(_MARK) else value


def _load_text(value):
    if value is None or not value.startswith(_MARK):
        return value
    if value.startswith(_MARK, 1):
        return value[1:]
    if value == _INVALID_CONVERSATION:
        return _InputError(hf_localnat.io.shapes.INVALID_CONVERSATION)
    return None if value == _MISSING else _NotText()


class _InputError:
    """A stored conversation without a (question, response) pair: the scorer gives its row `reason`."""

    def __init__(self, reason):
        self.reason = reason


def _from_messages(messages, predictions, questions):
    """`messages=` as predictions and questions (a conversation without a pair becomes its marked reason)."""
    if messages is None:
        return predictions, questions
    if predictions is not None or questions is not None:
        raise ValueError("Pass either messages= or predictions= (with questions=), not both.")
    messages = list(messages)
    texts = hf_localnat.io.shapes.batch_texts(lambda name: messages if name == "messages" else None, ["messages"],
                                              question_column="question", response_column="response",
                                              messages_column="messages")
    predictions = [_InputError(error) if error else response
                   for response, error in zip(texts.responses, texts.errors, strict=True)]
    return predictions, texts.questions


def _store_steps(value):
    if value is None:
        return [_MISSING]
    if not isinstance(value, (list, tuple)) or not all(hf_localnat.scoring.prepare.segment.is_text(s) for s in value):
        return [_NOT_TEXT]
    return [_store_text(step) for step in value]


def _load_steps(value):
    if value == [_MISSING]:
        return None
    if value == [_NOT_TEXT]:
        return _NotText()
    return [_load_text(step) for step in value]


def _is_given(predictions, segmenter=None) -> bool:
    """Whether the predictions are steps (`segmenter="given"`): asked for, or any of them is a list."""
    return segmenter == "given" or any(isinstance(p, (list, tuple)) for p in predictions or [])


def _storable(predictions, questions, segmenter=None):
    """Predictions and questions as Arrow can store them, whatever their values (see `_store_text`)."""
    if predictions is None:
        return None, questions
    predictions = list(predictions)
    store = _store_steps if _is_given(predictions, segmenter) else _store_text
    questions = [None] * len(predictions) if questions is None else list(questions)
    return [store(p) for p in predictions], [_store_text(q) for q in questions]


def _warn_if_stale_copy():
    """`localnat install-metric` records its hf-localnat version beside the copy it places; warn on a mismatch."""
    try:
        with open(os.path.splitext(__file__)[0] + ".json", encoding="utf-8") as meta:
            installed = json.load(meta).get("hf_localnat_version")
    except (OSError, ValueError, AttributeError):
        return
    if installed is not None and installed != hf_localnat.__version__:
        warnings.warn(
            f"This local_naturalness metric was installed by hf-localnat {installed}, but hf-localnat "
            f"{hf_localnat.__version__} is installed: run `localnat install-metric` to update it.",
            stacklevel=2,
        )


_warn_if_stale_copy()


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class LocalNaturalness(evaluate.Metric):
    """LALP and GALP of responses under a student model; the model loads once per module instance."""

    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features({"predictions": datasets.Value("string"), "questions": datasets.Value("string")}),
                datasets.Features(
                    {"predictions": datasets.Sequence(datasets.Value("string")), "questions": datasets.Value("string")}
                ),
            ],
            homepage="https://arxiv.org/abs/2510.03988",
            reference_urls=["https://arxiv.org/abs/2510.03988", "https://arxiv.org/abs/2502.04194"],
        )

    def _loaded_models(self):
        if not hasattr(self, "_models"):
            self._models = {}  # (model_id, revision, tokenizer, dtype, device) -> (model, tokenizer)
        return self._models

    def add_batch(self, *, predictions=None, questions=None, messages=None, **kwargs):
        """Like `evaluate.Metric.add_batch`; `questions` may be left out or hold `None` (no question), and
        `messages=` (conversations) may stand for both. Any value is accepted: one that is not text gets its row a
        `score_error` reason."""
        predictions, questions = _storable(*_from_messages(messages, predictions, questions))
        return super().add_batch(predictions=predictions, questions=questions, **kwargs)

    def compute(self, *, predictions=None, questions=None, messages=None, tools=None, **kwargs):
        """Like `evaluate.Metric.compute`; `questions` may be left out or hold `None` (no question), and
        `messages=` (conversations) may stand for both. Any value is accepted: one that is not text gets its row a
        `score_error` reason. See the module's kwargs description for the scorer options."""
        if kwargs.get("segmenter") == "turns":  # each trace stored as the JSON text of its turns and tools
            if messages is None:
                raise ValueError("segmenter='turns' scores conversations: pass messages= (and tools=).")
            tools = [None] * len(messages) if tools is None else list(tools)
            predictions = [json.dumps({"turns": m, "tools": t}, default=str) for m, t in zip(messages, tools)]
            messages, questions = None, None
        predictions, questions = _from_messages(messages, predictions, questions)
        if predictions is not None:  # stored here (not by `add_batch`, which would mark the marks again)
            predictions, questions = _storable(predictions, questions, kwargs.get("segmenter"))
            super().add_batch(predictions=predictions, questions=questions)
        return super().compute(**kwargs)

    def _scorer(self, model_id, model, tokenizer, revision, dtype, device, options):
        if model is not None:
            if device is not None:
                model = model.to(device)
            return hf_localnat.LocalNaturalnessScorer(model, tokenizer, device=device, **options)
        key = (model_id, revision, tokenizer if isinstance(tokenizer, str) or tokenizer is None else id(tokenizer),
               str(dtype), None if device is None else str(device))
        models = self._loaded_models()
        if key not in models:
            scorer = hf_localnat.LocalNaturalnessScorer(
                model_id, tokenizer, revision=revision, dtype=dtype, device=device, **options
            )
            models[key] = (scorer.model, scorer.tokenizer)
        loaded_model, loaded_tokenizer = models[key]
        return hf_localnat.LocalNaturalnessScorer(loaded_model, loaded_tokenizer, device=device, **options)

    def _compute(
        self,
        predictions,
        questions,
        model_id=None,
        model=None,
        tokenizer=None,
        revision=None,
        window=4,
        segmenter=None,
        prompt_format="auto",
        max_length=None,
        dtype="auto",
        device=None,
        batch_tokens=16384,
        response_part="full",
        scores=None,
        drop_tokens=2,
        max_observation_tokens=1024,
    ):
        if segmenter == "turns":
            return self._compute_traces(predictions, model_id, model, tokenizer, revision, dtype, device, {
                "window": window, "segmenter": "turns", "max_length": max_length, "batch_tokens": batch_tokens,
                "scores": scores, "drop_tokens": drop_tokens, "max_observation_tokens": max_observation_tokens})
        given = _is_given(predictions, segmenter)
        predictions = [_load_steps(p) if given else _load_text(p) for p in predictions]
        questions = [_load_text(q) for q in questions]
        errors = [p.reason if isinstance(p, _InputError) else None for p in predictions]
        predictions = [None if isinstance(p, _InputError) else p for p in predictions]
        options = {
            "response_part": response_part,
            "window": window,
            "segmenter": segmenter or ("given" if given else "sentence"),
            "prompt_format": prompt_format,
            "max_length": max_length,
            "batch_tokens": batch_tokens,
            "scores": scores,
            "drop_tokens": drop_tokens,
        }
        scorer = self._scorer(model_id, model, tokenizer, revision, dtype, device, options)
        if options["segmenter"] == "given":
            rows = scorer.score(steps=predictions, questions=questions)
        else:
            rows = scorer.score(predictions, questions, input_errors=errors)
        columns = {name: [row[name] for row in rows] for name in scorer.config.scores}
        return {
            **columns,
            "lalp_steps": [row["lalp_steps"] for row in rows],
            "score_error": [row["score_error"] for row in rows],
            **{f"mean_{name}": _mean(values) for name, values in columns.items()},
        }

    def _compute_traces(self, predictions, model_id, model, tokenizer, revision, dtype, device, options):
        """`segmenter="turns"`: each prediction is a trace's JSON (`compute`), scored turn by turn (SPEC §14)."""
        traces = []
        for text in predictions:
            value = json.loads(_load_text(text))
            traces.append(hf_localnat.io.turns.RawTrace(value["turns"], value["tools"]))
        scorer = self._scorer(model_id, model, tokenizer, revision, dtype, device, options)
        rows = scorer.score(traces)
        names = [*scorer.config.scores, *hf_localnat.records.TRACE_COLUMNS]
        columns = {name: [row.get(name) for row in rows] for name in names}
        return {
            **columns,
            "lalp_steps": [row["lalp_steps"] for row in rows],
            "score_error": [row["score_error"] for row in rows],
            **{f"mean_{name}": _mean(columns[name]) for name in scorer.config.scores},
        }
