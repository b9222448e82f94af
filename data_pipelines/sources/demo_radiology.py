"""Grayscale demo modalities: chest X-ray, abdominal CT, brain MRI and breast ultrasound.

Each ``draw_*(label, size, rng)`` returns a float32 ``(size, size)`` canvas in ~[0, 1] before the acquisition
profile. The anatomy varies per image (pose, organ sizes, textures); findings vary in size, position, and
contrast. Findings are sized to stay visible at the 64 px the demo model trains at (a dot of one pixel
at 96 px vanishes when resized), yet vary enough that the classes are not separable by a template.
"""

from __future__ import annotations

import numpy as np

from .demo_canvas import F32, Pose, ellipse, grid, smooth_noise, splat, to_image_frame, wobbly
from .demo_findings import note


def draw_xray(label: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Frontal chest radiograph: thorax, lungs, ribs, mediastinum, heart, diaphragm."""
    X, Y = grid(size, rng, Pose(rot_deg=6, scale=(0.9, 1.08), shift=0.05))
    tex = smooth_noise(rng, size, 10)
    img = F32(0.04) + ellipse(X, Y, 0, 0.08, rng.uniform(0.8, 0.9), 0.95, edge=0.15) * F32(0.42)
    lung_w = rng.uniform(0.26, 0.31)
    lungs = []
    for side in (-1, 1):
        m = ellipse(X, Y, side * 0.37, -0.06, lung_w, rng.uniform(0.5, 0.58), angle=side * 0.12, edge=0.12)
        lungs.append(m)
        img -= m * F32(0.28 + 0.02 * rng.standard_normal())
    lung = np.maximum(*lungs)
    ribs = np.maximum(np.sin(F32(rng.uniform(17, 21)) * Y + F32(4.0) * X * X), 0) ** 4
    img += lung * ribs * F32(0.07) + lung * tex * F32(0.02)
    img += ellipse(X, Y, 0, 0.05, 0.08, 1.2, edge=0.3) * F32(0.22)  # mediastinum / spine
    dome = Y - (F32(0.46) + F32(0.2) * (np.abs(X) - 0.35) ** 2)
    img = np.where(dome > 0, np.maximum(img, F32(0.5) * (dome < 0.5)), img)
    ctr = rng.uniform(0.6, 0.74) if label == "cardiomegaly" else rng.uniform(0.38, 0.48)
    hw = ctr * 0.9  # thorax width ~1.8 in normalised units
    heart = ellipse(X, Y, rng.uniform(0.04, 0.12), 0.3, hw / 2, rng.uniform(0.21, 0.26), angle=-0.3, edge=0.12)
    img = img * (1 - heart) + F32(0.58) * heart
    if label == "cardiomegaly":
        note(heart > 0.5)
    if label == "pneumonia":
        side = rng.choice([-1, 1])
        cx, cy = side * rng.uniform(0.28, 0.45), rng.uniform(-0.35, 0.3)
        n = rng.integers(3, 8)
        patch = splat(
            size, *to_image_frame(X, Y, cx + rng.normal(0, 0.08, n), cy + rng.normal(0, 0.1, n)), 1.0, size * 0.08
        )
        patch = np.clip(patch, 0, 1) * np.clip(1 + 0.6 * smooth_noise(rng, size, 16), 0, 2)
        strength = patch * lungs[(side + 1) // 2]
        note(strength > 0.2)
        img += strength * F32(rng.uniform(0.28, 0.42))
    elif label == "pleural effusion":
        sides = [-1, 1] if rng.random() < 0.3 else [rng.choice([-1, 1])]
        for side in sides:
            level = rng.uniform(0.12, 0.35)
            lateral = np.abs(X - side * 0.1)
            fill = np.clip((Y - level + F32(0.35) * lateral**2) / F32(0.05), 0, 1)
            note(fill * lungs[(side + 1) // 2] > 0.5)
            img = img * (1 - fill * lungs[(side + 1) // 2]) + F32(0.5) * fill * lungs[(side + 1) // 2]
    elif rng.random() < 0.3:  # incidental calcified granuloma: a distractor on non-pneumonia films
        side = rng.choice([-1, 1])
        gx, gy = to_image_frame(X, Y, [side * rng.uniform(0.25, 0.45)], [rng.uniform(-0.4, 0.2)])
        img += splat(size, gx, gy, 0.25, 1.0) * lung
    return img


def draw_ct(label: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Axial abdominal CT (soft-tissue window): body wall, liver, spleen, kidneys, spine, aorta, bowel."""
    X, Y = grid(size, rng, Pose(rot_deg=7, scale=(0.88, 1.08), shift=0.05))
    rx, ry = rng.uniform(0.82, 0.92), rng.uniform(0.6, 0.7)
    img = ellipse(X, Y, 0, 0.05, rx, ry, edge=0.04) * F32(0.3)  # subcutaneous fat
    img += ellipse(X, Y, 0, 0.05, rx - 0.08, ry - 0.07, edge=0.05) * F32(0.14)  # muscle / viscera
    img += smooth_noise(rng, size, 24) * F32(0.015) * (img > 0.2)
    lx, ly = rng.uniform(-0.5, -0.36), rng.uniform(-0.18, -0.04)
    liver = wobbly(X, Y, lx, ly, rng.uniform(0.3, 0.36), rng, amp=0.06, aspect=(1.0, 1.05))
    img = img * (1 - liver) + liver * F32(0.56)
    spleen = ellipse(X, Y, rng.uniform(0.45, 0.55), 0.0, 0.13, 0.2, angle=0.5)
    img = img * (1 - spleen) + spleen * F32(0.52)
    kidneys = []
    for side in (-1, 1):
        k = ellipse(X, Y, side * rng.uniform(0.26, 0.32), rng.uniform(0.25, 0.33), 0.09, 0.13, angle=side * 0.4)
        kidneys.append(k)
        img = img * (1 - k) + k * F32(0.62)
    vert = ellipse(X, Y, 0, 0.42, 0.11, 0.1)
    img = img * (1 - vert) + vert * F32(0.92) - ellipse(X, Y, 0, 0.42, 0.065, 0.06) * F32(0.2)
    img = np.maximum(img, ellipse(X, Y, 0.07, 0.24, 0.045, 0.045) * F32(0.6))  # aorta
    for _ in range(rng.integers(2, 6)):  # bowel loops, some with gas
        b = ellipse(X, Y, rng.uniform(-0.15, 0.35), rng.uniform(-0.45, 0.1), *rng.uniform(0.04, 0.09, 2))
        img = img * (1 - b) + b * F32(rng.choice([0.03, 0.4, 0.45]))
    if label == "kidney stone":
        side = rng.integers(0, 2)
        k = kidneys[side]
        ys, xs = np.nonzero(k > 0.95)
        j = rng.integers(0, len(xs), size=rng.integers(1, 3))
        px, py = xs[j] / (size - 1) * 2 - 1, ys[j] / (size - 1) * 2 - 1
        stones = np.clip(splat(size, px, py, 1.0, rng.uniform(1.4, 2.2)), 0, 1)
        note(stones > 0.2)
        img += stones * F32(rng.uniform(0.45, 0.6))
    elif label == "liver lesion":
        for _ in range(rng.integers(1, 3)):
            ang, rad = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.17)
            lesion = (
                wobbly(
                    X,
                    Y,
                    lx + rad * np.cos(ang),
                    ly + rad * np.sin(ang),
                    rng.uniform(0.08, 0.14),
                    rng,
                    amp=0.1,
                    edge=0.25,
                )
                * liver
            )
            note(lesion > 0.3)
            img -= lesion * F32(rng.uniform(0.2, 0.3))
    return img


