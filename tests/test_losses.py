"""Every loss against a numpy reference written from METHOD.md's formulas."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from float_bounds import central_difference_atol
from keras_roundtrip import assert_round_trip

from tfdirectspec.losses import (
    BPRLoss,
    DirectAULoss,
    DirectSpecLoss,
    DirectSpecPlusLoss,
    PositiveOnlyLoss,
    SampledSoftmaxLoss,
)

B, D = 12, 5


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


def _shrink(x, s):
    return x if s == 0 else s * np.linalg.norm(x, axis=1, keepdims=True) * x


def np_directspec(u, i, alpha, shrink, reg):
    def f(x):
        x = _unit(x)
        x = x - alpha / len(x) * x @ x.T @ x
        return _shrink(x, shrink)

    u, i = f(u), f(i)
    values = -_log_sigmoid((u * i).sum(1)) + reg * ((u**2).sum(1) + (i**2).sum(1))
    return values.mean()


def np_directspec_plus(u, i, alpha, tau_u, tau_i, shrink, reg):
    def f(x, tau):
        x = _unit(x)
        x = x - alpha * _softmax(tau * (x @ x.T)) @ x
        return _shrink(x, shrink)

    u, i = f(u, tau_u), f(i, tau_i)
    values = -_log_sigmoid((u * i).sum(1)) + reg * ((u**2).sum(1) + (i**2).sum(1))
    return values.mean()


def np_bpr(u, i, j, reg):
    values = -_log_sigmoid((u * i).sum(1) - (u * j).sum(1))
    values += 0.5 * reg * ((u**2).sum(1) + (i**2).sum(1) + (j**2).sum(1))
    return values.mean()


def np_directau(u, i, gamma):
    u, i = _unit(u), _unit(i)

    def unif(x):
        d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        off = ~np.eye(len(x), dtype=bool)
        return np.log(np.exp(-2 * d2[off]).mean())

    return ((u - i) ** 2).sum(1).mean() + gamma * 0.5 * (unif(u) + unif(i))


def np_ssm(u, i, t):
    u, i = _unit(u), _unit(i)
    logits = u @ i.T / t
    logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True))
    logp -= logits.max(1, keepdims=True)
    return -np.mean(np.diag(logp))


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return {k: rng.normal(size=(B, D)) for k in ("user", "item", "negative")}


LABELS = tf.ones(B, tf.float64)  # every row an observed pair (not read by the losses)


def _tf(batch):
    return {k: tf.constant(v, tf.float64) for k, v in batch.items()}


@pytest.mark.parametrize("alpha,shrink,reg", [(1.0, 0.0, 0.0), (0.7, 0.03, 0.0), (1.0, 0.5, 1e-2)])
def test_directspec_matches_numpy(batch, alpha, shrink, reg):
    got = DirectSpecLoss(alpha=alpha, shrink=shrink, reg=reg, dtype="float64")(LABELS, _tf(batch))
    want = np_directspec(batch["user"], batch["item"], alpha, shrink, reg)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


@pytest.mark.parametrize("tau", [0.5, 3.0, 10.0])
@pytest.mark.parametrize("alpha,shrink,reg", [(1.0, 0.0, 0.0), (1.0, 0.03, 0.0), (0.7, 0.2, 1e-2)])
def test_directspec_plus_matches_numpy(batch, tau, alpha, shrink, reg):
    got = DirectSpecPlusLoss(alpha=alpha, tau=tau, shrink=shrink, reg=reg, dtype="float64")(
        LABELS, _tf(batch)
    )
    want = np_directspec_plus(batch["user"], batch["item"], alpha, tau, tau, shrink, reg)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


def test_adaptive_tau_matches_numpy(batch):
    rng = np.random.default_rng(1)
    masks = {}
    for key in ("user_shared", "item_shared"):
        m = rng.random((B, B)) < 0.3
        m = m | m.T
        np.fill_diagonal(m, True)
        masks[key] = m
    loss = DirectSpecPlusLoss(alpha=1.0, shrink=0.03, tau0=2.5, tau1=3.0, dtype="float64")
    got = loss(LABELS, {**_tf(batch), **{k: tf.constant(v) for k, v in masks.items()}})
    tau_u = np.where(masks["user_shared"], 2.5, 3.0)
    tau_i = np.where(masks["item_shared"], 2.5, 3.0)
    want = np_directspec_plus(batch["user"], batch["item"], 1.0, tau_u, tau_i, 0.03, 0.0)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    assert loss.required_features == ("user_shared", "item_shared")


@pytest.mark.parametrize("shrink,reg", [(0.0, 0.0), (0.02, 1e-2)])
def test_grouped_directspec_plus_is_the_mean_of_its_blocks(batch, shrink, reg):
    groups = 2
    size = B // groups
    got = DirectSpecPlusLoss(
        alpha=0.7, tau=4.0, shrink=shrink, reg=reg, group_size=size, dtype="float64"
    )(LABELS, _tf(batch))
    blocks = [
        np_directspec_plus(
            batch["user"][g * size : (g + 1) * size],
            batch["item"][g * size : (g + 1) * size],
            0.7,
            4.0,
            4.0,
            shrink,
            reg,
        )
        for g in range(groups)
    ]
    np.testing.assert_allclose(got.numpy(), np.mean(blocks), rtol=1e-10)
    # One block of the whole batch is the plain loss, and blocks do change the loss.
    whole = DirectSpecPlusLoss(alpha=0.7, tau=4.0, shrink=shrink, reg=reg, dtype="float64")(
        LABELS, _tf(batch)
    )
    one = DirectSpecPlusLoss(
        alpha=0.7, tau=4.0, shrink=shrink, reg=reg, group_size=B, dtype="float64"
    )(LABELS, _tf(batch))
    np.testing.assert_allclose(one.numpy(), whole.numpy(), rtol=1e-12)
    assert not np.isclose(got.numpy(), whole.numpy(), rtol=1e-9, atol=0)


def test_positive_only_is_directspec_without_filter(batch):
    got = PositiveOnlyLoss(shrink=0.03, dtype="float64")(LABELS, _tf(batch))
    want = np_directspec(batch["user"], batch["item"], 0.0, 0.03, 0.0)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


def test_bpr_matches_numpy(batch):
    got = BPRLoss(reg=1e-2, dtype="float64")(LABELS, {**_tf(batch)})
    want = np_bpr(batch["user"], batch["item"], batch["negative"], 1e-2)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 5.0])
def test_directau_matches_numpy(batch, gamma):
    got = DirectAULoss(gamma=gamma, dtype="float64")(LABELS, _tf(batch))
    want = np_directau(batch["user"], batch["item"], gamma)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9)


@pytest.mark.parametrize("t", [0.05, 1.0])
def test_ssm_matches_numpy(batch, t):
    got = SampledSoftmaxLoss(temperature=t, dtype="float64")(LABELS, _tf(batch))
    want = np_ssm(batch["user"], batch["item"], t)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9)


def test_directspec_plus_gradient_matches_finite_differences(batch):
    loss = DirectSpecPlusLoss(alpha=1.0, tau=3.0, shrink=0.5, dtype="float64")
    u = tf.Variable(batch["user"])
    i = tf.constant(batch["item"])
    with tf.GradientTape() as tape:
        value = loss(LABELS, {"user": u, "item": i})
    grad = tape.gradient(value, u).numpy()
    eps = 1e-6
    for row, col in [(0, 0), (3, 2), (11, 4)]:
        plus, minus = batch["user"].copy(), batch["user"].copy()
        plus[row, col] += eps
        minus[row, col] -= eps
        numeric = (
            np_directspec_plus(plus, batch["item"], 1.0, 3.0, 3.0, 0.5, 0)
            - np_directspec_plus(minus, batch["item"], 1.0, 3.0, 3.0, 0.5, 0)
        ) / (2 * eps)
        # The loss is a float64 reduction over the batch's B×B similarities and B×D rows.
        f_abs = abs(np_directspec_plus(batch["user"], batch["item"], 1.0, 3.0, 3.0, 0.5, 0))
        atol = central_difference_atol(f_abs, eps, terms=B * B * D)
        np.testing.assert_allclose(grad[row, col], numeric, rtol=1e-5, atol=atol)


def test_float32_stable_at_large_tau():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(256, 64)).astype(np.float32)
    # Many identical rows: cosines of 1 at τ = 10 must not overflow the softmax.
    x[:128] = x[0]
    loss = DirectSpecPlusLoss(alpha=1.0, tau=10.0, shrink=0.03)
    u = tf.Variable(x)
    with tf.GradientTape() as tape:
        value = loss(tf.ones(256), {"user": u, "item": tf.constant(x[::-1].copy())})
    grad = tape.gradient(value, u)
    assert np.isfinite(value.numpy())
    assert np.all(np.isfinite(grad.numpy()))


@pytest.mark.parametrize(
    "loss",
    [
        BPRLoss(reg=1e-3),
        PositiveOnlyLoss(shrink=0.1),
        DirectSpecLoss(alpha=0.5, shrink=0.1, reg=1e-3),
        DirectSpecPlusLoss(alpha=0.8, tau=2.0, shrink=0.03, reg=1e-3),
        DirectSpecPlusLoss(alpha=0.9, tau=4.0, shrink=0.02, tau0=3.5, tau1=4.0),
        DirectSpecPlusLoss(alpha=0.7, tau=4.0, group_size=4),
        DirectAULoss(gamma=2.0),
        SampledSoftmaxLoss(temperature=0.2, normalize=False),
    ],
    ids=lambda loss: repr(loss)[:60],
)
def test_keras_round_trip(loss, tmp_path):
    assert_round_trip(loss, tmp_path)


@pytest.mark.parametrize(
    "make",
    [
        lambda: DirectSpecPlusLoss(tau=0),
        lambda: DirectSpecPlusLoss(tau0=3.0),
        lambda: DirectSpecPlusLoss(tau0=3.0, tau1=2.0),
        lambda: DirectSpecPlusLoss(group_size=-1),
        lambda: DirectSpecPlusLoss(tau0=2.5, tau1=3.0, group_size=4),
        lambda: DirectSpecLoss(alpha=-1),
        lambda: BPRLoss(reg=-1),
        lambda: SampledSoftmaxLoss(temperature=0),
        lambda: DirectAULoss(gamma=-1),
    ],
)
def test_bad_hyper_parameters_are_refused(make):
    with pytest.raises(ValueError):
        make()
