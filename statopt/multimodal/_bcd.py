"""Block coordinate descent for the multi-view tensor model.

Notation. View v has data Z_v = [1, X_v] (n x (d_v + 1)) and factor Theta_v
((d_v + 1) x R); A_v = Z_v Theta_v. Modality M (image or text) has the R-vector
m_M = prod over its views of A_v (elementwise) and topic scores f_M = m_M phi_M
(n x P). The objective sums, over terms t, the loss of Y against
s_t,I * f_I + s_t,T * f_T (per-topic scales: (a, 1 - a) for the fused score,
(1, 0) and (0, 1) for the per-modality terms), plus alpha/2 times the squared
Frobenius norms of every Theta_v and phi_M.

Every block update minimises a quadratic model of the objective in that block,
with the others fixed: the objective itself for the squared loss, a majoriser for
the logistic loss (curvature bound I/4) and the multinomial loss (Boehning's bound
(I - 1 1'/P) / 2 on the softmax Hessian). Either way the objective cannot rise.

The ridge of every block solve is floored at ``RIDGE_FLOOR`` times the block's
largest curvature (see :func:`_ridge`), so that a tiny ``alpha`` (down to 1e-300)
cannot make the system singular in floating point.
"""

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve, eigh
from scipy.sparse.linalg import LinearOperator, cg

from ._kernels import (
    LOGISTIC,
    MULTINOMIAL,
    SQUARED,
    best_blend,
    best_blend_multinomial,
    loss_and_derivative,
)

MODALITIES = ("image", "text")
# Blocks with at most this many parameters are solved through their explicit
# Hessian (Cholesky); larger ones by preconditioned conjugate gradients on the
# Hessian operator, which cost less from about this size on (forming the Hessian
# takes n size^2 operations, a CG product 4 n size).
DIRECT_MAX_SIZE = 100
# Relative residual of the CG block solves: CG_FORCING times the last sweep's
# relative decrease, within [CG_RTOL, CG_MAX_RTOL] (a forcing term, as in inexact
# Newton methods): loose while sweeps make large progress (any CG iterate lowers
# the block's model), tight near the end. On six wide views a looser cap (0.5)
# stopped the fit at a worse objective; 0.1 did not.
CG_RTOL = 1e-6
CG_MAX_RTOL = 0.1
CG_FORCING = 100.0
LOGISTIC_BLEND_STEPS = 50
# Smallest ridge of a block solve, relative to the block's largest curvature: far
# above the rounding of a Cholesky factorisation (size * 2.2e-16), far below any
# useful alpha.
RIDGE_FLOOR = 1e-10


def view_product(factors):
    """Elementwise product of a modality's view factors Z_v Theta_v (n x R)."""
    product = factors[0].copy()
    for factor in factors[1:]:
        product *= factor
    return product


