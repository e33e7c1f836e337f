"""Agent traces (SPEC §14): the fast path against the per-turn passes, on traces of 10, 30 and 100 turns.

The fast path (`reuse_galp=True`, the default) reads GALP and every turn whose window starts at the first unit from
one forward pass over the whole rendering, and runs a window of its own only for the other turns. The per-turn path
(`reuse_galp=False`) runs every input of the definition on its own: each turn's whole history for GALP, and its
window. Both give the same numbers (checked here, and against a plain reference in tests/test_agent_traces.py).

Prints, per trace length: the tokens each path runs through the model (`WindowRun.real_tokens`: exact, whatever the
machine), the seconds, and their ratios; the token ratio should grow about linearly with the turns (the per-turn path
is quadratic, the fast path linear). A tiny random Llama on the SmolLM2 tokenizer (`--model PATH` for another).

    python benchmarks/agent_traces.py                  # 10, 30, 100 turns, window 2
    python benchmarks/agent_traces.py --turns 10 30 --window 4
    python benchmarks/agent_traces.py --tokens-only --turns 10 30 100 300   # no model: the tokens each path runs
"""

from __future__ import annotations

import argparse
import os
import time

TOOL_OUTPUT = "\n".join(f"src/module_{j}.py:{10 * j}: def handler_{j}(request): return process(request)"
                        for j in range(3))


def trace(turns: int) -> list[dict]:
    """A synthetic OpenHands-style trace: a system prompt, a task, then `turns` (tool result, assistant turn) units,
    each assistant turn with one tool call."""
    messages = [{"role": "system", "content": "You are a coding agent. Use the tools."},
                {"role": "user", "content": "Fix the failing test in tests/test_handlers.py."}]
    for i in range(turns):
        if i:
            messages.append({"role": "tool", "content": f"[step {i}]\n{TOOL_OUTPUT}"})
        messages.append({"role": "assistant", "content": f"Step {i}: I look at module {i % 7} next.",
                         "tool_calls": [{"type": "function", "function": {
                             "name": "bash", "arguments": {"command": f"grep -n handler src/module_{i % 7}.py"}}}]})
    return messages


def tiny_model(max_positions: int):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from hf_localnat.scoring.models import convert_embedded_model

    tokenizer = AutoTokenizer.from_pretrained(convert_embedded_model())
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
                         tie_word_embeddings=True, initializer_range=0.5, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(config).eval(), tokenizer


def tokens_only(lengths: list[int], window: str) -> None:
    """The tokens each path runs through the model (the sum of its windows' lengths), from the row preparation
    alone: exact, and independent of the machine."""
    from transformers import AutoTokenizer

    from hf_localnat.scoring.config import ScoringConfig
    from hf_localnat.scoring.models import convert_embedded_model
    from hf_localnat.scoring.prepare.pool import prepare_any

    tokenizer = AutoTokenizer.from_pretrained(convert_embedded_model())
    print(f"window {window}; SmolLM2 tokenizer and chat template; tokens run through the model per trace")
    print(f"{'turns':>5} {'fast tokens':>12} {'per-turn tokens':>16} {'ratio':>7} {'prepare s (fast)':>17}")
    for turns in lengths:
        counts = {}
        for reuse in (True, False):
            config = ScoringConfig(segmenter="turns", window=window, reuse_galp=reuse)
            start = time.perf_counter()
            row = prepare_any(tokenizer, config, 10**7, 0, trace(turns), None, None, {})
            counts[reuse] = (sum(len(w) for w in (row.galp, *row.steps)), time.perf_counter() - start)
        (fast, seconds), (slow, _) = counts[True], counts[False]
        print(f"{turns:>5} {fast:>12,} {slow:>16,} {slow / fast:>7.1f} {seconds:>17.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--window", default="2")
    parser.add_argument("--model", default=None, help="a model folder (default: a tiny random Llama)")
    parser.add_argument("--tokens-only", action="store_true",
                        help="prepare the inputs of both paths and count their tokens; no forward pass")
    args = parser.parse_args()
    if args.tokens_only:
        return tokens_only(args.turns, args.window)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from hf_localnat import LocalNaturalnessScorer

    if args.model:
        model, tokenizer = args.model, None
    else:
        model, tokenizer = tiny_model(32768)
    print(f"window {args.window}; {'tiny random Llama' if not args.model else args.model}; CPU threads "
          f"{__import__('torch').get_num_threads()}")
    print(f"{'turns':>5} {'fast tokens':>12} {'per-turn tokens':>16} {'token ratio':>11} {'fast s':>8} "
          f"{'per-turn s':>10} {'time ratio':>10} {'max |diff|':>10}")
    for turns in args.turns:
        row, runs = trace(turns), {}
        for reuse in (True, False):
            scorer = LocalNaturalnessScorer(model, tokenizer, segmenter="turns", window=args.window, dtype="float32",
                                            device="cpu", reuse_galp=reuse, max_length=32768, scores="all")
            scorer.score([row])  # warm-up (loads, renders once)
            start = time.perf_counter()
            [result] = scorer.score([row])
            runs[reuse] = (time.perf_counter() - start, scorer.last_run.real_tokens, result)
        (fast_s, fast_t, fast), (slow_s, slow_t, slow) = runs[True], runs[False]
        diff = max(abs(fast[k] - slow[k]) for k in ("lalp", "galp", "rsr", "lalp_drop", "galp_drop"))
        print(f"{turns:>5} {fast_t:>12,} {slow_t:>16,} {slow_t / fast_t:>11.1f} {fast_s:>8.2f} {slow_s:>10.2f} "
              f"{slow_s / fast_s:>10.1f} {diff:>10.1e}")


if __name__ == "__main__":
    main()
