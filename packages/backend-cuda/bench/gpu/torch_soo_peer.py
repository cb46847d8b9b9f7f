"""The PyTorch + PEFT peer for soo's benchmarks (a copy of shared/bench/torch_soo_peer.py, so the repository is
self-contained; the one change: with --save, --generate also writes DIR/soo_generate.json with the prompts and
HF's greedy tokens, so soo's side can run the same prompts and count agreeing tokens) (run it on the GPU machine, which has torch, transformers, peft).

It measures what a researcher would write by hand: two forward passes with a forward hook on one module,
MSE between the captured outputs, backward, AdamW; LoRA via PEFT; bf16 weights with autocast; eager/SDPA.
So that both sides run the *same* problem, it can write everything the other side needs:

  --save DIR    random-init weights of the chosen shape, saved as a Hugging Face folder (bf16 safetensors),
                plus DIR/soo_bench_inputs.json (self/other token ids) and DIR/adapter_init (the PEFT adapter
                before the first step, so trajectories are comparable), then benchmark.
  --load DIR    benchmark an existing folder (e.g. one written by --save).

Output: one JSON line per measured configuration (and --out FILE with all of them): median/min/max step
time in ms over --steps after --warmup, tokens/s (2 x batch x seq per step), peak GPU memory, and the loss
of the first steps (`losses`), which the other side must reproduce within bf16 tolerance.
--generate adds greedy generation throughput (HF generate, KV cache, no early stop).
"""
import argparse, json, os, time
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM
from peft import LoraConfig, PeftModel, get_peft_model

SHAPES = {
    "tiny": dict(model_type="llama", hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=8,
                 num_key_value_heads=4, vocab_size=4096, rope_theta=10000.0, max_position_embeddings=2048),
    "llama1b": dict(model_type="llama", hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                    num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192, tie_word_embeddings=True),
    "mistral7b": dict(model_type="mistral", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, vocab_size=32000, rope_theta=1e6, max_position_embeddings=32768, sliding_window=None),
    "gemma2-27b": dict(model_type="gemma2", hidden_size=4608, intermediate_size=36864, num_hidden_layers=46, num_attention_heads=32,
                       num_key_value_heads=16, head_dim=128, vocab_size=256000, query_pre_attn_scalar=144, sliding_window=4096,
                       attn_logit_softcapping=50.0, final_logit_softcapping=30.0, max_position_embeddings=8192),
}


def make_inputs(vocab, batch, seq, seed):
    g = torch.Generator().manual_seed(seed)
    self_ids = torch.randint(3, vocab, (batch, seq), generator=g)
    other_ids = self_ids.clone()
    other_ids[:, seq // 2] = (other_ids[:, seq // 2] + 1) % vocab  # the referent token differs
    return self_ids, other_ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=sorted(SHAPES), default="mistral7b")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--save"); g.add_argument("--load")
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--seq", type=int, nargs="+", default=[64, 128], help="paired with --batch")
    ap.add_argument("--layer", type=int, default=19)
    ap.add_argument("--r", type=int, default=8); ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--targets", default="q_proj,v_proj")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--steps", type=int, default=20); ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generate", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    assert len(a.batch) == len(a.seq), "--batch and --seq must pair up"
    torch.manual_seed(a.seed)
    dev = "cuda"
    if a.load:
        model = AutoModelForCausalLM.from_pretrained(a.load, dtype=torch.bfloat16, device_map=dev)
        cfg = model.config
    else:
        kw = dict(SHAPES[a.shape]); mt = kw.pop("model_type")
        cfg = AutoConfig.for_model(mt, **kw)
        torch.set_default_dtype(torch.bfloat16)
        with torch.device(dev):
            model = AutoModelForCausalLM.from_config(cfg)
        torch.set_default_dtype(torch.float32)
        if a.save:
            t0 = time.time(); model.save_pretrained(a.save)
            print(json.dumps({"saved": a.save, "seconds": round(time.time() - t0, 1)}), flush=True)
    model.eval()
    results = []
    folder = a.save or a.load
    inputs_record = {}
    for batch, seq in zip(a.batch, a.seq):
        s_ids, o_ids = make_inputs(cfg.vocab_size, batch, seq, a.seed)
        inputs_record[f"{batch}x{seq}"] = {"self_ids": s_ids.tolist(), "other_ids": o_ids.tolist()}
        lcfg = LoraConfig(r=a.r, lora_alpha=a.alpha, lora_dropout=0.0, target_modules=a.targets.split(","))
        torch.manual_seed(a.seed)
        pm = get_peft_model(model, lcfg)
        if folder and a.save and batch == a.batch[0]:
            pm.save_pretrained(os.path.join(folder, "adapter_init"))
        acts = {}
        hook = pm.base_model.model.model.layers[a.layer].self_attn.o_proj.register_forward_hook(
            lambda m, i, o: acts.__setitem__("x", o))
        opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=a.lr, weight_decay=0.0)
        s_ids, o_ids = s_ids.to(dev), o_ids.to(dev)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                pm(input_ids=s_ids, use_cache=False, logits_to_keep=1); x = acts["x"]
                pm(input_ids=o_ids, use_cache=False, logits_to_keep=1); y = acts["x"]
                loss = torch.nn.functional.mse_loss(x.float(), y.float())
            loss.backward(); opt.step()
            return loss.detach()

        losses = [float(step()) for _ in range(a.warmup)]
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        ts = []
        for _ in range(a.steps):
            e0 = torch.cuda.Event(enable_timing=True); e1 = torch.cuda.Event(enable_timing=True)
            e0.record(); step(); e1.record(); torch.cuda.synchronize(); ts.append(e0.elapsed_time(e1))
        ts.sort(); med = ts[len(ts) // 2]
        r = dict(side="torch+peft", torch=torch.__version__, transformers=transformers.__version__,
                 gpu=torch.cuda.get_device_name(0), shape=a.shape if not a.load else os.path.basename(a.load.rstrip("/")),
                 batch=batch, seq=seq, layer=a.layer, r=a.r, alpha=a.alpha, targets=a.targets, lr=a.lr,
                 step_ms_median=round(med, 3), step_ms_min=round(ts[0], 3), step_ms_max=round(ts[-1], 3),
                 tokens_per_s=round(2 * batch * seq / med * 1000), peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 3),
                 losses=[round(l, 8) for l in losses])
        print(json.dumps(r), flush=True); results.append(r)
        hook.remove(); model = pm.unload(); del opt, pm; torch.cuda.empty_cache()
    if folder and a.save:
        json.dump({"seed": a.seed, "inputs": inputs_record}, open(os.path.join(folder, "soo_bench_inputs.json"), "w"))
    if a.generate:
        ids = torch.randint(3, cfg.vocab_size, (32, 120), device=dev)
        with torch.no_grad():
            model.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=0)
            torch.cuda.synchronize(); t0 = time.time()
            out = model.generate(ids, max_new_tokens=75, min_new_tokens=75, do_sample=False, pad_token_id=0)
            torch.cuda.synchronize(); dt = time.time() - t0
        if folder and a.save:
            json.dump({"prompts": ids.tolist(), "tokens": out[:, ids.shape[1]:].tolist()},
                      open(os.path.join(folder, "soo_generate.json"), "w"))
        r = dict(side="torch+hf-generate", batch=32, prompt=120, new_tokens=75, seconds=round(dt, 3), new_tokens_per_s=round(32 * 75 / dt))
        print(json.dumps(r), flush=True); results.append(r)
    if a.out:
        json.dump(results, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
