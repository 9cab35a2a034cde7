"""GPU benchmark for scripts/gpu-check.sh: netlens (CUDA backend, every activation retained) vs
PyTorch eager on the same card, plus the card's measured peaks for context.

    python3 scripts/gpu/bench.py --bin BUNDLE/bin/netlens_cuda_bench --models DIR --out FILE.json

netlens latency: netlens_cuda_bench (CUDA events around Session::run, median of --runs after 10
warm-up runs). PyTorch: the same torchvision architectures (weights=None), fp32 with TF32 off (as
netlens), cuDNN autotuning on, CUDA events, median of --runs after 10 warm-up runs; "keep" retains
every module output through forward hooks (what netlens does), "plain" does not.
Precision rows: ResNet-50, MobileNetV2 and VGG-16 also in tf32 and fp16 (netlens --precision; the
PyTorch twin with allow_tf32 on for cuBLAS and cuDNN, resp. torch.autocast(float16), whose kept
outputs are then float16 where netlens keeps float32).
Peaks: device-to-device copy bandwidth (bytes read + written) and an fp32 8192^3 SGEMM (TF32 off).
Prints a table at the end; writes everything as JSON to --out.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODELS = [  # file, input shape, torchvision constructor (None: no PyTorch twin)
    ("ppocr_cls.onnx", "1x3x48x192", None),
    ("ppocrv4_rec.onnx", "1x3x48x320", None),
    ("ppocrv4_det.onnx", "1x3x640x640", None),
    ("mobilenet_v2.onnx", "1x3x224x224", "mobilenet_v2"),
    ("resnet50.onnx", "1x3x224x224", "resnet50"),
    ("vgg16.onnx", "1x3x224x224", "vgg16"),
]
PRECISIONS = ["tf32", "fp16"]  # extra rows for the models with a PyTorch twin


def cuda_time_ms(fn, runs, warmup=10):
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e))
    return statistics.median(times)


def peaks():
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    n = 256 * 1024 * 1024  # 1 GiB of float32
    a = torch.empty(n, device="cuda")
    b = torch.empty_like(a)
    copy_ms = cuda_time_ms(lambda: b.copy_(a), 20, warmup=3)
    del a, b
    m = 8192
    x = torch.randn(m, m, device="cuda")
    y = torch.randn(m, m, device="cuda")
    gemm_ms = cuda_time_ms(lambda: torch.mm(x, y), 10, warmup=3)
    del x, y
    torch.cuda.empty_cache()
    return {"copy_gb_per_s": 2 * 4 * n / (copy_ms * 1e6), "sgemm_gflops_per_s": 2 * m ** 3 / (gemm_ms * 1e6),
            "device": torch.cuda.get_device_name(0)}


def torch_eager(name, shape, runs, precision="fp32"):
    import contextlib
    import torch
    import torchvision
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval().cuda()
    x = torch.randn(*[int(v) for v in shape.split("x")], device="cuda")
    kept = []
    leaves = [mod for mod in model.modules() if not list(mod.children())]
    amp = torch.autocast("cuda", dtype=torch.float16) if precision == "fp16" else contextlib.nullcontext()
    with torch.no_grad(), amp:
        plain = cuda_time_ms(lambda: model(x), runs)
        hooks = [mod.register_forward_hook(lambda _m, _i, o: kept.append(o)) for mod in leaves]

        def run_keep():
            kept.clear()
            model(x)

        keep = cuda_time_ms(run_keep, runs)
        for h in hooks:
            h.remove()
    del model, x, kept
    torch.cuda.empty_cache()
    return plain, keep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--budget", type=float, default=150.0, help="seconds; later models are skipped past it")
    a = ap.parse_args()
    t0 = time.time()
    result = {"models": [], "peaks": None}
    try:
        result["peaks"] = peaks()
    except Exception as e:  # the table still shows netlens numbers
        print(f"bench: peaks failed: {type(e).__name__}: {e}", flush=True)
    runs = [(file, shape, twin, "fp32") for file, shape, twin in MODELS]
    runs += [(file, shape, twin, prec) for prec in PRECISIONS for file, shape, twin in MODELS if twin]
    for file, shape, twin, prec in runs:
        row = {"model": file, "input": shape, "precision": prec}
        path = os.path.join(a.models, file)
        if not os.path.exists(path):
            row["error"] = "missing"
        elif time.time() - t0 > a.budget:
            row["error"] = "skipped (time budget)"
        else:
            try:
                p = subprocess.run([a.bin, path, shape, str(a.runs), prec], capture_output=True, text=True,
                                   timeout=max(10, a.budget - (time.time() - t0)))
                line = [l for l in p.stdout.splitlines() if l.startswith("{")]
                if p.returncode == 0 and line:
                    row.update(json.loads(line[-1]))
                else:
                    row["error"] = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1][:200]
            except subprocess.TimeoutExpired:
                row["error"] = "timeout"
            if twin and time.time() - t0 < a.budget:
                try:
                    row["torch_plain_ms"], row["torch_keep_ms"] = torch_eager(twin, shape, a.runs, prec)
                except Exception as e:
                    row["torch_error"] = f"{type(e).__name__}: {e}"[:200]
        print("bench:", json.dumps(row), flush=True)
        result["models"].append(row)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)

    lines = []
    emit = lines.append
    pk = result["peaks"] or {}
    if pk:
        emit(f"peaks on {pk['device']}: copy {pk['copy_gb_per_s']:.0f} GB/s, fp32 SGEMM (no TF32) "
              f"{pk['sgemm_gflops_per_s'] / 1000:.1f} TFLOP/s")
    else:
        emit("peaks: not measured (PyTorch unavailable)")
    hdr = f"{'model':<18} {'input':<12} {'prec':<4} {'netlens ms':>10} {'torch keep':>10} {'torch ms':>9} {'GFLOP/s':>8} " \
          f"{'%SGEMM':>6} {'GB/s':>7} {'%copy':>6} {'cpu nodes':>9}"
    emit(hdr)
    emit("-" * len(hdr))
    for r in result["models"]:
        if "median_ms" not in r:
            emit(f"{r['model']:<18} {r['input']:<12} {r.get('precision', 'fp32'):<4} {r.get('error', '?').replace('netlens_cuda_bench: ', '')[:75]}")
            continue
        fmt = lambda k: f"{r[k]:.3f}" if k in r else "-"
        pct_g = f"{100 * r['gflops_per_s'] / pk['sgemm_gflops_per_s']:.0f}" if pk else "-"
        pct_b = f"{100 * r['gb_per_s'] / pk['copy_gb_per_s']:.0f}" if pk else "-"
        emit(f"{r['model']:<18} {r['input']:<12} {r.get('precision', 'fp32'):<4} {r['median_ms']:>10.3f} {fmt('torch_keep_ms'):>10} "
              f"{fmt('torch_plain_ms'):>9} {r['gflops_per_s']:>8.0f} {pct_g:>6} {r['gb_per_s']:>7.1f} {pct_b:>6} "
              f"{r['cpu_nodes']:>9}")
    table = "\n".join(lines) + "\n"
    print("\n" + table, end="")
    with open(os.path.splitext(a.out)[0] + ".table", "w") as f:
        f.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
