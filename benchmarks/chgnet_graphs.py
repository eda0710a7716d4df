"""CHGNet v2: CHGNetPotential.compute on 200 structures of 2-64 atoms against chgnet's
predict_structure, and the share of compute spent building graphs.

Run: python benchmarks/chgnet_graphs.py [--n 200] [--repeat 3] [--chunk 16]
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

from matwidgets.engine.atoms import AtomsBatch  # noqa: E402
from matwidgets.engine.graphs import chgnet_graph  # noqa: E402
from matwidgets.engine.models.chgnet import CHGNetPotential  # noqa: E402
from matwidgets.engine.neighbors import neighbor_list  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=16, help="systems per compute call (and chgnet's batch_size)")
    args = ap.parse_args()
    from chgnet.model import CHGNet

    structures = random_structures(args.n)
    n_atoms = sum(len(s) for s in structures)
    with contextlib.redirect_stdout(io.StringIO()):
        ref = CHGNet.load(verbose=False, use_device="cpu")
    ours = CHGNetPotential()
    chunks = [AtomsBatch.from_structures(structures[k : k + args.chunk]).to(dtype=torch.float32)
              for k in range(0, len(structures), args.chunk)]
    print(f"{args.n} structures, {n_atoms} atoms, chunks of {args.chunk}, torch threads {torch.get_num_threads()}")
    ref.predict_structure(structures[:16], batch_size=16)  # warm-up
    ours.compute(chunks[0])

    t_ref = median_time(lambda: ref.predict_structure(structures, batch_size=args.chunk), args.repeat)
    t_ours = median_time(lambda: [ours.compute(b) for b in chunks], args.repeat)
    t_nl = median_time(lambda: [neighbor_list(b, 6.0) for b in chunks], args.repeat)
    edges = [neighbor_list(b, 6.0) for b in chunks]
    t_graph = median_time(lambda: [chgnet_graph(b, e) for b, e in zip(chunks, edges)], args.repeat)
    print(f"chgnet predict_structure(batch_size={args.chunk}) {t_ref:7.2f} s  {n_atoms / t_ref:7.0f} atoms/s")
    print(f"CHGNetPotential.compute (e, f, s, m)        {t_ours:7.2f} s  {n_atoms / t_ours:7.0f} atoms/s")
    print(f"ratio chgnet / ours = {t_ref / t_ours:.2f}x")
    print(f"graphs: neighbour list {t_nl:.3f} s ({100 * t_nl / t_ours:.1f}%), "
          f"CHGNet graph bookkeeping {t_graph:.3f} s ({100 * t_graph / t_ours:.1f}%) of compute")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
