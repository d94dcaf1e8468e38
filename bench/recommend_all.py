"""Top-10 for every user of 1,000,000 x 500,000 items: the project's scorer against FAISS at its best.

Builds random embeddings (dimension 26) for 1M users and 500K items, with
~20 already-rated items per user and an item bias, then times, on the same
sample of users and in the same process:

(a) the project's scorer, `TopKScorer.top_k` (exact; bias; rated items
    excluded), in blocks of 1,024 users as `beam_jobs.recommend_all` calls it;
(b) FAISS's exact `IndexFlatIP` on the same vectors augmented so that it
    scores the same thing (user [u, 1] . item [v, bias]), in every
    configuration of the sweep: queries per `search` call (1,024 up to the
    whole sample in one call: FAISS blocks queries for BLAS itself and is
    fastest given many) x OpenMP threads (1 and all).  FAISS cannot exclude
    rated items, so each call asks for k + the most rated items of any user
    in the call, and the rated ones are dropped afterwards (not timed).

Every configuration runs once per round, the product first in even rounds and
last in odd ones, for `--rounds` rounds; each keeps its best round.  FAISS's
reference is its best configuration, so the ratio is against FAISS at its
best in the same run, on the same (possibly shared and noisy) machine.

GFLOP/s counts the full product, 2 x (dim + 1) x items per user, whatever the
scorer skips; the machine's peak is cores x clock x vector lanes x 2 (FMA) x
FMA pipes, read from /proc/cpuinfo (see `machine_peak`), beside the best
rate a large float32 matrix product reaches here (TensorFlow, 2,048^2).  A VM
reports its nominal clock; when that matmul does more GFLOP per CPU-second
than one core could at that clock, the core is boosting, and the peak uses
the clock the measurement implies instead (a lower bound on the real one).

It also times the whole `recommend_block` (scores, predicted ratings, Arrow
rows) and a numpy brute force on a few users, and checks that the top-10 sets
agree (with FAISS: every user of every configuration; with numpy: sets and
order).

`--model DIR` takes a trained model's vectors, rated items and chosen
ranking weights instead of random ones: FAISS's rate does not depend on the
vectors, the scorer's threshold does (trained items are not isotropic and a
vocabulary lists the popular ones first).

    python bench/recommend_all.py [--sample 8192] [--rounds 3] [--queries-per-call 1024,4096,all]
    python bench/recommend_all.py --model runs/job/model      # a trained model (the serving version)
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from beam_jobs.recommend_all import recommend_block  # noqa: E402
from bench.results import add_results_option, write_results  # noqa: E402
from embedding_uses.ranking_score import RankingWeights  # noqa: E402
from embedding_uses.recommend import EmbeddingIndex  # noqa: E402
from embedding_uses.topk import DEFAULT_BLOCK, brute_force_top_k  # noqa: E402
from stage_contracts.model_dir import resolve_version  # noqa: E402


@dataclass(frozen=True)
class Peak:
    """The machine's float32 peak and how it was derived, so the figure can be checked by hand."""

    cores: int
    ghz: float
    lanes: int
    pipes: int
    note: str

    @property
    def gflops(self) -> float:
        return self.cores * self.ghz * self.lanes * 2 * self.pipes


def machine_peak(ghz: float | None, pipes: int, per_core_gflops: float) -> Peak:
    """Float32 FMA peak from /proc/cpuinfo: vector width from the flags, clock from `cpu MHz` (the nominal
    clock a VM reports; pass --clock-ghz for another) or, when higher, the clock that `per_core_gflops` (a
    measured matmul's GFLOP per CPU-second) needs at that width, `pipes` FMA units per core.

    AMD family 25 (Zen 3/4) executes a 512-bit instruction as two 256-bit halves, so there the lanes are 8
    whatever the flags say: counting 16 would double the peak and flatter the distance to it.
    """
    info = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    field = {line.split(":")[0].strip(): line.split(":", 1)[1].strip() for line in info.splitlines() if ":" in line}
    flags = set(field.get("flags", "").split())
    lanes = 16 if "avx512f" in flags else 8 if "avx" in flags else 4
    note = ("avx512f" if lanes == 16 else "avx/avx2" if lanes == 8 else "sse") + (" + fma" if "fma" in flags else "")
    if field.get("vendor_id") == "AuthenticAMD" and field.get("cpu family") == "25" and lanes == 16:
        lanes, note = 8, note + ", AMD family 25: 512-bit ops run as two 256-bit halves"
    if "fma" not in flags:
        pipes, note = 1, note + " (no FMA: a multiply and an add)"
    clock = ghz or float(field.get("cpu MHz", "0")) / 1000
    implied = per_core_gflops / (lanes * 2 * pipes)
    if implied > clock:
        note += f"; clock {implied:.2f} GHz as a measured matmul implies (nominal {clock:.2f})"
    return Peak(os.cpu_count() or 1, max(clock, implied), lanes, pipes, note)


