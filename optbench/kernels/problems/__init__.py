"""The built-in problems' kernel functions: the hooks of the problem door
(``optbench.problems.Problem``), written once as ``@njit`` functions that the generated
kernels (``optbench.codegen``) call, on the CPU and on CUDA alike.

A family gives either the per-point form

    f = family_loss_grad(x, g, p, w)          (the door's ``value_and_grad``)

that returns f(x) and writes the gradient into ``g`` (``p`` the instance's data vector,
laid out in each docstring and built by the spec, ``w`` a scratch vector), or the *rows
form*

    family_rows(X, G, W, F, p, phase, i0, i1, di)   (the door's ``rows``)

over the lanes of a block (columns of X, shape (d, B), the loop over lanes innermost so it
vectorises): it writes rows i = i0, i0 + di, ... < i1 of G and adds those rows' terms of the
loss into F[b]. A family may need several phases (each over all rows, in order; the rotated
Quadratic has three, ``quadratic_phases``). The CPU engine runs each phase over [0, d); the
CUDA block-per-trajectory kernel splits the rows between the threads of a block,
synchronises between phases and sums the terms in shared memory. Rows forms: Quadratic,
Rosenbrock, Rastrigin, Levy, StyblinskiTang (Ackley and Griewank couple every coordinate
through a sum or product inside a nonlinearity: per-point form).

Finite sums (f = weight * sum_i l_i(x) + l2/2 ||x||^2) share one header in ``p``:

    p[0] = n (number of terms), p[1] = weight (1/n for a mean, 1 for a plain sum),
    p[2] = l2, then the family's own data from p[3] on, and its term code last,

and one per-term function ``family_term(p, x, g, w, i, grad)`` that returns l_i and, when
``grad`` is True, adds grad l_i into g. The full objective, its loss alone and the minibatch
estimate are one loop over that function (``finite_sums.finite_sum_loss_grad``), so the
math exists once.

Stochastic hooks: ``sample_grad`` (finite sums: a minibatch; Reddi et al.'s counterexample:
the step's own f_t) and ``project`` (Reddi: onto [-1, 1]).

Files: ``codes`` (finite-sum term codes, stream salts), ``convex`` and ``nonconvex`` (the
families' functions), ``finite_sums`` (the one loop and the minibatch streams).
"""
from .convex import (quadratic_phases, quadratic_rows, reddi_loss_grad, reddi_project,
                     reddi_sample_grad)
from .finite_sums import (finite_sum_loss, finite_sum_loss_grad, finite_sum_sample_grad,
                          finite_sum_value_and_grad, permuted_index, sample_index)
from .nonconvex import (ackley_loss_grad, beale_loss_grad, booth_loss_grad,
                        goldstein_price_loss_grad, griewank_loss_grad, himmelblau_loss_grad,
                        levy_rows, rastrigin_rows, rosenbrock_rows, six_hump_camel_loss_grad,
                        styblinski_tang_rows)

__all__ = ["ackley_loss_grad", "beale_loss_grad", "booth_loss_grad", "finite_sum_loss",
           "finite_sum_loss_grad", "finite_sum_sample_grad", "finite_sum_value_and_grad",
           "goldstein_price_loss_grad", "griewank_loss_grad", "himmelblau_loss_grad",
           "levy_rows", "permuted_index", "quadratic_phases", "quadratic_rows",
           "rastrigin_rows", "reddi_loss_grad", "reddi_project", "reddi_sample_grad",
           "rosenbrock_rows", "sample_index", "six_hump_camel_loss_grad",
           "styblinski_tang_rows"]
