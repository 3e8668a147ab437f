"""Serving benchmark: `vggdeploy serve` (real tritonserver, HTTP and gRPC) against the in-process
Predictor on the same real Fashion-MNIST test images (one PNG per request) and the same threads.

    .venv/bin/python benchmarks/serving_bench.py             # measure, write JSON + SERVING.md
    .venv/bin/python benchmarks/serving_bench.py --report-only

Each point: C client threads (1, 4, 16) send requests back to back for a fixed number of
requests; latency is per request as the client sees it (encode -> answer decoded), throughput is
requests / wall time. Two server configurations: dynamic batching on (max batch 64, 1 ms queue
delay, the default) and off (``--max-batch 1``: each request is one execution). The server's
statistics give the mean executed batch per point. Clients, server and model share the machine's
cores (perf_analyzer is not installable here: the PyPI packages are empty stubs).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

CONCURRENCY = (1, 4, 16)
REQUESTS = {1: 300, 4: 600, 16: 960}
WARMUP_REQUESTS = 20
CONFIGS = {"batching": [], "no-batching": ["--max-batch", "1"]}


def machine() -> dict:
    import importlib.metadata as md

    import torch

    from vggdeploy.bench.sysinfo import cpu_info

    info = cpu_info()
    flags = set(Path("/proc/cpuinfo").read_text().split()) if Path("/proc/cpuinfo").exists() else ()
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return {
        "cpu": info["model"],
        "cores": os.cpu_count(),
        "simd": simd,
        "load_average_1_5_15": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "nvidia-pytriton": md.version("nvidia-pytriton"),
        "tritonclient": md.version("tritonclient"),
        "numpy": np.__version__,
        "vggdeploy_commit": _git("rev-parse", "--short", "HEAD"),
    }


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def run_point(call, payloads: list[bytes], concurrency: int, total: int) -> dict:
    """``total`` requests from ``concurrency`` threads; per-request latencies and throughput."""
    per_thread = total // concurrency
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    barrier = threading.Barrier(concurrency + 1)

    def worker(t: int) -> None:
        barrier.wait(timeout=60)
        for r in range(per_thread):
            payload = payloads[(t * 7919 + r) % len(payloads)]
            start = time.perf_counter()
            try:
                call(payload)
            except Exception as exc:
                errors.append(repr(exc))
                return
            latencies[t].append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(concurrency)]
    for th in threads:
        th.start()
    barrier.wait(timeout=60)
    start = time.perf_counter()
    for th in threads:
        th.join(timeout=600)
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    flat = np.array([x for per in latencies for x in per]) * 1000
    return {
        "concurrency": concurrency,
        "requests": int(flat.size),
        "throughput_rps": round(flat.size / wall, 1),
        "p50_ms": round(float(np.percentile(flat, 50)), 2),
        "p99_ms": round(float(np.percentile(flat, 99)), 2),
        "mean_ms": round(float(flat.mean()), 2),
    }


def client_call(protocol: str, url: str, model: str):
    """A per-thread client (tritonclient clients are not shared across threads)."""
    if protocol == "http":
        import tritonclient.http as mod
    else:
        import tritonclient.grpc as mod
    local = threading.local()

    def call(png: bytes) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = mod.InferenceServerClient(url)
        inp = mod.InferInput("image", [1, 1], "BYTES")
        inp.set_data_from_numpy(np.array([[png]], dtype=np.object_))
        out = [mod.InferRequestedOutput("class_id")]
        result = client.infer(model, [inp], outputs=out)
        assert result.as_numpy("class_id").shape == (1, 1)

    return call


def model_counts(server, model: str) -> tuple[int, int]:
    import tritonclient.http as http

    stats = http.InferenceServerClient(server.http_url).get_inference_statistics(model)
    s = stats["model_stats"][0]
    return int(s["inference_count"]), int(s["execution_count"])


def measure(model_dir: Path, payloads: list[bytes]) -> list[dict]:
    from vggdeploy.serve.launch import start_server
    from vggdeploy.serve.predictor import load

    rows = []
    with load(model_dir) as predictor:
        call = predictor.predict
        run_point(call, payloads, 1, WARMUP_REQUESTS)
        for c in CONCURRENCY:
            row = run_point(call, payloads, c, REQUESTS[c])
            rows.append({"mode": "in-process Predictor", "protocol": "-", **row})
            print(rows[-1], flush=True)
    model = model_dir.name
    for config, args in CONFIGS.items():
        server = start_server(model_dir, args=args)
        try:
            server.wait_ready(120)
            for protocol in ("http", "grpc"):
                url = server.http_url if protocol == "http" else server.grpc_url
                call = client_call(protocol, url, model)
                run_point(call, payloads, 1, WARMUP_REQUESTS)
                for c in CONCURRENCY:
                    inf0, exe0 = model_counts(server, model)
                    row = run_point(call, payloads, c, REQUESTS[c])
                    inf1, exe1 = model_counts(server, model)
                    row["mean_batch"] = round((inf1 - inf0) / max(1, exe1 - exe0), 2)
                    rows.append({"mode": f"server ({config})", "protocol": protocol, **row})
                    print(rows[-1], flush=True)
        finally:
            code = server.stop(timeout_s=60)
            if code not in (0, 143):
                raise RuntimeError(f"server exited {code}:\n{server.text()}")
    return rows


def report(result: dict, md: Path) -> None:
    m = result["machine"]
    rows = result["rows"]
    base = {r["concurrency"]: r for r in rows if r["mode"].startswith("in-process")}
    lines = [
        "# Serving benchmark (`vggdeploy serve`)",
        "",
        "Generated by `benchmarks/serving_bench.py` from "
        f"[{result['json']}]({result['json']}); do not edit the tables.",
        "",
        "```",
        result["command"],
        "```",
        "",
        f"Machine: {m['cpu']} ({', '.join(m['simd'])}), {m['cores']} cores; Python {m['python']}, "
        f"torch {m['torch']} ({m['torch_threads']} threads), nvidia-pytriton "
        f"{m['nvidia-pytriton']} (tritonserver 2.51, Python backend), tritonclient "
        f"{m['tritonclient']}, numpy {m['numpy']}; vggdeploy at {m['vggdeploy_commit']}; "
        f"{result['date']}. Load average (1/5/15 min) {_load(result['load_average_before_1_5_15'])}"
        f" before and {_load(m['load_average_1_5_15'])} after the run: other jobs shared the 2 "
        "cores, so absolute numbers are pessimistic; the same-run ratios are what to read. "
        f"Model: {result['model']} (torch backend), served with "
        "`vggdeploy serve` defaults (max batch 64, 1 ms queue delay) and with `--max-batch 1`.",
        "",
        "Each request is one real Fashion-MNIST test image as PNG bytes (`image` input; the "
        "in-process rows call `Predictor.predict(png_bytes)`), sent back to back by C client "
        "threads in one Python process on the same machine as the server.",
        "",
        "| mode | protocol | clients | requests | req/s | p50 ms | p99 ms | mean batch | "
        "req/s vs in-process |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ratio = r["throughput_rps"] / base[r["concurrency"]]["throughput_rps"]
        lines.append(
            f"| {r['mode']} | {r['protocol']} | {r['concurrency']} | {r['requests']} | "
            f"{r['throughput_rps']:,.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r.get('mean_batch', '-')} | {ratio:.2f}x |"
        )
    lines += ["", "## What the numbers say (from the table above)", ""]
    lines += summary(rows, base)
    md.write_text("\n".join(lines) + "\n")


def _load(values) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def summary(rows: list[dict], base: dict) -> list[str]:
    def row(mode: str, protocol: str, c: int) -> dict:
        return next(
            r
            for r in rows
            if r["mode"] == mode and r["protocol"] == protocol and r["concurrency"] == c
        )

    out = []
    for protocol in ("http", "grpc"):
        one = row("server (batching)", protocol, 1)
        cost = one["p50_ms"] - base[1]["p50_ms"]
        out.append(
            f"- Server cost per request ({protocol.upper()}, one client): p50 {one['p50_ms']:.2f} "
            f"ms against {base[1]['p50_ms']:.2f} ms in process, i.e. {cost:+.2f} ms for the "
            "client encode, the network stack, Triton's scheduling and the Python backend's "
            "round trip to the vggdeploy process."
        )
    for protocol in ("http", "grpc"):
        on = row("server (batching)", protocol, 16)
        off = row("server (no-batching)", protocol, 16)
        out.append(
            f"- 16 clients, {protocol.upper()}: dynamic batching {on['throughput_rps']:,.1f} req/s "
            f"(mean executed batch {on['mean_batch']}) vs {off['throughput_rps']:,.1f} req/s "
            f"with `--max-batch 1` ({on['throughput_rps'] / off['throughput_rps']:.2f}x); "
            f"in-process Predictor with 16 threads: {base[16]['throughput_rps']:,.1f} req/s."
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "tests/assets/vgg-mini-default")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks/results/cpu-amd-epyc-2c")
    ap.add_argument("--report", type=Path, default=ROOT / "benchmarks/SERVING.md")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    out = args.results / "serving.json"
    if not args.report_only:
        from server_helpers import png_bytes

        from vggdeploy.data.fashion_mnist import load_split

        images = load_split("test", args.data_dir).images[: args.images]
        payloads = [png_bytes(im) for im in images]
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = Path(tmp) / "fmnist-default"
            model_dir.mkdir()
            for name in ("model.json", "model.safetensors"):
                shutil.copy2(args.model / name, model_dir / name)
            started = time.time()
            load_before = os.getloadavg()
            rows = measure(model_dir, payloads)
        result = {
            "command": ".venv/bin/python benchmarks/serving_bench.py",
            "date": datetime.date.today().isoformat(),
            "seconds": round(time.time() - started, 1),
            "machine": machine(),
            "load_average_before_1_5_15": load_before,
            "model": f"{args.model.relative_to(ROOT)} (vgg-mini, 92.88 % top-1)",
            "images": len(payloads),
            "median_p50_in_process_ms": statistics.median(
                r["p50_ms"] for r in rows if r["mode"].startswith("in-process")
            ),
            "rows": rows,
        }
        args.results.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    result = json.loads(out.read_text())
    result["json"] = os.path.relpath(out, args.report.parent)
    report(result, args.report)
    print(f"wrote {out} and {args.report}")


if __name__ == "__main__":
    main()
