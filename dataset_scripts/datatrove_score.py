#!/usr/bin/env python
"""Recipe: teacher traces (JSON Lines shards) -> a DataTrove pipeline that scores them -> a writer's folder that
`localnat select` / `localnat publish` read.

The pipeline is `JsonlReader -> hf_localnat.datatrove.LocalNaturalnessScorer -> JsonlWriter(expand_metadata=True)`,
on `LocalPipelineExecutor` here or, with `--slurm`, on `SlurmPipelineExecutor` (one job-array task per
`--tasks`, each with `--gpus-per-task` GPUs). The step writes the scores' provenance (`hf_localnat.json`) into the
output folder, so the next stage knows how they were made. See dataset_scripts/DATATROVE.md.
"""

from __future__ import annotations

import click

from hf_localnat.cli._options import handle_errors, model_option, prompt_format_option, segmenter_option, window_option

EXAMPLES = """
\b
Examples:
  # the bundled sample (one file: one task), the embedded student, on this machine:
  python dataset_scripts/datatrove_score.py hf_localnat/data scored/ --glob "*.jsonl"
  # 64 shards of {"question", "response", "teacher"} lines, 4 processes:
  python dataset_scripts/datatrove_score.py traces/ scored/ --model Qwen/Qwen2.5-1.5B-Instruct --tasks 64 --workers 4
  # the same pipeline as a Slurm job array, one GPU per task:
  python dataset_scripts/datatrove_score.py s3://bucket/traces/ /fsx/scored/ --model Qwen/Qwen2.5-7B-Instruct \\
      --tasks 256 --slurm --partition gpu --time 12:00:00 --gpus-per-task 1 --venv-path .venv/bin/activate
  # then, on the writer's folder:
  localnat select scored/ -o curated.parquet && localnat publish scored/ --repo-id you/curated
"""


def build_pipeline(input_folder: str, output_folder: str, *, glob: str | None = None, text_key: str = "response",
                   question_key: str = "question", limit: int = -1, batch_size: int = 64, **scorer_options) -> list:
    """`JsonlReader(input_folder) -> LocalNaturalnessScorer -> JsonlWriter(output_folder, expand_metadata=True)`."""
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    from hf_localnat.datatrove import LocalNaturalnessScorer

    return [
        JsonlReader(input_folder, glob_pattern=glob, text_key=text_key, limit=limit),
        LocalNaturalnessScorer(question_key=question_key, batch_size=batch_size, output_folder=output_folder,
                               **scorer_options),
        JsonlWriter(output_folder, expand_metadata=True),  # `${rank}.jsonl.gz`, metadata keys as columns
    ]


def build_executor(pipeline: list, *, logging_dir: str, tasks: int, workers: int, slurm: bool = False,
                   partition: str | None = None, time: str = "12:00:00", gpus_per_task: int = 1,
                   cpus_per_task: int = 8, mem_per_cpu_gb: int = 4, venv_path: str | None = None,
                   job_name: str = "localnat-score"):
    """A `LocalPipelineExecutor`, or with `slurm=True` a `SlurmPipelineExecutor` (building it needs no Slurm;
    `run()` calls `sbatch`)."""
    if not slurm:
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor(pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir)
    from datatrove.executor import SlurmPipelineExecutor

    if not partition:
        raise click.UsageError("--slurm needs --partition.")
    return SlurmPipelineExecutor(
        pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir, partition=partition, time=time,
        gpus_per_task=gpus_per_task, cpus_per_task=cpus_per_task, mem_per_cpu_gb=mem_per_cpu_gb,
        venv_path=venv_path, job_name=job_name,
    )


@click.command(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.argument("input_folder", metavar="INPUT_FOLDER")
@click.argument("output_folder", metavar="OUTPUT_FOLDER")
@click.option("--glob", default=None, metavar="PATTERN", help="Only the input files matching it (e.g. '*.jsonl').")
@click.option("--text-key", default="response", show_default=True, help="The input key holding the response.")
@click.option("--question-key", default="question", show_default=True, help="The input key holding the question.")
@model_option()
@window_option()
@segmenter_option()
@prompt_format_option()
@click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]), default="auto",
              show_default=True, help="auto = bfloat16 on GPU, float32 on CPU.")
@click.option("--batch-tokens", type=click.IntRange(min=1), default=16384, show_default=True,
              help="Token budget of one forward batch.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Documents per scoring call.")
