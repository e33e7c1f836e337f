"""Side-by-side speed of exact LALP and GALP against naive baselines, in one process, on the same inputs.

    python benchmarks/run.py --quick        # ~3 min on a 2-core CPU
    python benchmarks/run.py                # full run, ~10 min on a 2-core CPU; writes benchmarks/RESULTS.md
    python benchmarks/run.py --arch qwen2-1.5b --synthetic 2048,8192,16384   # on a GPU: random-init Qwen2, bf16

Rows of the table, per workload:
1. exact LALP (this project) vs a naive reference: one forward pass per step (and one for GALP), full logits.
2. GALP (this project) vs what `evaluate`'s perplexity metric does: tokenize, pad to the longest text of the corpus,
   batches of 16 in input order, full logits.
3. LALP time / GALP time next to LALP tokens / GALP tokens.
4. padding efficiency (tokens the model had to run / tokens computed, padding included).
5. throughput and model FLOP/s as a share of the measured matmul peak.
6. share of the LALP time spent in segmentation + tokenization.
7. peak extra resident memory (CPU) or peak allocated memory (GPU) of each variant.
"""

from __future__ import annotations

import argparse
import json
import datetime
import os
import platform
import random
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hf_localnat import LocalNaturalnessScorer  # noqa: E402
from hf_localnat.scoring.config import ScoringConfig  # noqa: E402
from hf_localnat.scoring.compute.engine import run_windows  # noqa: E402
from hf_localnat.scoring.prepare.rows import prepare_row  # noqa: E402
from hf_localnat.sample import SAMPLE_PATH  # noqa: E402

ARCHS = {  # random-initialised real architectures for GPU runs (same FLOPs as trained weights)
    "qwen2-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                       num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True),
    "qwen2-7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                     num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768, tie_word_embeddings=False),
    "qwen2-tiny": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True),
}  # qwen2-tiny: a smoke test of the --arch path on CPU


# ------------------------------------------------------------------------------------------------ measurement
class PeakMemory:
    """Peak extra memory while the block runs: resident set size sampled every 20 ms (CPU), or
    `torch.cuda.max_memory_allocated` (GPU)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak = 0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        self.base = self._rss()
        self.stop = threading.Event()

        def sample():
            while not self.stop.is_set():
                self.peak = max(self.peak, self._rss() - self.base)
                time.sleep(0.02)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.stop.set()
            self.thread.join()


CLOCK = {"clock": time.perf_counter}


def timed(fn, device):
    """Result, seconds (wall clock, or this process's CPU time with `--clock cpu`) and peak extra memory of `fn()`."""
    with PeakMemory(device) as memory:
        clock = CLOCK["clock"]
        start = clock()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = clock() - start
    return out, seconds, memory.peak


def best_of(fn, device, repeat: int):
    """`timed` run `repeat` times: the fastest time (least disturbed by other processes), the largest memory."""
    runs = [timed(fn, device) for _ in range(repeat)]
    return runs[0][0], min(r[1] for r in runs), max(r[2] for r in runs)


def matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    """Best FLOP/s of a timed square matmul (4096 on GPU, 2048 on CPU)."""
    n = 4096 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    clock = CLOCK["clock"]
    for _ in range(5 if device.type == "cpu" else 20):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = clock()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, clock() - start)
    return 2 * n**3 / best


def model_flops(model, tokens: int, scored: int) -> float:
    """2 x non-embedding parameters per token run, plus the LM head at scored positions only."""
    head = model.get_output_embeddings().weight
    embed = model.get_input_embeddings().weight
    body = sum(p.numel() for p in model.parameters()) - embed.numel() - (0 if head is embed else head.numel())
    return 2.0 * body * tokens + 2.0 * head.numel() * scored


# ------------------------------------------------------------------------------------------------ baselines
@torch.inference_mode()
def naive_lalp(scorer, responses, questions):
    """One forward pass per step window and one per GALP pass, batch of one, full logits (the reference)."""
    model = scorer.model
    device = next(model.parameters()).device
    prefixes: dict = {}
    out = []
    for i, (response, question) in enumerate(zip(responses, questions, strict=True)):
        row = prepare_row(scorer.tokenizer, scorer.config, scorer.max_length, i, response, question, None, prefixes)
        galp_lp = None
        steps = []
        for w in (row.galp, *_all_step_windows(scorer, row, prefixes[question], response)):
            ids = torch.tensor([w.input_ids], device=device)
            logprobs = model(input_ids=ids).logits[0].float().log_softmax(-1)
            n = len(w)
            lp = logprobs[n - w.num_scored - 1 : n - 1].gather(-1, ids[0, n - w.num_scored :, None]).squeeze(-1)
            if w.step is None:
                galp_lp = lp
            else:
                steps.append(float(lp.double().mean()))
        out.append({"lalp": sum(steps) / len(steps), "galp": float(galp_lp.double().mean())})
    return out


