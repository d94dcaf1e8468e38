"""Exact top-K items for blocks of users, fast enough for a million users x 500,000 items.

Scores are user . item + item bias (the two-tower model's rating, less the
user's constant terms), so the order is the model's predicted-rating order.
Every score is computed, so the work is one matrix product of the block
against all items (27 multiply-adds per pair at dimension 26); what makes it
fast is a float32 product that is never written to memory whole and never
sorted, then an exact re-rank of the few items that can matter:

1. Scan (an XLA-compiled TensorFlow call per half block): the block
   against all items, `chunk_size` items at a time, in float32.  Each
   block x chunk tile, still in cache, is reduced at once to the maxima of
   its groups of `group_size` (32) consecutive items; only those maxima
   are kept.  Nothing else happens per tile: the loop is a matrix product
   and a maximum.  (A bfloat16 scan was
   tried: its product is about twice as fast here, but the tile's
   reduction, not the product, is most of the scan, and its wider error
   bound kept 2.5x the items for the re-rank: no faster in all.)
2. Threshold: T per user is the K-th largest of the group maxima, counting
   only groups without a rated item (a rated item can only raise its
   group's maximum), so K distinct unrated items reach T.  The
   (user, group) pairs whose maximum reaches T - 2E are kept: about ten
   per user on random vectors, thirteen on a trained model's.
3. Re-rank (numpy): the items of those groups are scored again in float64,
   rated items dropped, and the K best taken (ties: lower item index first).

Why it is exact: the scan multiplies the users by the items less their
mean (centred), which adds the same u . mean to all of a user's scores and
so changes no order, but keeps a mean that all items share (trained
embeddings often have one) out of the error bound.  E bounds
|coarse - exact| for the user: `error_bound` (the centred items' rounding
to float32 and float32 accumulation) relative to
sum |u_i| |v_i - mean_i| <= |user| max |centred item|, plus float64's own
rounding in the re-rank and flushed subnormals (`_margin`).  The K unrated
items reaching T score >= T - E in float64, so
every item of the true top K scores at least that, hence at least T - 2E
coarse, so its group is kept.  Users the threshold bounds badly (fewer than
K groups with an unrated item: T = -inf, or scores so flat that most groups
reach T, as when the ranking leans on the predicted rating or on popularity
alone) keep more than 8,192 items and are scored exhaustively instead: every
centred item in float32 in one matrix product for up to 128 such users, then
the items within 2E of each user's K-th best re-ranked in float64.
"""

from __future__ import annotations

import concurrent.futures
import functools
import weakref

import numpy as np
import tensorflow as tf

DEFAULT_BLOCK = 1024
DEFAULT_GROUP = 32
DEFAULT_CHUNK = 1024
DEFAULT_POPULARITY_WEIGHT = 1.0
_FP32_UNIT = 2.0 ** -24
_FP64_UNIT = 2.0 ** -53
_SMALLEST_NORMAL = 2.0 ** -126
_RERANK_ROWS = 128
_MAX_KEPT_ITEMS = 8192  # per user, in kept groups: past that a user is scored exhaustively
_PAD_ROWS = 128  # the scan's block is padded to a multiple of this (one XLA program per size)
_EXHAUSTIVE_ROWS = 128  # users scored exhaustively at once (a float32 row of scores per user and item)
_CENTRE_ROWS = 65536  # item rows centred at a time when a scorer is built


def error_bound(terms: int) -> float:
    """eps such that |coarse - u . (v - mean)| <= eps * sum_i |u_i| |v_i - mean_i| (+ the subnormal term, see
    `_margin`) for the scan's float32 product of `terms` terms.

    The centred item rounded to float32 (1 + 2^-24, and one more 2^-24 spare for its norm), then the products
    rounded and summed in float32 in any order (gamma_terms = terms 2^-24 / (1 - terms 2^-24)).
    """
    gamma = terms * _FP32_UNIT / (1 - terms * _FP32_UNIT)
    return (1 + _FP32_UNIT) ** 2 * (1 + gamma) - 1