@click.option("--limit", type=int, default=-1, help="Documents per task (DataTrove's reader limit; -1 = all).")
@click.option("--tasks", type=click.IntRange(min=1), default=1, show_default=True,
              help="DataTrove tasks; the input files are split between them (so at most one task per file).")
@click.option("--workers", type=int, default=None,
              help="Tasks run at once (-1 = all; each loads its own model)  [default: 1 here, all with --slurm].")
@click.option("--logging-dir", default=None, metavar="FOLDER",
              help="DataTrove's logs, stats and completion markers  [default: OUTPUT_FOLDER without a trailing / "
                   "plus '-logs']. Rerun with the same one to skip finished tasks.")
@click.option("--slurm", is_flag=True, help="Submit to Slurm (SlurmPipelineExecutor) instead of running here.")
@click.option("--partition", default=None, help="With --slurm: the partition.")
@click.option("--time", "time_limit", default="12:00:00", show_default=True, help="With --slurm: each task's limit.")
@click.option("--gpus-per-task", type=click.IntRange(min=0), default=1, show_default=True, help="With --slurm.")
@click.option("--cpus-per-task", type=click.IntRange(min=1), default=8, show_default=True, help="With --slurm.")
@click.option("--mem-per-cpu-gb", type=click.IntRange(min=1), default=4, show_default=True, help="With --slurm.")
@click.option("--venv-path", default=None, help="With --slurm: the activate script each task sources.")
@handle_errors
def main(input_folder: str, output_folder: str, glob: str | None, text_key: str, question_key: str,
         model: str | None, window: int | str, segmenter: str, prompt_format: str, dtype: str, batch_tokens: int,
         batch_size: int, limit: int, tasks: int, workers: int | None, logging_dir: str | None, slurm: bool,
         partition: str | None, time_limit: str, gpus_per_task: int, cpus_per_task: int, mem_per_cpu_gb: int,
         venv_path: str | None) -> None:
    """Score the JSON Lines documents of INPUT_FOLDER with a DataTrove pipeline; write them, with lalp, galp,
    lalp_steps, num_steps, num_tokens, truncated and score_error, to OUTPUT_FOLDER.

    Each line is one response: TEXT_KEY (the response), QUESTION_KEY and any other keys (teacher, correct, ...), which
    are kept. OUTPUT_FOLDER gets DataTrove's `${rank}.jsonl.gz` shards and hf_localnat.json (how they were scored);
    `localnat select OUTPUT_FOLDER -o curated.parquet` and `localnat publish OUTPUT_FOLDER --repo-id ...` read it.
    """
    logging_dir = logging_dir or output_folder.rstrip("/") + "-logs"
    pipeline = build_pipeline(input_folder, output_folder, glob=glob, text_key=text_key, question_key=question_key,
                              limit=limit, batch_size=batch_size, model=model, window=window, segmenter=segmenter,
                              prompt_format=prompt_format, dtype=dtype, batch_tokens=batch_tokens)
    workers = workers if workers is not None else (-1 if slurm else 1)
    executor = build_executor(pipeline, logging_dir=logging_dir, tasks=tasks, workers=workers, slurm=slurm,
                              partition=partition, time=time_limit, gpus_per_task=gpus_per_task,
                              cpus_per_task=cpus_per_task, mem_per_cpu_gb=mem_per_cpu_gb, venv_path=venv_path)
    ran = executor.run()
    if slurm:
        click.echo(f"Submitted {tasks} tasks (logs in {logging_dir}). When they are done:")
    elif ran is None:
        click.echo(f"Nothing to do: every task is complete in {logging_dir} (a new logging dir scores again). Next:")
    else:
        from hf_localnat.datatrove import read_stats

        stats = read_stats(logging_dir)
        errors = {k.removeprefix("score_error_"): v for k, v in stats.items() if k.startswith("score_error_")}
        click.echo(f"Scored {stats.get('scored', 0)} of {stats.get('total', 0)} documents in this run; without a "
                   "score: " + (", ".join(f"{n} {reason}" for reason, n in errors.items()) or "none") + ". Next:")
    click.echo(f"  localnat select {output_folder} -o curated.parquet\n"
               f"  localnat publish {output_folder} --repo-id YOU/NAME")


if __name__ == "__main__":
    main()
