"""Engine: packs a shard of the plan into arrays and runs it in compiled calls, one per kernel.

Packing happens once per shard, in Python: trajectories that share a configuration are grouped
into blocks of lanes; each kernel (``codegen``: built-in rules, each user rule or problem)
then runs its blocks with no Python per step. Learning-rate/momentum tables are computed once per distinct
(schedule, optimizer) pair, not per trajectory; ReduceLROnPlateau runs inside the kernel
because it reacts to each trajectory's own loss.
"""
from __future__ import annotations

import math
import time

import numba
import numpy as np
from numba import typeof, types

from . import layout, prebuild
from .codegen import (Layout, builtin_problem_units, cpu_kernel_groups, definitions_of,
                      kernel_for, problem_units)
from .kernels import rng
from .kernels.cpu import run_kernel_blocks
from .kernels.engine import empty_x_trace
from .plan import Plan, config_starts


#: most lanes per block on the CPU, a multiple of the SIMD width. A block's per-step work
#: (schedule, bias corrections, calls) is shared by its lanes, and its (d, lanes) rows stream
#: through the cache, so wide blocks win: workload A's kernel took 95, 81, 77 and 78 ms with
#: 32, 64, 128 and 256 lanes (aligned rows; 36 and 35 ms at d = 1000 with 32 and 128 lanes)
CPU_LANES = 128
#: fewest lanes a block is narrowed to for parallelism (8 lanes ran workload A 4x slower)
MIN_CPU_LANES = 16
#: alignment of the lane arrays' rows in bytes: numpy guarantees 16, and a vector load that
#: straddles a cache line cost workload A's kernel 17-20% (113 ms against 94 ms, 32 lanes)
ALIGN_BYTES = 64
#: where each lane array starts within a 4 KiB page. A load whose address matches a pending
#: store's in its low 12 bits waits for that store (4K aliasing); numpy placed the iterate,
#: the gradient and the moments anywhere, sometimes a few hundred bytes apart in those bits,
#: and workload A's kernel moved between 74 and 78 ms with the process's allocation history
PAGE_BYTES = 4096
LANE_PAGE_OFFSETS = {"X": 0, "G": 2048, "S": 1024, "C": 3072, "W": 3072, "E": 3072}


def cpu_lanes(n_trials: int, threads: int) -> int:
    """Lanes per block for ``n_trials`` on ``threads`` threads: ``CPU_LANES``, halved (not
    under ``MIN_CPU_LANES``) while that would leave fewer than four blocks a thread."""
    lanes = CPU_LANES
    while lanes > MIN_CPU_LANES and n_trials < 4 * threads * lanes:
        lanes //= 2
    return lanes


def aligned_zeros(shape: tuple, dtype=np.float64, page_offset: int = 0) -> np.ndarray:
    """``np.zeros(shape, dtype)`` starting ``page_offset`` bytes (a multiple of
    ``ALIGN_BYTES``) past a ``PAGE_BYTES`` boundary: rows of a multiple of 64 bytes stay
    aligned for the vector loops, and arrays read and written in one loop get distinct
    offsets (``LANE_PAGE_OFFSETS``)."""
    dtype = np.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize
    raw = np.zeros(size + PAGE_BYTES, dtype=np.uint8)
    start = (page_offset - raw.ctypes.data) % PAGE_BYTES
    return raw[start:start + size].view(dtype).reshape(shape)


def lane_zeros(name: str, shape: tuple, dtype=np.float64) -> np.ndarray:
    """Lane array ``name`` (a field of ``layout.Lanes``), zeroed and placed in its page as
    ``LANE_PAGE_OFFSETS`` says."""
    return aligned_zeros(shape, dtype, LANE_PAGE_OFFSETS[name])


def blocks_of(config: np.ndarray, lanes: int) -> list[np.ndarray]:
    """Consecutive trials of one configuration (rows of ``config``: problem, optimizer,
    schedule), chunked into blocks of at most ``lanes`` (grid order puts the seeds of a
    configuration together)."""
    n = config.shape[0]
    new_config = config_starts(config)
    run_start = np.maximum.accumulate(np.where(new_config, np.arange(n), 0))
    starts = np.flatnonzero(new_config | ((np.arange(n) - run_start) % lanes == 0))
    return np.split(np.arange(n), starts[1:])


