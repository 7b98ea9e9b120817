#!/usr/bin/python3
"""
PyTorch peer of bench/transformer.bench.ts: the same GPT-Neo models, batch, optimizer and sampling
loop in plain torch (2 threads), so the engine's figures can be read beside PyTorch's in one run.

    /usr/bin/python3 bench/pytorch_peer.py [--threads 2] [--quick]

Run it tuned, as the benchmark does (bench/transformer.bench.ts, peerEnv; README "The PyTorch peer"):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \
        OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE \
        /usr/bin/python3 bench/pytorch_peer.py --threads 2

(needs python3-torch libopenblas0-openmp libjemalloc2; "blasCore" in the output names the kernel
OpenBLAS chose).

Prints one JSON object on stdout:
    {"torch": "1.13.1", "threads": 2, "blas": "/usr/lib/.../libblas.so.3",
     "matmul": {"512": GFLOP/s, "2048": GFLOP/s},
     "train": {"S": tokens/s, "M": tokens/s, "T1M": tokens/s},
     "sample": {"S_64x256": tokens/s, "S_1x256": tokens/s}}

The model is test/fixtures/transformer/make_reference.py's GPT-Neo (Hugging Face's
modeling_gpt_neo.py written out in torch: learned positions, pre-LayerNorm blocks, q/k/v without
bias, unscaled scores, local/global masks, gelu_new, tied lm_head), as nn.Modules with fused qkv
weights; training is forward + cross-entropy + backward + torch.optim.AdamW (betas 0.9/0.95,
gradient clipping 1.0, as the engine's defaults); sampling draws 256 tokens per sequence with a
KV cache (softmax over the vocabulary, multinomial), EOS ignored so every sequence runs to full
length, as the engine's benchmark does with random weights.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

S = dict(vocab=4096, hidden=64, layers=8, heads=16, window=256, ctx=2048)
M = dict(vocab=8192, hidden=128, layers=4, heads=8, window=256, ctx=2048)
T1M = dict(vocab=50257, hidden=64, layers=8, heads=16, window=256, ctx=2048)  # TinyStories-1M
B, T = 16, 256


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Block(nn.Module):
    def __init__(self, C, H, local, window):
        super().__init__()
        self.C, self.H, self.local, self.window = C, H, local, window
        self.ln_1 = nn.LayerNorm(C, eps=1e-5)
        self.qkv = nn.Linear(C, 3 * C, bias=False)  # q_proj | k_proj | v_proj
        self.out_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C, eps=1e-5)
        self.c_fc = nn.Linear(C, 4 * C)
        self.c_proj = nn.Linear(4 * C, C)

    def mask(self, Tq, Tk, device):
        # query i (absolute Tk - Tq + i) sees key j iff j <= i and (global or j > i - window)
        i = torch.arange(Tk - Tq, Tk, device=device).unsqueeze(1)
        j = torch.arange(Tk, device=device).unsqueeze(0)
        m = j <= i
        if self.local:
            m = m & (j > i - self.window)
        return m

    def forward(self, x, cache=None):
        Bn, Tq, C = x.shape
        H, hd = self.H, C // self.H
        a = self.ln_1(x)
        q, k, v = self.qkv(a).split(C, dim=2)
        q = q.view(Bn, Tq, H, hd).transpose(1, 2)
        k = k.view(Bn, Tq, H, hd).transpose(1, 2)
        v = v.view(Bn, Tq, H, hd).transpose(1, 2)
        if cache is not None:
            kc, vc, n = cache  # preallocated (B, H, maxLen, hd), n = positions filled
            kc[:, :, n:n + Tq] = k
            vc[:, :, n:n + Tq] = v
            k, v = kc[:, :, :n + Tq], vc[:, :, :n + Tq]
        Tk = k.shape[2]
        s = q @ k.transpose(-1, -2)  # GPT-Neo: no 1/sqrt(hd)
        s = s.masked_fill(~self.mask(Tq, Tk, x.device), torch.finfo(s.dtype).min)
        o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(Bn, Tq, C)
        x = x + self.out_proj(o)
        x = x + self.c_proj(gelu_new(self.c_fc(self.ln_2(x))))
        return x


class GPTNeo(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C = cfg["hidden"]
        self.cfg = cfg
        self.wte = nn.Embedding(cfg["vocab"], C)
        self.wpe = nn.Embedding(cfg["ctx"], C)
        self.h = nn.ModuleList(Block(C, cfg["heads"], l % 2 == 1, cfg["window"]) for l in range(cfg["layers"]))
        self.ln_f = nn.LayerNorm(C, eps=1e-5)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx, pos0=0, caches=None):
        Tq = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(pos0, pos0 + Tq, device=idx.device))
        for l, blk in enumerate(self.h):
            x = blk(x, None if caches is None else (caches[l][0], caches[l][1], pos0))
        return self.ln_f(x) @ self.wte.weight.t()  # lm_head tied to wte


def best_of(fn, reps, warm=1):
    for _ in range(warm):
        fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_matmul(n, reps):
    a, b = torch.randn(n, n), torch.randn(n, n)
    sec = best_of(lambda: a @ b.t(), reps)
    return 2.0 * n ** 3 / sec / 1e9


def bench_train(cfg, steps):
    torch.manual_seed(1)
    model = GPTNeo(cfg)
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.0), dict(params=other, weight_decay=0.0)], lr=1e-3, betas=(0.9, 0.95),
                            eps=1e-8)
    data = torch.randint(3, cfg["vocab"], (steps + 1, B, T + 1))

    def step(i):
        x, y = data[i, :, :-1], data[i, :, 1:]
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step(steps)  # warm-up
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    return steps * B * T / (time.perf_counter() - t0)


@torch.no_grad()
def bench_sample(cfg, nseq, length, reps):
    torch.manual_seed(1)
    model = GPTNeo(cfg).eval()
    C, H, L = cfg["hidden"], cfg["heads"], cfg["layers"]
    hd = C // H

    def run():
        caches = [(torch.zeros(nseq, H, length, hd), torch.zeros(nseq, H, length, hd)) for _ in range(L)]
        tok = torch.full((nseq, 1), 1, dtype=torch.long)  # BOS
        g = torch.Generator().manual_seed(1)
        for p in range(length):
            logits = model(tok, p, caches)[:, -1, :]
            probs = torch.softmax(logits, dim=-1)
            tok = torch.multinomial(probs, 1, generator=g)

    return nseq * length / best_of(run, reps)


def blas_library():
    """The BLAS shared library torch's process has mapped (Debian's torch uses the system libblas.so.3:
    the reference BLAS unless OpenBLAS is installed, which changes its matmul speed ~40x)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        real = sorted({__import__("os").path.realpath(l) for l in libs})
        return ", ".join(real) or "unknown"
    except OSError:
        return "unknown"


def blas_core():
    """OpenBLAS's kernel name (openblas_get_corename), e.g. Cooperlake, SkylakeX, Haswell, Zen."""
    try:
        import ctypes
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "libopenblas" in line and "/" in line})
        for lib in libs:
            h = ctypes.CDLL(lib)
            h.openblas_get_corename.restype = ctypes.c_char_p
            return h.openblas_get_corename().decode()
    except (OSError, AttributeError):
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    q = args.quick
    out = {"torch": torch.__version__, "threads": args.threads}
    out["matmul"] = {"512": bench_matmul(512, 5 if q else 20), "2048": bench_matmul(2048, 2 if q else 3)}
    out["train"] = {"S": bench_train(S, 2 if q else 3), "M": bench_train(M, 2 if q else 3), "T1M": bench_train(T1M, 2)}
    out["sample"] = {"S_64x256": bench_sample(S, 64, 256, 1), "S_1x256": bench_sample(S, 1, 256, 1 if q else 2)}
    out["blas"] = blas_library()
    out["blasCore"] = blas_core()
    out["env"] = {k: __import__("os").environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE",
                                                                 "LD_LIBRARY_PATH", "LD_PRELOAD")}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
