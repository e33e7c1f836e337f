"""`hf_localnat.estimate`: the job of `localnat estimate`, what scoring an input will cost (SPEC §10), never scoring.

The counting half (token counts, FLOPs, device rates) is `hf_localnat.scoring.estimate`; this module reads the inputs,
draws the question sample, and puts the numbers in an `Estimate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._inputs import Inputs, named_inputs, read_named, sample, shape_options, stderr_echo
from .results import Estimate


def estimate(inputs: Inputs, *, model: str | None = None, model_revision: str | None = None,
             window: int | str = 4, segmenter: str = "sentence", prompt_format: str = "auto",
             response_part: str = "full", max_length: int | None = None, question_column: str | None = None,
             response_column: str | Sequence[str] | None = None, messages_column: str | None = None,
             teacher_column: str | None = None, teacher: str | None = None,
             explode_with: str | Sequence[str] | None = None, steps_column: str = "steps", gpu: str = "h100",
             gpus: int = 1, mfu: float | None = None, device: str | None = None, sample_questions: int | None = None,
             seed: int = 0, config: str | None = None, split: str | None = None,
             storage_options: dict | None = None, progress: bool = True,
             echo: Callable[[str], None] = stderr_echo, max_observation_tokens: int = 1024,
             tools_column: str = "tools") -> Estimate:
    """Count what scoring `inputs` will cost (SPEC §10), exactly, with the student's tokenizer only; never scores.

    The same job as `localnat estimate` (its options, with Python names: `--revision` is `model_revision`,
    `--response-column` is `response_column`, `--sample-questions N --seed S` are `sample_questions`, `seed`).

    Args:
        inputs: a path, URL or Hub id (`NAME=INPUT` names its teacher), a `datasets.Dataset`, a list of them, or
            `{teacher: source}`; any shape of SPEC §9.
        model (`str`, *optional*): the student (Hub id, folder, or the embedded `smollm2-135m-instruct`).
        window, segmenter, prompt_format, response_part, max_length, steps_column: the scoring definition priced.
            With `segmenter="turns"` (agent traces, SPEC §14; `max_observation_tokens`, `tools_column`), the
            counts use each trace's inputs and the result also holds the trace columns' means per teacher.
        gpu (`str`), gpus (`int`), mfu (`float`, *optional*): the projection (default MFU: the measured one).
        device (`str`, *optional*): also the time on this device (`cpu`: measured, a few seconds; a known GPU:
            projected).
        sample_questions (`int`, *optional*), seed (`int`): price only every response to this many questions.
        config, split, storage_options: how Hub ids and URLs are read.
        progress (`bool`): show the counting bar. echo: where the lines on how the inputs were read go (stderr).

    Returns:
        `Estimate`: `str()` is the command's table, `to_dict()` its `--json`.

    Example:
        ```python
        >>> import hf_localnat
        >>> est = hf_localnat.estimate("hf_localnat/data/multi_teacher_sample.jsonl", progress=False)  # doctest: +SKIP
        >>> est.counts.rows, est.to_dict()["model_tokens"]  # doctest: +SKIP
        ```
    """
    from ..errors import ConfigError
    from ..scoring.estimate import GPU_PEAK_TFLOPS, MEASURED_MFU, Projection, estimate_rows
    from ..scoring.prepare.windows import whole_prefix_warning
    from .progress import counting_bar

    if gpu not in GPU_PEAK_TFLOPS:
        raise ConfigError(f"Unknown GPU {gpu!r} for the projection; use one of {', '.join(sorted(GPU_PEAK_TFLOPS))}.")
    shape = shape_options(question_column, response_column, messages_column, teacher_column, explode_with)
    dataset = read_named(named_inputs(inputs), config=config, split=split, storage_options=storage_options,
                         teacher=teacher, echo=echo, steps_column=steps_column if segmenter == "given" else None,
                         turns=segmenter == "turns", **shape)
    dataset, drawn = sample(dataset, sample_questions, seed, echo)
    with counting_bar(dataset.num_rows, shown=progress) as on_rows:
        counts, params = estimate_rows(dataset, model=model, revision=model_revision, window=window,
                                       segmenter=segmenter, prompt_format=prompt_format, max_length=max_length,
                                       response_part=response_part, steps_column=steps_column, on_rows=on_rows,
                                       messages_column=messages_column, max_observation_tokens=max_observation_tokens,
                                       tools_column=tools_column)
    projection = Projection.of(counts, params, gpu=gpu, gpus=gpus, mfu=mfu or MEASURED_MFU)
    if warning := whole_prefix_warning(counts.whole_prefix_share, window):
        echo(warning)
    rate = None
    if device is not None:
        from ..scoring.estimate import device_rate
        from ..scoring.models import load_student

        rate = device_rate(device, params, counts, gpus=gpus,
                           load=lambda where: load_student(model, revision=model_revision, device=where)[0])
    return Estimate(counts, params, projection, rate, drawn and drawn.to_dict(), window=window,
                    mfu_given=mfu is not None)