class Packed:
    """The kernel's inputs and outputs for trials [start, stop) of a plan, in blocks: the
    trajectory loop's argument bundles ``inputs`` (``layout.Inputs``), ``lanes``
    (``layout.Lanes``) and ``out`` (``layout.Outputs``)."""

    def __init__(self, plan: Plan, start: int, stop: int, lanes: int | None = None,
                 kernel=None):
        """``lanes``: most lanes a block (default ``cpu_lanes`` for numba's threads).
        ``kernel``: one compiled kernel holding every rule of the plan (CUDA); default the
        CPU kernels of ``codegen.cpu_kernel_groups``, one more per user problem
        (``self.kernels``): block blk runs in ``self.kernels[self.block_kernel[blk]]``, with
        its rule's and its problem's codes in that kernel in I_OPT and I_PROB."""
        definitions = definitions_of(plan.optimizers)
        self.kernels = [kernel] if kernel else []
        rule_groups = {True: cpu_kernel_groups(definitions),  # keyed by "built-in problem"
                       False: cpu_kernel_groups(definitions, every_builtin=False)}
        owners: dict = {}

        def owner(optimizer, problem) -> int:
            """Index in self.kernels of the kernel running this optimizer on this problem."""
            if kernel:
                return 0
            units = problem_units(problem)
            group = next(g for g in rule_groups[units == builtin_problem_units()]
                         if type(optimizer).definition() in g)
            key = (group, units)
            if key not in owners:
                owners[key] = len(self.kernels)
                self.kernels.append(kernel_for(group, "cpu", units))
            return owners[key]

        sizes = kernel or Layout(definitions)  # the rules' array sizes
        n = stop - start
        dtype = np.dtype(plan.dtype)
        steps = plan.steps
        if lanes is None:
            lanes = cpu_lanes(n, numba.get_num_threads())
        groups = blocks_of(plan.trial_ids[start:stop, :3], lanes)
        nb = len(groups)
        width = max(len(g) for g in groups)
        used = np.unique(plan.trial_ids[start:stop, 0]).tolist()
        dmax = max(plan.problems[p].dim for p in used)

        # problems: one data block per problem used in this shard
        prob_off, prob_len, xs_off, blocks, xs_blocks = {}, {}, {}, [], []
        offset = xs_offset = 0
        for p_index in used:
            problem = plan.problems[p_index]
            data = problem.kernel_data  # built once per problem and shard
            prob_off[p_index], prob_len[p_index], xs_off[p_index] = offset, data.size, xs_offset
            blocks.append(data)
            xs_blocks.append(problem.minimizers.ravel())
            offset += data.size
            xs_offset += problem.minimizers.size
        prob_data = np.concatenate(blocks) if blocks else np.zeros(1)
        xs_data = np.concatenate(xs_blocks + [np.zeros(1)])

        work = max(plan.problems[p].work_size for p in used)
        bmeta = np.zeros((nb, layout.N_IMETA), dtype=np.int64)
        bfmeta = np.zeros((nb, layout.N_FMETA))
        hp_all = np.zeros((nb, sizes.hp_size))
        self.block_kernel = np.zeros(nb, dtype=np.int64)
        lane_traj = np.full((nb, width), -1, dtype=np.int64)
        noise_keys = np.zeros((nb, width), dtype=np.uint64)
        X = lane_zeros("X", (nb, dmax, width), dtype)
        x0 = start_points(plan, start, stop)
        seeds = plan.trial_ids[start:stop, 3]
        # schedules: one lr/momentum table row per distinct (schedule, optimizer) pair
        rows: dict = {}
        lr_rows, mom_rows = [], []
        for blk, members in enumerate(groups):
            t = plan.trials[start + members[0]]
            pair = (t.schedule, t.optimizer)
            if pair not in rows:
                lr, mom = _tables(plan, t.schedule, t.optimizer, steps)
                rows[pair] = len(lr_rows)
                lr_rows.append(lr)
                mom_rows.append(mom)
            problem = plan.problems[t.problem]
            optimizer = plan.optimizers[t.optimizer]
            im = bmeta[blk]
            k = self.block_kernel[blk] = owner(optimizer, problem)
            im[layout.I_OPT] = self.kernels[k].code(optimizer)
            im[layout.I_SCHED_ROW] = rows[pair]
            im[layout.I_PROB] = self.kernels[k].problem_code(problem)
            im[layout.I_DIM] = problem.dim
            im[layout.I_PROB_OFF] = prob_off[t.problem]
            im[layout.I_PROB_LEN] = prob_len[t.problem]
            im[layout.I_XS_OFF] = xs_off[t.problem]
            im[layout.I_XS_COUNT] = problem.minimizers.shape[0]
            im[layout.I_BATCH] = problem.batch_size
            im[layout.I_REPLACE] = problem.with_replacement
            fm = bfmeta[blk]
            fm[layout.F_FSTAR] = problem.f_star
            fm[layout.F_TARGET] = np.nan if plan.target is None else plan.target
            (im[layout.I_NOISE_KIND], fm[layout.F_NOISE_SCALE],
             fm[layout.F_NOISE_DOF]) = problem.noise_model()
            if t.schedule >= 0 and plan.schedules[t.schedule].is_plateau:
                im[layout.I_PLATEAU] = 1
                for column, value in plan.schedules[t.schedule].plateau_fmeta().items():
                    fm[column] = value
            hp = optimizer.hyperparams()
            hp_all[blk, :hp.size] = hp
            lanes_used = len(members)
            lane_traj[blk, :lanes_used] = members
            rng.fill_stream_keys(seeds[members], problem.stream_id ^ 0x0153,
                                 noise_keys[blk, :lanes_used])
            X[blk, : problem.dim, :lanes_used] = x0[members, : problem.dim].T

        n_rec = plan.record_steps.size
        recorded = [c for c in layout.CHANNELS if c in plan.record]
        # scratch of the step channels: x_k, then the ratios (empty when none is recorded)
        step_recorded = any(c not in layout.ITERATE_CHANNELS for c in recorded)
        self.inputs = layout.Inputs(
            n_steps=steps, bmeta=bmeta, bfmeta=bfmeta, hp=hp_all,
            lr_table=np.ascontiguousarray(np.stack(lr_rows)),
            mom_table=np.ascontiguousarray(np.stack(mom_rows)), prob_data=prob_data,
            xs_data=xs_data, lane_traj=lane_traj, noise_keys=noise_keys,
            blowup=float(plan.blowup), rec_steps=plan.record_steps,
            slots=np.array([recorded.index(c) if c in recorded else -1
                            for c in layout.CHANNELS], dtype=np.int64))
        self.lanes = layout.Lanes(
            X=X, G=lane_zeros("G", (nb, dmax, width), dtype),
            W=lane_zeros("W", (nb, work, width)),
            S=lane_zeros("S", (nb, sizes.state_slots, dmax, width), dtype),
            SC=np.zeros((nb, sizes.scalar_slots)),
            C=lane_zeros("C", (nb, sizes.coef_slots, width), dtype),
            PS=aligned_zeros((nb, layout.N_PLATEAU_STATE, width)),
            LS=aligned_zeros((nb, layout.N_LANE_SCALARS, width)),
            E=lane_zeros("E", (nb, dmax if step_recorded else 0, width)))
        self.out = layout.Outputs(
            out_trace=np.zeros((n, n_rec, len(recorded))),
            out_x=(np.full((n, n_rec, plan.max_dim), np.nan, dtype=dtype) if "x" in plan.record
                   else empty_x_trace(n, dtype)),
            out_status=np.zeros((n, 2), dtype=np.int64),
            out_final=np.zeros((n, len(layout.ITERATE_CHANNELS))))

    def kernel_args(self) -> tuple:
        """The trajectory loop's arguments after the block index: (inputs, per_lane, outputs),
        the bundles ``layout.Inputs``, ``layout.Lanes``, ``layout.Outputs``."""
        return self.inputs, self.lanes, self.out

    def outputs(self, record) -> dict:
        """The shard's stored arrays: requested traces, statuses, final values."""
        out, slots = self.out, self.inputs.slots
        stored = {"status": out.out_status[:, 0].copy(),
                  "status_step": out.out_status[:, 1].copy()}
        for c, name in enumerate(layout.CHANNELS):
            if name in layout.ITERATE_CHANNELS:
                stored[f"final_{name}"] = out.out_final[:, c].copy()
            if slots[c] >= 0:
                stored[name] = out.out_trace[:, :, slots[c]].copy()
        if "x" in record:
            stored["x"] = out.out_x.copy()
        return stored


