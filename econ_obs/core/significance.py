"""Does a row beat chance after costs: p-values, break-even cost, and the deflated Sharpe ratio.

Pure functions of numbers already computed by the accounting function; no I/O. Each figure is
stored with the inputs needed to recompute it (see the README's "Significance" section).

* ``upper_p_value``: (1 + #{null >= observed}) / (n + 1), the add-one permutation p-value of
  "at least as good as the model by chance". It is never 0 and is valid for any n.
* ``breakeven_cost_bps``: the per-side cost c (fee plus slippage, bps) solving
  prod(1 + g_i - 2c / 10^4) = 1 over the trades' gross returns g_i.
* ``deflated_sharpe``: Bailey and Lopez de Prado (2014), on per-bar returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()
_BISECTION_STEPS = 200


def upper_p_value(observed: float, null: np.ndarray) -> float | None:
    """Return (1 + #{null >= observed}) / (n + 1); None for an empty null."""
    values = np.asarray(null, dtype=np.float64).reshape(-1)
    if values.size == 0:
        return None
    return (1 + int(np.count_nonzero(values >= observed))) / (values.size + 1)


def breakeven_cost_bps(gross_returns: np.ndarray) -> float | None:
    """Return the per-side cost in bps at which the compounded net return is exactly 0.

    Solves sum(log(1 + g_i - x)) = 0 for x = 2c / 10^4 by bisection on [min g, max g] (capped
    below 1 + min g so that every factor stays positive), where the left side is decreasing in x
    (positive at min g, non-positive at max g). None for no trades. Negative when the trades lose
    before costs.
    """
    gross = np.asarray(gross_returns, dtype=np.float64).reshape(-1)
    if gross.size == 0:
        return None
    low, high = float(gross.min()), float(gross.max())
    if high - low <= 0:
        return high * 10_000 / 2
    # Keep every factor 1 + g_i - x positive: x stays below 1 + min g.
    high = min(high, float(np.nextafter(1.0 + low, -np.inf)))
    # Numerically stable: log1p(g - x) on the trades' own growth.
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if float(np.log1p(gross - middle).sum()) > 0:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high) * 10_000 / 2


def gross_edge_bps_per_trade(gross_returns: np.ndarray) -> float | None:
    """Return the mean gross return per trade in bps; None for no trades."""
    gross = np.asarray(gross_returns, dtype=np.float64).reshape(-1)
    return float(gross.mean() * 10_000) if gross.size else None


@dataclass(frozen=True)
class ReturnMoments:
    """Moments of a per-bar return series: Sharpe per bar (ddof 0), skewness, Pearson kurtosis."""

    n_returns: int
    sharpe_per_bar: float
    skew: float | None  # None when the series has no variance
    kurtosis: float | None  # Pearson (a normal distribution has 3), not excess


def return_moments(per_bar_returns: np.ndarray) -> ReturnMoments:
    """Return the per-bar Sharpe (mean / population std), skewness and Pearson kurtosis."""
    q = np.asarray(per_bar_returns, dtype=np.float64).reshape(-1)
    if q.size == 0:
        return ReturnMoments(0, 0.0, None, None)
    centred = q - q.mean()
    variance = float(np.mean(centred**2))
    if variance <= 1e-12 * float(np.mean(q**2)) or variance == 0:
        return ReturnMoments(int(q.size), 0.0, None, None)
    std = math.sqrt(variance)
    return ReturnMoments(
        n_returns=int(q.size),
        sharpe_per_bar=float(q.mean()) / std,
        skew=float(np.mean(centred**3)) / std**3,
        kurtosis=float(np.mean(centred**4)) / variance**2,
    )


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Return SR0 = sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))); 0 when N = 1."""
    if n_trials <= 1:
        return 0.0
    first = _NORMAL.inv_cdf(1 - 1 / n_trials)
    second = _NORMAL.inv_cdf(1 - 1 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * first + EULER_GAMMA * second)


def deflated_sharpe(
    moments: ReturnMoments, n_trials: int, sharpe_variance: float
) -> tuple[float, float | None]:
    """Return (SR0, DSR): the deflated Sharpe ratio, a probability in [0, 1], or None if undefined.

    DSR = Phi((SR - SR0) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2)) with SR the
    per-bar Sharpe, T the number of per-bar returns, N trials whose per-bar Sharpes have sample
    variance V (ddof 1). Undefined for a series without variance or a non-positive denominator.
    """
    sr0 = expected_max_sharpe(n_trials, sharpe_variance)
    if moments.skew is None or moments.kurtosis is None or moments.n_returns < 2:
        return sr0, None
    sr = moments.sharpe_per_bar
    denominator = 1 - moments.skew * sr + (moments.kurtosis - 1) / 4 * sr * sr
    if denominator <= 0:
        return sr0, None
    z = (sr - sr0) * math.sqrt(moments.n_returns - 1) / math.sqrt(denominator)
    return sr0, _NORMAL.cdf(z)


def sharpe_variance(sharpes_per_bar: list[float]) -> float:
    """Return the sample variance (ddof 1) of the trials' per-bar Sharpes; 0 for fewer than 2."""
    if len(sharpes_per_bar) < 2:
        return 0.0
    return float(np.var(np.asarray(sharpes_per_bar, dtype=np.float64), ddof=1))
