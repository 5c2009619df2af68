"""Numba kernels of the multi-view tensor model: losses and the blend update."""

import math

import numpy as np

from .._numba import njit

SQUARED, LOGISTIC, MULTINOMIAL = 0, 1, 2


@njit
def loss_and_derivative(scores, targets, loss):
    """Summed loss and its derivative with respect to each score, in one pass.

    Squared: (s - y)^2 / 2, derivative s - y. Logistic: log(1 + e^s) - y s with y in
    [0, 1], derivative sigmoid(s) - y, evaluated without overflow for large |s|.
    Multinomial (a row of y sums to 1): logsumexp(s) - y's, derivative
    softmax(s) - y.

    Parameters
    ----------
    scores, targets : ndarray of shape (n_samples, n_topics)
    loss : int
        ``SQUARED`` or ``LOGISTIC``.

    Returns
    -------
    total : float
    derivative : ndarray of shape (n_samples, n_topics)
    """
    n_samples, n_topics = scores.shape
    derivative = np.empty_like(scores)
    total = 0.0
    if loss == MULTINOMIAL:
        for i in range(n_samples):
            largest = scores[i].max()
            normaliser = 0.0
            for p in range(n_topics):
                derivative[i, p] = math.exp(scores[i, p] - largest)
                normaliser += derivative[i, p]
            total += largest + math.log(normaliser)
            for p in range(n_topics):
                total -= targets[i, p] * scores[i, p]
                derivative[i, p] = derivative[i, p] / normaliser - targets[i, p]
        return total, derivative
    for i in range(n_samples):
        for p in range(n_topics):
            s = scores[i, p]
            y = targets[i, p]
            if loss == SQUARED:
                residual = s - y
                total += 0.5 * residual * residual
                derivative[i, p] = residual
            else:
                if s > 0:
                    total += s + math.log1p(math.exp(-s)) - y * s
                    derivative[i, p] = 1.0 / (1.0 + math.exp(-s)) - y
                else:
                    total += math.log1p(math.exp(s)) - y * s
                    exp_s = math.exp(s)
                    derivative[i, p] = exp_s / (1.0 + exp_s) - y
    return total, derivative


@njit
def best_blend(f_image, f_text, targets, blend, loss, max_steps):
    """Minimise the fused loss over each topic's blend weight in [0, 1].

    The fused score of topic p is f_text + a_p (f_image - f_text): one variable per
    topic, the others fixed. The squared loss gives the clipped least-squares root
    in one step; the logistic loss takes majorise-minimise steps with the curvature
    bound 1/4 (each step lowers the loss), until the weight moves by under 1e-12.

    Returns
    -------
    blend : ndarray of shape (n_topics,)
        Updated copy.
    """
    n_samples, n_topics = f_image.shape
    blend = blend.copy()
    for p in range(n_topics):
        curvature = 0.0
        for i in range(n_samples):
            difference = f_image[i, p] - f_text[i, p]
            curvature += difference * difference
        if curvature == 0.0:
            continue  # the blend does not change the fused score
        if loss == LOGISTIC:
            curvature *= 0.25
        for _ in range(max_steps):
            slope = 0.0
            for i in range(n_samples):
                difference = f_image[i, p] - f_text[i, p]
                s = f_text[i, p] + blend[p] * difference
                if loss == SQUARED:
                    slope += (s - targets[i, p]) * difference
                elif s > 0:
                    slope += (1.0 / (1.0 + math.exp(-s)) - targets[i, p]) * difference
                else:
                    exp_s = math.exp(s)
                    slope += (exp_s / (1.0 + exp_s) - targets[i, p]) * difference
            updated = min(max(blend[p] - slope / curvature, 0.0), 1.0)
            moved = abs(updated - blend[p])
            blend[p] = updated
            if loss == SQUARED or moved < 1e-12:
                break
    return blend


@njit
def best_blend_multinomial(f_image, f_text, targets, blend, max_steps):
    """Blend weights under the multinomial loss, all topics at once.

    The softmax couples the topics, but its Hessian is bounded by I / 2, so
    (1/2) sum_i d_ip^2 (d = f_image - f_text) bounds the curvature of each weight
    separately: every step minimises a majoriser of the loss and cannot raise it.
    """
    n_samples, n_topics = f_image.shape
    blend = blend.copy()
    curvature = np.zeros(n_topics)
    for i in range(n_samples):
        for p in range(n_topics):
            difference = f_image[i, p] - f_text[i, p]
            curvature[p] += 0.5 * difference * difference
    fused = np.empty(n_topics)
    for _ in range(max_steps):
        slope = np.zeros(n_topics)
        for i in range(n_samples):
            for p in range(n_topics):
                fused[p] = f_text[i, p] + blend[p] * (f_image[i, p] - f_text[i, p])
            largest = fused.max()
            normaliser = 0.0
            for p in range(n_topics):
                fused[p] = math.exp(fused[p] - largest)
                normaliser += fused[p]
            for p in range(n_topics):
                slope[p] += ((fused[p] / normaliser - targets[i, p])
                             * (f_image[i, p] - f_text[i, p]))
        moved = 0.0
        for p in range(n_topics):
            if curvature[p] > 0.0:
                updated = min(max(blend[p] - slope[p] / curvature[p], 0.0), 1.0)
                moved = max(moved, abs(updated - blend[p]))
                blend[p] = updated
        if moved < 1e-12:
            break
    return blend
