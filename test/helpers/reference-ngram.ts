/**
 * A deliberately naive reference n-gram estimator, written straight from the formulas (THEORY.md,
 * Chen & Goodman 1999 §3, KenLM's lmplz conventions) with Maps of joined strings. It shares no code
 * with the engine; tests compare the engine's rows against it.
 */
export type RefSmoothing = 'mle' | 'add-k' | 'kneser-ney';

export interface RefModel {
  prob(context: number[], w: number): number;
  discounts: [number, number, number][];
  fallback: boolean[];
}

const key = (a: number[]) => a.join(',');

export function referenceModel(
  seqs: number[][],
  opts: { order: number; smoothing: RefSmoothing; k?: number; V: number; bos?: number; eos?: number },
): RefModel {
  const K = opts.order;
  const V = opts.V;
  const bos = opts.bos ?? 1;
  const eos = opts.eos ?? 2;
  const kk = opts.k ?? 1;
  // raw[n]: count of each n-gram (as "w1,..,wn") ending at a target position; an n-gram exists at a
  // position when the history (BOS included) is long enough; no BOS except in first slot.
  const raw: Map<string, number>[] = Array.from({ length: K + 1 }, () => new Map());
  for (const s of seqs) {
    const full = [bos, ...s, eos];
    for (let j = 1; j < full.length; j++) {
      for (let n = 1; n <= K; n++) {
        if (j - n + 1 < 0) break;
        const g = full.slice(j - n + 1, j + 1);
        raw[n]!.set(key(g), (raw[n]!.get(key(g)) ?? 0) + 1);
      }
    }
  }
  // Effective counts.
  const a: Map<string, number>[] = raw.map((m) => new Map(m));
  if (opts.smoothing === 'kneser-ney') {
    for (let n = 1; n < K; n++) {
      const adj = new Map<string, number>();
      for (const g of raw[n]!.keys()) {
        const ids = g.split(',').map(Number);
        if (ids[0] === bos) adj.set(g, raw[n]!.get(g)!);
        else {
          let ext = 0;
          for (const h of raw[n + 1]!.keys()) {
            const hid = h.split(',').map(Number);
            if (key(hid.slice(1)) === g) ext++;
          }
          adj.set(g, ext);
        }
      }
      a[n] = adj;
    }
  }
  const discounts: [number, number, number][] = [];
  const fallback: boolean[] = [];
  for (let n = 1; n <= K; n++) {
    const cc = [0, 0, 0, 0, 0];
    for (const x of a[n]!.values()) if (x >= 1 && x <= 4) cc[x]!++;
    let d: [number, number, number] = [0.5, 1, 1.5];
    let ok = cc[1]! > 0 && cc[2]! > 0 && cc[3]! > 0 && cc[4]! > 0;
    if (ok) {
      const y = cc[1]! / (cc[1]! + 2 * cc[2]!);
      const dd = [1, 2, 3].map((j) => j - (j + 1) * y * (cc[j + 1]! / cc[j]!)) as [number, number, number];
      if (dd.every((x, i) => x >= 0 && x <= i + 1)) d = dd;
      else ok = false;
    }
    discounts.push(opts.smoothing === 'kneser-ney' ? d : [0, 0, 0]);
    fallback.push(opts.smoothing === 'kneser-ney' ? !ok : false);
  }
  // Children of a context at level n (context of length n-1).
  const children = (ctx: number[]): [number, number][] => {
    const n = ctx.length + 1;
    const out: [number, number][] = [];
    const prefix = ctx.length ? key(ctx) + ',' : '';
    for (const [g, c] of a[n]!) {
      if (ctx.length === 0 ? !g.includes(',') : g.startsWith(prefix) && g.split(',').length === n) out.push([Number(g.split(',')[n - 1]), c]);
    }
    return out;
  };
  const uniform = (w: number) => (w === bos ? 0 : 1 / (V - 1));
  const D = (n: number, x: number) => (x === 0 ? 0 : discounts[n - 1]![Math.min(x, 3) - 1]!);
  // Canonical context: after the last BOS, at most K-1 tokens.
  const canon = (ctx: number[]): number[] => {
    let s = ctx.lastIndexOf(bos);
    if (s < 0) s = 0;
    let c = ctx.slice(s);
    if (c.length > K - 1) c = c.slice(c.length - (K - 1));
    return c;
  };
  // Longest suffix of ctx seen as an n-gram (exists in raw counts) — the deepest context node.
  const deepest = (ctx: number[]): number[] => {
    for (let s = 0; s < ctx.length; s++) {
      const c = ctx.slice(s);
      if (c.length === 1 || raw[c.length]!.has(key(c))) return c;
    }
    return [];
  };
  function probAt(ctx: number[], w: number): number {
    // KN: interpolate recursively from the root.
    const ch = children(ctx);
    const denom = ch.reduce((s, [, c]) => s + c, 0);
    const lower = ctx.length === 0 ? uniform(w) : probAt(ctx.slice(1), w);
    if (denom === 0) return lower;
    const c = ch.find(([x]) => x === w)?.[1] ?? 0;
    const n = ctx.length + 1;
    const Ncount = [0, 0, 0];
    for (const [, x] of ch) if (x > 0) Ncount[Math.min(x, 3) - 1]!++;
    const gamma = (discounts[n - 1]![0] * Ncount[0]! + discounts[n - 1]![1] * Ncount[1]! + discounts[n - 1]![2] * Ncount[2]!) / denom;
    return Math.max(0, c - D(n, c)) / denom + gamma * lower;
  }
  return {
    discounts,
    fallback,
    prob(context: number[], w: number): number {
      let ctx = deepest(canon(context));
      if (opts.smoothing === 'kneser-ney') return probAt(ctx, w);
      // MLE / add-k: the longest seen context with children.
      while (ctx.length > 0 && children(ctx).reduce((s, [, c]) => s + c, 0) === 0) ctx = ctx.slice(1);
      const ch = children(ctx);
      const denom = ch.reduce((s, [, c]) => s + c, 0);
      const c = ch.find(([x]) => x === w)?.[1] ?? 0;
      if (opts.smoothing === 'mle') return c / denom;
      return (c + (w === bos ? 0 : kk)) / (denom + kk * (V - 1));
    },
  };
}