def _all_step_windows(scorer, row, prefix, response):
    from hf_localnat.scoring.prepare.align import tokenize_response
    from hf_localnat.scoring.prepare.windows import step_window

    ids, _ = tokenize_response(scorer.tokenizer, response)
    return [step_window(0, s, prefix, ids, row.token_ranges, scorer.config.window, scorer.max_length)
            for s, (a, e) in enumerate(row.token_ranges) if e > a]


@torch.inference_mode()
def evaluate_style_galp(scorer, responses, questions, batch_size=16):
    """What `evaluate`'s perplexity metric does: tokenize the corpus, pad everything to the longest text, batches of
    16 in input order, full logits; here on P + R so that it computes the same GALP."""
    model, tokenizer = scorer.model, scorer.tokenizer
    device = next(model.parameters()).device
    prefixes: dict = {}
    rows = [prepare_row(scorer.tokenizer, scorer.config, scorer.max_length, i, r, q, None, prefixes) for i, (r, q) in enumerate(zip(responses, questions, strict=True))]
    inputs = [row.galp.input_ids for row in rows]
    longest = max(len(x) for x in inputs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = []
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start : start + batch_size]
        ids = torch.tensor([x + [pad] * (longest - len(x)) for x in chunk], device=device)
        mask = torch.tensor([[1] * len(x) + [0] * (longest - len(x)) for x in chunk], device=device)
        logprobs = model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
        for b, (x, row) in enumerate(zip(chunk, rows[start : start + batch_size], strict=True)):
            n, m = len(x), row.galp.num_scored
            out.append(float(logprobs[b, n - m - 1 : n - 1].gather(-1, ids[b, n - m : n, None]).double().mean()))
    return out


def project_galp(scorer, responses, questions):
    """GALP alone with this project's batching/forward (one window per row)."""
    prefixes: dict = {}
    rows = [prepare_row(scorer.tokenizer, scorer.config, scorer.max_length, i, r, q, None, prefixes) for i, (r, q) in enumerate(zip(responses, questions, strict=True))]
    windows = [row.galp for row in rows]
    tok = scorer.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    run = run_windows(scorer.model, windows, [len(prefixes[q]) for q in questions], pad, scorer.config)
    return [float(lp.double().mean()) for lp in run.logprobs], run


# ------------------------------------------------------------------------------------------------ workloads
def synthetic_traces(tokenizer, lengths, per_length, seed=0):
    """Long traces built from the sample's sentences, shuffled. For each `n`, `per_length` traces whose lengths are
    spread evenly over [n/4, n] response tokens (length-varied, as real corpora are)."""
    from hf_localnat.scoring.prepare.segment import segment

    sample = load_sample_rows()
    sentences = [r["response"][a:b] for r in sample for a, b in segment(r["response"])]
    rng = random.Random(seed)
    responses, questions = [], []
    for top in lengths:
        for j in range(per_length):
            n = top if per_length == 1 else int(top / 4 + (top - top / 4) * j / (per_length - 1))
            parts, count = [], 0
            while count < n:
                s = rng.choice(sentences)
                parts.append(s if s.endswith((" ", "\n")) else s + " ")
                count += len(tokenizer(s, add_special_tokens=False)["input_ids"])
            responses.append("".join(parts))
            questions.append(rng.choice(sample)["question"])
    return responses, questions


def spearman(a, b) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    def ranks(x):
        order = sorted(range(len(x)), key=lambda i: x[i])
        r = [0.0] * len(x)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / var if var else float("nan")


def teacher_order(scores, teachers) -> list[str]:
    means: dict = {}
    for s, t in zip(scores, teachers, strict=True):
        means.setdefault(t, []).append(s)
    return sorted(means, key=lambda t: -sum(means[t]) / len(means[t]))


