"""Edit -> updated PropertyPanel latency in the kernel, chgnet, up to 64 atoms.

Each edit (strain by +-0.5%) is applied through the builder; the clock stops when
the panel holds the new energy (debounce included). Reference: the same structures
through chgnet's own predict_structure.

Run: python benchmarks/builder.py
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import statistics
import time

import matwidgets as mw


async def edit_latency(builder, panel, n: int = 15) -> list[float]:
    out = []
    for k in range(n):
        before = panel.n_updates
        t0 = time.perf_counter()
        builder.strain(0.5 if k % 2 == 0 else -0.5)
        while panel.n_updates == before or not panel.job.finished:
            await asyncio.sleep(0.002)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    from chgnet.model import CHGNet

    model = mw.load_model("chgnet", device="cpu")
    with contextlib.redirect_stdout(io.StringIO()):
        ref = CHGNet.load(verbose=False, use_device="cpu")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    for n_cells in ([1, 1, 1], [2, 2, 2]):
        builder = mw.StructureBuilder()
        builder.load_lattice("diamond", ["Si"], 5.43)
        builder.make_supercell(n_cells)
        panel = mw.PropertyPanel(builder, model=model, references={"Si": -5.42})
        loop.run_until_complete(panel.job.wait_async())
        lat = loop.run_until_complete(edit_latency(builder, panel))
        t0 = time.perf_counter()
        for _ in range(5):
            ref.predict_structure(builder.structure)
        t_ref = (time.perf_counter() - t0) / 5
        print(f"{len(builder.structure)} atoms: edit -> panel median {1000 * statistics.median(lat):.0f} ms "
              f"(debounce {1000 * panel.debounce:.0f} ms included); chgnet predict_structure alone {1000 * t_ref:.0f} ms")


if __name__ == "__main__":
    main()
