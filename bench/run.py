#!/usr/bin/env python3
"""Side-by-side benchmark: Chimera artifacts vs llama.cpp on the same weights.

usage: bench/run.py [--models llama-125m,mamba-130m,jamba-tiny,mixtral-tiny]
                    [--formats f32,int8,int8a8,int4,int4a8] [--reps 5] [--threads 2]
                    [--work /tmp/chimera-bench] [--markdown FILE]

Needs `bash scripts/build.sh` (chimera-compile, chimera-bench) and
`bash bench/setup_peer.sh` (llama.cpp + models under --work). In one run it:
  1. measures the machine: DRAM read bandwidth (roofline/stream_triad.c,
     ReadSum, 2 GiB arrays) and FP32 FMA peak (roofline/fma_peak.c), the
     peak again before every f32 repetition (a shared VM's speed drifts
     between repetitions; each prefill is divided by the peak beside it);
  2. compiles each model's HF folder with chimera-compile, per format:
     f32 (against llama.cpp's F32 GGUF), int8 (--quant=int8 against Q8_0),
     int4 (--quant=int4, group 32, against Q4_0), int8a8 / int4a8 (the
     same with --quant-activations=int8);
  3. for each repetition, runs chimera-bench then llama-bench (pp128, pp512,
     tg128, one repetition each), alternating A B A B ...;
  4. prints medians, our/peer ratios, decode bytes/token ÷ bandwidth and
     prefill FLOPs ÷ peak (ours and the peer's, medians over repetitions),
     and, for f32, our GEMM's FLOP/s ÷ peak: the same linear-layer FLOPs
     of pp512 ÷ the time its matmul kernels took in that repetition
     (chimera-bench --profile, the runtime's per-kernel timer) ÷ the peak
     beside it; and writes them as a markdown table.
Decode bytes/token are the weight file's size less the embedding table
where a token reads only one row of it: an untied table, or (ours) a tied
one, whose LM head reads its own copy (panels or codes). Every other weight is read per
token; for MoE models it is an upper bound, the unrouted experts included.
Our table stays f32 in every format; llama.cpp's size is read from the
GGUF's tensor table.
Prefill FLOPs of a prompt of P tokens = 2 x the linear layers' weights
per token (read from the checkpoint's safetensors headers: every matrix
but the embedding table and A_log; an MoE expert's weighted by top-k /
experts, the share of tokens it takes) + 2 x the LM head's once (a
prefill computes the last position's logits). Attention's score FLOPs
are not counted, so the fraction is a lower bound.
"""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = ["pp128", "pp512", "tg128"]
FORMATS = {"f32": ([], "f32"), "int8": (["--quant=int8"], "Q8_0"),
           "int4": (["--quant=int4"], "Q4_0"),
           # x quantised to int8 per 32, as llama.cpp's Q4_0/Q8_0 kernels do.
           "int8a8": (["--quant=int8", "--quant-activations=int8"], "Q8_0"),
           "int4a8": (["--quant=int4", "--quant-activations=int8"], "Q4_0")}


# GGUF tensor types: (weights per block, bytes per block).
GGML_TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144),
              14: (256, 210), 30: (1, 2)}


def gguf_tensor_bytes(path, wanted):
    """Bytes of tensor `wanted` in the GGUF file at `path` (its header)."""
    import struct
    with open(path, "rb") as f:
        def read(fmt):
            return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]

        def string():
            return f.read(read("Q")).decode()
        scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
                  10: "Q", 11: "q", 12: "d"}

        def value(kind):
            if kind == 8:
                return string()
            if kind == 9:
                item, count = read("I"), read("Q")
                return [value(item) for _ in range(count)]
            return read(scalar[kind])
        if f.read(4) != b"GGUF" or read("I") < 2:
            sys.exit("%s: not a GGUF v2+ file" % path)
        tensors, kvs = read("Q"), read("Q")
        for _ in range(kvs):
            string()
            value(read("I"))
        for _ in range(tensors):
            name = string()
            dims = [read("Q") for _ in range(read("I"))]
            kind = read("I")
            read("Q")  # offset
            if name == wanted:
                if kind not in GGML_TYPES:
                    sys.exit("%s: tensor %s has GGML type %d, whose size this "
                             "script does not know" % (path, name, kind))
                per, size = GGML_TYPES[kind]
                count = 1
                for d in dims:
                    count *= d
                return count // per * size
    return 0


