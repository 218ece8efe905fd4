"""Regenerate ``tests/reference/optimizers.npz``: optimizer trajectories from independent
reference implementations, replayed by ``tests/test_optimizers_reference.py`` without them.

References (float64 throughout):
  * torch.optim (2.13) single-tensor / for-loop implementations (``foreach=False``) for SGD,
    Adam, AdamW, NAdam, RAdam, Adamax, RMSprop, Adagrad and Adadelta;
  * optax.lion (with ``jax_enable_x64``) for Lion; our ``maximize=True`` is fed to optax as
    the negated gradient (optax has no such keyword; that is the keyword's definition);
  * the Adam variants no library implements (``bias_correction=False``,
    ``bias_correction="second_moment_only"``, ``eps_inside_sqrt=True``, alone and with
    ``amsgrad``) come from :func:`numpy_adam_variant` below, a plain-numpy transcription of
    the formulas in the ``optbench.optimizers.Adam`` docstring, written independently of the
    njit rule (different operation order, no lerp), so they are still checked against a second
    implementation.

Every case has d = 5 parameters, 200 steps and one of two gradient protocols that the test
replays exactly without torch:

  "quad": g_k = sigma * H * (x_k - c) + S[k]   (sigma = -1 for maximize cases, so that
          maximizing is a descent and trajectories stay bounded)
  "seq":  g_k = S_seq[k]                        (independent of x)

H is a fixed diagonal spanning 1e-3..1e2, c a fixed vector, S / S_seq stored per-step
perturbations that flip sign, change scale (S_seq jumps by 1e6 and back) and contain exact
zeros (S_seq has whole runs of all-zero gradients). The gradient is computed with numpy from
the current iterate by ``grad(...)`` below, the same float64 expression the test uses.

Some cases set ``group['lr']`` (and ``group['momentum']`` / ``group['betas']``) before each step
from stored per-step tables, to prove the rules use the lr and momentum/beta1 passed in.

Run with an environment that has torch, jax and optax:

    python scripts/make_reference_optimizers.py [out.npz]
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from optbench.families import BY_NAME  # noqa: E402

STEPS = 200
D = 5
H = np.array([1e-3, 1e-2, 1.0, 1e1, 1e2])
C = np.array([1.5, -2.0, 0.3, -0.7, 0.05])
PROTOCOLS = {"quad": 0, "seq": 1}


def make_perturbations(rng):
    """S for "quad": sign flips, scale changes and exact zeros on top of H*(x-c)."""
    s = rng.standard_normal((STEPS, D))
    amp = np.ones(STEPS)
    amp[:50] = 1e-1
    amp[50:100] = 1.0 * (-1.0) ** (np.arange(50) // 7)
    amp[100:150] = 1e-3
    amp[150:] = 10.0 * (-1.0) ** np.arange(50)
    s *= amp[:, None]
    s[rng.random((STEPS, D)) < 0.2] = 0.0
    s[120:130] = 0.0  # whole steps without perturbation
    return s


def make_sequence(rng):
    """S_seq for "seq": a pure gradient sequence with zero runs, sign flips, 1e6 jumps."""
    g = rng.standard_normal((STEPS, D)) + 0.3
    scale = np.ones(STEPS)
    scale[60:90] = 1e6
    scale[90:110] = 1e-6 * (-1.0) ** np.arange(20)
    scale[140:160] = 1e6 * (-1.0) ** (np.arange(20) // 3)
    scale[160:] = -1.0
    g *= scale[:, None]
    g[rng.random((STEPS, D)) < 0.15] = 0.0
    g[20:30] = 0.0  # runs of exactly zero gradient
    g[110:113] = 0.0
    g[195:] = 0.0
    g[:, 2][40:50] = 0.0  # one coordinate silent for a while
    return g


def grad(protocol, sigma, x, k, s_quad, s_seq):
    """The gradient protocol (identical float64 expression in the test)."""
    if protocol == 0:
        return sigma * H * (x - C) + s_quad[k]
    return s_seq[k].copy()


# ---- the cases ------------------------------------------------------------------------------

def lr_table(base):
    """A per-step lr: warm-up, cosine decay, then a jump (as schedules produce)."""
    k = np.arange(STEPS)
    warm = np.minimum(1.0, (k + 1) / 20.0)
    cos = 0.5 * (1.0 + np.cos(np.pi * k / STEPS))
    tab = base * warm * (0.1 + 0.9 * cos)
    tab[150:] *= 3.0
    return tab


def mom_table(lo, hi, zero_first=0):
    """A per-step momentum/beta1 cycling between lo and hi (optionally 0 at first)."""
    k = np.arange(STEPS)
    tab = lo + (hi - lo) * 0.5 * (1.0 + np.cos(2.0 * np.pi * k / 50.0))
    tab[:zero_first] = 0.0
    return tab


def configs():
    """(name, kwargs, lr_tab, mom_tab) for every configuration; each runs both protocols."""
    out = []

    def add(name, tables=None, **kw):
        lr_tab, mom_tab = tables if tables else (None, None)
        out.append((name, kw, lr_tab, mom_tab))

    # SGD
    add("SGD", lr=0.01)
    add("SGD", lr=0.01, momentum=0.9)
    add("SGD", lr=0.01, momentum=0.9, dampening=0.5)
    add("SGD", lr=0.005, momentum=0.9, nesterov=True)
    add("SGD", lr=0.01, momentum=0.5, weight_decay=0.1)
    add("SGD", lr=0.01, weight_decay=0.3, dampening=0.2)
    add("SGD", lr=0.01, momentum=0.9, maximize=True)
    add("SGD", lr=0.005, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True)
    add("SGD", (lr_table(0.01), mom_table(0.5, 0.95, zero_first=3)), lr=0.01, momentum=0.9)
    add("SGD", (lr_table(0.005), mom_table(0.6, 0.9)), lr=0.005, momentum=0.9, nesterov=True)
    # Adam / AdamW (torch)
    add("Adam", lr=1e-2)
    add("Adam", lr=1e-2, betas=[0.8, 0.99], eps=1e-6)
    add("Adam", lr=1e-2, eps=1e-3)
    add("Adam", lr=1e-2, weight_decay=0.1)
    add("Adam", lr=1e-2, amsgrad=True)
    add("Adam", lr=1e-2, maximize=True)
    add("Adam", lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)
    add("Adam", lr=1e-2, weight_decay=0.05, amsgrad=True, decoupled_weight_decay=True,
        maximize=True)
    add("Adam", lr=1e-2, betas=[0.5, 0.9], weight_decay=0.1, amsgrad=True)
    add("Adam", (lr_table(1e-2), mom_table(0.85, 0.95)), lr=1e-2)
    add("Adam", (lr_table(1e-2), mom_table(0.8, 0.95)), lr=1e-2, amsgrad=True,
        weight_decay=0.1, decoupled_weight_decay=True)
    add("AdamW")
    add("AdamW", lr=1e-2)
    add("AdamW", lr=1e-2, amsgrad=True)
    add("AdamW", lr=1e-2, weight_decay=0.2, betas=[0.7, 0.95], maximize=True)
    add("AdamW", (lr_table(1e-2), mom_table(0.85, 0.95)), lr=1e-2)
    # Adam variants without a library implementation (numpy transcription)
    add("Adam", lr=1e-2, bias_correction=False)
    add("Adam", lr=1e-2, bias_correction="second_moment_only")
    add("Adam", lr=1e-2, eps_inside_sqrt=True)
    add("Adam", lr=1e-2, bias_correction=False, amsgrad=True)
    add("Adam", lr=1e-2, bias_correction="second_moment_only", amsgrad=True)
    add("Adam", lr=1e-2, eps_inside_sqrt=True, amsgrad=True)
    add("Adam", lr=1e-2, bias_correction=False, eps_inside_sqrt=True)
    add("Adam", lr=1e-2, bias_correction="second_moment_only", eps_inside_sqrt=True,
        amsgrad=True, eps=1e-4)
    add("Adam", lr=1e-2, bias_correction=False, eps_inside_sqrt=True, amsgrad=True,
        weight_decay=0.1, maximize=True)
    add("Adam", lr=1e-2, bias_correction="second_moment_only", weight_decay=0.1,
        decoupled_weight_decay=True)
    add("AdamW", lr=1e-2, bias_correction=False, amsgrad=True)
    add("Adam", (lr_table(1e-2), mom_table(0.8, 0.95)), lr=1e-2,
        bias_correction="second_moment_only", eps_inside_sqrt=True)
    # NAdam
    add("NAdam", lr=1e-2)
    add("NAdam", lr=1e-2, momentum_decay=0.0)
    add("NAdam", lr=1e-2, momentum_decay=0.05, betas=[0.8, 0.99])
    add("NAdam", lr=1e-2, weight_decay=0.1)
    add("NAdam", lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)
    add("NAdam", lr=1e-2, maximize=True, eps=1e-4)
    add("NAdam", lr=1e-2, weight_decay=0.05, decoupled_weight_decay=True, maximize=True)
    add("NAdam", (lr_table(1e-2), mom_table(0.8, 0.95)), lr=1e-2)
    # RAdam (default beta2: rho_t crosses 5 at step 6)
    add("RAdam", lr=1e-2)
    add("RAdam", lr=1e-2, betas=[0.8, 0.99], eps=1e-4)
    add("RAdam", lr=1e-2, weight_decay=0.1)
    add("RAdam", lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)
    add("RAdam", lr=1e-2, maximize=True)
    add("RAdam", lr=1e-2, weight_decay=0.05, decoupled_weight_decay=True, maximize=True)
    add("RAdam", lr=1e-2, betas=[0.9, 0.9999])  # rho_inf ~ 2e4 (crossing still at step 6)
    add("RAdam", (lr_table(1e-2), mom_table(0.8, 0.95)), lr=1e-2)
    # Adamax
    add("Adamax")
    add("Adamax", lr=1e-2, betas=[0.8, 0.99], eps=1e-4)
    add("Adamax", lr=1e-2, weight_decay=0.1)
    add("Adamax", lr=1e-2, maximize=True)
    add("Adamax", (lr_table(1e-2), mom_table(0.8, 0.95)), lr=1e-2)
    # RMSprop
    add("RMSprop", lr=1e-3)
    add("RMSprop", lr=1e-3, alpha=0.9, eps=1e-4)
    add("RMSprop", lr=1e-3, momentum=0.9)
    add("RMSprop", lr=1e-3, centered=True)
    add("RMSprop", lr=1e-3, centered=True, momentum=0.5)
    add("RMSprop", lr=1e-3, weight_decay=0.1)
    add("RMSprop", lr=1e-3, maximize=True)
    add("RMSprop", lr=1e-3, alpha=0.95, centered=True, momentum=0.8, weight_decay=0.05,
        maximize=True, eps=1e-6)
    add("RMSprop", (lr_table(1e-3), mom_table(0.5, 0.9)), lr=1e-3, momentum=0.9)
    add("RMSprop", (lr_table(1e-3), None), lr=1e-3, centered=True)
    # Adagrad
    add("Adagrad", lr=0.1)
    add("Adagrad", lr=0.1, lr_decay=0.01)
    add("Adagrad", lr=0.1, initial_accumulator_value=0.5)
    add("Adagrad", lr=0.1, eps=1e-3)
    add("Adagrad", lr=0.1, weight_decay=0.1)
    add("Adagrad", lr=0.1, maximize=True)
    add("Adagrad", lr=0.1, lr_decay=0.05, initial_accumulator_value=0.1, eps=1e-6,
        weight_decay=0.05, maximize=True)
    add("Adagrad", (lr_table(0.1), None), lr=0.1, lr_decay=0.01)
    # Adadelta
    add("Adadelta")
    add("Adadelta", lr=0.5)
    add("Adadelta", rho=0.5)
    add("Adadelta", eps=1e-3)
    add("Adadelta", weight_decay=0.1)
    add("Adadelta", maximize=True)
    add("Adadelta", lr=0.3, rho=0.95, eps=1e-5, weight_decay=0.05, maximize=True)
    add("Adadelta", (lr_table(1.0), None), lr=1.0)
    # Lion (optax)
    add("Lion", lr=1e-3)
    add("Lion", lr=1e-3, betas=[0.95, 0.98])
    add("Lion", lr=1e-3, weight_decay=0.0)
    add("Lion", lr=1e-3, weight_decay=0.1)
    add("Lion", lr=1e-3, maximize=True)
    add("Lion", (lr_table(1e-3), mom_table(0.8, 0.95)), lr=1e-3, weight_decay=0.05)
    return out


# ---- reference implementations --------------------------------------------------------------

def is_numpy_variant(name, kw):
    """Whether the case uses keywords the family's peer lacks (``optbench.families``)."""
    return bool(BY_NAME[name].extensions & kw.keys())