def bench_workload(name, scorer, plain, responses, questions, device, peak, naive: bool, repeat: int = 1,
                   blockmask=None, teachers=None):
    prepare_seconds = 0.0
    original = scorer._prepare

    def counted(*args, **kwargs):
        nonlocal prepare_seconds
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            prepare_seconds += time.perf_counter() - start

    scorer._prepare = counted
    ours, t_lalp, m_lalp = timed(lambda: scorer.score(responses, questions=questions, progress=False), device)
    for _ in range(repeat - 1):
        t_lalp = min(t_lalp, timed(lambda: scorer.score(responses, questions=questions, progress=False), device)[1])
    scorer._prepare = original
    run = scorer.last_run
    share_prepare = prepare_seconds / repeat / t_lalp
    _, t_noprefix, m_noprefix = best_of(lambda: plain.score(responses, questions=questions, progress=False), device, repeat)
    (galp_ours, galp_run), t_galp, m_galp = best_of(lambda: project_galp(scorer, responses, questions), device, repeat)
    galp_eval, t_eval, m_eval = best_of(lambda: evaluate_style_galp(scorer, responses, questions), device, repeat)
    diff_galp = max(abs(a - b) for a, b in zip(galp_ours, galp_eval, strict=True))
    if naive:
        ref, t_naive, m_naive = best_of(lambda: naive_lalp(scorer, responses, questions), device, repeat)
        diff = max(abs(a["lalp"] - b["lalp"]) for a, b in zip(ours, ref, strict=True))
    else:
        t_naive = m_naive = diff = None
    block = {}
    if blockmask is not None:
        approx, block["s"], block["mem"] = best_of(lambda: blockmask.score(responses, questions=questions, progress=False), device, repeat)
        exact_lalp = [r["lalp"] for r in ours]
        approx_lalp = [r["lalp"] for r in approx]
        block["spearman"] = spearman(exact_lalp, approx_lalp) if len(ours) > 2 else None
        if teachers:
            block["teachers_exact"] = teacher_order(exact_lalp, teachers)
            block["teachers_block"] = teacher_order(approx_lalp, teachers)
    scored = 2 * sum(r["num_tokens"] for r in ours)  # step tokens + GALP tokens (an upper bound)
    flops = model_flops(scorer.model, run.computed_tokens, scored)
    return {
        "workload": name, "rows": len(responses), "response_tokens": sum(r["num_tokens"] for r in ours),
        "lalp_s": t_lalp, "lalp_noprefix_s": t_noprefix, "naive_s": t_naive, "galp_s": t_galp, "eval_s": t_eval,
        "lalp_tokens": run.real_tokens, "lalp_model_tokens": run.model_tokens, "lalp_computed": run.computed_tokens,
        "galp_tokens": galp_run.real_tokens, "galp_computed": galp_run.computed_tokens,
        "pad_eff": run.model_tokens / run.computed_tokens, "prefix_reuse": run.prefix_reuse, "packed": run.packed,
        "tok_s": run.real_tokens / t_lalp, "model_tok_s": run.computed_tokens / t_lalp,
        "mfu": flops / t_lalp / peak, "flops": flops, "prep_share": share_prepare, "diff_lalp": diff, "diff_galp": diff_galp,
        "block": block,
        "mem": {"lalp": m_lalp, "lalp_noprefix": m_noprefix, "naive": m_naive, "galp": m_galp, "eval": m_eval},
    }


def fmt_ratio(a, b):
    return "—" if a is None or b is None else f"{a / b:.2f}×"