def _tables(plan: Plan, schedule_index: int, optimizer_index: int, steps: int):
    """(lr, momentum) of steps 0..steps for one (schedule, optimizer) pair; the momentum is
    the rule's own (``hp[1]``) where the schedule sets none (NaN in its table)."""
    optimizer = plan.optimizers[optimizer_index]
    own_momentum = optimizer.hyperparams()[1]
    if schedule_index < 0:
        return (np.full(steps + 1, optimizer.lr, dtype=np.float64),
                np.full(steps + 1, own_momentum, dtype=np.float64))
    lr, mom = plan.schedules[schedule_index].tables(optimizer, steps)
    mom = np.asarray(mom, dtype=np.float64)
    return np.asarray(lr, dtype=np.float64), np.where(np.isnan(mom), own_momentum, mom)


def start_points(plan: Plan, start: int, stop: int) -> np.ndarray:
    """x0 of trials [start, stop): explicit ones, or the problem's seeded default."""
    if plan.x0 is not None:
        if plan.x0.ndim == 1:
            return np.broadcast_to(plan.x0, (stop - start, plan.x0.size))
        return plan.x0[start:stop]
    ids = plan.trial_ids[start:stop]
    used = np.unique(ids[:, 0])
    rows = np.zeros((stop - start, max(plan.problems[p].dim for p in used)))
    for p in used:
        members = np.flatnonzero(ids[:, 0] == p)
        points = plan.problems[p].start_points(ids[members, 3])
        rows[members, : points.shape[1]] = points
    return rows


