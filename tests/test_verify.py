"""Soundness and semantics of the verification cells."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyscale.robustness.attack import box, margin, pgd
from tinyscale.robustness.verify import Bounder, attack, margin_spec, recheck, run_cell, summarize

ATTACK = {"steps": 20, "step_size": 0.25, "restarts": 1}
EPS = [0.03, 0.08]
TOL = 1e-4


@pytest.fixture(scope="module")
def bounders(models):
    return {(name, method): Bounder(model, 64, method)
            for name, model in models.items() for method in ("ibp", "crown", "alpha-crown")}


@pytest.fixture(scope="module")
def cells(models, samples, bounders):
    """(model, method, eps) -> (rows, attack result), the way the pipeline computes them."""
    x, y, ids = samples
    out = {}
    for name, model in models.items():
        for eps in EPS:
            atk = attack(model, x, y, eps, ATTACK, 0, ids, batch_size=16)
            crown = run_cell(bounders[name, "crown"], x, y, eps, atk, 8, 60)
            out[name, "crown", eps] = (crown, atk)
            out[name, "ibp", eps] = (run_cell(bounders[name, "ibp"], x, y, eps, atk, 8, 60), atk)
            out[name, "alpha-crown", eps] = (
                run_cell(bounders[name, "alpha-crown"], x, y, eps, atk, 8, 60, crown), atk)
    return out


def test_margin_spec_rows_are_true_minus_other():
    y = torch.tensor([2, 0])
    spec = margin_spec(y, 4)
    assert spec.shape == (2, 3, 4)
    logits = torch.tensor([[0.1, 0.5, 3.0, -1.0], [2.0, 1.0, 0.0, 4.0]])
    margins = torch.einsum("bsk,bk->bs", spec, logits)
    assert torch.allclose(margins[0], torch.tensor([2.9, 2.5, 4.0]))
    assert torch.allclose(margins[1], torch.tensor([1.0, 2.0, -2.0]))
    assert torch.allclose(margins.min(1).values, margin(logits, y))


def test_cells_see_every_verdict_kind_that_matters(cells):
    seen = set()
    for rows, _ in cells.values():
        seen |= set(rows["verdict"])
    assert {"verified", "falsified", "unknown"} <= seen


def test_verified_samples_resist_a_stronger_attack(models, samples, cells):
    x, y, _ = samples
    checked = 0
    for (name, method, eps), (rows, _) in cells.items():
        ver = np.flatnonzero(rows["verdict"].to_numpy() == "verified")
        if not len(ver):
            continue
        idx = torch.from_numpy(ver)
        strong = pgd(models[name], x[idx], y[idx], eps, steps=200, step_size=0.1 * eps, restarts=5,
                     seeds=[1000 + int(i) for i in ver])
        assert (strong.best_margin > 0).all(), f"{name} {method} eps={eps}: a verified sample falls"
        checked += len(ver)
    assert checked > 0


def test_eps_zero_crown_verifies_every_correct_sample(models, samples, bounders):
    x, y, ids = samples
    for name, model in models.items():
        atk = attack(model, x, y, 0.0, ATTACK, 0, ids, batch_size=16)
        rows = run_cell(bounders[name, "crown"], x, y, 0.0, atk, 8, 60)
        correct = atk.prediction == y.numpy()
        assert correct.sum() > 0
        assert (rows["verdict"][correct] == "verified").all()
        assert (rows["verdict"][~correct] == "misclassified").all()


@pytest.fixture(scope="module")
def direct_bounds(models, samples, bounders):
    """(model, method, eps) -> worst-margin lower bound of every sample, computed
    directly (falsified samples included). alpha-CROWN, the slow one, on the
    first 12 samples only."""
    x, y, _ = samples
    out = {}
    for name in models:
        for eps in EPS:
            for method in ("ibp", "crown", "alpha-crown"):
                n = 12 if method == "alpha-crown" else len(x)
                out[name, method, eps] = bounders[name, method].worst_margin_lower_bound(x[:n], y[:n], eps)
    return out


def test_lower_bound_below_clean_and_attack_margins(models, samples, cells, direct_bounds):
    x, y, _ = samples
    for (name, method, eps), lb in direct_bounds.items():
        n = len(lb)
        with torch.no_grad():
            clean = margin(models[name](x[:n]), y[:n])
        atk = cells[name, method, eps][1]
        correct = torch.from_numpy(atk.prediction[:n] == y[:n].numpy())
        assert (lb <= clean + TOL).all(), (name, method, eps)
        assert (lb[correct] <= torch.from_numpy(atk.attack_margin[:n])[correct] + TOL).all(), (name, method, eps)


def test_alpha_crown_at_least_crown_at_least_ibp(models, direct_bounds):
    for name in models:
        for eps in EPS:
            alpha = direct_bounds[name, "alpha-crown", eps]
            crown = direct_bounds[name, "crown", eps][:len(alpha)]
            assert (alpha >= crown - TOL).all()
            assert (direct_bounds[name, "ibp", eps] <= direct_bounds[name, "crown", eps] + TOL).all()


def test_cell_bounds_match_direct_bounds(cells, direct_bounds):
    """Batched cells give each sample the bound it gets alone in a bigger batch."""
    for (name, method, eps), (rows, _) in cells.items():
        if method == "alpha-crown":
            continue  # its optimisation path depends on the batch; its bound is checked above
        lb = direct_bounds[name, method, eps].numpy()
        cell = rows["lower_bound"].to_numpy()
        bounded = ~np.isnan(cell)
        assert bounded.any()
        assert np.allclose(cell[bounded], lb[bounded], atol=1e-4), (name, method, eps)


def test_falsified_prediction_change_reproduces(models, samples, cells):
    x, y, _ = samples
    found = 0
    for (name, _, eps), (rows, atk) in cells.items():
        fals = rows["verdict"].to_numpy() == "falsified"
        if not fals.any():
            continue
        x_adv = torch.from_numpy(atk.x_adv[fals])
        lo, hi = box(x[fals], eps)
        assert ((x_adv >= lo) & (x_adv <= hi)).all()
        with torch.no_grad():
            assert (models[name](x_adv).argmax(1) != y[fals]).all()
        assert recheck(models[name], x[fals], y[fals], x_adv, eps).all()
        found += int(fals.sum())
    assert found > 0


def test_rows_follow_the_verdict_rules(cells, samples):
    _, y, _ = samples
    for (_, method, _), (rows, atk) in cells.items():
        assert list(rows["sample"]) == list(range(len(y)))
        assert (rows["label"] == y.numpy()).all()
        v = rows["verdict"]
        assert ((v == "misclassified") == (rows["prediction"] != rows["label"])).all()
        assert (rows.loc[v == "verified", "lower_bound"] > 0).all()
        assert (rows.loc[v == "unknown", "lower_bound"] <= 0).all()
        assert (rows.loc[v == "falsified", "attack_margin"] < 0).all()
        assert summarize(rows)["total"] == len(y)


def test_batched_equals_one_at_a_time(models, samples, bounders):
    x, y, ids = samples
    eps = EPS[1]
    model = models["adv"]
    atk = attack(model, x, y, eps, ATTACK, 0, ids, batch_size=24)
    singles = [attack(model, x[i:i + 1], y[i:i + 1], eps, ATTACK, 0, ids[i:i + 1], 1) for i in range(len(y))]
    assert (atk.falsified == np.concatenate([s.falsified for s in singles])).all()
    batched = run_cell(bounders["adv", "crown"], x, y, eps, atk, 24, 60)
    single = run_cell(bounders["adv", "crown"], x, y, eps, atk, 1, 60)
    assert (batched["verdict"] == single["verdict"]).all()
    assert np.allclose(batched["lower_bound"], single["lower_bound"], atol=1e-4, equal_nan=True)


def test_timeout_marks_samples_and_the_run_goes_on(models, samples, bounders):
    x, y, ids = samples
    atk = attack(models["std"], x, y, 0.08, ATTACK, 0, ids, batch_size=16)
    rows = run_cell(bounders["std", "alpha-crown"], x, y, 0.08, atk, 8, timeout_s=1e-6)
    todo = (rows["verdict"] != "misclassified") & (rows["verdict"] != "falsified")
    assert todo.any()
    assert (rows.loc[todo, "verdict"] == "timeout").all()
    assert rows.loc[todo, "lower_bound"].isna().all()