def table(results) -> str:
    mib = lambda x: "—" if x is None else f"{x / 2**20:.0f}"  # noqa: E731
    head = ["metric (target)"] + [f"{r['workload']} ({r['rows']} rows, {r['response_tokens']} resp. tok)" for r in results]
    rows = [
        ("exact LALP time, s", [f"{r['lalp_s']:.1f}" for r in results]),
        ("… without prefix reuse, s", [f"{r['lalp_noprefix_s']:.1f}" for r in results]),
        ("naive reference (1 pass/step, full logits), s", [f"{r['naive_s']:.1f}" if r["naive_s"] else "—" for r in results]),
        ("**1. LALP speed-up vs naive** (≥ 2.5× CPU, ≥ 10× GPU)", [fmt_ratio(r["naive_s"], r["lalp_s"]) for r in results]),
        ("max abs LALP difference vs naive", [f"{r['diff_lalp']:.1e}" if r["diff_lalp"] is not None else "—" for r in results]),
        ("GALP time, s", [f"{r['galp_s']:.2f}" for r in results]),
        ("evaluate-style perplexity GALP time, s", [f"{r['eval_s']:.2f}" for r in results]),
        ("**2. GALP speed-up vs evaluate-style** (≥ 2×)", [fmt_ratio(r["eval_s"], r["galp_s"]) for r in results]),
        ("max abs GALP difference vs evaluate-style", [f"{r['diff_galp']:.1e}" for r in results]),
        ("LALP tokens / GALP tokens", [f"{r['lalp_tokens'] / r['galp_tokens']:.2f}" for r in results]),
        ("LALP time / GALP time", [f"{r['lalp_s'] / r['galp_s']:.2f}" for r in results]),
        ("**3. time ratio / token ratio** (≤ 1.25)",
         [f"{(r['lalp_s'] / r['galp_s']) / (r['lalp_tokens'] / r['galp_tokens']):.2f}" for r in results]),
        ("**4. padding efficiency** (≥ 0.9 CPU, ≥ 0.98 packed GPU)", [f"{r['pad_eff']:.3f}" for r in results]),
        ("prefix reuse / packed", [f"{'yes' if r['prefix_reuse'] else 'no'} / {'yes' if r['packed'] else 'no'}" for r in results]),
        ("window tokens the model had to run / all window tokens", [f"{r['lalp_model_tokens'] / r['lalp_tokens']:.2f}" for r in results]),
        ("**5. throughput**, window tokens/s (computed tokens/s)", [f"{r['tok_s']:.0f} ({r['model_tok_s']:.0f})" for r in results]),
        ("**5. model FLOP/s / matmul peak**", [f"{100 * r['mfu']:.0f}%" for r in results]),
        ("**6. segmentation + tokenization share** (≤ 5%)", [f"{100 * r['prep_share']:.2f}%" for r in results]),
        ("blockmask approximation (opt-in, NOT LALP) time, s", [f"{r['block']['s']:.1f}" if r["block"] else "—" for r in results]),
        ("blockmask: Spearman with exact LALP over rows", [f"{r['block']['spearman']:.3f}" if r["block"].get("spearman") is not None else "—" for r in results]),
        ("blockmask: teacher ranking (exact → blockmask)", [
            ("same: " if r["block"]["teachers_exact"] == r["block"]["teachers_block"] else "DIFFERENT: ")
            + " > ".join(r["block"]["teachers_exact"]) + " → " + " > ".join(r["block"]["teachers_block"])
            if r["block"].get("teachers_exact") else "—" for r in results]),
        ("**7. peak extra memory**, MiB: LALP / no prefix / naive / GALP / evaluate-style",
         [" / ".join(mib(r["mem"][k]) for k in ("lalp", "lalp_noprefix", "naive", "galp", "eval")) for r in results]),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + name + " | " + " | ".join(values) + " |" for name, values in rows]
    return "\n".join(lines)