/** mulberry32: a tiny seeded generator for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random corpus over ids 3..V-1 with a skewed (Zipf-like) unigram distribution. */
export function randomCorpus(seed: number, nseq: number, V: number, maxLen = 8): { seqs: number[][]; tokens: Uint32Array; offsets: Uint32Array } {
  const r = rng(seed);
  const seqs: number[][] = [];
  for (let i = 0; i < nseq; i++) {
    const len = Math.floor(r() * (maxLen + 1));
    const s: number[] = [];
    for (let j = 0; j < len; j++) s.push(3 + Math.floor(Math.pow(r(), 2) * (V - 3)));
    seqs.push(s);
  }
  return { seqs, ...toCorpus(seqs) };
}

export function toCorpus(seqs: number[][]): { tokens: Uint32Array; offsets: Uint32Array } {
  const offsets = new Uint32Array(seqs.length + 1);
  let n = 0;
  seqs.forEach((s, i) => {
    n += s.length;
    offsets[i + 1] = n;
  });
  return { tokens: Uint32Array.from(seqs.flat()), offsets };
}

/** Pearson's χ² statistic and its degrees of freedom; categories expected < 5 are pooled into one. */
export function chiSquare(observed: number[], expected: number[]): { stat: number; df: number } {
  let stat = 0, df = -1, poolO = 0, poolE = 0;
  observed.forEach((o, i) => {
    const e = expected[i]!;
    if (e >= 5) {
      stat += ((o - e) * (o - e)) / e;
      df++;
    } else {
      poolO += o;
      poolE += e;
    }
  });
  if (poolE > 0) {
    stat += ((poolO - poolE) * (poolO - poolE)) / Math.max(poolE, 1e-9);
    df++;
  }
  return { stat, df };
}

/** Upper quantile of the chi-square distribution (Wilson–Hilferty), for goodness-of-fit tests. */
export function chiSquareCritical(df: number, z = 3.29 /* p = 0.0005 one-sided */): number {
  const h = 2 / (9 * df);
  return df * Math.pow(1 - h + z * Math.sqrt(h), 3);
}
