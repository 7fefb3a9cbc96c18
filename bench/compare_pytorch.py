#!/usr/bin/env python3
"""Runs clipcl and Hugging Face's CLIPModel on the same architecture, device class and batch
sizes in one run and prints clipcl / PyTorch throughput ratios.

Optional tool: needs torch and transformers (pip install torch transformers); never a run-time
dependency of clipcl. PyTorch gets random weights of the same architecture (speed does not
depend on the values); clipcl uses its synthetic weights (`clipcl bench --arch`).

usage: bench/compare_pytorch.py [--clipcl build/clipcl] [--arch ViT-B/32] [--device cpu|cuda]
                                [--clipcl-device D] [--batch-sizes 1,8] [--runs 5]
                                [--precision fp32|tf32|fp16] [--text-tokens 77] [--json OUT.json]

Texts: --text-tokens N tokens each (start and end included). PyTorch gets ids of that length
(what the Hugging Face processor's padding=True gives for prompts of N tokens); clipcl gets
them padded to 77 and stops at the batch's last end token, so both compute N positions.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ARCHS = {  # projection, text (width, layers, heads), vision (width, layers, heads, image, patch)
    "ViT-B/32": (512, (512, 12, 8), (768, 12, 12, 224, 32)),
    "ViT-B/16": (512, (512, 12, 8), (768, 12, 12, 224, 16)),
    "ViT-L/14": (768, (768, 12, 12), (1024, 24, 16, 224, 14)),
    "ViT-L/14-336": (768, (768, 12, 12), (1024, 24, 16, 336, 14)),
}


def torch_bench(arch, device, sizes, runs, precision, max_seconds, text_tokens):
    import torch
    from transformers import CLIPConfig, CLIPModel

    E, (tw, tl, th), (vw, vl, vh, img, patch) = ARCHS[arch]
    cfg = CLIPConfig(
        projection_dim=E,
        text_config=dict(hidden_size=tw, num_hidden_layers=tl, num_attention_heads=th, intermediate_size=4 * tw,
                         hidden_act="quick_gelu"),
        vision_config=dict(hidden_size=vw, num_hidden_layers=vl, num_attention_heads=vh, intermediate_size=4 * vw,
                           image_size=img, patch_size=patch, hidden_act="quick_gelu"),
    )
    torch.manual_seed(0)
    model = CLIPModel(cfg).eval().to(device)
    dtype = torch.float32
    if precision == "fp16":
        model = model.half()
        dtype = torch.float16
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cudnn.allow_tf32 = precision == "tf32"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    out = []
    with torch.inference_mode():
        for tower in ("image", "text"):
            for b in sizes:
                if tower == "image":
                    x = torch.randn(b, 3, img, img, device=device, dtype=dtype)
                    fn = lambda: model.get_image_features(pixel_values=x)
                else:
                    ids = torch.randint(1, 49405, (b, text_tokens), device=device)
                    ids[:, 0] = 49406
                    ids[:, -1] = 49407
                    fn = lambda: model.get_text_features(input_ids=ids)
                # warm-up: at least 3 calls and half a second, so that cuBLAS's first-call
                # setup and the GPU's clocks ramping up stay out of the numbers (one call was
                # not enough on an H200: batch 1 read 155 and 255 images/s a minute apart)
                t_warm, n_warm = time.perf_counter(), 0
                while n_warm < 3 or time.perf_counter() - t_warm < 0.5:
                    fn()
                    sync()
                    n_warm += 1
                times, start = [], time.perf_counter()
                while len(times) < runs:
                    t0 = time.perf_counter()
                    fn()
                    sync()
                    times.append(time.perf_counter() - t0)
                    if time.perf_counter() - start > max_seconds:
                        break
                med = statistics.median(times)
                out.append({"tower": tower, "batch": b, "items_per_s": b / med, "latency_ms": med * 1e3,
                            "runs": len(times)})
    return out, torch.__version__


def run_clipcl(a):
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "clipcl.json")
        cmd = [a.clipcl, "bench", "--arch", a.arch, "--batch-sizes", a.batch_sizes, "--runs", str(a.runs),
               "--max-seconds", str(a.max_seconds), "--text-tokens", str(a.text_tokens), "--json", js, "-q"]
        if a.clipcl_device:
            cmd += ["-d", a.clipcl_device]
        print("running:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        with open(js) as f:
            ours = json.load(f)[0]
    return ours


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clipcl", default=os.path.join(os.path.dirname(__file__), "..", "build", "clipcl"))
    ap.add_argument("--arch", default="ViT-B/32", choices=sorted(ARCHS))
    ap.add_argument("--device", default="cpu", help="PyTorch device: cpu or cuda")
    ap.add_argument("--clipcl-device", default=None, help="clipcl -d value (default: clipcl's default)")
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "fp16"])
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    ap.add_argument("--text-tokens", type=int, default=77, help="tokens per text, 2..77 (default 77)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--clipcl-json", default=None,
                    help="use this `clipcl bench --json` result (made earlier in the same session) instead of "
                         "running clipcl again")
    a = ap.parse_args()
    sizes = [int(s) for s in a.batch_sizes.split(",")]

    if not 2 <= a.text_tokens <= 77:
        ap.error("--text-tokens must be 2..77")
    if a.clipcl_json:
        with open(a.clipcl_json) as f:
            ours = json.load(f)[0]
        if ours.get("text_tokens", 77) != a.text_tokens:
            ap.error(f"{a.clipcl_json} was measured with texts of {ours.get('text_tokens', 77)} tokens, "
                     f"not {a.text_tokens}")
    else:
        ours = run_clipcl(a)

    if a.threads:
        import torch
        torch.set_num_threads(a.threads)
    theirs, tv = torch_bench(a.arch, a.device, sizes, a.runs, a.precision, a.max_seconds, a.text_tokens)
    print(f"\n{a.arch}, clipcl on {ours['device']} ({ours.get('precision', 'fp32')}) vs PyTorch {tv} on {a.device} ({a.precision})")
    print(f"{'tower':6} {'batch':>5} {'clipcl/s':>10} {'torch/s':>10} {'ratio':>7}")
    rows = []
    for t in theirs:
        o = next((r for r in ours["results"] if r["tower"] == t["tower"] and r["batch"] == t["batch"]), None)
        if not o:
            continue
        ratio = o["items_per_s"] / t["items_per_s"]
        rows.append({"tower": t["tower"], "batch": t["batch"], "clipcl_items_per_s": o["items_per_s"],
                     "torch_items_per_s": t["items_per_s"], "ratio": ratio})
        print(f"{t['tower']:6} {t['batch']:5d} {o['items_per_s']:10.2f} {t['items_per_s']:10.2f} {ratio:7.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"arch": a.arch, "clipcl": ours, "torch_version": tv, "torch_device": a.device,
                       "torch_precision": a.precision, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