def machine(device, peak, dtype) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), platform.processor())
    return (f"{name}; {os.cpu_count()} CPU cores visible, torch threads {torch.get_num_threads()}; "
            f"{platform.platform()}; Python {platform.python_version()}; torch {torch.__version__}; dtype {dtype}; "
            f"measured matmul peak {peak / 1e9:.0f} GFLOP/s; clock: {CLOCK['clock'].__name__}; "
            f"{datetime.date.today().isoformat()}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small workloads (~3 min on a 2-core CPU)")
    parser.add_argument("--rows", type=int, help="rows of the bundled sample (default: 12 full, 4 quick; 32 = all)")
    parser.add_argument("--synthetic", help="comma-separated response lengths of synthetic traces "
                        "(default: 2048 on CPU, 2048,8192,16384 on GPU; 512 with --quick)")
    parser.add_argument("--per-length", type=int, help="synthetic traces per length, spread over [n/4, n] "
                        "(default: 3; 2 with --quick)")
    parser.add_argument("--arch", choices=sorted(ARCHS), help="random-initialised architecture instead of the embedded model")
    parser.add_argument("--tokenizer", help="with --arch: tokenizer folder (default: the embedded model's, converted once)")
    parser.add_argument("--attn", choices=["auto", "sdpa", "flex_attention", "flash_attention_2", "eager"], default="auto",
                        help="with --arch: attention implementation (auto: flash_attention_2 if installed on a GPU, else "
                             "sdpa). flex_attention or flash_attention_2 lets the scorer pack windows on a GPU")
    parser.add_argument("--repeat", type=int, help="runs of each variant, fastest kept (default: 1)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: 1 with --clock cpu)")
    parser.add_argument("--clock", choices=["cpu", "wall"], help="cpu: this process's CPU time, steady on a shared "
                        "machine, with 1 torch thread (default on CPU); wall: wall-clock time (default on GPU)")
    parser.add_argument("--no-blockmask", action="store_true", help="skip the blockmask approximation")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive per-step reference")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "RESULTS.md"), help="markdown file to write ('' = none)")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    clock = args.clock or ("wall" if device.type == "cuda" else "cpu")
    if clock == "cpu":
        CLOCK["clock"] = time.process_time
    threads = args.threads or (1 if clock == "cpu" else None)
    if threads:
        torch.set_num_threads(threads)
    repeat = args.repeat or 1
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if args.arch:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        from hf_localnat.scoring.models import convert_embedded_model

        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        config = AutoConfig.for_model("qwen2", **ARCHS[args.arch])
        # token ids < vocab: any tokenizer will do
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or convert_embedded_model())
        implementation = args.attn
        if implementation == "auto":
            implementation = "flash_attention_2" if device.type == "cuda" and _has_flash_attn() else "sdpa"
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=implementation).to(device).eval()
        make = lambda **kw: LocalNaturalnessScorer(model, tokenizer, dtype=dtype, **kw)  # noqa: E731
        label = f"random-init {args.arch} ({implementation})"
    else:
        scorer0 = LocalNaturalnessScorer()
        model, tokenizer, dtype = scorer0.model, scorer0.tokenizer, next(scorer0.model.parameters()).dtype
        make = lambda **kw: LocalNaturalnessScorer(model, tokenizer, **kw)  # noqa: E731
        label = "embedded SmolLM2-135M-Instruct (float32)"
    scorer = make()
    plain = make(prefix_reuse=False)
    blockmask = make(mode="blockmask")
    peak = matmul_peak(device, dtype)

    rows = args.rows or (4 if args.quick else 12)
    sample = load_sample_rows()
    sample = sorted(sample, key=lambda r: (r["question_id"], r["teacher"]))[:rows]
    default_lengths = "512" if args.quick else ("2048" if device.type == "cpu" else "2048,8192,16384")
    lengths = [int(x) for x in (args.synthetic or default_lengths).split(",") if x]
    workloads = [("sample", [r["response"] for r in sample], [r["question"] for r in sample], [r["teacher"] for r in sample])]
    for n in lengths:
        responses, questions = synthetic_traces(tokenizer, [n], args.per_length or (2 if args.quick else 3))
        workloads.append((f"synthetic ≤{n}", responses, questions, None))

    # Warm-up (allocator, kernels) on a small input, not timed.
    scorer.score([sample[0]["response"][:300]], questions=[sample[0]["question"]], progress=False)
    results = []
    for name, responses, questions, teachers in workloads:
        print(f"[bench] {name}: {len(responses)} rows ...", file=sys.stderr, flush=True)
        results.append(bench_workload(name, scorer, plain, responses, questions, device, peak, not args.no_naive, repeat,
                                      None if args.no_blockmask else blockmask, teachers))
        print(f"[bench] {name}: LALP {results[-1]['lalp_s']:.1f}s", file=sys.stderr, flush=True)

    peak = max(peak, matmul_peak(device, dtype))  # measured again: the best of both, in case of interference
    for r in results:
        r["mfu"] = r["flops"] / r["lalp_s"] / peak
    command = "python benchmarks/run.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    text = table(results)
    print(text)
    if args.output:
        cfg = ScoringConfig()
        body = (
            f"## {label} — {'quick' if args.quick else 'full'} run\n\n"
            f"Command: `{command}`\n\nMachine: {machine(device, peak, dtype)}\n\n"
            f"Scorer defaults: window={cfg.window}, batch_tokens={cfg.batch_tokens}, bucket_ratio={cfg.bucket_ratio}, "
            f"prefix_reuse={cfg.prefix_reuse!r}, packing={cfg.packing!r}. Each variant ran {repeat}x, fastest kept.\n\n{text}\n"
        )
        write_results(Path(args.output), body)
        print(f"\nwrote {args.output}", file=sys.stderr)


def load_sample_rows() -> list[dict]:
    """The bundled sample's rows, read with the standard library (a GPU box need not have `datasets`)."""
    with open(SAMPLE_PATH, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


START, END = "<!-- results:start (written by benchmarks/run.py) -->", "<!-- results:end -->"


def write_results(path: Path, body: str) -> None:
    """Replace the generated block of `path` (between the markers), keeping the hand-written notes around it."""
    block = f"{START}\n{body}{END}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def _has_flash_attn() -> bool:
    import importlib.util

    return importlib.util.find_spec("flash_attn") is not None


if __name__ == "__main__":
    main()
