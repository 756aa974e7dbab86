"""iALS (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback Datasets", 2008).

With ``p_ui = 1`` for an observed pair and 0 otherwise, confidence ``c_ui = 1 + α · r_ui``
(``r_ui = 1`` for an observed pair, so ``c = 1 + α`` there and 1 elsewhere), user factors
``U`` ``[users, d]`` and item factors ``V`` ``[items, d]``, iALS minimises over *all* pairs

    L(U, V) = Σ_{u,i} c_ui (p_ui − u_u · v_i)² + λ (‖U‖²_F + ‖V‖²_F)

by alternating exact (or conjugate-gradient) least-squares solves for ``U`` with ``V``
fixed and for ``V`` with ``U`` fixed; one *iteration* is both half-steps, and each
half-step cannot increase ``L`` (exactly so for the exact solve). The solver is the
``implicit`` library's (CPU, Cython, optional extra ``pip install "tfdirectspec[als]"``),
imported only when iALS is trained. Why a kept library rather than ALS written in
TensorFlow: it is the implementation practitioners compare against, its conjugate-gradient
solver is fast on one core (CiteULike, 128 factors: about a second an iteration), and the
factors it returns are plain tables, which an MF tower then holds (export, serving and
evaluation are the MF ones). ``implicit`` reads the confidence ``c`` from the matrix it is
given (negatives weigh 1), so the matrix passed is ``1 + α`` on observed pairs and
implicit's own ``alpha`` stays 1.

Example:
    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.random(30, 20, density=0.2, format="csr", random_state=0, dtype=np.float32)
    >>> model = IALS(factors=4, regularization=0.1, alpha=5.0, seed=0)
    >>> losses = [model.step(X) for _ in range(3)]
    >>> losses[0] >= losses[1] >= losses[2], model.user_factors.shape, model.item_factors.shape
    (True, (30, 4), (20, 4))
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import scipy.sparse as sp

from tfdirectspec.parameters import ParameterError, check_non_negative, check_positive

#: What to run when ``implicit`` is missing.
INSTALL_HINT = 'pip install "tfdirectspec[als]"'


def _implicit_als():
    """implicit's CPU ALS class, or a one-line error (``--loss ials needs …``) saying how."""
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError:
        raise ParameterError(
            "loss", f"ials needs the implicit library (>= 0.7): {INSTALL_HINT}"
        ) from None
    return AlternatingLeastSquares


def _one_blas_thread():
    """A context with BLAS on one thread (implicit's own threads do the parallel work)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - implicit depends on threadpoolctl
        return contextlib.nullcontext()
    return threadpool_limits(1, "blas")


def confidence_matrix(train: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """``C`` as implicit reads it: ``1 + α`` on each observed pair (float32 CSR)."""
    C = sp.csr_matrix(train, dtype=np.float32, copy=True)
    C.sum_duplicates()
    C.eliminate_zeros()
    C.data[:] = 1.0 + alpha
    C.sort_indices()
    return C


def ials_loss(
    train: sp.csr_matrix, users: np.ndarray, items: np.ndarray, alpha: float, reg: float
) -> float:
    """The iALS objective ``L(U, V)`` of the module docstring, without a dense users × items.

    ``Σ_{u,i} c (p − s)² = Σ_all s² + Σ_{(u,i) observed} [(1 + α)(1 − s)² − s²]`` and
    ``Σ_all s² = ⟨UᵀU, VᵀV⟩``, with ``s = u_u · v_i``.

    Example:
        >>> X = sp.csr_matrix(np.eye(2, dtype=np.float32))
        >>> ials_loss(X, np.zeros((2, 1)), np.zeros((2, 1)), alpha=1.0, reg=0.1)
        4.0
    """
    X = sp.coo_matrix(train)
    U, V = np.asarray(users, np.float64), np.asarray(items, np.float64)
    s = np.einsum("nd,nd->n", U[X.row], V[X.col])
    everything = float(np.sum((U.T @ U) * (V.T @ V)))
    observed = float(np.sum((1.0 + alpha) * (1.0 - s) ** 2 - s**2))
    return everything + observed + reg * float(np.sum(U**2) + np.sum(V**2))


class IALS:
    """iALS trained one iteration at a time (so each can be evaluated on validation).

    Args:
        factors: the dimension ``d`` (``--dim``).
        regularization: λ (``--reg``), > 0.
        alpha: the confidence weight α (``--alpha``): ``c = 1 + α`` on observed pairs.
        seed: seeds implicit's initialisation (uniform in [0, 0.01)); the solves are
            deterministic, so a seed gives the same factors on every run.
        num_threads: implicit's threads (0: all cores; default 1).
        use_cg: conjugate gradient (3 steps per solve, implicit's default) rather than
            the exact Cholesky solve.

    Attributes:
        user_factors, item_factors: the current ``[users, d]`` and ``[items, d]`` float32
            tables (None before the first :meth:`step`).
        iterations: iterations done.
    """

    def __init__(
        self,
        factors: int = 128,
        regularization: float = 1.0,
        alpha: float = 10.0,
        seed: int = 0,
        num_threads: int = 1,
        use_cg: bool = True,
    ) -> None:
        check_positive("dim", factors)
        check_positive("reg", regularization)
        check_non_negative("alpha", alpha)
        check_non_negative("num_threads", num_threads)
        self.alpha, self.regularization = float(alpha), float(regularization)
        cls = _implicit_als()
        with _one_blas_thread(), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the BLAS threads notice
            self._model = cls(
                factors=int(factors),
                regularization=float(regularization),
                alpha=1.0,  # the confidence is in the matrix: see confidence_matrix
                iterations=1,
                use_cg=use_cg,
                num_threads=int(num_threads),
                random_state=int(seed),
            )
        self.iterations = 0
        self._confidence: sp.csr_matrix | None = None
        self._source: int | None = None

    @property
    def user_factors(self) -> np.ndarray | None:
        return self._model.user_factors

    @property
    def item_factors(self) -> np.ndarray | None:
        return self._model.item_factors

    def step(self, train: sp.csr_matrix, compute_loss: bool = True) -> float | None:
        """One iteration (users, then items) on ``train``; returns ``L`` after it.

        Args:
            train: the binary users × items matrix (the same one at every step).
            compute_loss: also compute :func:`ials_loss` (one pass over the pairs).
        """
        if self._confidence is None or self._source != id(train):
            self._confidence = confidence_matrix(train, self.alpha)
            self._source = id(train)
        with _one_blas_thread():
            self._model.fit(self._confidence, show_progress=False)
        self.iterations += 1
        if not compute_loss:
            return None
        return ials_loss(
            train, self.user_factors, self.item_factors, self.alpha, self.regularization
        )