def draw_mri(label: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Axial T1-like brain MRI: scalp, skull, cortex with gyri, white matter, ventricles."""
    X, Y = grid(size, rng, Pose(rot_deg=10, scale=(0.88, 1.08), shift=0.06))
    hx, hy = rng.uniform(0.72, 0.8), rng.uniform(0.86, 0.94)
    img = ellipse(X, Y, 0, 0, hx, hy, edge=0.03) * F32(0.75)
    img -= ellipse(X, Y, 0, 0, hx - 0.05, hy - 0.05, edge=0.03) * F32(0.65)  # dark skull
    brain = ellipse(X, Y, 0, 0, hx - 0.09, hy - 0.09, edge=0.04)
    gyri = np.abs(smooth_noise(rng, size, 14))
    img += brain * (F32(0.38) + F32(0.1) * (gyri > 0.5))
    img += ellipse(X, Y, 0, 0, hx - 0.25, hy - 0.28, edge=0.3) * F32(0.14)  # white matter
    shift = 0.0
    if label == "brain tumor":
        side = rng.choice([-1, 1])
        tx, ty, r = side * rng.uniform(0.15, 0.4), rng.uniform(-0.5, 0.45), rng.uniform(0.12, 0.22)
        shift = -side * r * 0.35
    vent = np.zeros_like(img)
    for side in (-1, 1):
        vent = np.maximum(
            vent, ellipse(X, Y, shift + side * 0.09, -0.06, 0.055, rng.uniform(0.16, 0.24), angle=side * 0.25)
        )
    img = img * (1 - vent) + vent * F32(0.1)
    if label == "brain tumor":
        edema = wobbly(X, Y, tx, ty, r * 1.7, rng, amp=0.15, edge=0.4) * brain
        img -= edema * F32(rng.uniform(0.06, 0.14))
        mass = wobbly(X, Y, tx, ty, r, rng, amp=0.12, edge=0.15)
        core = wobbly(X, Y, tx, ty, r * rng.uniform(0.4, 0.7), rng, amp=0.2, edge=0.3)
        note(mass > 0.5)
        img = img * (1 - mass) + mass * F32(rng.uniform(0.7, 0.85)) - core * F32(rng.uniform(0.2, 0.45))
    return img


def draw_ultrasound(label: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Linear-probe breast ultrasound: skin, fat, fibroglandular layer, muscle, speckle, attenuation."""
    X, Y = grid(size, rng, Pose(rot_deg=4, scale=(0.95, 1.05), shift=0.03))
    warp = Y + F32(0.06) * smooth_noise(rng, size, 5)
    b1, b2, b3 = rng.uniform(-0.8, -0.6), rng.uniform(-0.35, -0.05), rng.uniform(0.45, 0.7)
    img = np.select(
        [warp < -0.9, warp < b1, warp < b2, warp < b3], [F32(0.8), F32(0.3), F32(0.35), F32(0.6)], F32(0.38)
    ).astype(F32)
    img += (warp > b3) * np.maximum(np.sin(F32(40) * warp + F32(3) * X), 0) * F32(0.15)  # muscle fibres
    img += smooth_noise(rng, size, 12) * F32(0.06)
    if label != "normal":
        cx, cy = rng.uniform(-0.4, 0.4), rng.uniform(b2 - 0.05, b3 - 0.25)
        r = rng.uniform(0.13, 0.24)
        if label == "benign mass":
            mass = wobbly(X, Y, cx, cy, r, rng, amp=0.03, aspect=(rng.uniform(1.3, 1.9), 1.0), edge=0.08)
            post = F32(rng.uniform(1.25, 1.55))  # posterior acoustic enhancement
        else:
            mass = wobbly(
                X, Y, cx, cy, r, rng, amp=0.14, freqs=(3, 7, 11, 13), aspect=(1.0, rng.uniform(1.1, 1.5)), edge=0.2
            )
            post = F32(rng.uniform(0.35, 0.6))  # posterior shadowing
        below = np.clip((Y - cy) / F32(0.1), 0, 1) * np.exp(-(((X - cx) / F32(r * 0.9)) ** 8))
        img = img * (1 + (post - 1) * below * (1 - mass))
        note(mass > 0.5)
        img = img * (1 - mass) + mass * F32(rng.uniform(0.08, 0.16))
    half = (size + 1) // 2
    speckle = rng.rayleigh(F32(0.45 / 1.2533), (half, half)).astype(F32) + F32(0.55)  # mean 1, std ~0.24
    speckle = np.kron(speckle, np.ones((2, 2), F32))[:size, :size]
    img = img * speckle * (F32(1.15) - F32(0.35) * (Y + 1) / 2)  # depth attenuation
    return img
