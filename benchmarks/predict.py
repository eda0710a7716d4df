"""predict() on 200 structures of 2-64 atoms: ours against chgnet's predict_structure.

Run: python benchmarks/predict.py [--n 200] [--repeat 3]
Prints medians and ratios (reference time / ours; > 1 means ours is faster).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import median_time, random_structures  # noqa: E402

import matwidgets as mw  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from chgnet.model import CHGNet

    structures = random_structures(args.n)
    n_atoms = sum(len(s) for s in structures)
    with contextlib.redirect_stdout(io.StringIO()):
        ref = CHGNet.load(verbose=False, use_device="cpu")
    ours = mw.load_model("chgnet", device="cpu")
    print(f"{args.n} structures, {n_atoms} atoms, torch threads {torch.get_num_threads()}")
    # warm-up both (first calls pay for allocator and kernel selection)
    ref.predict_structure(structures[:20], batch_size=16)
    mw.predict(structures[:20], ours)

    t_one = median_time(lambda: [ref.predict_structure(s) for s in structures], args.repeat)
    t_b16 = median_time(lambda: ref.predict_structure(structures, batch_size=16), args.repeat)
    t_ours = median_time(lambda: mw.predict(structures, ours), args.repeat)
    # (chgnet with batch_size=64 needs > 24 GB here: its create_graph=True backward keeps
    # a double-backward graph, so larger batches are not an option on this machine)
    best = min(t_one, t_b16)
    for label, t in [("chgnet one by one", t_one), ("chgnet batch_size=16", t_b16), ("matwidgets.predict", t_ours)]:
        print(f"{label:24s} {t:8.2f} s  {n_atoms / t:8.0f} atoms/s")
    print(f"ratio best chgnet / ours = {best / t_ours:.2f}x")

    # forward+backward per atom: native SchNet against chgnet, same batch
    batch = mw.AtomsBatch.from_structures(structures[:50])
    schnet = mw.SchNet().to(torch.float32)
    t_s = median_time(lambda: schnet.compute(batch), args.repeat)
    t_c = median_time(lambda: ours.compute(batch), args.repeat)
    na = batch.n_atoms
    print(f"forward+backward per atom: schnet {1e6 * t_s / na:.0f} us, chgnet {1e6 * t_c / na:.0f} us, ratio {t_c / t_s:.1f}x")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