def run_torch(name, kw, x0, gradient, lr_tab, mom_tab):
    import torch

    p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    opt = getattr(torch.optim, name)([p], foreach=False, **kw)
    group = opt.param_groups[0]
    traj = [x0.copy()]
    for k in range(STEPS):
        if lr_tab is not None:
            group["lr"] = float(lr_tab[k])
        if mom_tab is not None:
            if "betas" in group:
                group["betas"] = (float(mom_tab[k]), group["betas"][1])
            else:
                group["momentum"] = float(mom_tab[k])
        x = p.detach().numpy().copy()
        p.grad = torch.from_numpy(gradient(x, k))
        opt.step()
        traj.append(p.detach().numpy().copy())
    return np.array(traj)


def run_optax_lion(kw, x0, gradient, lr_tab, mom_tab):
    import jax
    import jax.numpy as jnp
    import optax

    lr = kw.get("lr", 1e-4)
    b1, b2 = kw.get("betas", (0.9, 0.99))
    wd = kw.get("weight_decay", 1e-3)
    sign = -1.0 if kw.get("maximize", False) else 1.0
    params = jnp.asarray(x0, dtype=jnp.float64)
    state = optax.lion(learning_rate=lr, b1=b1, b2=b2, weight_decay=wd).init(params)
    traj = [x0.copy()]
    for k in range(STEPS):
        # optax's state (count, mu) does not depend on lr/b1, so a per-step lr/b1 is a
        # fresh transformation applied to the running state.
        lr_k = float(lr_tab[k]) if lr_tab is not None else lr
        b1_k = float(mom_tab[k]) if mom_tab is not None else b1
        tx = optax.lion(learning_rate=lr_k, b1=b1_k, b2=b2, weight_decay=wd)
        x = np.asarray(params).copy()
        g = jnp.asarray(sign * gradient(x, k), dtype=jnp.float64)
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        assert params.dtype == jnp.float64
        traj.append(np.asarray(params).copy())
    return np.array(traj)


