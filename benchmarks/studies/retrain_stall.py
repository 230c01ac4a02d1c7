"""What makes a read wait while the server retrains its linear head (issue 16's "the head
never blocking a read").

    .venv/bin/python benchmarks/studies/retrain_stall.py --products 1000000 --data /tmp/stall-1m

Builds (once; kept in ``--data`` for the next run) the catalog of ``benchmarks/scale.py``
at ``--products`` and its head, then starts the API on it with a watchdog: every request
that takes longer than ``--slow-ms`` gets the Python stacks of every server thread dumped
while it is still waiting (``faulthandler``'s C watchdog needs no interpreter lock, so it
also shows who holds it), and a second watchdog thread dumps them when it is not scheduled
for that long (the interpreter lock held, or the process starved). Then it PUTs the write
probes of scale.py, waits for the retrain to start, and categorizes from one client until
it ends (scale.py's measurement). Prints the slow reads and scale.py's figures; the dumps
are in ``<data>/stacks.txt`` (a crash's in ``<data>/crash.txt``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "performance"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _load import start_server  # noqa: E402

import scale  # noqa: E402

SERVER = r"""
import faulthandler, sys, threading, time
from pathlib import Path
import uvicorn
from semcat.api.app import create_app
from semcat.config import Settings

faulthandler.enable(open(sys.argv[5], "w"), all_threads=True)  # a crash: every thread's stack
stacks = open(sys.argv[2], "w")
slow = float(sys.argv[3]) / 1000
app = create_app(Settings(data_dir=Path(sys.argv[1])))

@app.middleware("http")
async def watch(request, call_next):
    # one client at a time: faulthandler keeps one timer
    stacks.write(f"\n=== {time.time():.3f} request {request.url.path}\n"); stacks.flush()
    faulthandler.dump_traceback_later(slow, repeat=False, file=stacks)
    try:
        return await call_next(request)
    finally:
        faulthandler.cancel_dump_traceback_later()

def starved():
    while True:
        t0 = time.perf_counter()
        time.sleep(0.01)
        late = time.perf_counter() - t0 - 0.01
        if late > slow:
            stacks.write(f"\n=== {time.time():.3f} watchdog thread late by {late*1000:.0f} ms\n"); stacks.flush()

threading.Thread(target=starved, daemon=True, name="stall-watchdog").start()
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[4]), log_level="warning")
"""


def build(data: Path, n: int) -> None:
    import scale
    from semcat.config import Settings
    from semcat.embedding import load_embedder
    from semcat.engine import Engine

    model = load_embedder(Settings())
    real, vectors = scale.real_products(model)
    products, dense = scale.build(n, real, vectors)
    settings = Settings(data_dir=data)
    texts = [p.text(settings.text_fields) for p in products]
    supplied = scale.Supplied(model.name, dict(zip(texts, dense, strict=True)), dense.shape[1])
    start = time.perf_counter()
    with Engine(settings, embedder=supplied) as engine:
        engine.index(products, progress=False)
    print(f"indexed {n} in {time.perf_counter() - start:.0f} s", flush=True)
    subprocess.run([sys.executable, "-c", scale.HEAD_CHILD, str(data), "faiss"], check=True)
    (data / "names.json").write_text(json.dumps([p.title for p in real[:2000]]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=100000)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--slow-ms", type=float, default=300)
    parser.add_argument("--probes", type=int, default=20)
    args = parser.parse_args()
    if not (args.data / "names.json").exists():
        build(args.data, args.products)
    names = json.loads((args.data / "names.json").read_text())
    stacks, crashes = args.data / "stacks.txt", args.data / "crash.txt"

    def command(port: int) -> list[str]:
        return ["-c", SERVER, str(args.data), str(stacks), str(args.slow_ms), str(port), str(crashes)]

    proc, port = start_server(args.data, dict(os.environ), wait_s=1800, command=command)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=1800) as client:  # a first read may train
            for i in range(20):  # warm
                client.post("/categorize", json={"title": names[i]}).raise_for_status()
            run = int(time.time())
            for i in range(args.probes):
                title = f"{names[i]} stall probe {run} {i}"
                client.put(f"/products/stall-{run}-{i}", json={"title": title, "category": ["probe", "leaf"]})
                client.post("/categorize", json={"title": title}).raise_for_status()
        print(json.dumps(scale.reads_during_retrain(port, names, slow_ms=args.slow_ms)))
    finally:
        proc.terminate()
        proc.wait(timeout=120)


if __name__ == "__main__":
    main()