class TensorState:
    """Parameters and the data-dependent quantities of one fit.

    Parameters
    ----------
    designs : list of ndarray
        Z_v = [1, X_v] per view.
    view_modality : list of str
        Modality of each view.
    targets : ndarray of shape (n_samples, n_topics)
    loss : {'squared', 'logistic'}
    objective : {'fused', 'per_modality'}
    alpha : float
    thetas, phi, blend : initial parameters
    """

    def __init__(self, designs, view_modality, targets, loss, objective, alpha,
                 thetas, phi, blend):
        self.designs = designs
        self.view_modality = view_modality
        self.targets = targets
        self.loss = {"squared": SQUARED, "logistic": LOGISTIC,
                     "multinomial": MULTINOMIAL}[loss]
        n_topics = targets.shape[1]
        # Bound on the loss Hessian across the topics of one row.
        if loss == "multinomial":
            self.curvature = 0.5 * (np.eye(n_topics) - 1.0 / n_topics)
        else:
            self.curvature = (1.0 if loss == "squared" else 0.25) * np.eye(n_topics)
        self.objective_kind = objective
        self.alpha = alpha
        self.thetas = thetas
        self.phi = phi
        self.blend = blend
        self._eigen = {}
        self.cg_rtol = CG_RTOL
        self.refresh()

    # --- forward pass ------------------------------------------------------------

    def refresh(self, view=None):
        """Recompute the view factors, modality factors and topic scores.

        With ``view`` given, only that view's factor changed: its modality alone
        is recomputed.
        """
        if view is None:
            self.factors = [Z @ theta for Z, theta in zip(self.designs, self.thetas)]
            self.modality_factors, self.topic_scores = {}, {}
            changed = MODALITIES
        else:
            self.factors[view] = self.designs[view] @ self.thetas[view]
            changed = (self.view_modality[view],)
        for modality in changed:
            self.modality_factors[modality] = view_product(
                [factor for factor, owner in zip(self.factors, self.view_modality)
                 if owner == modality])
            self.topic_scores[modality] = (self.modality_factors[modality]
                                           @ self.phi[modality])

    def term_scales(self):
        """Per-topic scales (image, text) of each term of the objective."""
        ones, zeros = np.ones_like(self.blend), np.zeros_like(self.blend)
        terms = [(self.blend, 1.0 - self.blend)]
        if self.objective_kind == "per_modality":
            terms += [(ones, zeros), (zeros, ones)]
        return terms

    def term_scores(self):
        return [scale_image * self.topic_scores["image"]
                + scale_text * self.topic_scores["text"]
                for scale_image, scale_text in self.term_scales()]

    def objective(self):
        """Summed loss of every term plus the ridge penalty."""
        total = sum(loss_and_derivative(scores, self.targets, self.loss)[0]
                    for scores in self.term_scores())
        penalty = sum(np.sum(theta**2) for theta in self.thetas)
        penalty += sum(np.sum(self.phi[m] ** 2) for m in MODALITIES)
        return total + 0.5 * self.alpha * penalty

    def derivatives(self):
        """Derivative of the loss with respect to each term's scores."""
        return [loss_and_derivative(scores, self.targets, self.loss)[1]
                for scores in self.term_scores()]

    # --- block updates -----------------------------------------------------------

    def update_phi(self):
        """Topic factors of both modalities, jointly.

        The scores are linear in beta = [phi_I; phi_T]; the quadratic model's
        Hessian has blocks W^(M,M')_pq G^(M,M')_rr', with G the Gram matrices of the
        modality factors and W = sum_t diag(s_t,M) B diag(s_t,M'), B the curvature
        bound across topics. With a diagonal B (squared, logistic) the topics
        decouple into P systems of size 2R; the multinomial bound couples them.
        """
        rank = self.modality_factors["image"].shape[1]
        n_topics = self.targets.shape[1]
        grams = {(a, b): self.modality_factors[a].T @ self.modality_factors[b]
                 for a in MODALITIES for b in MODALITIES}
        scales = self.term_scales()
        derivatives = self.derivatives()
        weighted = {m: sum(scale[k] * derivative for scale, derivative
                           in zip(scales, derivatives))
                    for k, m in enumerate(MODALITIES)}
        gradient = np.vstack([self.modality_factors[m].T @ weighted[m]
                              for m in MODALITIES])  # (2R, P)
        current = np.vstack([self.phi[m] for m in MODALITIES])
        topic_weights = {
            (a, b): sum(np.outer(scale[i], scale[j]) * self.curvature
                        for scale in scales)
            for i, a in enumerate(MODALITIES) for j, b in enumerate(MODALITIES)}
        if self.loss != MULTINOMIAL:  # diagonal curvature bound: topics decouple
            updated = np.empty_like(current)
            for p in range(n_topics):
                hessian = np.block([[topic_weights[a, b][p, p] * grams[a, b]
                                     for b in MODALITIES] for a in MODALITIES])
                updated[:, p] = self._ridge_solve(hessian, current[:, p],
                                                  gradient[:, p])
        else:
            # Unknowns ordered (modality, r, p): kron(G, W) per modality pair.
            hessian = np.block([[np.kron(grams[a, b], topic_weights[a, b])
                                 for b in MODALITIES] for a in MODALITIES])
            updated = self._ridge_solve(hessian, current.ravel(),
                                        gradient.ravel()).reshape(current.shape)
        self.phi = {"image": updated[:rank], "text": updated[rank:]}
        self.topic_scores = {m: self.modality_factors[m] @ self.phi[m]
                             for m in MODALITIES}

    def _ridge_solve(self, hessian, current, gradient):
        """Minimiser of the block's quadratic model plus the ridge, from ``current``.

        Solves (H + rho I) new = H current - gradient + (rho - alpha) current: with
        rho = alpha this is the ridge-penalised minimiser; above it, the excess is
        the proximal term of :func:`_ridge`.
        """
        ridge = _ridge(self.alpha, np.diag(hessian))
        system = hessian + ridge * np.eye(hessian.shape[0])
        right = hessian @ current - gradient
        if ridge > self.alpha:
            right += (ridge - self.alpha) * current
        return _solve_spd(system, right)

    def update_blend(self):
        """Per-topic blend weights a_p in [0, 1] (the fused term only)."""
        if self.loss == MULTINOMIAL:
            self.blend = best_blend_multinomial(
                self.topic_scores["image"], self.topic_scores["text"], self.targets,
                self.blend, LOGISTIC_BLEND_STEPS)
        else:
            self.blend = best_blend(
                self.topic_scores["image"], self.topic_scores["text"], self.targets,
                self.blend, self.loss, LOGISTIC_BLEND_STEPS)

    def update_theta(self, view):
        """Factor of one view: minimise the quadratic model in Theta_v.

        With the other blocks fixed, the modality factor is m = (Z Theta) * C, C the
        product of the modality's other view factors, so every score is linear in
        Theta. The model's Hessian acts as
        Delta -> Z' (((Z Delta) * C) Phi_w * C) + alpha Delta, with
        Phi_w = phi (sum_t diag(s_t) B diag(s_t)) phi' (R x R), B the curvature
        bound across topics.
        """
        modality = self.view_modality[view]
        k = MODALITIES.index(modality)
        Z, theta = self.designs[view], self.thetas[view]
        others = view_product(
            [np.ones_like(self.factors[view])]
            + [factor for index, (factor, owner)
               in enumerate(zip(self.factors, self.view_modality))
               if owner == modality and index != view])
        phi = self.phi[modality]
        scales = [scale[k] for scale in self.term_scales()]
        weighted = sum(s * d for s, d in zip(scales, self.derivatives()))
        gradient = Z.T @ ((weighted @ phi.T) * others) + self.alpha * theta
        topic_weights = sum(np.outer(s, s) * self.curvature for s in scales)
        phi_w = phi @ topic_weights @ phi.T
        size = theta.size
        if sum(owner == modality for owner in self.view_modality) == 1:
            # A modality's only view has C = 1 and the Hessian is the Kronecker
            # product (Z'Z) kron Phi_w + alpha I: solved exactly in the eigenbases of
            # Z'Z (computed once per fit) and Phi_w (R x R).
            values, vectors = self._gram_eigen(view)
            weights, bases = np.linalg.eigh(phi_w)
            # A negative eigenvalue of Phi_w (positive semidefinite) is rounding,
            # of order 1e-16 of the largest: far below the ridge's floor.
            curvatures = np.outer(values, weights)
            rotated = vectors.T @ gradient @ bases
            step = -(vectors @ (rotated / (curvatures
                                           + _ridge(self.alpha, curvatures)))
                     @ bases.T)
        elif size <= DIRECT_MAX_SIZE:
            # Q[i, (j, r)] = z_ij c_ir; H = (Q'Q) * (1 1' kron Phi_w) + alpha I.
            Q = (Z[:, :, None] * others[:, None, :]).reshape(Z.shape[0], size)
            hessian = (Q.T @ Q) * np.tile(phi_w, (Z.shape[1], Z.shape[1]))
            ridge = _ridge(self.alpha, np.diag(hessian))
            step = _solve_spd(hessian + ridge * np.eye(size), -gradient.ravel())
        else:
            diagonal = ((Z**2).T @ others**2) * np.diag(phi_w)
            ridge = _ridge(self.alpha, diagonal)

            def hessian_product(direction):
                direction = direction.reshape(theta.shape)
                inner = ((Z @ direction) * others) @ phi_w
                return (Z.T @ (inner * others) + ridge * direction).ravel()

            operator = LinearOperator((size, size), matvec=hessian_product,
                                      dtype=np.float64)
            solve_kron = self._kronecker_preconditioner(view, others, phi_w, ridge)
            preconditioner = LinearOperator(
                (size, size),
                matvec=lambda v: solve_kron(v.reshape(theta.shape)).ravel(),
                dtype=np.float64)
            # Preconditioned CG from zero lowers the quadratic model at every
            # iterate, so even an early stop keeps the objective from rising.
            # Solved for the unit right-hand side, then scaled: a fit shrinking to
            # zero has gradients of 1e-160 whose inner products underflow to 0/0.
            right = -gradient.ravel()
            norm = np.linalg.norm(right)
            step = np.zeros(size)
            if norm > 0:
                step, _ = cg(operator, right / norm, rtol=self.cg_rtol, atol=0.0,
                             maxiter=10 * size, M=preconditioner)
                step *= norm
        self.thetas[view] = theta + step.reshape(theta.shape)
        self.refresh(view)

    def _kronecker_preconditioner(self, view, others, phi_w, ridge):
        """Exact inverse of (Z'Z) kron K + ridge I, K = (C'C / n) * Phi_w.

        The Hessian sums z_i z_i' kron ((c_i c_i') * Phi_w) over rows; replacing
        c_i c_i' by its mean over rows makes it a Kronecker product, exact when C
        is constant (a modality's only view) and close when the other views vary
        independently of this one. Its inverse costs two small eigendecompositions
        (Z'Z's cached for the fit), and CG needs fewer products than with the
        diagonal (Jacobi) preconditioner: about half on four 160-column views.
        """
        values, vectors = self._gram_eigen(view)
        kernel = (others.T @ others) / others.shape[0] * phi_w
        weights, bases = np.linalg.eigh(kernel)
        curvatures = np.outer(values, np.maximum(weights, 0.0)) + ridge

        def solve(right):
            return vectors @ ((vectors.T @ right @ bases) / curvatures) @ bases.T

        return solve

    def _gram_eigen(self, view):
        """Eigenvalues and eigenvectors of Z_v' Z_v, cached."""
        if view not in self._eigen:
            Z = self.designs[view]
            values, vectors = np.linalg.eigh(Z.T @ Z)
            self._eigen[view] = (np.maximum(values, 0.0), vectors)
        return self._eigen[view]

    def balance(self):
        """Rescale each rank-one component to equal factor norms: exact, cheap.

        Component r of modality M is the product of column r of every Theta_v of
        M and row r of phi_M. Scaling those vectors by positive numbers of product
        1 leaves every score unchanged; the ridge penalty, a sum of their squared
        norms, is then smallest when the norms are equal (arithmetic-geometric
        mean inequality), at their geometric mean. So this is the exact minimiser
        over the rescalings, and it moves at once along the direction in which
        block updates crawl: one factor growing while another shrinks.
        """
        for modality in MODALITIES:
            views = [v for v, owner in enumerate(self.view_modality)
                     if owner == modality]
            norms = np.vstack([np.linalg.norm(self.thetas[v], axis=0) for v in views]
                              + [np.linalg.norm(self.phi[modality], axis=1)])
            # A zero vector zeroes the component: leave it as it is.
            live = np.all(norms > 0, axis=0)
            if not live.any():
                continue
            target = np.exp(np.log(norms[:, live]).mean(axis=0))
            scales = np.ones_like(norms)
            scales[:, live] = target / norms[:, live]
            for k, v in enumerate(views):
                self.thetas[v] = self.thetas[v] * scales[k]
            self.phi[modality] = self.phi[modality] * scales[-1][:, None]
        self.refresh()

    def sweep(self):
        """One cycle over the blocks: phi, the blend, each view's factor, balance."""
        self.update_phi()
        self.update_blend()
        for view in range(len(self.designs)):
            self.update_theta(view)
        self.balance()

    def parameters(self):
        return ([theta.copy() for theta in self.thetas],
                {m: self.phi[m].copy() for m in MODALITIES}, self.blend.copy())

    def set_parameters(self, parameters):
        self.thetas, self.phi, self.blend = parameters
        self.refresh()