def numpy_adam_variant(kw, x0, gradient, lr_tab, mom_tab, adamw=False):
    """Plain transcription of the Adam docstring (``optbench.optimizers.Adam``):

        g <- -g (maximize); g <- g + wd*x (L2) or x <- x*(1 - lr*wd) (decoupled / AdamW)
        m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;  amsgrad: vmax <- max(vmax, v), v := vmax
        bias_correction=True:                 m_hat = m/(1-b1^t), v_hat = v/(1-b2^t)
        bias_correction="second_moment_only": m_hat = m,          v_hat = v/(1-b2^t)
        bias_correction=False:                m_hat = m,          v_hat = v
        x <- x - lr * m_hat / (sqrt(v_hat) + eps)     or, with eps_inside_sqrt,
        x <- x - lr * m_hat / sqrt(v_hat + eps)
    """
    lr0 = kw.get("lr", 1e-3)
    b1_0, b2 = kw.get("betas", (0.9, 0.999))
    eps = kw.get("eps", 1e-8)
    wd = kw.get("weight_decay", 1e-2 if adamw else 0.0)
    amsgrad = kw.get("amsgrad", False)
    maximize = kw.get("maximize", False)
    decoupled = adamw or kw.get("decoupled_weight_decay", False)
    bias = kw.get("bias_correction", True)
    inside = kw.get("eps_inside_sqrt", False)
    x = np.array(x0, dtype=np.float64)
    m = np.zeros(D)
    v = np.zeros(D)
    vmax = np.zeros(D)
    traj = [x.copy()]
    for k in range(STEPS):
        t = k + 1
        lr = lr_tab[k] if lr_tab is not None else lr0
        b1 = mom_tab[k] if mom_tab is not None else b1_0
        g = gradient(x.copy(), k)
        if maximize:
            g = -g
        if wd != 0.0:
            if decoupled:
                x = x * (1.0 - lr * wd)
            else:
                g = g + wd * x
        m = b1 * m + (1.0 - b1) * g
        v = b2 * v + (1.0 - b2) * g * g
        if amsgrad:
            vmax = np.maximum(vmax, v)
            vv = vmax
        else:
            vv = v
        if bias is True:
            m_hat = m / (1.0 - b1**t)
            v_hat = vv / (1.0 - b2**t)
        elif bias == "second_moment_only":
            m_hat = m
            v_hat = vv / (1.0 - b2**t)
        else:
            m_hat = m
            v_hat = vv
        denom = np.sqrt(v_hat + eps) if inside else np.sqrt(v_hat) + eps
        x = x - lr * m_hat / denom
        traj.append(x.copy())
    return np.array(traj)


