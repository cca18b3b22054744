"""pass@k and avg@k estimators (Chen et al. 2021, the unbiased estimator).

pass@k = 1 - C(n-c, k) / C(n, k), computed in the numerically stable product
form 1 - prod_{i=n-c+1}^{n} (1 - k/i). It is undefined for n < k: we return
None there (a common reference implementation returns 1.0, which is wrong).
"""
from __future__ import annotations

__all__ = ["pass_at_k", "avg_at_k"]


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """Unbiased pass@k from n samples of which c are correct; None when n < k."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n} c={c}")
    if n < k:
        return None
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def avg_at_k(n: int, c: int) -> float | None:
    """Mean success over the n samples; None when there are none."""
    return c / n if n else None
