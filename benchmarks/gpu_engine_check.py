"""The engine's paths on an accelerator: dense (both padding sides), prefix reuse, packs holding P once and packs of
whole windows (SDPA, eager, flex attention), the engine's packed path
and blockmask log-probs against a plain per-window forward pass, plus the out-of-memory back-off of `run_windows` and
`run_blockmask` with a real `torch.OutOfMemoryError`. A correctness check, not a benchmark; seconds on a GPU.

    python benchmarks/gpu_engine_check.py          # cuda
    python benchmarks/gpu_engine_check.py cpu      # the same on the CPU
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from hf_localnat.scoring.compute.forward import packed_logprobs, prefix_state, scored_logprobs
from hf_localnat.scoring.compute.packing import pack_layout, pack_length
from hf_localnat.scoring.compute.blockmask import blockmask_logprobs
from hf_localnat.scoring.prepare.windows import Window
from hf_localnat.scoring.compute.engine import run_windows, run_blockmask
from hf_localnat.scoring.config import ScoringConfig

DEV = sys.argv[1] if len(sys.argv) > 1 else "cuda"
if DEV == "cuda": print(torch.cuda.get_device_name(0))
print(torch.__version__, DEV, flush=True)
if DEV == "cpu":  # torch's CPU code generator fails on flex attention recompiled for dynamic shapes (not Triton's)
    torch._dynamo.config.automatic_dynamic_shapes = False
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=1024, initializer_range=0.5)
worst = 0.0
for attn in ("sdpa", "eager", "flex_attention"):
    model = LlamaForCausalLM(cfg).to(DEV, torch.float32).eval()
    model.config._attn_implementation = attn
    P = list(range(100, 120))
    g = torch.Generator().manual_seed(1)
    wins = []
    for i in range(6):
        n = int(torch.randint(5, 60, (1,), generator=g))
        body = torch.randint(200, 999, (n,), generator=g).tolist()
        wins.append(Window(i, None, P + body, n, 0, False))
    with torch.inference_mode():
        ref = []
        for w in wins:
            ids = torch.tensor([w.input_ids], device=DEV)
            lp = model(ids).logits[0].float().log_softmax(-1)
            cols = torch.arange(len(w) - w.num_scored - 1, len(w) - 1, device=DEV)
            ref.append(lp[cols, ids[0, cols + 1]].cpu())
    outs = {}
    if attn != "flex_attention":
        for side in ("right", "left"):
            outs[f"dense-{side}"] = scored_logprobs(model, wins, 0, side)
            outs[f"prefix-{side}"] = scored_logprobs(model, wins, 0, side, prefix=prefix_state(model, P))
        # blockmask with a window covering every step = the causal pass
        ranges = [[(0, w.num_scored)] for w in wins]
        outs["blockmask"] = blockmask_logprobs(model, wins, [len(P)] * len(wins), ranges, 50, 0)
    shared = pack_layout(wins, [len(P)] * len(wins))
    outs["packed-P-once"] = packed_logprobs(model, shared)
    outs["packed-padded"] = packed_logprobs(model, pack_layout(wins, [len(P)] * len(wins), length=pack_length(len(shared), 4096)))
    outs["packed-whole"] = packed_logprobs(model, pack_layout(wins, [0] * len(wins), share_prefix=False))
    engine = run_windows(model, wins, [len(P)] * len(wins), 0, ScoringConfig(packing=True, prefix_reuse=False, batch_tokens=256))
    outs["engine-packed"] = engine.logprobs
    for name, out in outs.items():
        d = max(float((a.cpu() - b).abs().max()) for a, b in zip(out, ref))
        worst = max(worst, d)
        print(f"{attn:15s} {name:14s} max|diff| {d:.2e}", flush=True)
    # engine with OOM back-off on CUDA: a real torch.OutOfMemoryError from a hook above 100 tokens
    if attn == "sdpa":
        h = model.base_model.register_forward_pre_hook(
            lambda m, a, k: (_ for _ in ()).throw(torch.OutOfMemoryError("CUDA out of memory.")) if k["input_ids"].numel() > 100 else None,
            with_kwargs=True)
        conf = ScoringConfig(prefix_reuse=False, packing=False, bucket_ratio=0.0)
        run = run_windows(model, wins, [len(P)] * len(wins), 0, conf)
        bm = run_blockmask(model, wins, [len(P)] * len(wins), ranges, 0, ScoringConfig(window=50, bucket_ratio=0.0))
        h.remove()
        print("engine OOM retries", run.retries, "failed", sorted(run.failed), "| blockmask retries", bm.retries, "failed", sorted(bm.failed), flush=True)
        for i, w in enumerate(wins):
            if i not in run.failed:
                worst = max(worst, float((run.logprobs[i] - ref[i]).abs().max()))
print("WORST", worst, "OK" if worst < 1e-4 else "FAIL")
sys.exit(0 if worst < 1e-4 else 1)