def measured_gemm_gflops(rounds: int) -> tuple[float, float]:
    """The best rate of a large float32 matrix product here, per second and per CPU-second: what a GEMM
    reaches on this machine now, and on one core."""
    a = tf.random.normal([2048, 2048])
    tf.matmul(a, a).numpy()
    best = np.full(2, np.inf)
    for _ in range(rounds):
        t, cpu = time.perf_counter(), time.process_time()
        tf.matmul(a, a).numpy()
        best = np.minimum(best, [time.perf_counter() - t, time.process_time() - cpu])
    return 2 * 2048 ** 3 / best[0] / 1e9, 2 * 2048 ** 3 / best[1] / 1e9


def faiss_top_k(index: faiss.IndexFlatIP, users: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                k: int, per_call: int) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's top k + max rated, `per_call` queries per search, timed (wall, CPU); rated items then dropped
    (untimed) to leave each user's top k."""
    augmented = np.hstack([users, np.ones((len(users), 1), np.float32)])
    counts = np.diff(indptr)
    found, seconds = [], np.zeros(2)
    for start in range(0, len(users), per_call):
        t, cpu = time.perf_counter(), time.process_time()
        _, ids = index.search(augmented[start:start + per_call], k + int(counts[start:start + per_call].max(initial=0)))
        seconds += [time.perf_counter() - t, time.process_time() - cpu]
        found.append(ids)
    top = np.empty((len(users), k), np.int64)
    for row, ids in enumerate(np.concatenate(found)):
        rated = indices[indptr[row]:indptr[row + 1]]
        top[row] = ids[~np.isin(ids, rated)][:k]
    return top, seconds