def extrapolate(state, previous, objective, step):
    """Try the point ``step`` times further along the last sweep's move.

    Alternating block updates of a CP model crawl along shallow valleys; moving
    every block along the direction of the last sweep (Bro's line search for ALS,
    and the extrapolation of Xu & Yin 2013) skips many sweeps. The move is kept only
    when it lowers the objective, so the objective still never rises.

    Returns
    -------
    objective : float
        The objective after the attempt (lower if accepted).
    accepted : bool
    """
    current = state.parameters()
    thetas = [now + step * (now - before)
              for now, before in zip(current[0], previous[0])]
    phi = {m: current[1][m] + step * (current[1][m] - previous[1][m])
           for m in MODALITIES}
    blend = np.clip(current[2] + step * (current[2] - previous[2]), 0.0, 1.0)
    try:
        state.set_parameters((thetas, phi, blend))
        trial = state.objective()
    except FloatingPointError:  # raised by the fit's errstate: overshot
        trial = np.inf
    if trial < objective:
        return trial, True
    state.set_parameters(current)
    return objective, False


def _ridge(alpha, curvatures):
    """Ridge of a block solve: alpha, at least RIDGE_FLOOR times the top curvature.

    With alpha far below the curvature's scale (alpha=1e-300), H + alpha I is
    singular in floating point: Cholesky fails, or a tiny pivot sends the step far
    out. The excess rho - alpha acts as a proximal term (rho - alpha) / 2 |step|^2
    added to the block's quadratic model: its minimiser minimises a majoriser of
    the objective, which therefore still cannot rise.
    """
    return max(alpha, RIDGE_FLOOR * float(np.max(curvatures, initial=0.0)))


def _solve_spd(matrix, right):
    """Solve a symmetric positive definite system by Cholesky.

    Should rounding still leave the floored system indefinite, the eigenvalues are
    raised to the floor: a matrix above the true one, so still a majoriser.
    """
    try:
        return cho_solve(cho_factor(matrix, check_finite=False), right,
                         check_finite=False)
    except LinAlgError:
        values, vectors = eigh(matrix, check_finite=False)
        floor = RIDGE_FLOOR * max(float(np.abs(values).max()), np.finfo(float).tiny)
        return vectors @ ((vectors.T @ right) / np.maximum(values, floor))