def check_for_loop_path():
    """Make sure torch runs its single-tensor implementations (not foreach/fused)."""
    import torch
    import torch.optim as optim

    called = []
    originals = {}
    for mod, fn in [("sgd", "_single_tensor_sgd"), ("adam", "_single_tensor_adam")]:
        module = importlib.import_module(f"torch.optim.{mod}")
        originals[mod, fn] = orig = getattr(module, fn)

        def wrapped(*a, _orig=orig, _fn=fn, **k):
            called.append(_fn)
            return _orig(*a, **k)

        setattr(module, fn, wrapped)
    try:
        for cls in (optim.SGD, optim.Adam):
            p = torch.nn.Parameter(torch.zeros(D, dtype=torch.float64))
            p.grad = torch.ones(D, dtype=torch.float64)
            cls([p], lr=0.1, foreach=False).step()
    finally:
        for (mod, fn), orig in originals.items():
            setattr(importlib.import_module(f"torch.optim.{mod}"), fn, orig)
    assert called == ["_single_tensor_sgd", "_single_tensor_adam"], called


def main(out_path):
    import jax
    import torch

    torch.set_default_dtype(torch.float64)  # step and NAdam's mu_product are default-dtype
    jax.config.update("jax_enable_x64", True)
    check_for_loop_path()

    rng = np.random.default_rng(20240611)
    s_quad = make_perturbations(rng)
    s_seq = make_sequence(rng)

    cases = configs()
    missing = set(BY_NAME) - {name for name, *_ in cases}
    assert not missing, f"families without reference cases: {sorted(missing)}"
    names, protocols, sigmas, x0s, trajs = [], [], [], [], []
    has_lr, has_mom, lr_tabs, mom_tabs, refs = [], [], [], [], []
    for name, kw, lr_tab, mom_tab in cases:
        for proto_name, proto in PROTOCOLS.items():
            sigma = -1.0 if kw.get("maximize", False) and proto == 0 else 1.0
            x0 = rng.uniform(-2.0, 2.0, D)

            def gradient(x, k, proto=proto, sigma=sigma):
                return grad(proto, sigma, x, k, s_quad, s_seq)

            peer = BY_NAME[name].peer
            if peer == "optax.lion":
                traj = run_optax_lion(kw, x0, gradient, lr_tab, mom_tab)
                ref = peer
            elif is_numpy_variant(name, kw):
                traj = numpy_adam_variant(kw, x0, gradient, lr_tab, mom_tab,
                                          adamw=name == "AdamW")
                ref = "numpy transcription of the Adam docstring"
            else:
                traj = run_torch(peer.removeprefix("torch.optim."), kw, x0, gradient, lr_tab,
                                 mom_tab)
                ref = f"{peer} {torch.__version__} foreach=False"
            assert traj.shape == (STEPS + 1, D) and np.all(np.isfinite(traj)), (name, kw)
            names.append(json.dumps({"type": name, **kw}, sort_keys=True))
            protocols.append(proto)
            sigmas.append(sigma)
            x0s.append(x0)
            trajs.append(traj)
            has_lr.append(lr_tab is not None)
            has_mom.append(mom_tab is not None)
            lr_tabs.append(lr_tab if lr_tab is not None else np.zeros(STEPS))
            mom_tabs.append(mom_tab if mom_tab is not None else np.zeros(STEPS))
            refs.append(ref)

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out_path,
        config=np.array(names),
        reference=np.array(refs),
        protocol=np.array(protocols, dtype=np.int64),
        sigma=np.array(sigmas),
        x0=np.array(x0s),
        trajectory=np.array(trajs),
        has_lr=np.array(has_lr),
        has_mom=np.array(has_mom),
        lr=np.array(lr_tabs),
        mom=np.array(mom_tabs),
        H=H,
        c=C,
        s_quad=s_quad,
        s_seq=s_seq,
        steps=np.int64(STEPS),
    )
    print(f"wrote {len(names)} cases to {out_path} ({out_path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[1] / "tests" / "reference" / "optimizers.npz"
    main(sys.argv[1] if len(sys.argv) > 1 else default)
