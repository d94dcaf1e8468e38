"""Exact top-K items for blocks of users, fast enough for a million users x 500,000 items.

Scores are user . item + item bias (the two-tower model's rating, less the
user's constant terms), so the order is the model's predicted-rating order.
Every score is computed, so the work is one float32 matrix product of the
block against all items (27 multiply-adds per pair at dimension 26); what
makes it fast is never writing that product to memory and never sorting it:

1. Probe (1 and 2 are one TensorFlow call): the block against the P items
   with the largest score bound (item norm x typical user norm + bias),
   rated items masked.  The K-th largest maximum of groups of 8 probe items
   is a threshold T per user: K distinct unrated items already reach it.
2. Scan: the block against all items, `chunk_size` items at a time (the
   block x chunk tile stays in cache, the users' rated items masked in it);
   each tile is reduced at once to the maxima of its groups of `group_size`
   consecutive items, T is raised to the K-th largest group maximum seen so
   far (less the margin) when that is higher, and only the (user, group)
   pairs whose maximum reaches the final T are kept: about 16 per user on
   random vectors.
3. Re-rank (numpy): the items of those groups are scored again in float64,
   rated items dropped, and the K best taken (ties: lower item index first).

Why it is exact: the float32 product differs from the float64 score by at
most `margin` (twice the rounding bound of 27 terms: 2 * 27 * 2^-24 *
|user| * max |item|).  The K unrated probe items reaching T in float32
score >= T - margin in float64, so every item of the true top K scores at
least that, hence at least T - 2 * margin in float32, so its group is kept;
the same holds for a raised T, as the K groups behind it are K distinct
unrated items.  Users the probe bounds badly (fewer than K unrated probe
items: T = -inf, or scores so flat that most groups reach T, as when the
ranking leans on the predicted rating) stop keeping groups past 512 of them
and are scored
exhaustively instead: every item in float32 in one matrix product for up to
128 such users, then the items within twice the margin of each user's K-th
best re-ranked in float64.
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

DEFAULT_BLOCK = 1024
DEFAULT_GROUP = 16
DEFAULT_CHUNK = 1024
DEFAULT_PROBE = 8192
DEFAULT_POPULARITY_WEIGHT = 1.0
_FP32_TERMS_ERROR = 2.0 ** -24
_RERANK_ROWS = 128
_PROBE_GROUP = 8
_MAX_KEPT_GROUPS = 512
_MAX_SCANNED_GROUPS = 4 * _MAX_KEPT_GROUPS  # kept during the scan, before the final threshold
_EXHAUSTIVE_ROWS = 128  # users scored exhaustively at once (a float32 row of scores per user and item)


class TopKScorer:
    """Holds the item matrix once; `top_k` scores a block of user vectors against it."""

    def __init__(self, item_vectors: np.ndarray, item_bias: np.ndarray | None = None, k: int = 10,
                 group_size: int = DEFAULT_GROUP, chunk_size: int = DEFAULT_CHUNK, probe_size: int = DEFAULT_PROBE):
        n_items, dim = item_vectors.shape
        self.n_items, self.k, self.group_size = n_items, min(k, n_items), group_size
        bias = np.zeros(n_items, np.float32) if item_bias is None else item_bias.astype(np.float32)
        # Groups are runs of group_size consecutive items; a chunk holds chunk // group_size of them.
        self._chunk = min(chunk_size, -(-n_items // group_size) * group_size) // group_size * group_size
        self._stride = self._chunk // group_size
        self._n_chunks = -(-n_items // self._chunk)
        padded = self._n_chunks * self._chunk
        # Augmented items [v, b] against users [u, 1] put the bias inside the product.  Padding
        # items, and one spare group at the end (a filler for ragged rows), score -inf.
        items = np.zeros((padded + group_size, dim + 1), np.float32)
        items[:n_items, :dim] = item_vectors
        items[:n_items, dim] = bias
        items[n_items:, dim] = -np.inf
        self._filler_group = padded // group_size
        norms = np.linalg.norm(items[:n_items].astype(np.float64), axis=1)
        # |float32 product - float64 score| <= margin_per_norm * |user|: (dim + 1) rounded terms,
        # bounded by |user| * |item| (Cauchy-Schwarz); doubled for the float64 side and headroom.
        terms = dim + 1
        self._margin_per_norm = (2 * terms * _FP32_TERMS_ERROR / (1 - terms * _FP32_TERMS_ERROR)
                                 * (float(norms.max()) if n_items else 0.0))
        self._item_norms, self._bias = norms, bias
        self._probe_size = max(self.k, min(probe_size, n_items))
        self._probe_items = None
        self._items64 = items.astype(np.float64)
        self._items32 = None  # every item in float32, made when a user must be scored exhaustively
        # Within a chunk the scan holds item r of every group, then item r + 1, ...: a group's
        # maximum is then a vertical (SIMD) maximum over group_size rows of the score tile.
        self._chunks = tf.constant(items[:padded].reshape(self._n_chunks, self._stride, group_size, dim + 1)
                                   .transpose(0, 2, 1, 3).reshape(self._n_chunks, self._chunk, dim + 1))
        # Traced through a weak reference, with the item tensors as arguments: a tf.function of a bound method
        # makes the scorer a reference cycle, and tensors a traced function captures live in TensorFlow's
        # own cycles; either way the scorer's items (some 400 MB at 500K items) stayed until a full garbage
        # collection, and the ranking grid's 18 scorers in a row grew the trainer by 5 GiB at a million users.
        owner = weakref.ref(self)
        self._scan = tf.function(lambda *block: owner()._scan_block(*block), input_signature=[
            tf.TensorSpec([None, dim + 1], tf.float32), tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None, 2], tf.int32), tf.TensorSpec([None, 2], tf.int32), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, dim + 1], tf.float32), tf.TensorSpec(self._chunks.shape, tf.float32)])

    def _choose_probe(self, users: np.ndarray) -> None:
        """The items with the largest score bound for a typical user of the first block, once."""
        typical = float(np.median(np.linalg.norm(users, axis=1)))
        bound = self._item_norms * typical + self._bias
        probe = np.argpartition(-bound, self._probe_size - 1)[:self._probe_size] if self._probe_size < self.n_items \
            else np.arange(self.n_items)
        self._probe_position = np.full(self.n_items, -1, np.int64)
        self._probe_position[probe] = np.arange(len(probe))
        # Padded with -inf items to whole probe groups (see _scan_block).
        self._probe_group = max(1, min(_PROBE_GROUP, len(probe) // self.k))
        padded = np.full(-(-len(probe) // self._probe_group) * self._probe_group, self._filler_group * self.group_size)
        padded[:len(probe)] = probe
        self._probe_items = tf.constant(self._items64[padded], tf.float32)

    def _scan_block(self, users: tf.Tensor, margin: tf.Tensor, probe_rated: tf.Tensor, chunk_rated: tf.Tensor,
                    chunk_rated_splits: tf.Tensor, probe_items: tf.Tensor,
                    chunks: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(user, group) pairs whose group maximum reaches the user's final threshold, and whether each user
        kept more than _MAX_SCANNED_GROUPS groups on the way (such a user is scored exhaustively).

        The threshold starts at the probe's and tightens as the scan goes: rated items are masked in each
        tile (`chunk_rated`: (user, position in chunk) pairs, sorted by chunk), so the K-th largest group
        maximum seen so far is reached by K distinct unrated items, as the probe's K-th best is.
        """
        b, g, stride = tf.shape(users)[0], self.group_size, self._stride
        probe = tf.matmul(users, probe_items, transpose_b=True)
        probe = tf.tensor_scatter_nd_update(probe, probe_rated, tf.fill([tf.shape(probe_rated)[0]], -np.inf))
        # The K-th largest of the maxima of K or more groups: K distinct unrated items reach it.
        maxima = tf.reduce_max(tf.reshape(probe, [b, -1, self._probe_group]), axis=2)
        start = tf.reduce_min(tf.math.top_k(maxima, self.k, sorted=False).values, axis=1) - 2 * margin

        def scan_chunk(chunk, hits, values, best, kept):
            tile = tf.matmul(users, chunks[chunk], transpose_b=True)
            rated = chunk_rated[chunk_rated_splits[chunk]:chunk_rated_splits[chunk + 1]]
            tile = tf.tensor_scatter_nd_update(tile, rated, tf.fill([tf.shape(rated)[0]], -np.inf))
            maxima = tf.reduce_max(tf.reshape(tile, [b, g, stride]), axis=1)
            best = tf.math.top_k(tf.concat([best, maxima], axis=1), self.k, sorted=False).values
            threshold = tf.maximum(start, tf.reduce_min(best, axis=1) - 2 * margin)
            # Few users reach the threshold in a chunk: find them first, then their groups.
            reached = tf.where(tf.reduce_max(maxima, axis=1) >= threshold)[:, 0]
            found = tf.where(tf.gather(maxima, reached) >= tf.gather(threshold, reached)[:, None])
            user = tf.gather(reached, found[:, 0])
            kept += tf.math.unsorted_segment_sum(tf.ones_like(user, tf.int32), user, b)
            # Past _MAX_SCANNED_GROUPS a user's groups are no longer kept: it will be scored exhaustively.
            mine = tf.gather(kept, user) <= _MAX_SCANNED_GROUPS
            group = found[:, 1] + tf.cast(chunk * stride, tf.int64)
            return (chunk + 1, hits.write(chunk, tf.boolean_mask(tf.stack([user, group], axis=1), mine)),
                    values.write(chunk, tf.boolean_mask(tf.gather_nd(tf.gather(maxima, reached), found), mine)),
                    best, kept)

        hits = tf.TensorArray(tf.int64, size=self._n_chunks, element_shape=[None, 2], infer_shape=False)
        values = tf.TensorArray(tf.float32, size=self._n_chunks, element_shape=[None], infer_shape=False)
        best = tf.fill(tf.stack([b, self.k]), tf.constant(-np.inf, tf.float32))
        # One chunk at a time: its matrix product already uses every core, and two tiles in flight
        # would no longer fit in cache.
        _, hits, values, best, kept = tf.while_loop(
            lambda chunk, *_: chunk < self._n_chunks, scan_chunk,
            (tf.constant(0), hits, values, best, tf.zeros([b], tf.int32)), parallel_iterations=1)
        hits, values = hits.concat(), values.concat()
        final = tf.maximum(start, tf.reduce_min(best, axis=1) - 2 * margin)
        return tf.boolean_mask(hits, values >= tf.gather(final, hits[:, 0])), kept > _MAX_SCANNED_GROUPS

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
        if self._probe_items is None:
            self._choose_probe(users)
        augmented = np.hstack([users, np.ones((n, 1), np.float32)])
        margin = self._margin_per_norm * np.linalg.norm(augmented.astype(np.float64), axis=1)
        position = self._probe_position[items]
        probe_rated = np.stack([rows[position >= 0], position[position >= 0]], axis=1).astype(np.int32)
        hits, overflow = self._scan(tf.constant(augmented), tf.constant(margin, tf.float32), tf.constant(probe_rated),
                                    *self._rated_by_chunk(rows, items), self._probe_items, self._chunks)
        hits = hits.numpy()
        counts = np.bincount(hits[:, 0], minlength=n)
        exhaustive = overflow.numpy() | (counts > _MAX_KEPT_GROUPS)
        hits = hits[~exhaustive[hits[:, 0]]]
        hits = hits[np.argsort(hits[:, 0] * (self._filler_group + 1) + hits[:, 1])]
        counts = np.bincount(hits[:, 0], minlength=n)
        top = np.zeros((n, self.k), np.int64)
        scores = np.full((n, self.k), -np.inf, np.float32)
        # Users keep many groups only when the probe bounds them badly (it holds < K unrated
        # items, or the scores are flat): those are cheaper to score exhaustively.  The others are
        # re-ranked in slices of users with similar numbers of kept groups, so little padding is scored.
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

    def _rated_by_chunk(self, rows: np.ndarray, items: np.ndarray) -> tuple[tf.Tensor, tf.Tensor]:
        """Rated (user, position in its chunk's layout) pairs sorted by chunk, and each chunk's start in them."""
        chunk, local = items // self._chunk, items % self._chunk
        position = (local % self.group_size) * self._stride + local // self.group_size
        order = np.argsort(chunk, kind="stable")
        pairs = np.stack([rows[order], position[order]], axis=1).astype(np.int32).reshape(-1, 2)
        splits = np.searchsorted(chunk[order], np.arange(self._n_chunks + 1)).astype(np.int32)
        return tf.constant(pairs), tf.constant(splits)

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
        vectors = np.take(self._items64.reshape(-1, g, self._items64.shape[1]), groups, axis=0)
        scores = np.einsum("ncd,nd->nc", vectors.reshape(n, candidates.shape[1], -1), users.astype(np.float64))
        # Rated items out: the row-major (row, item) keys of the candidates are sorted, so search them.
        stride = len(self._items64)
        keys = (np.arange(n)[:, None] * stride + candidates).ravel()
        rated = local[rated_rows] >= 0
        rated_keys = local[rated_rows[rated]] * stride + rated_items[rated]
        at = np.minimum(np.searchsorted(keys, rated_keys), len(keys) - 1)
        scores.ravel()[at[keys[at] == rated_keys]] = -np.inf
        best, column = tf.math.top_k(scores, self.k)
        return np.take_along_axis(candidates, column.numpy(), axis=1), best.numpy().astype(np.float32)

    def _exhaustive(self, users: np.ndarray, part: np.ndarray, rated_rows: np.ndarray,
                    rated_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top K over all items for users `part` (rows of `users`): users the probe cannot bound.

        Every score in float32 (one matrix product for the whole part); the
        items within twice the rounding margin of each user's K-th best are
        re-ranked in float64, so the result is as exact as the scan's.
        """
        if self._items32 is None:
            self._items32 = tf.constant(self._items64[:self.n_items], tf.float32)
        scores = tf.matmul(tf.constant(users), self._items32, transpose_b=True).numpy()
        local = np.full(int(part.max()) + 1, -1)
        local[part] = np.arange(len(part))
        mine = np.isin(rated_rows, part)
        scores[local[rated_rows[mine]], rated_items[mine]] = -np.inf
        kth = tf.math.top_k(scores, self.k).values.numpy()[:, -1]
        margin = self._margin_per_norm * np.linalg.norm(users.astype(np.float64), axis=1)
        top = np.empty((len(part), self.k), np.int64)
        best = np.empty((len(part), self.k), np.float32)
        for row in range(len(part)):  # candidates best first in float64, equal scores by lower item index
            candidates = np.flatnonzero(scores[row] >= kth[row] - 2 * margin[row])
            exact = self._items64[candidates] @ users[row].astype(np.float64)
            exact[~np.isfinite(scores[row, candidates])] = -np.inf
            order = np.argsort(-exact, kind="stable")[:self.k]
            top[row], best[row] = candidates[order], exact[order]
        return top, best


def brute_force_top_k(users: np.ndarray, items: np.ndarray, item_bias: np.ndarray, k: int,
                      rated: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The plain numpy reference: every score, mask, argpartition, sort."""
    scores = users.astype(np.float32) @ items.astype(np.float32).T + item_bias.astype(np.float32)
    for row, seen in enumerate(rated or []):
        scores[row, seen] = -np.inf
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    return idx, np.take_along_axis(scores, idx, axis=1)
