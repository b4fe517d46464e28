"""FID and KID through torchmetrics, checked against closed forms with a small feature extractor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("torchmetrics")

from wganlib.fid import fid_kid, load_inception  # noqa: E402


class Flatten(nn.Module):
    """The test's feature extractor: an image (N, 1, 2, 2) is its 4 features."""

    num_features = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(start_dim=1).double()


def _exact_gaussian(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> torch.Tensor:
    """n points whose sample mean and unbiased sample covariance are exactly ``mean``, ``cov``."""
    z = np.random.default_rng(seed).standard_normal((n, len(mean)))
    z -= z.mean(axis=0)
    c = np.cov(z, rowvar=False)
    z = z @ np.linalg.inv(np.linalg.cholesky(c)).T  # unbiased covariance: identity
    x = mean + z @ np.linalg.cholesky(cov).T
    return torch.from_numpy(x).reshape(n, 1, 2, 2)


def test_fid_equals_the_closed_form_for_gaussian_features():
    rot = np.linalg.qr(np.random.default_rng(3).standard_normal((4, 4)))[0]
    a, b = np.array([1.0, 2.0, 0.5, 3.0]), np.array([2.0, 0.5, 0.5, 1.0])
    mu_r, mu_g = np.array([0.0, 1.0, -1.0, 2.0]), np.array([0.5, 1.0, 0.0, 2.0])
    real = _exact_gaussian(400, mu_r, rot @ np.diag(a) @ rot.T, 1)
    fake = _exact_gaussian(300, mu_g, rot @ np.diag(b) @ rot.T, 2)
    # commuting covariances: Tr(S_r + S_g - 2 (S_r S_g)^(1/2)) = sum (sqrt a - sqrt b)^2
    analytic = float(((mu_r - mu_g) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    res = fid_kid(fake, real, feature_extractor=Flatten(), n_real=400, kid_subsets=5)
    assert res.fid == pytest.approx(analytic, rel=1e-6)
    assert (res.n_fake, res.n_real) == (300, 400)
    same = fid_kid(real[:200], real[200:], feature_extractor=Flatten(), kid_subsets=5)
    assert same.fid < 0.2 * analytic


def test_kid_equals_the_unbiased_mmd_with_the_cubic_kernel():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(60, 1, 2, 2, generator=g, dtype=torch.float64)
    fake = torch.randn(60, 1, 2, 2, generator=g, dtype=torch.float64) + 0.7
    res = fid_kid(fake, real, feature_extractor=Flatten(), kid_subsets=3, kid_subset_size=60)
    x, y = real.flatten(1).numpy(), fake.flatten(1).numpy()
    k = lambda p, q: (p @ q.T / 4 + 1) ** 3  # noqa: E731
    m = len(x)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    mmd = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    mmd -= 2 * kxy.mean()
    assert res.kid_mean == pytest.approx(mmd, rel=1e-6) and res.kid_mean > 0
    assert res.kid_std == pytest.approx(0.0, abs=1e-9)  # every subset is the whole set


def test_reference_images_from_an_lmdb_path(tmp_path):
    from wganlib.lsun import write_lsun_lmdb

    g = torch.Generator().manual_seed(0)
    images = list(torch.rand(8, 3, 16, 16, generator=g) * 2 - 1)
    db = write_lsun_lmdb(tmp_path / "ref_lmdb", images)
    fake = torch.rand(8, 3, 16, 16, generator=g) * 2 - 1

    class Mean(nn.Module):
        num_features = 3

        def forward(self, x):
            return x.mean(dim=(2, 3)).double()

    res = fid_kid(fake, db, feature_extractor=Mean(), kid_subsets=2)
    assert res.n_real == 8 and math.isfinite(res.fid) and res.fid >= 0


def test_missing_inception_weights_is_one_clear_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="Inception weights not found") as err:
        load_inception(tmp_path / "inception-2015-12-05.pt")
    assert "\n" not in str(err.value) and "nothing is downloaded" in str(err.value)
    with pytest.raises(ValueError, match="weights_path"):
        fid_kid(torch.zeros(4, 3, 8, 8), torch.zeros(4, 3, 8, 8))
