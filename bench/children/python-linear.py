# Python memori's side of the linear-pipeline rows: N trivial stages in a chain, timed in a
# fresh process like bench/children/linear.mjs. Loads memori from ../shared/peers/memori.
# usage: python3 python-linear.py PEER_DIR STATE_DIR N
import json
import sys
import time

peer, state, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, peer)
from memori import Pipeline, Stage  # noqa: E402


def step(x):
    return x + 1


stages = [Stage(step, stage_outputs=["x"], hash_output=state, stage_name=f"s{i}") for i in range(n)]
definition = [("start", stages[0])] + [(stages[i - 1], stages[i]) for i in range(1, n)]
pipeline = Pipeline(definition)
started = time.perf_counter()
result = pipeline.run(0)
ms = (time.perf_counter() - started) * 1000
if result["x"] != n:
    raise SystemExit(f"expected {n}, got {result['x']}")
cached = sum(1 for s in stages if s.stage_from_hash)
print(json.dumps({"ms": ms, "cached": cached}))
