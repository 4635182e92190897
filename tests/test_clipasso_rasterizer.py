"""The differentiable rasteriser: where ink lands, how much, and that its gradients are right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.clipasso.rasterizer import STROKE_WIDTH, bezier_points, render


def line(x0, y0, x1, y1, dtype=torch.float64):
    """A straight cubic: control points evenly spaced on the segment."""
    t = torch.linspace(0, 1, 4, dtype=dtype)[:, None]
    a = torch.tensor([x0, y0], dtype=dtype)
    b = torch.tensor([x1, y1], dtype=dtype)
    return (a + t * (b - a))[None]  # (1, 4, 2)


def test_stroke_width_is_three_pixels_as_in_the_paper():
    assert STROKE_WIDTH == 3.0


def test_horizontal_stroke_covers_a_band_of_the_expected_width_at_the_expected_rows():
    # centre line y = 16 (the border between rows 15 and 16), width 3 → ink from y 14.5 to 17.5:
    # rows 15 and 16 fully, rows 14 and 17 half (pixel centres at 14.5 and 17.5 sit on the edge).
    paper = render(line(8, 16, 56, 16), 64).numpy()
    ink = 1 - paper
    column = ink[:, 30]
    np.testing.assert_allclose(column[[15, 16]], 1, atol=1e-5)
    np.testing.assert_allclose(column[[14, 17]], 0.5, atol=1e-5)
    assert np.all(column[:14] == 0) and np.all(column[18:] == 0)
    # every column in the middle carries exactly the stroke's width of ink
    np.testing.assert_allclose(ink[:, 12:52].sum(axis=0), STROKE_WIDTH, atol=1e-4)
    # round caps: ink reaches half a width past the end points, no further
    row = ink[16]
    assert row[6] > 0 and row[5] == 0 and row[57] > 0 and row[58] == 0


def test_wider_stroke_at_a_pixel_centre_covers_the_rows_it_should():
    ink = 1 - render(line(4, 10.5, 28, 10.5), 32, width=5).numpy()  # rows 8..12 full
    np.testing.assert_allclose(ink[8:13, 16], 1, atol=1e-5)
    assert ink[7, 16] == 0 and ink[13, 16] == 0


def test_coverage_in_unit_interval_and_soft_or_composite():
    torch.manual_seed(0)
    control = torch.rand(2, 12, 4, 2) * 48 + 8
    paper = render(control, 64, supersample=2)
    assert paper.shape == (2, 64, 64)
    assert float(paper.min()) >= 0 and float(paper.max()) <= 1
    # soft-OR: 1 − paper = 1 − Π(1 − cᵢ) of the strokes rendered one by one
    single = torch.stack([render(control[0, i : i + 1], 64) for i in range(12)])
    expected = torch.prod(single, dim=0)
    np.testing.assert_allclose(render(control[0], 64).numpy(), expected.numpy(), atol=1e-4)


def test_no_strokes_is_white_paper():
    assert torch.all(render(torch.zeros(0, 4, 2), 16) == 1)


def test_bezier_points_end_at_the_end_control_points():
    control = torch.tensor([[[0.0, 0.0], [10.0, 30.0], [20.0, -30.0], [30.0, 0.0]]])
    points = bezier_points(control, 8)
    np.testing.assert_allclose(points[0, 0], [0, 0])
    np.testing.assert_allclose(points[0, -1], [30, 0])
    np.testing.assert_allclose(points[0, 4], [15, 0], atol=1e-6)  # symmetric curve: midpoint


def test_gradients_match_finite_differences():
    control = torch.tensor(
        [[[6.3, 9.1], [14.2, 27.7], [22.9, 4.4], [27.4, 20.6]], [[5.2, 25.3], [12.1, 18.8], [18.4, 30.1], [26.7, 11.9]]],
        dtype=torch.float64,
    )
    weights = torch.rand(32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def loss(c):
        return (render(c, 32, softness=2.0) * weights).sum()

    c = control.clone().requires_grad_()
    (grad,) = torch.autograd.grad(loss(c), [c])
    eps = 1e-5
    numeric = torch.zeros_like(control)
    for index in np.ndindex(*control.shape):
        plus, minus = control.clone(), control.clone()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = (loss(plus) - loss(minus)) / (2 * eps)
    np.testing.assert_allclose(grad.numpy(), numeric.numpy(), rtol=1e-3, atol=1e-4)
    assert grad.abs().sum() > 1  # not trivially zero


def test_optimising_points_to_a_target_line_converges():
    target = render(line(8, 20, 40, 20, torch.float32), 48).detach()
    start = line(10, 17, 38, 23, torch.float32) + torch.tensor([[[0, 0], [1.5, -1.0], [-1.0, 1.5], [0, 0]]])
    control = start.clone().requires_grad_()
    optimiser = torch.optim.Adam([control], lr=0.2)
    first = None
    for _ in range(200):
        optimiser.zero_grad()
        loss = (render(control, 48, softness=2.0) - target).square().mean()
        first = first if first is not None else float(loss.detach())
        loss.backward()
        optimiser.step()
    final = float((render(control.detach(), 48) - target).square().mean())
    assert final < 0.05 * first
    # the stroke now lies on the target line y = 20
    on_curve = bezier_points(control.detach(), 16)[0]
    assert float((on_curve[:, 1] - 20).abs().max()) < 0.5


@pytest.mark.parametrize("size", [17, 40])
def test_strokes_off_the_canvas_and_odd_sizes(size):
    control = torch.tensor([[[-20.0, -20.0], [-10.0, -5.0], [5.0, 3.0], [size + 30.0, size + 30.0]]])
    paper = render(control, size)
    assert paper.shape == (size, size)
    assert float(paper.min()) < 0.1  # the diagonal crosses the canvas


def test_windows_and_whole_canvas_give_the_same_picture_and_gradients():
    torch.manual_seed(2)
    control = (torch.rand(2, 5, 1, 2) * 40 + 12 + torch.randn(2, 5, 4, 2) * 4).double()
    pictures, grads = [], []
    for windows in (True, False):
        c = control.clone().requires_grad_()
        paper = render(c, 64, windows=windows)
        (grad,) = torch.autograd.grad((paper * torch.linspace(0, 1, 64, dtype=torch.float64)).sum(), [c])
        pictures.append(paper.detach())
        grads.append(grad)
    torch.testing.assert_close(pictures[0], pictures[1])
    torch.testing.assert_close(grads[0], grads[1])
