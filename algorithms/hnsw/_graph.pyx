# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""The HNSW graph core (Malkov & Yashunin, TPAMI 2018), the hnswlib algorithm, in Cython.

Storage is a set of C buffers indexed by an internal slot: vectors (`cap x dim` float32),
layer-0 links (`cap x (1 + 2M)` int32, count first), upper-layer links in a separate pool
(`1 + M` ints a row, `level` rows per node), levels, external ids, a deleted flag, the
in-links of every node on every layer (`InList`: who links to it, the reverse of the links)
and, for multi-step search, one reduced row per node (a `RowHead`, then float32 values or
uint8 codes). Buffers grow by reallocation; every buffer given back is zeroed first, so no
copy of a vector or a link outlives it. Slots emptied by `delete` are reused by inserts.

Reentrancy: whatever one call writes while it runs (visited marks, heaps, the normalised
query, selection buffers) lives in a `Scratch`, taken from a pool for the call and given back
after it (hnswlib's VisitedListPool). Searches run without the GIL and any number of them at
once; an update (insert, delete, compact, set_reduced) excludes every other call, and a call
that would overlap one raises `RuntimeError` instead of reading a graph being rewritten.

Sections of the paper followed: Alg. 1 (INSERT, random level with mult = 1/ln M), Alg. 2
(SEARCH-LAYER), Alg. 4 (SELECT-NEIGHBORS-HEURISTIC, without extendCandidates and
keepPrunedConnections, as hnswlib), Alg. 5 (K-NN-SEARCH). Deletion repair follows the delete
consolidation of FreshDiskANN (Singh et al. 2021, Algorithm 4), restricted to the nodes the
in-links name, with Alg. 4 of HNSW as the pruning rule. Multi-step search scores the
traversal with a reduced representation (GleanVec, seed 003, Algorithm 1).
"""

cimport cython
from libc.math cimport INFINITY, log, sqrt
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset

import numpy as np

cdef extern from "distances.h" nogil:
    float fb_l2sq(const float *a, const float *b, size_t n)
    float fb_dot(const float *a, const float *b, size_t n)
    float fb_dot_u8(const float *a, const uint8_t *b, size_t n)
    void fb_prefetch(const void *p)
    int fb_init()

#: Whether the AVX2+FMA distance kernels run on this CPU (chosen at import, see distances.h).
SIMD = bool(fb_init())
METRICS = {"euclidean": 0, "angular": 1, "ip": 2}
cdef enum:
    EUCLIDEAN = 0
    ANGULAR = 1
    IP = 2

BUSY = ("the index is being modified by another thread: searches may run concurrently with "
        "each other, updates (add, delete, compact, set_reduced) only alone")


ctypedef struct Heap:
    # a binary max-heap of (key, val); a min-heap is kept with negated keys
    float *key
    int32_t *val
    int size
    int cap


ctypedef struct Query:
    const float *full    # full-precision query (normalised for angular)
    const float *red     # reduced views, one block of red_stride floats per tag: the view's
    int red_stride       # `dims` values, then (8-bit rows) its sum and <view, offset>
    int dims             # reduced dimensions scored
    int reduced          # 1: score with the reduced representation


ctypedef struct RowHead:
    # header of a reduced row, followed by its values: float32, or uint8 codes (8-bit rows)
    float bias           # added to every score (||x||^2 for euclidean)
    int32_t tag          # which block of the query's views scores the row (GleanVec's cluster)
    float lo             # 8-bit rows: value = offset[tag] + lo + step * code
    float step


ctypedef struct InList:
    # the nodes whose links on one layer name this node, in no order
    int32_t *node
    int32_t size
    int32_t cap


ctypedef struct Scratch:
    # everything one call writes: one per concurrent search or update
    uint32_t *visited    # epoch-tagged marks, one per slot (no clearing per query)
    int64_t visited_cap
    uint32_t epoch
    Heap top, cand, work
    float *qbuf          # the normalised query (angular)
    float *views         # multi-step: the query's reduced views
    int views_cap
    int32_t *fresh       # search: a node's unvisited neighbours
    int32_t *sel         # selection output
    float *sk            # selection: candidates sorted by distance
    int32_t *sv
    int32_t *queue       # deleted nodes to expand (repair), a copy of sel (connect)
    int scap
    int32_t *todo        # delete: the nodes of one layer to repair
    int64_t todo_cap


cdef int heap_push(Heap *h, float key, int32_t val) noexcept nogil:
    cdef int i, parent
    cdef int newcap
    if h.size == h.cap:
        newcap = 2 * h.cap if h.cap else 64
        h.key = <float *> realloc(h.key, newcap * sizeof(float))
        h.val = <int32_t *> realloc(h.val, newcap * sizeof(int32_t))
        if h.key == NULL or h.val == NULL:
            return -1
        h.cap = newcap
    i = h.size
    h.size += 1
    while i > 0:
        parent = (i - 1) >> 1
        if h.key[parent] >= key:
            break
        h.key[i] = h.key[parent]
        h.val[i] = h.val[parent]
        i = parent
    h.key[i] = key
    h.val[i] = val
    return 0


cdef void heap_pop(Heap *h) noexcept nogil:
    cdef int i = 0, child
    cdef float key
    cdef int32_t val
    h.size -= 1
    if h.size == 0:
        return
    key = h.key[h.size]
    val = h.val[h.size]
    while True:
        child = 2 * i + 1
        if child >= h.size:
            break
        if child + 1 < h.size and h.key[child + 1] > h.key[child]:
            child += 1
        if h.key[child] <= key:
            break
        h.key[i] = h.key[child]
        h.val[i] = h.val[child]
        i = child
    h.key[i] = key
    h.val[i] = val


cdef void heap_free(Heap *h) noexcept nogil:
    free(h.key)
    free(h.val)
    h.key = NULL
    h.val = NULL
    h.size = h.cap = 0


cdef void *grown(void *old, size_t used, size_t new_size) noexcept nogil:
    """A zero-filled buffer of `new_size` bytes holding the first `used` bytes of `old`, which
    is zeroed and freed (realloc would leave the old copy in freed memory)."""
    cdef void *out = calloc(new_size if new_size else 1, 1)
    if out == NULL:
        return NULL
    if old != NULL:
        if used:
            memcpy(out, old, used)
            memset(old, 0, used)
        free(old)
    return out


cdef int in_add(InList *l, int32_t v) noexcept nogil:
    cdef int32_t newcap
    cdef int32_t *items
    if l.size == l.cap:
        newcap = l.cap + (l.cap // 2 if l.cap >= 8 else 4)
        items = <int32_t *> grown(l.node, l.size * sizeof(int32_t), newcap * sizeof(int32_t))
        if items == NULL:
            return -1
        l.node, l.cap = items, newcap
    l.node[l.size] = v
    l.size += 1
    return 0


cdef void in_remove(InList *l, int32_t v) noexcept nogil:
    """Drop `v` (its last copy moves into the hole, the vacated entry is zeroed)."""
    cdef int32_t i
    for i in range(l.size):
        if l.node[i] == v:
            l.size -= 1
            l.node[i] = l.node[l.size]
            l.node[l.size] = 0
            return


cdef void in_clear(InList *l) noexcept nogil:
    if l.node != NULL:
        memset(l.node, 0, l.cap * sizeof(int32_t))
    free(l.node)
    l.node = NULL
    l.size = l.cap = 0


cdef Scratch *scratch_new(int dim, int M0) noexcept nogil:
    cdef Scratch *s = <Scratch *> calloc(1, sizeof(Scratch))
    if s == NULL:
        return NULL
    s.scap = 4 * M0 + 16
    s.qbuf = <float *> calloc(dim, sizeof(float))
    s.fresh = <int32_t *> malloc((M0 + 1) * sizeof(int32_t))
    s.sel = <int32_t *> malloc((M0 + 1) * sizeof(int32_t))
    s.sk = <float *> malloc(s.scap * sizeof(float))
    s.sv = <int32_t *> malloc(s.scap * sizeof(int32_t))
    s.queue = <int32_t *> malloc(s.scap * sizeof(int32_t))
    if not (s.qbuf and s.fresh and s.sel and s.sk and s.sv and s.queue):
        scratch_free(s)
        return NULL
    return s


cdef void scratch_free(Scratch *s) noexcept nogil:
    free(s.visited)
    free(s.qbuf)
    free(s.views)
    free(s.fresh)
    free(s.sel)
    free(s.sk)
    free(s.sv)
    free(s.queue)
    free(s.todo)
    heap_free(&s.top)
    heap_free(&s.cand)
    heap_free(&s.work)
    free(s)


cdef inline uint64_t mix(uint64_t z) noexcept nogil:
    """SplitMix64's finaliser: a well-spread 64-bit hash of `z`."""
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef inline uint32_t new_epoch(Scratch *s) noexcept nogil:
    s.epoch += 1
    if s.epoch == 0:
        memset(s.visited, 0, s.visited_cap * sizeof(uint32_t))
        s.epoch = 1
    return s.epoch


cdef inline bint linked(const int32_t *ln, int32_t v) noexcept nogil:
    """Whether the link list `ln` (count first) names `v`."""
    cdef int j
    for j in range(1, ln[0] + 1):
        if ln[j] == v:
            return True
    return False


cdef int push_todo(Scratch *s, int64_t at, int32_t v) noexcept nogil:
    cdef int64_t newcap
    cdef int32_t *items
    if at == s.todo_cap:
        newcap = max(2 * s.todo_cap, 1024)
        items = <int32_t *> realloc(s.todo, newcap * sizeof(int32_t))
        if items == NULL:
            return -1
        s.todo, s.todo_cap = items, newcap
    s.todo[at] = v
    return 0


@cython.final
cdef class Graph:
    """An HNSW graph over internal slots 0..count-1; `HNSW` adds external ids on top."""

    cdef readonly int dim, M, M0, ef_construction, metric
    cdef readonly int64_t count, cap, live
    cdef readonly int32_t entry
    cdef readonly int max_level
    cdef readonly int red_dim, red_bits
    cdef int64_t red_bytes
    cdef readonly int64_t up_count
    cdef double mult
    cdef uint64_t rng
    cdef int stride0, strideU
    cdef float *data
    cdef int32_t *l0
    cdef int32_t *level
    cdef int64_t *up_off
    cdef int32_t *up
    cdef int64_t up_cap
    cdef int64_t *ext
    cdef uint8_t *dead
    cdef InList *in0
    cdef InList *inU
    cdef int32_t *free_slots
    cdef int64_t free_count, free_cap
    cdef char *red
    cdef uint8_t *has_red
    cdef int64_t red_live
    cdef int32_t max_tag
    cdef Scratch **pool
    cdef int pooled, pool_cap
    cdef readonly int readers
    cdef readonly bint writing
    cdef bint oom

    def __cinit__(self, int dim, str metric="euclidean", int M=16, int ef_construction=200,
                  int seed=0, *args, **kwargs):
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        if M < 2 or ef_construction < 1:
            raise ValueError(f"need M >= 2 and ef_construction >= 1, got {M}, {ef_construction}")
        self.dim, self.metric, self.M, self.M0 = dim, METRICS[metric], M, 2 * M
        self.ef_construction = ef_construction
        self.mult = 1.0 / log(M)
        self.rng = mix(<uint64_t> seed + 0x2545F4914F6CDD1DULL)  # seeds far apart in the stream
        self.stride0, self.strideU = 1 + 2 * M, 1 + M
        self.entry, self.max_level = -1, -1

    def __dealloc__(self):
        self._release(True)
        while self.pooled:
            self.pooled -= 1
            scratch_free(self.pool[self.pooled])
        free(self.pool)

    cdef void _release(self, bint zero) noexcept:
        """Free every slot buffer, zeroing what it held first when `zero`."""
        cdef int64_t i
        if zero:
            if self.data != NULL:
                memset(self.data, 0, self.cap * self.dim * sizeof(float))
            if self.red != NULL:
                memset(self.red, 0, self.cap * self.red_bytes)
            if self.l0 != NULL:
                memset(self.l0, 0, self.cap * self.stride0 * sizeof(int32_t))
            if self.up != NULL:
                memset(self.up, 0, self.up_cap * self.strideU * sizeof(int32_t))
        if self.in0 != NULL:
            for i in range(self.cap):
                in_clear(&self.in0[i])
        if self.inU != NULL:
            for i in range(self.up_cap):
                in_clear(&self.inU[i])
        free(self.data)
        free(self.l0)
        free(self.level)
        free(self.up_off)
        free(self.up)
        free(self.ext)
        free(self.dead)
        free(self.in0)
        free(self.inU)
        free(self.free_slots)
        free(self.red)
        free(self.has_red)
        self.data = NULL
        self.red = NULL
        self.l0 = self.level = self.up = self.free_slots = NULL
        self.up_off = self.ext = NULL
        self.dead = self.has_red = NULL
        self.in0 = self.inU = NULL
        self.cap = self.up_cap = self.free_count = self.free_cap = 0

    # ----------------------------------------------------------------- scratch
    cdef Scratch *take(self, bint write) except NULL:
        """A scratch for one call, from the pool; an update must run alone (see BUSY)."""
        cdef Scratch *s
        if self.writing or (write and self.readers):
            raise RuntimeError(BUSY)
        if self.pooled:
            self.pooled -= 1
            s = self.pool[self.pooled]
        else:
            s = scratch_new(self.dim, self.M0)
            if s == NULL:
                raise MemoryError()
        if self.fit(s) < 0:
            scratch_free(s)
            raise MemoryError()
        if write:
            self.writing = True
        else:
            self.readers += 1
        return s

    cdef void give(self, Scratch *s, bint write) noexcept:
        """Return a scratch taken by `take`."""
        cdef Scratch **grown_pool
        if write:
            self.writing = False
        else:
            self.readers -= 1
        if self.pooled == self.pool_cap:
            grown_pool = <Scratch **> realloc(self.pool, (2 * self.pool_cap + 4) * sizeof(void *))
            if grown_pool == NULL:
                scratch_free(s)
                return
            self.pool, self.pool_cap = grown_pool, 2 * self.pool_cap + 4
        self.pool[self.pooled] = s
        self.pooled += 1

    cdef int fit(self, Scratch *s) noexcept:
        """Size the scratch's visited marks to the slot capacity."""
        if s.visited_cap >= self.cap:
            return 0
        free(s.visited)
        s.visited = <uint32_t *> calloc(max(self.cap, 1), sizeof(uint32_t))
        s.visited_cap = self.cap if s.visited != NULL else 0
        s.epoch = 0
        return 0 if s.visited != NULL else -1

    cdef int begin_update(self) except -1:
        if self.writing or self.readers:
            raise RuntimeError(BUSY)
        self.writing = True
        return 0

    # ----------------------------------------------------------------- storage
    cdef int _reserve(self, int64_t need) except -1:
        """Grow the slot buffers to hold `need` slots (doubling), zeroing the old ones."""
        cdef int64_t new_cap, c = self.count
        if need <= self.cap:
            return 0
        new_cap = max(need, 2 * self.cap, 1024)
        self.data = <float *> grown(self.data, c * self.dim * sizeof(float),
                                    new_cap * self.dim * sizeof(float))
        self.l0 = <int32_t *> grown(self.l0, c * self.stride0 * sizeof(int32_t),
                                    new_cap * self.stride0 * sizeof(int32_t))
        self.level = <int32_t *> grown(self.level, c * sizeof(int32_t), new_cap * sizeof(int32_t))
        self.up_off = <int64_t *> grown(self.up_off, c * sizeof(int64_t),
                                        new_cap * sizeof(int64_t))
        self.ext = <int64_t *> grown(self.ext, c * sizeof(int64_t), new_cap * sizeof(int64_t))
        self.dead = <uint8_t *> grown(self.dead, c, new_cap)
        self.in0 = <InList *> grown(self.in0, self.cap * sizeof(InList), new_cap * sizeof(InList))
        if self.red_dim:
            self.red = <char *> grown(self.red, c * self.red_bytes, new_cap * self.red_bytes)
            self.has_red = <uint8_t *> grown(self.has_red, c, new_cap)
            if not (self.red and self.has_red):
                raise MemoryError()
        if not (self.data and self.l0 and self.level and self.up_off and self.ext
                and self.dead and self.in0):
            raise MemoryError()
        self.cap = new_cap
        return 0

    cdef int _reserve_up(self, int64_t need) noexcept nogil:
        cdef int64_t new_cap
        if need <= self.up_cap:
            return 0
        new_cap = max(need, 2 * self.up_cap, 256)
        self.up = <int32_t *> grown(self.up, self.up_count * self.strideU * sizeof(int32_t),
                                    new_cap * self.strideU * sizeof(int32_t))
        self.inU = <InList *> grown(self.inU, self.up_cap * sizeof(InList),
                                    new_cap * sizeof(InList))
        if self.up == NULL or self.inU == NULL:
            return -1
        self.up_cap = new_cap
        return 0

    cdef inline int32_t *links(self, int32_t node, int layer) noexcept nogil:
        if layer == 0:
            return self.l0 + <int64_t> node * self.stride0
        return self.up + (self.up_off[node] + layer - 1) * self.strideU

    cdef inline InList *inlinks(self, int32_t node, int layer) noexcept nogil:
        if layer == 0:
            return self.in0 + node
        return self.inU + self.up_off[node] + layer - 1

    cdef inline void prefetch_row(self, int32_t v) noexcept nogil:
        """Start fetching every cache line of the vector of `v`."""
        cdef const char *row = <const char *> (self.data + <int64_t> v * self.dim)
        cdef int offset
        for offset in range(0, self.dim * <int> sizeof(float), 64):
            fb_prefetch(row + offset)

    cdef inline void link_in(self, int32_t target, int layer, int32_t source) noexcept nogil:
        """Record that `source` now links to `target`."""
        if in_add(self.inlinks(target, layer), source) < 0:
            self.oom = True

    # ---------------------------------------------------------------- distances
    cdef inline float dist(self, const float *a, const float *b) noexcept nogil:
        if self.metric == EUCLIDEAN:
            return fb_l2sq(a, b, self.dim)
        if self.metric == ANGULAR:
            return 1.0 - fb_dot(a, b, self.dim)
        return -fb_dot(a, b, self.dim)

    cdef inline float node_dist(self, int32_t a, int32_t b) noexcept nogil:
        return self.dist(self.data + <int64_t> a * self.dim, self.data + <int64_t> b * self.dim)

    cdef inline RowHead *head(self, int32_t v) noexcept nogil:
        return <RowHead *> (self.red + v * self.red_bytes)

    cdef inline float score(self, const Query *q, int32_t v) noexcept nogil:
        cdef const RowHead *h
        cdef const float *view
        if q.reduced:
            h = self.head(v)
            view = q.red + <int64_t> h.tag * q.red_stride
            if self.red_bits == 8:
                return (h.bias - view[q.dims + 1] - h.lo * view[q.dims]
                        - h.step * fb_dot_u8(view, <const uint8_t *> (h + 1), q.dims))
            return h.bias - fb_dot(view, <const float *> (h + 1), q.dims)
        return self.dist(q.full, self.data + <int64_t> v * self.dim)

    cdef inline void prefetch(self, const Query *q, int32_t v) noexcept nogil:
        cdef const char *row
        cdef int offset, used
        if q.reduced:  # every line the score reads: the header and `dims` values
            row = <const char *> self.head(v)
            used = sizeof(RowHead) + q.dims * (self.red_bits // 8)
            for offset in range(0, used, 64):
                fb_prefetch(row + offset)
            fb_prefetch(row + used - 1)
        else:
            fb_prefetch(self.data + <int64_t> v * self.dim)

    # ------------------------------------------------------------------ search
    cdef int32_t greedy(self, const Query *q, int32_t cur, float *curd, int top_layer,
                        int stop_layer) noexcept nogil:
        """Greedy descent from `top_layer` down to `stop_layer` + 1 (Alg. 5, lines 1-4)."""
        cdef int layer, j, n
        cdef bint changed
        cdef int32_t *ln
        cdef int32_t v
        cdef float d
        for layer in range(top_layer, stop_layer, -1):
            changed = True
            while changed:
                changed = False
                ln = self.links(cur, layer)
                n = ln[0]
                for j in range(1, n + 1):
                    v = ln[j]
                    d = self.score(q, v)
                    if d < curd[0]:
                        curd[0] = d
                        cur = v
                        changed = True
        return cur

    cdef int search_layer(self, Scratch *s, const Query *q, int32_t ep, float epd, int layer,
                          int ef) noexcept nogil:
        """SEARCH-LAYER (Alg. 2): the `ef` closest live nodes found from `ep`, in `s.top`."""
        cdef uint32_t epoch = new_epoch(s)
        cdef uint32_t *visited = s.visited
        cdef uint8_t *dead = self.dead
        cdef Heap *cand = &s.cand
        cdef Heap *top = &s.top
        cdef float lower, cd, d
        cdef int32_t c, v
        cdef int32_t *ln
        cdef int j, n, fresh
        top.size = 0
        cand.size = 0
        visited[ep] = epoch
        if not dead[ep]:
            heap_push(top, epd, ep)
        lower = epd if top.size else INFINITY
        heap_push(cand, -epd, ep)
        while cand.size:
            cd = -cand.key[0]
            c = cand.val[0]
            if cd > lower and top.size >= ef:
                break
            heap_pop(cand)
            # first the unvisited neighbours, each fetch started at once so that their
            # rows arrive in parallel; then their scores
            ln = self.links(c, layer)
            n = ln[0]
            fresh = 0
            for j in range(1, n + 1):
                v = ln[j]
                if visited[v] != epoch:
                    visited[v] = epoch
                    self.prefetch(q, v)
                    s.fresh[fresh] = v
                    fresh += 1
            for j in range(fresh):
                v = s.fresh[j]
                d = self.score(q, v)
                if top.size < ef or d < lower:
                    heap_push(cand, -d, v)
                    fb_prefetch(self.links(cand.val[0], layer))  # the next node expanded
                    if not dead[v]:
                        heap_push(top, d, v)
                        if top.size > ef:
                            heap_pop(top)
                    if top.size:
                        lower = top.key[0]
        return top.size

    cdef int descend(self, Scratch *s, const Query *q, int k, int ef) noexcept nogil:
        """K-NN-SEARCH (Alg. 5) up to its answer: leaves the `k` best live nodes in `s.top`
        (a max-heap on the score) and returns how many there are."""
        cdef float d
        cdef int32_t cur
        if self.entry < 0:
            s.top.size = 0
            return 0
        cur = self.entry
        d = self.score(q, cur)
        cur = self.greedy(q, cur, &d, self.max_level, 0)
        self.search_layer(s, q, cur, d, 0, max(ef, k))
        while s.top.size > k:
            heap_pop(&s.top)
        return s.top.size

    cdef int drain(self, Heap *h, int64_t *ids, float *dists) noexcept nogil:
        """Empty the max-heap `h` into external ids and scores, best first; returns how many."""
        cdef int n = h.size, i
        for i in range(n - 1, -1, -1):
            ids[i] = self.ext[h.val[0]]
            dists[i] = h.key[0]
            heap_pop(h)
        return n

    cdef int knn(self, Scratch *s, const float *q, int k, int ef, int64_t *ids,
                 float *dists) noexcept nogil:
        """K-NN-SEARCH (Alg. 5) of a raw query: best-first external ids and metric distances;
        returns how many."""
        cdef Query query
        cdef int n
        query.full = self.prepared(s, q)
        query.reduced = 0
        self.descend(s, &query, k, ef)
        n = self.drain(&s.top, ids, dists)
        self.finish(dists, n)
        return n

    cdef int multistep(self, Scratch *s, const float *full, const float *matrix, int rows,
                       int dims, int k, int kappa, int ef, int64_t *ids,
                       float *dists) noexcept nogil:
        """GleanVec's Algorithm 1: preprocessing (the query's reduced views, one block of `dims`
        rows of `matrix @ full` per tag: Algorithm 4, eager), the main search scored with them
        for the `kappa` best, and postprocessing, their exact re-rank with the full vectors."""
        cdef Query q
        cdef Heap *best = &s.work
        cdef int r, offset
        cdef int32_t v
        cdef float d
        cdef const char *row
        for r in range(rows):
            s.views[r] = fb_dot(matrix + <int64_t> r * self.dim, full, self.dim)
        q.red = s.views
        q.red_stride = self.block(dims)
        q.dims = dims
        q.reduced = 1
        self.descend(s, &q, kappa, ef)
        for r in range(s.top.size):  # start every candidate's fetch before the first use
            row = <const char *> (self.data + <int64_t> s.top.val[r] * self.dim)
            for offset in range(0, min(self.dim * 4, 256), 64):
                fb_prefetch(row + offset)
        best.size = 0
        while s.top.size:
            v = s.top.val[0]
            heap_pop(&s.top)
            d = self.dist(full, self.data + <int64_t> v * self.dim)
            if best.size < k or d < best.key[0]:
                heap_push(best, d, v)
                if best.size > k:
                    heap_pop(best)
        return self.drain(best, ids, dists)

    cdef inline const float *prepared(self, Scratch *s, const float *q) noexcept nogil:
        """The query as stored vectors are: L2-normalised for angular."""
        cdef float norm
        cdef int i
        if self.metric != ANGULAR:
            return q
        norm = sqrt(fb_dot(q, q, self.dim))
        norm = 1.0 / norm if norm > 0 else 0.0
        for i in range(self.dim):
            s.qbuf[i] = q[i] * norm
        return s.qbuf

    cdef inline void finish(self, float *dists, int n) noexcept nogil:
        """Internal scores to the metric's distance: L2 (not squared), 1 - cos, -ip."""
        cdef int i
        if self.metric == EUCLIDEAN:
            for i in range(n):
                dists[i] = sqrt(max(dists[i], 0.0))

    def search(self, q, int k, int ef):
        """Ids (int64) and distances (float32) of at most `k` nearest live nodes, best first."""
        cdef const float[::1] qv = self._vector(q)
        cdef Scratch *s
        cdef int n
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        ids = np.empty(k, dtype=np.int64)
        dists = np.empty(k, dtype=np.float32)
        cdef int64_t[::1] iv = ids
        cdef float[::1] dv = dists
        s = self.take(False)
        try:
            with nogil:
                n = self.knn(s, &qv[0], k, ef, &iv[0], &dv[0])
        finally:
            self.give(s, False)
        if n < k:
            return ids[:n], dists[:n]
        return ids, dists

    def search_rows(self, Q, int k, int ef, ids, dists, int64_t start, int64_t stop):
        """`search` for rows `start:stop` of the float32 matrix `Q` into the same rows of `ids`
        (int64, padded with -1) and `dists` (float32, padded with inf), both `(len(Q), k)`.
        Reentrant: blocks of one batch may run on several threads at once."""
        cdef const float[:, ::1] qm = Q
        cdef int64_t[:, ::1] iv = ids
        cdef float[:, ::1] dv = dists
        cdef Scratch *s
        cdef int64_t i
        cdef int n, j
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if qm.shape[1] != self.dim:
            raise ValueError(f"dimension mismatch: the index has {self.dim}, got {qm.shape[1]}")
        if (iv.shape[0] != qm.shape[0] or dv.shape[0] != qm.shape[0] or iv.shape[1] != k
                or dv.shape[1] != k):
            raise ValueError(f"ids and dists must have shape ({qm.shape[0]}, {k})")
        if not 0 <= start <= stop <= qm.shape[0]:
            raise ValueError(f"rows {start}:{stop} outside 0:{qm.shape[0]}")
        s = self.take(False)
        try:
            with nogil:
                for i in range(start, stop):
                    n = self.knn(s, &qm[i, 0], k, ef, &iv[i, 0], &dv[i, 0])
                    for j in range(n, k):
                        iv[i, j] = -1
                        dv[i, j] = INFINITY
        finally:
            self.give(s, False)

    def search_reduced(self, query, int kappa, int ef, int dims):
        """Traverse the graph scoring node v with the row of `query` for its tag (see `score`:
        the view's first `dims` values, then for 8-bit rows its sum and offset term) and
        return the best `kappa` ids and reduced scores (GleanVec, seed 003, Algorithm 1,
        steps 1-2), without the re-rank."""
        cdef const float[:, ::1] qm = self._matrix(query, -1)
        cdef Query q
        cdef Scratch *s
        cdef int n
        self._check_reduced(kappa, dims)
        if self.red_bits == 8 and qm.shape[1] != dims + 2:
            raise ValueError(
                f"8-bit rows: each query row needs dims + 2 = {dims + 2} columns (the view, its "
                f"sum, <view, offset>), got {qm.shape[1]}"
            )
        if dims > qm.shape[1]:
            raise ValueError(f"dims={dims} but the query rows have {qm.shape[1]} columns")
        if qm.shape[0] <= self.max_tag:
            raise ValueError(
                f"the query has {qm.shape[0]} row(s) but a node has tag {self.max_tag}: "
                "pass one row per tag"
            )
        ids = np.empty(kappa, dtype=np.int64)
        scores = np.empty(kappa, dtype=np.float32)
        cdef int64_t[::1] iv = ids
        cdef float[::1] sv = scores
        q.red = &qm[0, 0]
        q.red_stride = qm.shape[1]
        q.dims = dims
        q.reduced = 1
        s = self.take(False)
        try:
            with nogil:
                self.descend(s, &q, kappa, ef)
                n = self.drain(&s.top, &iv[0], &sv[0])
        finally:
            self.give(s, False)
        return ids[:n], scores[:n]

    def search_multistep(self, q, matrix, int k, int kappa, int ef, int dims):
        """Multi-step search (GleanVec, seed 003, Algorithm 1) in one call: the reduced views
        `matrix @ q` (`matrix` holds one block of `dims` rows per tag, float32 (tags * dims,
        dim)), a traversal scored with them keeping the `kappa` best, and their re-rank with
        the stored full vectors, exact (Eq. 10). Ids and distances of at most `k`, as `search`."""
        cdef const float[::1] qv = self._vector(q)
        cdef const float[:, ::1] mat = self._matrix(matrix, self.dim)
        cdef int rows = mat.shape[0], n
        cdef Scratch *s
        self._check_reduced(kappa, dims)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if rows % self.block(dims) or rows // self.block(dims) <= self.max_tag:
            raise ValueError(
                f"matrix has {rows} rows: need one block of {self.block(dims)} rows per tag "
                f"(dims={dims}{', sum, offset' if self.red_bits == 8 else ''}), "
                f"{self.max_tag + 1} tag(s)"
            )
        ids = np.empty(k, dtype=np.int64)
        dists = np.empty(k, dtype=np.float32)
        cdef int64_t[::1] iv = ids
        cdef float[::1] dv = dists
        s = self.take(False)
        try:
            if rows > s.views_cap:
                free(s.views)
                s.views = <float *> malloc(rows * sizeof(float))
                s.views_cap = rows if s.views != NULL else 0
                if s.views == NULL:
                    raise MemoryError()
            with nogil:
                n = self.multistep(s, self.prepared(s, &qv[0]), &mat[0, 0], rows, dims, k,
                                   max(kappa, k), max(ef, kappa, k), &iv[0], &dv[0])
                self.finish(&dv[0], n)
        finally:
            self.give(s, False)
        if n < k:
            return ids[:n], dists[:n]
        return ids, dists

    cdef inline int block(self, int dims) noexcept nogil:
        """Floats per tag in the query's views: the view, then for 8-bit rows its sum and
        <view, offset>."""
        return dims + 2 if self.red_bits == 8 else dims

    cdef int _check_reduced(self, int kappa, int dims) except -1:
        if self.red_dim == 0 or self.red_live != self.live:
            raise RuntimeError(
                f"{self.live - self.red_live} live node(s) have no reduced row: call "
                "set_reduced for every id added since"
            )
        if kappa < 1:
            raise ValueError(f"kappa must be >= 1, got {kappa}")
        if not 1 <= dims <= self.red_dim:
            raise ValueError(
                f"dims must lie in 1..{self.red_dim} (the reduced rows' columns), got {dims}"
            )
        return 0

    cdef const float[::1] _vector(self, q) except *:
        """`q` as a float32 vector of the index's dimension; the hot path: a float32 vector
        is viewed in place, anything else converted."""
        cdef const float[::1] qv
        try:
            qv = q
        except (TypeError, ValueError):
            qv = np.ascontiguousarray(q, dtype=np.float32).reshape(-1)
        if qv.shape[0] != self.dim:
            raise ValueError(
                f"dimension mismatch: the index has {self.dim}, the query {qv.shape[0]}"
            )
        return qv

    @staticmethod
    def _matrix(Q, int dim):
        m = np.ascontiguousarray(Q, dtype=np.float32)
        if m.ndim != 2 or m.shape[0] == 0 or (dim >= 0 and m.shape[1] != dim):
            want = f"(n, {dim})" if dim >= 0 else "(rows, columns)"
            raise ValueError(f"expected a non-empty float32 array of shape {want}, got {m.shape}")
        return m

    # ------------------------------------------------------------------ insert
    cdef inline int random_level(self) noexcept nogil:
        cdef double u
        self.rng += 0x9E3779B97F4A7C15ULL  # SplitMix64
        u = ((mix(self.rng) >> 11) + 1) * (1.0 / 9007199254740992.0)
        return <int> (-log(u) * self.mult)

    cdef int select(self, Scratch *s, Heap *h, int m, int32_t *out, int fill=0) noexcept nogil:
        """SELECT-NEIGHBORS-HEURISTIC (Alg. 4): consumes the max-heap `h` of (distance to the
        base, node); keeps a candidate only if it is closer to the base than to every node
        already kept. The closest of the discarded ones then fill the list up to `fill`
        (Alg. 4's keepPrunedConnections). Writes at most `m` nodes to `out`; returns the
        count."""
        cdef int n = h.size, i, j, cnt = 0
        cdef int32_t e
        cdef float de
        cdef bint good
        if n > s.scap:
            s.scap = 2 * n
            s.sk = <float *> realloc(s.sk, s.scap * sizeof(float))
            s.sv = <int32_t *> realloc(s.sv, s.scap * sizeof(int32_t))
            s.queue = <int32_t *> realloc(s.queue, s.scap * sizeof(int32_t))
        for i in range(n - 1, -1, -1):
            s.sk[i] = h.key[0]
            s.sv[i] = h.val[0]
            heap_pop(h)
        if n < m:
            memcpy(out, s.sv, n * sizeof(int32_t))
            return n
        for i in range(n):
            if cnt >= m:
                break
            e = s.sv[i]
            de = s.sk[i]
            good = True
            for j in range(cnt):
                if self.node_dist(out[j], e) < de:
                    good = False
                    break
            if good:
                out[cnt] = e
                cnt += 1
                s.sv[i] = -1
        for i in range(n):
            if cnt >= fill:
                break
            if s.sv[i] >= 0:
                out[cnt] = s.sv[i]
                cnt += 1
        return cnt

    cdef void relink(self, Scratch *s, int32_t node, int layer, const int32_t *nodes,
                     int n) noexcept nogil:
        """Replace the links of `node` on `layer` by `nodes`, keeping the in-links exact."""
        cdef int32_t *ln = self.links(node, layer)
        cdef int width = self.M0 if layer == 0 else self.M
        cdef uint32_t e = new_epoch(s)
        cdef int j
        for j in range(1, ln[0] + 1):
            s.visited[ln[j]] = e
        for j in range(n):
            if s.visited[nodes[j]] != e:
                self.link_in(nodes[j], layer, node)
        e = new_epoch(s)
        for j in range(n):
            s.visited[nodes[j]] = e
        for j in range(1, ln[0] + 1):
            if s.visited[ln[j]] != e:
                in_remove(self.inlinks(ln[j], layer), node)
        ln[0] = n
        memcpy(ln + 1, nodes, n * sizeof(int32_t))
        memset(ln + 1 + n, 0, (width - n) * sizeof(int32_t))

    cdef int32_t connect(self, Scratch *s, int32_t node, int layer) noexcept nogil:
        """Link `node` to the heuristic's pick from `s.top` and back (Alg. 1, lines 10-17);
        returns the closest pick, the entry point of the next layer down."""
        cdef int n = self.select(s, &s.top, self.M, s.sel), i, j, cnt
        cdef int mmax = self.M0 if layer == 0 else self.M
        cdef int32_t t, closest
        cdef int32_t *ln
        if n == 0:
            return -1
        closest = s.sel[0]
        self.relink(s, node, layer, s.sel, n)
        memcpy(s.queue, s.sel, n * sizeof(int32_t))  # select() reuses s.sel
        for i in range(n):
            t = s.queue[i]
            ln = self.links(t, layer)
            cnt = ln[0]
            if cnt < mmax:
                ln[1 + cnt] = node
                ln[0] = cnt + 1
                self.link_in(node, layer, t)
                continue
            s.work.size = 0
            heap_push(&s.work, self.node_dist(t, node), node)
            for j in range(1, cnt + 1):
                heap_push(&s.work, self.node_dist(t, ln[j]), ln[j])
            cnt = self.select(s, &s.work, mmax, s.sel)
            self.relink(s, t, layer, s.sel, cnt)
        return closest

    cdef int insert(self, Scratch *s, int32_t node) noexcept nogil:
        """INSERT (Alg. 1) of the vector already stored at slot `node`."""
        cdef int lvl = self.random_level(), layer
        cdef int32_t cur, nxt
        cdef float d
        cdef Query q
        self.level[node] = lvl
        self.up_off[node] = -1
        if lvl > 0:
            if self._reserve_up(self.up_count + lvl) < 0:
                return -1
            self.up_off[node] = self.up_count
            self.up_count += lvl
        if self.entry < 0:
            self.entry, self.max_level = node, lvl
            return 0
        q.full = self.data + <int64_t> node * self.dim
        q.reduced = 0
        cur = self.entry
        d = self.score(&q, cur)
        cur = self.greedy(&q, cur, &d, self.max_level, lvl)
        for layer in range(min(lvl, self.max_level), -1, -1):
            self.search_layer(s, &q, cur, d, layer, self.ef_construction)
            nxt = self.connect(s, node, layer)
            if nxt >= 0:
                cur = nxt
                d = self.score(&q, cur)
        if lvl > self.max_level:
            self.entry, self.max_level = node, lvl
        return 0 if not self.oom else -1

    def _add(self, X):
        """Store and insert the rows of `X`, in slots emptied by `delete` first, then in new
        ones; returns the slots (int64). For angular the rows must be unit length already
        (`HNSW.add` normalises them with NumPy, so the stored bytes are the canonical
        normalised encoding the erasure scan looks for)."""
        cdef const float[:, ::1] xm = self._matrix(X, self.dim)
        cdef int64_t n = xm.shape[0], i
        cdef int32_t slot
        cdef int failed = 0
        cdef Scratch *s
        slots = np.empty(n, dtype=np.int64)
        cdef int64_t[::1] sv = slots
        s = self.take(True)
        try:
            self._reserve(self.count + max(0, n - self.free_count))
            if self.fit(s) < 0:
                raise MemoryError()
            with nogil:
                for i in range(n):
                    if self.free_count:
                        self.free_count -= 1
                        slot = self.free_slots[self.free_count]
                        self.free_slots[self.free_count] = 0
                    else:
                        slot = <int32_t> self.count
                        self.count += 1
                    sv[i] = slot
                    memcpy(self.data + <int64_t> slot * self.dim, &xm[i, 0],
                           self.dim * sizeof(float))
                    self.dead[slot] = 0
                    self.live += 1
                    if self.insert(s, slot) < 0:
                        failed = 1
                        break
        finally:
            self.give(s, True)
        if failed:
            raise MemoryError("out of memory while linking an inserted node")
        return slots

    def _set_ext(self, slots, ext_ids):
        cdef const int64_t[::1] s = np.ascontiguousarray(slots, dtype=np.int64)
        cdef const int64_t[::1] e = np.ascontiguousarray(ext_ids, dtype=np.int64)
        cdef int64_t i
        for i in range(e.shape[0]):
            self.ext[s[i]] = e[i]

    # ------------------------------------------------------------------ delete
    cdef void reconnect(self, Scratch *s, int32_t p, int layer) noexcept nogil:
        """Choose the links of live `p` on `layer` anew, as an insert does: a search of
        `efConstruction` from `p` itself, the heuristic's pick (Alg. 4) among the live nodes
        found, then the closest pruned ones, up to the degree `p` had. For a node that lost
        half its links or more, where the neighbours of the deleted ones are too few to
        choose well from; run once every node of the layer is repaired, so that the search
        meets live nodes only."""
        cdef Query q
        cdef int n, target = self.links(p, layer)[0], i
        q.full = self.data + <int64_t> p * self.dim
        q.reduced = 0
        self.search_layer(s, &q, p, 0.0, layer, self.ef_construction)
        s.work.size = 0
        for i in range(s.top.size):  # every node found but `p` itself
            if s.top.val[i] != p:
                heap_push(&s.work, s.top.key[i], s.top.val[i])
        n = self.select(s, &s.work, target, s.sel, target)
        self.relink(s, p, layer, s.sel, n)

    cdef bint repair(self, Scratch *s, int32_t p, int layer) noexcept nogil:
        """Fill the places of the deleted nodes in the links of live `p` on `layer`
        (FreshDiskANN, Algorithm 4, delete consolidation, on the nodes the in-lists name):
        the live links stay; the candidates are the live neighbours of the deleted ones,
        reached through further deleted nodes while fewer than a degree's worth are found
        (which keeps a node at the rim of a deleted cluster connected across it), the
        `2 * degree` closest of them kept; they take the freed places by the HNSW heuristic
        against the links kept (Alg. 4), then closest first (Alg. 4's
        keepPrunedConnections), so that `p` keeps its degree. Work is bounded by the degree
        whatever n; returns whether `p` lost half its links or more (see `reconnect`)."""
        cdef int32_t *ln = self.links(p, layer)
        cdef int32_t *zl
        cdef int32_t x, z
        cdef int n_old = ln[0], kept = 0, tail = 0, head = 0, j, i, n, live_kept, direct, fresh
        cdef int mmax = self.M0 if layer == 0 else self.M
        cdef int pool = 2 * mmax
        cdef uint32_t e = new_epoch(s)
        cdef float dx
        cdef bint good, heavy
        s.visited[p] = e
        for j in range(1, n_old + 1):
            x = ln[j]
            if self.dead[x]:
                s.visited[x] = e
                s.queue[tail] = x
                tail += 1
            else:
                s.sel[kept] = x
                kept += 1
                self.prefetch_row(x)
        live_kept = kept
        heavy = 2 * tail >= n_old
        direct = tail
        s.work.size = 0
        while head < tail and (head < direct or (head < self.M0 and s.work.size < mmax)):
            z = s.queue[head]
            head += 1
            zl = self.links(z, layer)
            fresh = 0
            for j in range(1, zl[0] + 1):  # as in search: every fetch first, then the scores
                x = zl[j]
                if s.visited[x] == e:
                    continue
                s.visited[x] = e
                if not self.dead[x]:
                    if linked(ln, x):  # scanning p's row beats marking its neighbours
                        continue
                    fb_prefetch(self.data + <int64_t> x * self.dim)
                    s.fresh[fresh] = x
                    fresh += 1
                elif tail < s.scap:
                    s.queue[tail] = x
                    tail += 1
            for j in range(fresh):
                x = s.fresh[j]
                dx = self.node_dist(p, x)
                if s.work.size < pool or dx < s.work.key[0]:
                    heap_push(&s.work, dx, x)
                    if s.work.size > pool:
                        heap_pop(&s.work)
        n = s.work.size
        for i in range(n - 1, -1, -1):  # ascending distance to p
            s.sk[i] = s.work.key[0]
            s.sv[i] = s.work.val[0]
            heap_pop(&s.work)
        for i in range(n):
            if kept >= n_old:
                break
            x = s.sv[i]
            good = True
            for j in range(kept):
                if self.node_dist(s.sel[j], x) < s.sk[i]:
                    good = False
                    break
            if good:
                s.sel[kept] = x
                kept += 1
                s.sv[i] = -1
        for i in range(n):
            if kept >= n_old:
                break
            if s.sv[i] >= 0:
                s.sel[kept] = s.sv[i]
                kept += 1
        # the deleted nodes' in-lists go with them (erase); the new links are recorded
        for j in range(live_kept, kept):
            self.link_in(s.sel[j], layer, p)
        ln[0] = kept
        memcpy(ln + 1, s.sel, kept * sizeof(int32_t))
        memset(ln + 1 + kept, 0, (mmax - kept) * sizeof(int32_t))
        return heavy

    def _delete(self, slots):
        """Mark `slots` deleted; layer by layer, repair every live node that links to one,
        each once (found through the in-lists: no scan of the graph), then reconnect those
        that lost half their links or more; move the entry point if it was deleted; then
        zero the deleted vectors, links, in-lists and reduced rows and free the slots for
        reuse."""
        cdef const int64_t[::1] sl = np.ascontiguousarray(slots, dtype=np.int64)
        cdef int64_t i, m = sl.shape[0], todo, heavy
        cdef int32_t p, v
        cdef int layer, j, top = -1
        cdef uint32_t e
        cdef InList *il
        cdef Scratch *s = self.take(True)
        try:
            if self.free_count + m > self.free_cap:
                self.free_slots = <int32_t *> grown(
                    self.free_slots, self.free_count * sizeof(int32_t),
                    (self.free_count + m) * 2 * sizeof(int32_t))
                if self.free_slots == NULL:
                    raise MemoryError()
                self.free_cap = (self.free_count + m) * 2
            with nogil:
                for i in range(m):
                    self.dead[sl[i]] = 1
                    top = max(top, self.level[sl[i]])
                self.live -= m
                for layer in range(top + 1):
                    e = new_epoch(s)
                    todo = 0
                    for i in range(m):
                        v = <int32_t> sl[i]
                        if self.level[v] < layer:
                            continue
                        il = self.inlinks(v, layer)
                        for j in range(il.size):
                            p = il.node[j]
                            if not self.dead[p] and s.visited[p] != e:
                                s.visited[p] = e
                                if push_todo(s, todo, p) < 0:
                                    self.oom = True
                                    break
                                todo += 1
                    heavy = 0
                    for i in range(todo):
                        if i + 1 < todo:  # the next node's links and vector, meanwhile
                            fb_prefetch(self.links(s.todo[i + 1], layer))
                            fb_prefetch(self.data + <int64_t> s.todo[i + 1] * self.dim)
                        if self.repair(s, s.todo[i], layer):
                            s.todo[heavy] = s.todo[i]
                            heavy += 1
                    for i in range(heavy):
                        self.reconnect(s, s.todo[i], layer)
                if self.entry >= 0 and self.dead[self.entry]:
                    self.move_entry()
                for i in range(m):
                    self.erase(<int32_t> sl[i])
                    self.free_slots[self.free_count] = <int32_t> sl[i]
                    self.free_count += 1
        finally:
            self.give(s, True)
        if self.oom:
            raise MemoryError("out of memory while repairing the graph")

    cdef void move_entry(self) noexcept nogil:
        """A new entry point for the deleted one: its live neighbour of highest level, from
        its top layer down; a scan of the levels only if every neighbour is deleted too."""
        cdef int32_t old = self.entry, x, p
        cdef int layer, j
        cdef int32_t *ln
        self.entry, self.max_level = -1, -1
        for layer in range(self.level[old], -1, -1):
            ln = self.links(old, layer)
            for j in range(1, ln[0] + 1):
                x = ln[j]
                if not self.dead[x] and self.level[x] > self.max_level:
                    self.entry, self.max_level = x, self.level[x]
            if self.entry >= 0:
                return
        for p in range(self.count):
            if not self.dead[p] and self.level[p] > self.max_level:
                self.entry, self.max_level = p, self.level[p]

    cdef void erase(self, int32_t v) noexcept nogil:
        """Overwrite everything slot `v` held (no live node links to it any more); the slot
        is empty until an insert reuses it or `compact` drops it."""
        cdef int layer, j
        cdef int32_t *ln
        for layer in range(self.level[v] + 1):
            ln = self.links(v, layer)
            for j in range(1, ln[0] + 1):
                if not self.dead[ln[j]]:
                    in_remove(self.inlinks(ln[j], layer), v)
            memset(ln, 0, (self.stride0 if layer == 0 else self.strideU) * sizeof(int32_t))
            in_clear(self.inlinks(v, layer))
        memset(self.data + <int64_t> v * self.dim, 0, self.dim * sizeof(float))
        self.ext[v] = -1
        self.level[v] = -1
        self.up_off[v] = -1
        if self.red_dim:
            memset(self.head(v), 0, self.red_bytes)
            if self.has_red[v]:
                self.red_live -= 1
            self.has_red[v] = 0

    cdef int rebuild_inlinks(self) except -1:
        """The in-lists from the links (after `compact` and `load`): they are not saved."""
        cdef int64_t p
        cdef int layer, j
        cdef int32_t *ln
        for p in range(self.count):
            if self.dead[p]:
                continue
            for layer in range(self.level[p] + 1):
                ln = self.links(<int32_t> p, layer)
                for j in range(1, ln[0] + 1):
                    self.link_in(ln[j], layer, <int32_t> p)
        if self.oom:
            raise MemoryError()
        return 0

    def _compact(self):
        """Renumber live slots densely and shrink every buffer to the live count."""
        cdef int64_t n = self.live, i, new_up = 0
        cdef int64_t *remap
        cdef int32_t old, layer, j
        cdef int32_t *src
        cdef int32_t *dst
        cdef Graph g
        self.begin_update()
        try:
            remap = <int64_t *> malloc(max(self.count, 1) * sizeof(int64_t))
            if remap == NULL:
                raise MemoryError()
            n = 0
            for i in range(self.count):
                if self.dead[i]:
                    remap[i] = -1
                else:
                    remap[i] = n
                    new_up += self.level[i]
                    n += 1
            other = Graph.__new__(Graph, self.dim, "euclidean", self.M, self.ef_construction)
            g = <Graph> other
            g.metric = self.metric
            g._reserve(n)
            g._reserve_up(new_up)
            if self.red_dim:
                g._alloc_reduced(self.red_dim, self.red_bits)
            for i in range(self.count):
                if remap[i] < 0:
                    continue
                j = <int32_t> remap[i]
                memcpy(g.data + <int64_t> j * self.dim, self.data + i * self.dim,
                       self.dim * sizeof(float))
                g.ext[j] = self.ext[i]
                g.level[j] = self.level[i]
                g.up_off[j] = -1
                if self.level[i] > 0:
                    g.up_off[j] = g.up_count
                    g.up_count += self.level[i]
                for layer in range(self.level[i] + 1):
                    src = self.links(<int32_t> i, layer)
                    dst = g.links(j, layer)
                    dst[0] = src[0]
                    for old in range(1, src[0] + 1):
                        dst[old] = <int32_t> remap[src[old]]
                if self.red_dim:
                    memcpy(g.head(j), self.head(<int32_t> i), self.red_bytes)
                    g.has_red[j] = self.has_red[i]
            g.count = g.live = n
            g.red_live, g.max_tag = self.red_live, self.max_tag
            g.entry = <int32_t> remap[self.entry] if self.entry >= 0 else -1
            g.max_level = self.max_level
            free(remap)
            g.rebuild_inlinks()
            self._release(True)
            self._take(g)
        finally:
            self.writing = False

    cdef void _take(self, Graph g) noexcept:
        """Move `g`'s buffers into `self` (after `self` released its own)."""
        self.data, self.l0, self.level, self.up_off, self.up = g.data, g.l0, g.level, g.up_off, g.up
        self.ext, self.dead, self.in0, self.inU = g.ext, g.dead, g.in0, g.inU
        self.red, self.has_red = g.red, g.has_red
        self.red_bits, self.red_bytes = g.red_bits, g.red_bytes
        self.cap, self.up_cap, self.up_count, self.count = g.cap, g.up_cap, g.up_count, g.count
        self.live, self.red_live, self.max_tag = g.live, g.red_live, g.max_tag
        self.entry, self.max_level, self.red_dim = g.entry, g.max_level, g.red_dim
        g.data = NULL
        g.red = NULL
        g.l0 = g.level = g.up = NULL
        g.up_off = g.ext = NULL
        g.dead = g.has_red = NULL
        g.in0 = g.inU = NULL
        g.cap = g.up_cap = g.count = 0

    def _in_links(self, int32_t slot):
        """The in-lists of live `slot`, one int32 array per layer (for tests: the core keeps
        them exactly the reverse of the links)."""
        cdef int layer
        cdef InList *il
        out = []
        for layer in range(self.level[slot] + 1):
            il = self.inlinks(slot, layer)
            out.append(np.array([il.node[i] for i in range(il.size)], dtype=np.int32))
        return out

    def _free_slots(self):
        """The empty slots inserts will reuse, next one last."""
        return np.array([self.free_slots[i] for i in range(self.free_count)], dtype=np.int64)

    # ----------------------------------------------------------------- reduced
    cdef int _alloc_reduced(self, int r, int bits) except -1:
        """(Re)allocate zeroed reduced rows of `r` values (`bits` 32: float32, 8: uint8 codes)
        for every slot, each after its `RowHead`, rounded up to 16 bytes."""
        if self.red != NULL:
            memset(self.red, 0, self.cap * self.red_bytes)
        free(self.red)
        free(self.has_red)
        self.red_dim, self.red_bits = r, bits
        self.red_bytes = (sizeof(RowHead) + r * (bits // 8) + 15) // 16 * 16
        self.red = <char *> calloc(max(self.cap, 1), self.red_bytes)
        self.has_red = <uint8_t *> calloc(max(self.cap, 1), 1)
        self.red_live = self.max_tag = 0
        if not (self.red and self.has_red):
            raise MemoryError()
        return 0

    def _set_reduced(self, slots, reduced, tags=None, bias=None, lo=None, step=None):
        """Overwrite the reduced rows of live `slots`: float32 values, or uint8 codes with
        their `lo` and `step` (8-bit rows); a new width or type drops every other row."""
        index = np.ascontiguousarray(slots, dtype=np.int64)
        bits = 8 if np.asarray(reduced).dtype == np.uint8 else 32
        n = len(index)
        if bits == 8 and (lo is None or step is None):
            raise ValueError("uint8 reduced rows need their lo and step")
        if np.ndim(reduced) != 2 or len(reduced) != n:
            raise ValueError(f"got {len(reduced)} reduced rows for {n} ids")
        if tags is not None and n and np.min(tags) < 0:
            raise ValueError("tags must be >= 0")
        cdef const int64_t[::1] s = index
        cdef int64_t i
        self.begin_update()
        try:
            if reduced.shape[1] != self.red_dim or bits != self.red_bits:
                self._alloc_reduced(reduced.shape[1], bits)
            self._write_rows(index, reduced, tags, bias, lo, step)
            for i in range(n):
                if not self.has_red[s[i]]:
                    self.has_red[s[i]] = 1
                    self.red_live += 1
        finally:
            self.writing = False

    cdef void _write_rows(self, index, reduced, tags, bias, lo, step) except *:
        """Fill the headers and values of the rows at `index` (missing fields are 0)."""
        n = len(index)
        zeros = np.zeros(n, dtype=np.float32)
        heads = np.zeros((n, 4), dtype=np.float32)
        heads[:, 0] = zeros if bias is None else bias
        heads[:, 1] = (zeros if tags is None else np.asarray(tags, np.int32)).view(np.float32)
        heads[:, 2] = zeros if lo is None else lo
        heads[:, 3] = zeros if step is None else step
        values = np.ascontiguousarray(reduced, dtype=np.uint8 if self.red_bits == 8 else np.float32)
        cdef const int64_t[::1] s = index
        cdef const uint8_t[:, ::1] hv = heads.view(np.uint8)
        cdef const uint8_t[:, ::1] vv = values.view(np.uint8) if n else np.zeros((0, 1), np.uint8)
        cdef int64_t i
        cdef char *row
        for i in range(n):
            row = <char *> self.head(<int32_t> s[i])
            memcpy(row, &hv[i, 0], sizeof(RowHead))
            memcpy(row + sizeof(RowHead), &vv[i, 0], vv.shape[1])
        if n and tags is not None:
            self.max_tag = max(self.max_tag, int(np.max(tags)))

    def _rows(self, slots):
        """Copies of the full vectors (float32) and the tags (int32) at live `slots`."""
        cdef int64_t c = max(self.count, 1)
        index = np.ascontiguousarray(slots, dtype=np.int64)
        rows = np.asarray(<float[:c, :self.dim]> self.data)[index] if self.cap else None
        if self.red_dim == 0:
            return rows, np.zeros(len(index), dtype=np.int32)
        return rows, self._reduced(index)["tags"]

    def _reduced(self, index):
        """Copies of the reduced rows at slots `index`: values, tags, bias (and lo, step)."""
        cdef int64_t c = max(self.cap, 1)
        raw = np.asarray(<uint8_t[:c, :self.red_bytes]> <uint8_t *> self.red)[index]
        heads = np.ascontiguousarray(raw[:, : sizeof(RowHead)]).view(np.float32)
        width = self.red_dim * (self.red_bits // 8)
        values = np.ascontiguousarray(raw[:, sizeof(RowHead) : sizeof(RowHead) + width])
        out = {
            "reduced": values.view(np.uint8 if self.red_bits == 8 else np.float32),
            "tags": heads[:, 1].copy().view(np.int32),
            "bias": heads[:, 0].copy(),
        }
        if self.red_bits == 8:
            out["lo"], out["step"] = heads[:, 2].copy(), heads[:, 3].copy()
        return out

    # ---------------------------------------------------------------- state io
    def inlink_bytes(self):
        """Bytes of the in-lists: their headers and entries (allocated capacity)."""
        cdef int64_t i, total = (self.cap + self.up_cap) * sizeof(InList)
        for i in range(self.cap):
            total += self.in0[i].cap * sizeof(int32_t)
        for i in range(self.up_cap):
            total += self.inU[i].cap * sizeof(int32_t)
        return total

    def nbytes(self):
        """Bytes of every buffer the graph holds."""
        cdef int64_t scratch = 0
        cdef int i
        for i in range(self.pooled):
            scratch += (self.pool[i].visited_cap * 4 + self.pool[i].scap * 12
                        + (self.pool[i].top.cap + self.pool[i].cand.cap
                           + self.pool[i].work.cap) * 8 + self.pool[i].todo_cap * 4)
        return (self.cap * (self.dim * 4 + self.stride0 * 4 + 4 + 8 + 8 + 1)
                + self.up_cap * self.strideU * 4 + self.free_cap * 4 + self.inlink_bytes()
                + (self.cap * (self.red_bytes + 1) if self.red_dim else 0) + scratch)

    def _state(self):
        """Copies of the used part of every buffer, for `save` (the in-lists are derived)."""
        cdef int64_t c = self.count
        if self.writing:
            raise RuntimeError(BUSY)
        out = {
            "vectors": np.asarray(<float[:max(c, 1), :self.dim]> self.data)[:c].copy(),
            "links0": np.asarray(<int32_t[:max(c, 1), :self.stride0]> self.l0)[:c].copy(),
            "levels": np.asarray(<int32_t[:max(c, 1)]> self.level)[:c].copy(),
            "upper_offsets": np.asarray(<int64_t[:max(c, 1)]> self.up_off)[:c].copy(),
            "upper_links": np.asarray(
                <int32_t[:max(self.up_count, 1), :self.strideU]> self.up)[:self.up_count].copy(),
            "ids": np.asarray(<int64_t[:max(c, 1)]> self.ext)[:c].copy(),
        } if self.cap else {}
        if self.red_dim and self.cap:
            out.update(self._reduced(np.arange(c)))
            out["has_reduced"] = np.asarray(<uint8_t[:max(c, 1)]> self.has_red)[:c].copy()
        meta = {"count": int(c), "live": int(self.live), "entry": int(self.entry),
                "max_level": int(self.max_level), "rng": int(self.rng),
                "red_live": int(self.red_live), "max_tag": int(self.max_tag)}
        return out, meta

    def _restore(self, arrays, meta):
        """Inverse of `_state` on a fresh graph of the same parameters."""
        cdef int64_t c = meta["count"], up = len(arrays["upper_links"]) if c else 0, i
        if c == 0:
            return
        self._reserve(c)
        self._reserve_up(up)
        self._copy_in(<char *> self.data, arrays["vectors"], np.float32)
        self._copy_in(<char *> self.l0, arrays["links0"], np.int32)
        self._copy_in(<char *> self.level, arrays["levels"], np.int32)
        self._copy_in(<char *> self.up_off, arrays["upper_offsets"], np.int64)
        self._copy_in(<char *> self.up, arrays["upper_links"], np.int32)
        self._copy_in(<char *> self.ext, arrays["ids"], np.int64)
        levels = np.asarray(arrays["levels"])
        np.asarray(<uint8_t[:c]> self.dead)[:] = levels < 0
        empty = np.flatnonzero(levels < 0).astype(np.int32)
        self.free_cap = self.free_count = len(empty)
        self.free_slots = <int32_t *> calloc(max(len(empty), 1), sizeof(int32_t))
        if self.free_slots == NULL:
            raise MemoryError()
        for i in range(len(empty)):
            self.free_slots[i] = empty[i]
        if "reduced" in arrays:
            values = arrays["reduced"]
            self._alloc_reduced(values.shape[1], 8 if values.dtype == np.uint8 else 32)
            self._write_rows(np.arange(c), values, arrays["tags"], arrays["bias"],
                             arrays.get("lo"), arrays.get("step"))
            self._copy_in(<char *> self.has_red, arrays["has_reduced"], np.uint8)
        self.count, self.up_count, self.live = c, up, meta["live"]
        self.entry, self.max_level, self.rng = meta["entry"], meta["max_level"], meta["rng"]
        self.red_live, self.max_tag = meta["red_live"], meta["max_tag"]
        self.rebuild_inlinks()

    cdef void _copy_in(self, char *dst, array, dtype) except *:
        cdef const uint8_t[::1] raw = np.ascontiguousarray(array, dtype=dtype).reshape(-1).view(
            np.uint8)
        if raw.shape[0]:
            memcpy(dst, &raw[0], raw.shape[0])