def prefill_gflop_per_token(hf, prompt):
    """Linear-layer GFLOPs per token of a `prompt`-token prefill (see the
    module docstring)."""
    import struct
    with open(os.path.join(hf, "config.json")) as f:
        config = json.load(f)
    experts = config.get("num_local_experts", config.get("num_experts", 0))
    routed = config.get("num_experts_per_tok", 0) / experts if experts else 1
    head = config["vocab_size"] * config.get("hidden_size", config.get("d_model"))
    per_token = 0.0
    for name in sorted(os.listdir(hf)):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(hf, name), "rb") as f:
            header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
        for tensor, info in header.items():
            shape = info.get("shape", []) if isinstance(info, dict) else []
            if len(shape) != 2 or "embed" in tensor or tensor.endswith("A_log") \
                    or tensor == "lm_head.weight":
                continue
            per_token += shape[0] * shape[1] * (routed if ".experts." in tensor else 1)
    return 2 * (per_token + head / prompt) / 1e9


def unread_table_bytes(hf, fmt, gguf):
    """Bytes of the embedding table a decode step does not read (all but
    one row), ours and the peer's."""
    with open(os.path.join(hf, "config.json")) as f:
        config = json.load(f)
    vocab = config["vocab_size"]
    hidden = config.get("hidden_size", config.get("d_model"))
    tied = config.get("tie_word_embeddings", True)
    # The LM head of a tied table reads its own copy in every format (f32:
    # chimera-pack-weights' panels, since session 14; quantised: its codes).
    ours = (vocab - 1) * hidden * 4
    peer = 0 if tied else gguf_tensor_bytes(gguf, "token_embd.weight") * (vocab - 1) // vocab
    return ours, peer


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def roofline_env(threads):
    return dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_PROC_BIND="close")


def fma_peak(work, threads):
    text = run([os.path.join(work, "fma_peak")], env=roofline_env(threads))
    return float(re.search(r"AVX-512 FP32 FMA peak: (\S+) GFLOP/s", text).group(1))


def machine(work, threads):
    for name in ["stream_triad", "fma_peak"]:
        run(["gcc", "-O3", "-march=native", "-fopenmp",
             os.path.join(ROOT, "bench", "roofline", name + ".c"), "-o",
             os.path.join(work, name)])
    text = run([os.path.join(work, "stream_triad")], env=roofline_env(threads))
    return {"bandwidth_gbs": float(re.search(r"ReadSum\s+best\s+\S+ s\s+(\S+) GB/s", text).group(1)),
            "peak_gflops": fma_peak(work, threads)}


# Kernels of linear layers (chimera-outline-kernels names them by tag).
GEMM_KERNELS = re.compile(r"_(expert_)?matmul$")


def chimera_rep(artifact, threads):
    """tokens/s per test, and the seconds pp512's matmul kernels took."""
    out = run([os.path.join(ROOT, "build", "bin", "chimera-bench"), artifact,
               "--pp=128", "--pp=512", "--tg=128", "--reps=1",
               "--threads=%d" % threads, "--profile", "--json"])
    tests = {j["test"]: j for j in map(json.loads, out.strip().split("\n"))}
    gemm = sum(k["seconds"] for k in tests["pp512"]["kernels"] if GEMM_KERNELS.search(k["name"]))
    return {t: j["median_tps"] for t, j in tests.items()}, gemm