class TopKScorer:
    """Holds the item matrix once; `top_k` scores a block of user vectors against it."""

    def __init__(self, item_vectors: np.ndarray, item_bias: np.ndarray | None = None, k: int = 10,
                 group_size: int = DEFAULT_GROUP, chunk_size: int = DEFAULT_CHUNK):
        n_items, dim = item_vectors.shape
        self.n_items, self.k, self.group_size = n_items, min(k, n_items), group_size
        bias = np.zeros(n_items, np.float32) if item_bias is None else item_bias.astype(np.float32)
        # Groups are runs of group_size consecutive items; a chunk holds `stride` of them, and at least K
        # chunks make the threshold when there are K groups (see _scan_block).
        n_groups = -(-n_items // group_size)
        self._stride = max(1, min(chunk_size // group_size, n_groups // max(self.k, 1)))
        self._chunk = self._stride * group_size
        self._n_chunks = -(-n_items // self._chunk)
        padded = self._n_chunks * self._chunk
        # Augmented items [v, b] against users [u, 1] put the bias inside the product.  Padding
        # items, and one spare group at the end (a filler for ragged rows), score -inf.
        items = np.zeros((padded + group_size, dim + 1), np.float32)
        items[:n_items, :dim] = item_vectors
        items[:n_items, dim] = bias
        items[n_items:, dim] = -np.inf
        self._filler_group = padded // group_size
        # Kept in float32: the float64 rows the re-rank scores are exact copies, made for the rows it reads.
        self._items = items
        # The scan's items, centred (see the module's note); padding still scores -inf.  A column with an
        # infinite value is left as it is (its E is then infinite: such users are scored exhaustively).
        mean = items[:n_items].mean(axis=0, dtype=np.float64) if n_items else np.zeros(dim + 1)
        self._mean = np.where(np.isfinite(mean), mean, 0)
        # Vectors all zero (the most-popular list): every user's scores are the bias, so every list is one
        # order of the items less the user's rated ones; the scan would keep every group (all tie).
        self._one_order = (np.lexsort((np.arange(n_items), -bias.astype(np.float64)))
                           if not item_vectors.any() and np.isfinite(bias).all() else None)
        centred = np.zeros_like(items)
        centred[n_items:, dim] = -np.inf
        # |coarse - exact| <= eps * |user| * max |centred item| (Cauchy-Schwarz) + the rest of _margin.
        self._max_norm, self._centred_norm = _centre(items[:n_items], self._mean, centred[:n_items])
        self._terms = dim + 1
        # Within a chunk the scan holds item r of every group, then item r + 1, ...: a group's
        # maximum is then a vertical (SIMD) maximum over group_size rows of the score tile.
        self._chunks = tf.constant(centred[:padded].reshape(self._n_chunks, self._stride, group_size, dim + 1)
                               .transpose(0, 2, 1, 3).reshape(self._n_chunks, self._chunk, dim + 1))
        # Traced through a weak reference, with the item tensors as arguments: a tf.function of a bound method
        # makes the scorer a reference cycle, and tensors a traced function captures live in TensorFlow's
        # own cycles; either way the scorer's items (some 400 MB at 500K items) stayed until a full garbage
        # collection, and the ranking grid's 18 scorers in a row grew the trainer by 5 GiB at a million users.
        owner = weakref.ref(self)
        self._maxima = _group_maxima_program(group_size, self._stride, dim + 1)
        self._scan = tf.function(lambda *block: owner()._scan_block(*block), input_signature=[
            tf.TensorSpec([None, self._n_chunks, self._stride], tf.float32),
            tf.TensorSpec([None], tf.float32), tf.TensorSpec([None, 2], tf.int32)])

    @property
    def scored_items(self) -> tuple[np.ndarray, np.ndarray]:
        """(item vectors, item bias) in float32, as this scorer ranks them: what another top-K index (FAISS in
        bench/recommend_all.py) is given to find the same lists."""
        return self._items[:self.n_items, :-1].copy(), self._items[:self.n_items, -1].copy()

    def _margin(self, users: np.ndarray) -> np.ndarray:
        """E per user: the bound on |coarse - exact| over all items (users augmented with their 1), where
        coarse scores centred items and exact is the re-rank's float64 score less u . mean.

        `error_bound` x |user| x max |centred item|; float64's rounding of the uncentred score,
        gamma_terms(2^-53) x |user| x max |item|; and, as TensorFlow runs with subnormals flushed to zero
        (inputs and products), 2^-126 (1 + |u_i|)(1 + |v_i|) per term.
        """
        norms = np.linalg.norm(users.astype(np.float64), axis=1)
        gamma64 = self._terms * _FP64_UNIT / (1 - self._terms * _FP64_UNIT)
        return (norms * (error_bound(self._terms) * self._centred_norm + gamma64 * self._max_norm)
                + self._terms * _SMALLEST_NORMAL * (1 + norms) * (1 + self._centred_norm))

    def _scan_block(self, maxima: tf.Tensor, margin: tf.Tensor, rated_groups: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(user, group) pairs, in that order, whose group maximum reaches the user's threshold less 2E, and whether
        each user kept groups of more than _MAX_KEPT_ITEMS items (such a user is scored exhaustively and keeps none
        here).

        `maxima`: `_group_maxima_program`'s, of the block padded to `_padded_rows` (rows past `margin`'s are
        padding, dropped here); `rated_groups`: (user, group) of each rated item.  The threshold is the K-th
        largest maximum of the user's groups without a rated item (a rated item can only raise its group's
        maximum): K distinct groups, so K distinct unrated items reach it.  (The K-th best chunk, which this once
        took, is far lower on trained vectors: a vocabulary lists the popular items first, so a user's best items
        share a few chunks, and the loose threshold kept some 210 groups per user where this keeps 13.)
        """
        b, g = tf.shape(margin)[0], self.group_size
        maxima = tf.reshape(maxima[:b], [b, -1])  # [user, group]
        if self._n_chunks * self._stride >= self.k:
            unrated = tf.tensor_scatter_nd_update(maxima, rated_groups,
                                                  tf.fill([tf.shape(rated_groups)[0]], -np.inf))
            threshold = tf.math.top_k(unrated, self.k, sorted=False).values
            threshold = tf.reduce_min(threshold, axis=1)
        else:
            threshold = tf.fill([b], tf.constant(-np.inf, tf.float32))
        threshold -= 2 * margin
        kept = maxima >= threshold[:, None]
        exhaustive = tf.reduce_sum(tf.cast(kept, tf.int32), axis=1) > _MAX_KEPT_ITEMS // g
        return tf.where(kept & ~exhaustive[:, None]), exhaustive

    def top_k(self, users: np.ndarray, rated_indptr: np.ndarray | None = None,
              rated_indices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Item indices and scores, best first, for each user row; rated items (CSR rows) excluded.

        A user who has rated nearly everything may get fewer than K real items; the
        remaining slots hold item -1 and score -inf.  Equal scores rank the lower item index first.
        """
        users = np.ascontiguousarray(users, np.float32)
        n = len(users)
        if rated_indptr is None:
            rows = items = np.zeros(0, np.int64)
        else:
            rows = np.repeat(np.arange(n), np.diff(rated_indptr))
            items = rated_indices[rated_indptr[0]:rated_indptr[-1]].astype(np.int64)
        if self._one_order is not None:
            return self._top_k_in_one_order(np.zeros(n + 1, np.int64) if rated_indptr is None
                                            else rated_indptr - rated_indptr[0], items)
        augmented = np.hstack([users, np.ones((n, 1), np.float32)])
        margin = self._margin(augmented)
        maxima = self._block_maxima(augmented)
        rated_groups = tf.constant(np.stack([rows, items // self.group_size], axis=1).astype(np.int32).reshape(-1, 2))
        hits, exhaustive = self._scan(maxima, tf.constant(margin, tf.float32), rated_groups)
        hits, exhaustive = hits.numpy(), exhaustive.numpy()  # hits: by user, then group (tf.where's row-major order)
        counts = np.bincount(hits[:, 0], minlength=n)
        top = np.zeros((n, self.k), np.int64)
        scores = np.full((n, self.k), -np.inf, np.float32)
        # Users keep many groups only when the threshold bounds them badly (< K groups with an unrated
        # item, or flat scores): those are cheaper to score exhaustively.  The others are re-ranked
        # in slices of users with similar numbers of kept groups, so little padding is scored.
        by_count = np.argsort(counts, kind="stable")
        by_count = by_count[~exhaustive[by_count]]
        for start in range(0, len(by_count), _RERANK_ROWS):
            part = by_count[start:start + _RERANK_ROWS]
            top[part], scores[part] = self._rerank(augmented[part], part, hits, counts, rows, items)
        exhaustive = np.flatnonzero(exhaustive)
        for start in range(0, len(exhaustive), _EXHAUSTIVE_ROWS):
            part = exhaustive[start:start + _EXHAUSTIVE_ROWS]
            top[part], scores[part] = self._exhaustive(augmented[part], part, rows, items)
        top[~np.isfinite(scores)] = -1
        return top, scores

    def _block_maxima(self, users: np.ndarray) -> tf.Tensor:
        """`_group_maxima_program` over the block, padded to `_padded_rows`, in two halves run at once when the block
        has rows for both: XLA's program runs each tile's reduction on one thread, so one program in flight left
        the second core idle for part of every chunk (two halves, two idle cores: the scan alone 1.23x the users/s,
        `top_k` 1.09x)."""
        padded = np.zeros((_padded_rows(len(users)), users.shape[1]), np.float32)
        padded[:len(users)] = users
        if len(padded) < 2 * _PAD_ROWS:
            return self._maxima(tf.constant(padded), self._chunks)
        halves = np.split(padded, [_padded_rows(len(padded) // 2)])
        return tf.concat(list(_scan_threads().map(lambda half: self._maxima(tf.constant(half), self._chunks),
                                                  halves)), axis=0)

    def _top_k_in_one_order(self, rated_ptr: np.ndarray, rated_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top K when every user's scores are the items' bias: the first K of the bias order (ties: lower item
        index first) that the user did not rate; `rated_ptr` bounds each user's run of `rated_items`."""
        n = len(rated_ptr) - 1
        top = np.full((n, self.k), -1, np.int64)
        scores = np.full((n, self.k), -np.inf, np.float32)
        for row in range(n):
            rated = rated_items[rated_ptr[row]:rated_ptr[row + 1]]
            head = self._one_order[:self.k + len(rated)]
            kept = head[~np.isin(head, rated)][:self.k]
            top[row, :len(kept)], scores[row, :len(kept)] = kept, self._items[kept, -1]
        return top, scores

    def _rerank(self, users: np.ndarray, part: np.ndarray, hits: np.ndarray, counts: np.ndarray,
                rated_rows: np.ndarray, rated_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top K among the items of the kept groups of users `part`, scored in float64.

        `hits` (user, group) is sorted by user, then group, so each user's candidates are in
        ascending item order, and the stable top_k ranks equal scores by lower item index.
        """
        g, n = self.group_size, len(part)
        local = np.full(len(counts), -1)
        local[part] = np.arange(n)
        mine = np.flatnonzero(local[hits[:, 0]] >= 0)
        row = local[hits[mine, 0]]
        groups = np.full((n, max(int(counts[part].max()), -(-self.k // g))), self._filler_group, np.int64)
        groups[row, mine - (np.cumsum(counts) - counts)[hits[mine, 0]]] = hits[mine, 1]
        candidates = (groups[:, :, None] * g + np.arange(g)).reshape(n, -1)
        # Whole groups are contiguous rows of the item matrix: gather them as blocks.
        vectors = np.take(self._items.reshape(-1, g, self._items.shape[1]), groups, axis=0).astype(np.float64)
        scores = np.einsum("ncd,nd->nc", vectors.reshape(n, candidates.shape[1], -1), users.astype(np.float64))
        # Rated items out: the row-major (row, item) keys of the candidates are sorted, so search them.
        stride = len(self._items)
        keys = (np.arange(n)[:, None] * stride + candidates).ravel()
        rated = local[rated_rows] >= 0
        rated_keys = local[rated_rows[rated]] * stride + rated_items[rated]
        at = np.minimum(np.searchsorted(keys, rated_keys), len(keys) - 1)
        scores.ravel()[at[keys[at] == rated_keys]] = -np.inf
        best, column = tf.math.top_k(scores, self.k)
        return np.take_along_axis(candidates, column.numpy(), axis=1), best.numpy().astype(np.float32)

    def _exhaustive(self, users: np.ndarray, part: np.ndarray, rated_rows: np.ndarray,
                    rated_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top K over all items for users `part` (rows of `users`): users the threshold bounds badly.

        Every score of a centred item in float32 (one matrix product for the
        whole part); the items within 2E (float32's) of each user's K-th best
        are re-ranked in float64, so the result is as exact as the scan's.
        """
        centred = (self._items[:self.n_items].astype(np.float64) - self._mean).astype(np.float32)  # as the scan's
        scores = tf.matmul(tf.constant(users), tf.constant(centred), transpose_b=True).numpy()
        local = np.full(int(part.max()) + 1, -1)
        local[part] = np.arange(len(part))
        mine = np.isin(rated_rows, part)
        scores[local[rated_rows[mine]], rated_items[mine]] = -np.inf
        kth = tf.math.top_k(scores, self.k).values.numpy()[:, -1]
        margin = self._margin(users)
        top = np.empty((len(part), self.k), np.int64)
        best = np.empty((len(part), self.k), np.float32)
        for row in range(len(part)):  # candidates best first in float64, equal scores by lower item index
            candidates = np.flatnonzero(scores[row] >= kth[row] - 2 * margin[row])
            exact = self._items[candidates].astype(np.float64) @ users[row].astype(np.float64)
            exact[~np.isfinite(scores[row, candidates])] = -np.inf
            order = np.argsort(-exact, kind="stable")[:self.k]
            top[row], best[row] = candidates[order], exact[order]
        return top, best


def _centre(items: np.ndarray, mean: np.ndarray, out: np.ndarray) -> tuple[float, float]:
    """Writes `items - mean` (in float64, rounded to float32) into `out`; returns the largest norm of an item and
    of a centred item as the scan holds it.  Row slices at a time: a float64 copy of a 500K-item matrix was most
    of a scorer's set-up, and a training run builds 19 scorers (16 ranking weightings tried, 3 in evaluation)."""
    largest, largest_centred = 0.0, 0.0
    for start in range(0, len(items), _CENTRE_ROWS):
        rows = items[start:start + _CENTRE_ROWS].astype(np.float64)
        out[start:start + len(rows)] = rows - mean
        largest = max(largest, float(np.linalg.norm(rows, axis=1).max()))
        largest_centred = max(largest_centred,
                              float(np.linalg.norm(out[start:start + len(rows)].astype(np.float64), axis=1).max()))
    return largest, largest_centred


@functools.lru_cache(maxsize=None)
def _group_maxima_program(group_size: int, stride: int, width: int) -> tf.types.experimental.GenericFunction:
    """The scan's chunk loop: (users [b, width], chunks [n, group_size x stride, width]) -> [user, chunk, group in
    chunk], each user's best score in each group of `group_size` items.

    Compiled by XLA, which runs the loop without TensorFlow's per-op dispatch: some 14% fewer CPU-seconds per
    user here, the same maxima bit for bit.  XLA compiles one program per shape, so blocks are padded
    (`_padded_rows`), and the function is shared by every scorer of the same layout (a training run builds 19
    in a row), taking the items as an argument rather than holding them.
    """
    @tf.function(jit_compile=True, input_signature=[tf.TensorSpec([None, width], tf.float32),
                                                    tf.TensorSpec([None, group_size * stride, width], tf.float32)])
    def group_maxima(users: tf.Tensor, chunks: tf.Tensor) -> tf.Tensor:
        b, n_chunks = tf.shape(users)[0], tf.shape(chunks)[0]

        def scan_chunk(chunk, maxima):
            tile = tf.matmul(users, chunks[chunk], transpose_b=True)
            return chunk + 1, maxima.write(chunk, tf.reduce_max(tf.reshape(tile, [b, group_size, stride]), axis=1))

        # One chunk at a time: its matrix product already uses every core, and two tiles in flight
        # would no longer fit in cache.
        _, maxima = tf.while_loop(lambda chunk, _: chunk < n_chunks, scan_chunk,
                                  (tf.constant(0), tf.TensorArray(tf.float32, size=n_chunks)),
                                  parallel_iterations=1)
        return tf.transpose(maxima.stack(), [1, 0, 2])  # each user's row of all group maxima, for its threshold

    return group_maxima


@functools.lru_cache(maxsize=None)
def _scan_threads() -> concurrent.futures.ThreadPoolExecutor:
    """The two threads a block's halves are scanned on (TensorFlow releases the GIL while a program runs)."""
    return concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="topk-scan")


def _padded_rows(n: int) -> int:
    """Rows a block of `n` users is scanned as: the next multiple of _PAD_ROWS, so XLA compiles one program per
    padded size (eight up to the default block) rather than one per block length."""
    return -(-n // _PAD_ROWS) * _PAD_ROWS


def brute_force_top_k(users: np.ndarray, items: np.ndarray, item_bias: np.ndarray, k: int,
                      rated: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The plain numpy reference: every score, mask, argpartition, sort.

    Kept apart from `top_k_of_scores` on purpose: it is the oracle tests/test_train.py and tests/test_topk.py
    check `TopKScorer` against, so it is spelt out here and shares nothing with the code it checks.
    """
    scores = users.astype(np.float32) @ items.astype(np.float32).T + item_bias.astype(np.float32)
    for row, seen in enumerate(rated or []):
        scores[row, seen] = -np.inf
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    return idx, np.take_along_axis(scores, idx, axis=1)


def top_k_of_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """(rows, k) column indices of each row's k largest `scores`, best first: the exact top-K of a dense score
    matrix, for callers that have every score already (neighbours, the reference models).

    Masked entries are -inf.  Equal scores keep the order `np.argpartition` leaves them in (a stable sort of
    the k kept): the order `similar` and the references have always listed ties in.
    """
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)
