"""pass@k against the exact binomial formula, with fractions, for n up to 200."""
from __future__ import annotations

from fractions import Fraction
from math import comb

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.estimators import avg_at_k, pass_at_k


def exact(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(comb(n - c, k), comb(n, k))


@st.composite
def nck(draw):
    n = draw(st.integers(1, 200))
    c = draw(st.integers(0, n))
    k = draw(st.integers(1, n))
    return n, c, k


@settings(max_examples=400, deadline=None)
@given(nck())
def test_pass_at_k_matches_exact_binomial(args):
    n, c, k = args
    assert abs(pass_at_k(n, c, k) - float(exact(n, c, k))) <= 1e-12


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 200), st.integers(0, 200), st.integers(0, 199))
def test_n_below_k_is_not_reported(k_extra, c_seed, n_seed):
    n = n_seed % 200
    k = n + 1 + k_extra % 50
    c = c_seed % (n + 1)
    assert pass_at_k(n, c, k) is None


def test_edges():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 5) == 1.0
    assert abs(pass_at_k(5, 1, 1) - 0.2) < 1e-15
    assert avg_at_k(4, 1) == 0.25 and avg_at_k(0, 0) is None