def run_shard_cpu(plan: Plan, start: int, stop: int) -> tuple[dict, float]:
    """Run trials [start, stop) on the CPU; returns (stored arrays, seconds)."""
    packed = Packed(plan, start, stop)
    t0 = time.perf_counter()
    run_blocks(packed)
    return packed.outputs(plan.record), time.perf_counter() - t0


def run_blocks(packed: Packed) -> None:
    """Run every block of a packed shard, each with its rule's kernel (one compiled call per
    kernel, parallel over its blocks on numba's threads: ``kernels.cpu.run_blocks``)."""
    args = packed.kernel_args()
    for k, kernel in enumerate(packed.kernels):
        blocks = np.flatnonzero(packed.block_kernel == k)
        if blocks.size:
            if kernel.functions:  # a rule's loop: compiled by a build this process started?
                prebuild.wait("loop")
            run_kernel_blocks(kernel.loop.cpu_block, blocks, *args, functions=kernel.functions,
                              signatures=lambda: loop_signatures(packed))


def loop_signatures(packed: Packed) -> tuple:
    """The numba argument types of the rule dispatch ``kernels.engine.run_block`` calls
    (``codegen.LOOP_FUNCTIONS``: ``optimizer_init(code, hp, S, SC)``, ``optimizer_step(code,
    hp, lr, mom, t, X, G, S, SC, C)``) as it calls them on ``packed``'s arrays: one block's
    slices of them (C-contiguous, a leading axis fewer; ``lr`` a row of lane scalars),
    ``mom`` and ``t`` float64. What a loop that takes them as first-class functions is
    compiled against (``kernels.cpu.run_kernel_blocks``); a wrong type here is a typing
    error there."""
    def block(array, drop=1):
        kind = typeof(array)
        return kind.copy(ndim=kind.ndim - drop, layout="C")

    lanes = packed.lanes
    hp, S, SC = block(packed.inputs.hp), block(lanes.S), block(lanes.SC)
    return ((types.int64, hp, S, SC),
            (types.int64, hp, block(lanes.LS, 2), types.float64, types.float64,
             block(lanes.X), block(lanes.G), S, SC, block(lanes.C)))


_WARM: dict = {}  # (dtype, kernel modules) -> whether its first call here compiled nothing


def warm_up(plan: Plan) -> dict:
    """Compile (or load from the disk cache) the kernels this plan runs, for its dtype, timed
    on their own: one step of a tiny plan with one optimizer per rule and one problem per
    family packs into the same kernels. Once per process and kernel. Meanwhile, background
    processes compile what else a cold cache lacks (``optbench.prebuild.alongside``)."""
    problems = {type(p).unit(): p for p in plan.problems}  # the plan's kernels: its families
    optimizers = {type(o).definition(): o for o in plan.optimizers}
    tiny = Plan(problems=list(problems.values()), optimizers=list(optimizers.values()),
                schedules=None, seeds=[0], steps=1, record=plan.record, dtype=plan.dtype)
    packed = Packed(tiny, 0, tiny.n_trials)
    keys = [(plan.dtype, *(m.__name__ for m in kernel.modules)) for kernel in packed.kernels]
    if all(key in _WARM for key in keys):
        return {"jit_seconds": 0.0, "cache_hit": all(_WARM[k] for k in keys),
                "already_loaded": True, "kernels": len(keys)}
    misses = [_cache_misses(kernel) for kernel in packed.kernels]
    t0 = time.perf_counter()
    with prebuild.alongside(plan, packed.kernels):
        run_blocks(packed)
    seconds = time.perf_counter() - t0
    for key, kernel, before in zip(keys, packed.kernels, misses):
        _WARM.setdefault(key, _cache_misses(kernel) == before)
    return {"jit_seconds": seconds, "cache_hit": all(_WARM[k] for k in keys),
            "already_loaded": False, "kernels": len(keys)}


def _cache_misses(kernel) -> list:
    """How often each dispatcher a CPU run of ``kernel`` calls has compiled (not found its
    code in the disk cache)."""
    return [sum(dispatcher.stats.cache_misses.values()) for dispatcher in kernel.compiled]
