"""The two-parameter region of stable bursting (jaxmf._bursting): its boundary polygons against
a closed-form region, the point-in-region and distance tests, and the regime-map check."""

import numpy as np
import pytest
import xarray as xr

from jaxmf import BurstingPlane, BurstingRegion, compare_regime_map
from jaxmf.bifurcation import SpecialPoint


class Curve:
    """A stand-in for a two-parameter `Branch`: kind, param and the polyline of values."""

    def __init__(self, kind, values):
        self.kind, self.param, self.values = kind, ("p", "q"), np.asarray(values)

    def __len__(self):
        return len(self.values)


def ellipse(theta):
    return np.stack([0.5 + 0.3 * np.cos(theta), 0.5 + 0.4 * np.sin(theta)], -1)


def point(kind, x, q):
    return SpecialPoint(
        kind=kind, param=("p",), value=np.asarray(x), state=np.zeros(1), params={"q": q}
    )


def rows_of_ellipse(qs):
    """Each row's exact interval of an isola bounded by one closed fold (LPC) curve, the
    ellipse ((p - 0.5) / 0.3)^2 + ((q - 0.5) / 0.4)^2 = 1."""
    regions = []
    for q in qs:
        half = 0.3 * np.sqrt(max(0.0, 1 - ((q - 0.5) / 0.4) ** 2))
        lo, hi = 0.5 - half, 0.5 + half
        regions.append(
            BurstingRegion(
                "p",
                np.array([[lo, hi]]),
                ((point("lpc", lo, q), point("lpc", hi, q)),),
                (),
                np.zeros(0),
                None,
            )
        )
    return regions


def cut_area(q0):
    """The area of the ellipse above q = q0."""
    v = (q0 - 0.5) / 0.4
    return 0.3 * 0.4 * (np.pi - (np.arccos(-v) + v * np.sqrt(1 - v * v)))


@pytest.fixture(scope="module")
def isola():
    # One fold curve round the top tip (q = 0.9), open at the bottom tip (q = 0.1): beyond
    # the last row the boundary follows it, below the first row (q = 0.2) it is the row.
    curve = Curve("lpc", ellipse(np.linspace(-0.5 * np.pi, 1.5 * np.pi, 2001)))
    qs = np.linspace(0.2, 0.8, 7)
    plane = BurstingPlane(
        ("p", "q"), qs, tuple(rows_of_ellipse(qs)), (), None, bounds=((0.0, 1.0), (0.0, 1.0))
    )
    return plane.with_curves([curve, Curve("hopf", [[0.0, 0.0], [1.0, 1.0]])])


def test_boundary_follows_the_fold_curve_round_the_tip(isola):
    (poly,) = isola.polygons
    # Every vertex on the ellipse; the polygon encloses its area above the first row.
    r = ((poly[:, 0] - 0.5) / 0.3) ** 2 + ((poly[:, 1] - 0.5) / 0.4) ** 2
    np.testing.assert_allclose(r, 1.0, atol=1e-5)
    x, y = poly.T
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    np.testing.assert_allclose(area, cut_area(0.2), rtol=1e-5)
    assert y.max() > 0.9 - 1e-5 and y.min() == pytest.approx(0.2)


def test_contains_and_distance_against_the_closed_form(isola):
    X, Y = np.meshgrid(np.linspace(0, 1, 81), np.linspace(0, 1, 81), indexing="ij")
    r = np.sqrt(((X - 0.5) / 0.3) ** 2 + ((Y - 0.5) / 0.4) ** 2)
    inside = isola.contains(X, Y)
    clear = (np.abs(r - 1) > 1e-3) & (np.abs(Y - 0.2) > 1e-9)
    np.testing.assert_array_equal(inside[clear], ((r < 1) & (Y > 0.2))[clear])
    # distance to the boundary: along the minor axis it is 0.3 - |x - 0.5| exactly
    np.testing.assert_allclose(isola.distance([0.5, 0.7, 0.95], 0.5), [0.3, 0.1, 0.15], atol=1e-6)


def test_straight_sides_without_curves():
    qs = np.linspace(0.2, 0.8, 7)
    plane = BurstingPlane(("p", "q"), qs, tuple(rows_of_ellipse(qs)), (), None).with_curves([])
    (poly,) = plane.polygons
    assert len(poly) == 14  # the rows' ends only, joined by straight segments
    assert poly[:, 1].max() == pytest.approx(0.8) and poly[:, 1].min() == pytest.approx(0.2)


def test_regime_map_agreement(isola):
    # p off the ellipse's vertices; q = 0.2 on the first row counts as inside
    ps, qs = np.linspace(0.0125, 0.9875, 40), np.linspace(0, 1, 31)
    P, Q = np.meshgrid(ps, qs, indexing="ij")
    region = (((P - 0.5) / 0.3) ** 2 + ((Q - 0.5) / 0.4) ** 2 < 1) & (Q >= 0.2 - 1e-12)
    regime = np.where(region, "bursting", "tonic")
    regime[19, 15] = "tonic"  # the centre, far inside: 0.3 x 30 = 9 cells from q = 0.2
    regime[0, 0] = "bursting"  # a corner, far outside
    ds = xr.Dataset({"regime": (("p", "q"), regime)}, coords={"p": ps, "q": qs})
    agreement = compare_regime_map(isola, ds)
    assert agreement.mismatches == 2
    np.testing.assert_allclose(agreement.inside_not_bursting, [[0.4875, 0.5]])
    np.testing.assert_allclose(agreement.outside_bursting, [[0.0125, 0.0]])
    assert agreement.bursting == int(region.sum())  # one removed, one added
    assert agreement.spacing == pytest.approx((0.025, 1 / 30))
    # The corner lies far outside; (0.4875, 0.5) is 0.3 x 30 = 9 cells from q = 0.2.
    assert agreement.cells[0] > 5
    np.testing.assert_allclose(agreement.cells[1], 9.0, rtol=1e-9)
    with pytest.raises(ValueError, match="not over"):
        compare_regime_map(isola, ds.rename(q="other"))