def same_sets(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.all(np.sort(a, axis=1) == np.sort(b, axis=1), axis=1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--dim", type=int, default=26)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--sample", type=int, default=8 * DEFAULT_BLOCK, help="users timed through scorer and FAISS")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; each configuration keeps its best")
    parser.add_argument("--queries-per-call", default="1024,4096,all",
                        help="FAISS queries per search call, comma-separated ('all': the whole sample in one call)")
    parser.add_argument("--threads", default=f"1,{faiss.omp_get_max_threads()}", help="FAISS OpenMP threads to try")
    parser.add_argument("--reference-sample", type=int, default=256, help="users timed through numpy")
    parser.add_argument("--rated", type=int, default=20, help="already-rated items per user")
    parser.add_argument("--clock-ghz", type=float, help="clock for the peak (default: cpu MHz in /proc/cpuinfo)")
    parser.add_argument("--fma-pipes", type=int, default=2, help="FMA units per core for the peak (Zen 4: 2)")
    parser.add_argument("--model", help="a trained model (folder or version): its vectors instead of random ones")
    add_results_option(parser)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    t = time.time()
    if args.model:
        index = EmbeddingIndex(resolve_version(args.model))
        weights = index.weights
        items, item_bias = index.scorer(args.k, weights).scored_items
        users, (indptr, indices) = index.users, (index.rated_indptr, index.rated_indices)
        args.users, (args.items, args.dim) = len(users), items.shape
    else:
        users = rng.normal(0, 0.3, (args.users, args.dim)).astype(np.float32)
        items = rng.normal(0, 0.3, (args.items, args.dim)).astype(np.float32)
        item_bias = rng.normal(0, 0.2, args.items).astype(np.float32)
        indptr = np.arange(args.users + 1, dtype=np.int64) * args.rated
        indices = rng.integers(0, args.items, args.users * args.rated).astype(np.int32)
        index = EmbeddingIndex.from_arrays(items, users, indptr, indices, item_bias=item_bias)
        weights = RankingWeights()
    scorer = index.scorer(args.k, weights)
    flat = faiss.IndexFlatIP(args.dim + 1)
    flat.add(np.hstack([items, item_bias[:, None]]))
    print(f"Built {args.users:,} users x {args.items:,} items, dim {args.dim}"
          f"{' (' + args.model + ')' if args.model else ''}, in {time.time() - t:.1f}s")

    sample = np.sort(rng.choice(args.users, args.sample, replace=False))
    sample_rated = index.rated_by(sample)
    blocks = [sample[start:start + DEFAULT_BLOCK] for start in range(0, len(sample), DEFAULT_BLOCK)]
    t = time.time()
    scorer.top_k(users[blocks[0]], *index.rated_by(blocks[0]))  # trace the graph once
    print(f"Scorer ready (graph traced) in {time.time() - t:.1f}s")

    def run_product() -> tuple[np.ndarray, np.ndarray]:
        top, seconds = [], np.zeros(2)
        for block in blocks:
            rated = index.rated_by(block)
            t, cpu = time.perf_counter(), time.process_time()
            top.append(scorer.top_k(users[block], *rated)[0])
            seconds += [time.perf_counter() - t, time.process_time() - cpu]
        return np.concatenate(top), seconds

    per_calls = sorted({len(sample) if q == "all" else min(int(q), len(sample))
                        for q in args.queries_per_call.split(",")})
    configs = [(q, int(n)) for q in per_calls for n in args.threads.split(",")]
    names = ["project"] + [f"faiss {q:,}/call, {n} thread{'s' * (n > 1)}" for q, n in configs]
    best = {name: np.full(2, np.inf) for name in names}
    found: dict[str, np.ndarray] = {}
    default_threads = faiss.omp_get_max_threads()
    for round_ in range(args.rounds):
        runs = [("project", run_product)] + [
            (name, lambda q=q, n=n: (faiss.omp_set_num_threads(n),
                                     faiss_top_k(flat, users[sample], *sample_rated, args.k, q))[1])
            for name, (q, n) in zip(names[1:], configs)]
        for name, run in runs if round_ % 2 == 0 else runs[::-1]:
            found[name], seconds = run()
            best[name] = np.minimum(best[name], seconds)  # wall and CPU each at their best
        print(f"round {round_ + 1}/{args.rounds}: " + ", ".join(
            f"{name} {len(sample) / best[name][0]:,.0f}" for name in names) + " users/s (best so far)", flush=True)
    faiss.omp_set_num_threads(default_threads)
    rate = {name: len(sample) / s[0] for name, s in best.items()}
    per_cpu = {name: len(sample) / s[1] for name, s in best.items()}
    faiss_best = max(names[1:], key=rate.get)

    t = time.time()
    rows = sum(recommend_block(index, scorer, block, weights).num_rows for block in blocks[:4])
    job_users = sum(len(block) for block in blocks[:4])
    job_rate = job_users / (time.time() - t)

    ref_users = sample[:args.reference_sample]
    t = time.time()
    ref_idx, _ = brute_force_top_k(users[ref_users], items, item_bias, args.k,
                                   [indices[indptr[u]:indptr[u + 1]] for u in ref_users])
    reference_rate = len(ref_users) / (time.time() - t)
    ours, n_ref = found["project"], len(ref_users)

    gemm, gemm_per_core = measured_gemm_gflops(args.rounds)
    peak = machine_peak(args.clock_ghz, args.fma_pipes, gemm_per_core)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    flop = 2 * (args.dim + 1) * args.items
    print(f"\nmachine peak (float32): {peak.gflops:.0f} GFLOP/s = {peak.cores} cores x {peak.ghz:.2f} GHz x "
          f"{peak.lanes} lanes x 2 (FMA) x {peak.pipes} FMA pipes [{peak.note}]; a 2,048^2 float32 matmul "
          f"reaches {gemm:.0f} GFLOP/s here now ({gemm_per_core:.0f} per CPU-second)")
    print(f"{'':<34} {'users/s':>8} {'GFLOP/s':>8} {'of peak':>8} {'users/CPU-s':>12} {'same top-10 sets':>17}")
    for name in names:
        agree = "" if name == "project" else f"{100 * same_sets(ours, found[name]):.2f}%"
        mark = " <- FAISS at its best" if name == faiss_best else ""
        print(f"{name:<34} {rate[name]:>8,.0f} {rate[name] * flop / 1e9:>8.1f} "
              f"{100 * rate[name] * flop / 1e9 / peak.gflops:>7.1f}% {per_cpu[name]:>12,.0f} {agree:>17}{mark}")
    print(f"project / FAISS at its best ({faiss_best}): {rate['project'] / rate[faiss_best]:.2f}x, same run, "
          f"best of {args.rounds} alternating rounds on {len(sample):,} users "
          f"(per CPU-second: {per_cpu['project'] / per_cpu[faiss_best]:.2f}x)")
    print(f"recommend_block (scores + Arrow rows): {job_rate:,.0f} users/s on {job_users:,} users ({rows:,} rows)")
    print(f"numpy brute force: {reference_rate:,.0f} users/s on {n_ref:,} users; project vs numpy: same sets "
          f"{100 * same_sets(ours[:n_ref], ref_idx):.2f}%, same order {100 * np.mean(np.all(ours[:n_ref] == ref_idx, axis=1)):.2f}%")
    print(f"projected for all {args.users:,} users: project {args.users / rate['project'] / 60:.1f} min, "
          f"FAISS at its best {args.users / rate[faiss_best] / 60:.1f} min")
    print(f"peak RSS: {rss:,.0f} MiB")
    write_results(
        args.results, ("scorer", "users/s", "GFLOP/s", "of peak", "users per CPU-second", "same top-10 sets"),
        [(name + (" (FAISS at its best)" if name == faiss_best else ""), round(rate[name]),
          round(rate[name] * flop / 1e9, 1), f"{100 * rate[name] * flop / 1e9 / peak.gflops:.0f}%",
          round(per_cpu[name]), "" if name == "project" else f"{100 * same_sets(ours, found[name]):.2f}%")
         for name in names],
        [f"{args.users:,} users x {args.items:,} items, dimension {args.dim}, {len(sample):,} users timed, "
         f"best of {args.rounds} alternating rounds; peak {peak.gflops:.0f} GFLOP/s",
         f"project / FAISS at its best: {rate['project'] / rate[faiss_best]:.2f}x same run "
         f"({per_cpu['project'] / per_cpu[faiss_best]:.2f}x per CPU-second)",
         f"projected for all {args.users:,} users: {args.users / rate['project'] / 60:.1f} min; peak RSS "
         f"{rss / 1024:.1f} GiB"])


if __name__ == "__main__":
    main()