def peer_rep(work, gguf, threads):
    out = run([os.path.join(work, "llama.cpp", "build", "bin", "llama-bench"),
               "-m", gguf, "-t", str(threads), "-p", "128,512", "-n", "128",
               "-r", "1", "-o", "json"])
    result = {}
    for row in json.loads(out):
        test = ("pp%d" % row["n_prompt"]) if row["n_prompt"] else ("tg%d" % row["n_gen"])
        result[test] = row["avg_ts"]
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="llama-125m,mamba-130m,jamba-tiny,mixtral-tiny")
    ap.add_argument("--formats", default="f32")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default=os.environ.get("CHIMERA_BENCH_DIR", "/tmp/chimera-bench"))
    ap.add_argument("--markdown", default=os.path.join(ROOT, "bench", "results.md"))
    a = ap.parse_args()

    limits = machine(a.work, a.threads)
    print("machine: DRAM read %.1f GB/s, FP32 FMA peak %.0f GFLOP/s (%d threads)" % (
        limits["bandwidth_gbs"], limits["peak_gflops"], a.threads), flush=True)
    rows = []
    for model in a.models.split(","):
      for fmt in a.formats.split(","):
        flags, peer_suffix = FORMATS[fmt]
        hf = os.path.join(a.work, "models", "hf", model)
        gguf = os.path.join(a.work, "models", "gguf", "%s-%s.gguf" % (model, peer_suffix))
        artifact = os.path.join(a.work, "artifacts", "%s-%s" % (model, fmt))
        run([os.path.join(ROOT, "build", "bin", "chimera-compile"), hf, "-o", artifact,
             "--max-seq-len=640", "--max-batch=1", "--quiet"] + flags)
        unread, peer_unread = unread_table_bytes(hf, fmt, gguf)
        weight_bytes = os.path.getsize(os.path.join(artifact, "weights.bin")) - unread
        peer_bytes = os.path.getsize(gguf) - peer_unread
        ours = {t: [] for t in TESTS}
        peer = {t: [] for t in TESTS}
        gflop_per_token = prefill_gflop_per_token(hf, 512)
        fractions, peer_fractions, gemm_fractions, peaks = [], [], [], []
        for r in range(a.reps):
            if fmt == "f32":
                peaks.append(fma_peak(a.work, a.threads))
            rates, gemm_seconds = chimera_rep(artifact, a.threads)
            for t, v in rates.items():
                ours[t].append(v)
            for t, v in peer_rep(a.work, gguf, a.threads).items():
                peer[t].append(v)
            if peaks:
                fractions.append(ours["pp512"][-1] * gflop_per_token / peaks[-1])
                peer_fractions.append(peer["pp512"][-1] * gflop_per_token / peaks[-1])
                gemm_fractions.append(512 * gflop_per_token / gemm_seconds / peaks[-1])
            print("  %s %s rep %d/%d: chimera %s | llama.cpp %s" % (
                model, fmt, r + 1, a.reps,
                " ".join("%s %.1f" % (t, ours[t][-1]) for t in TESTS),
                " ".join("%s %.1f" % (t, peer[t][-1]) for t in TESTS))
                + (" | FMA peak %.0f, GEMM %.3f of it" % (peaks[-1], gemm_fractions[-1])
                   if peaks else ""), flush=True)
        med = {t: statistics.median(ours[t]) for t in TESTS}
        pmed = {t: statistics.median(peer[t]) for t in TESTS}
        rows.append(dict(
            model=model, fmt=fmt, peer_fmt=peer_suffix.upper(), ours=med, peer=pmed,
            weight_bytes=weight_bytes, peer_bytes=peer_bytes,
            decode_bw=med["tg128"] * weight_bytes / 1e9 / limits["bandwidth_gbs"],
            peer_decode_bw=pmed["tg128"] * peer_bytes / 1e9 / limits["bandwidth_gbs"],
            prefill_peak=statistics.median(fractions) if fractions else None,
            peer_prefill_peak=statistics.median(peer_fractions) if peer_fractions else None,
            gemm_peak=statistics.median(gemm_fractions) if gemm_fractions else None,
            peak_range=(min(peaks), max(peaks)) if peaks else None))

    date = datetime.date.today().isoformat()
    lines = [
        "Measured %s with `python3 bench/run.py --reps %d --threads %d` "
        "(medians, tokens/s; chimera and llama.cpp alternated in one run)." % (date, a.reps, a.threads),
        "Machine in the same run: DRAM read %.1f GB/s, FP32 FMA peak %.0f GFLOP/s "
        "(before each f32 repetition: %s)." % (
            limits["bandwidth_gbs"], limits["peak_gflops"],
            ", ".join("%s %.0f-%.0f" % (r["model"], *r["peak_range"])
                      for r in rows if r["peak_range"]) or "none"),
        "",
        "| model | format (ours / peer) | chimera pp128 / pp512 / tg128 | llama.cpp pp128 / pp512 / tg128 | ratio pp512 | ratio tg128 | MB read/token (ours / peer) | decode ÷ DRAM bw (ours / peer) | pp512 ÷ FMA peak (ours / peer) | pp512 GEMM ÷ FMA peak (ours) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        o, p = r["ours"], r["peer"]
        lines.append("| %s | %s / %s | %.1f / %.1f / %.1f | %.1f / %.1f / %.1f | %.2f | %.2f | %.0f / %.0f | %.2f / %.2f | %s | %s |" % (
            r["model"], r["fmt"], r["peer_fmt"], o["pp128"], o["pp512"], o["tg128"],
            p["pp128"], p["pp512"], p["tg128"],
            o["pp512"] / p["pp512"], o["tg128"] / p["tg128"], r["weight_bytes"] / 1e6,
            r["peer_bytes"] / 1e6, r["decode_bw"], r["peer_decode_bw"],
            "%.3f / %.3f" % (r["prefill_peak"], r["peer_prefill_peak"])
            if r["prefill_peak"] is not None else "-",
            "%.3f" % r["gemm_peak"] if r["gemm_peak"] is not None else "-"))
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    # Written whole or not at all: a killed run leaves the last table.
    tmp = a.markdown + ".tmp"
    with open(tmp, "w") as f:
        f.write(table)
    os.replace(tmp, a.markdown)


if __name__ == "__main__":
    main()
