#!/usr/bin/env python3
"""Writes scenarios/traces/chat_sample.jsonl: a SYNTHETIC request trace (not a measured one) for the trace-driven
serving scenario. 600 requests over ~60 s: a Poisson background at 6/s with a 3x burst between 20 and 30 s; chat-like
prompts (lognormal, median ~600 tokens) and outputs (lognormal, median ~200 tokens). Deterministic (seed 5)."""
import json
import math
import random
from pathlib import Path

rng = random.Random(5)
t, rows = 0.0, []
while len(rows) < 600:
    rate = 18.0 if 20.0 <= t < 30.0 else 6.0
    t += rng.expovariate(rate)
    prompt = min(8192, max(8, round(rng.lognormvariate(math.log(600), 0.8))))
    output = min(2048, max(1, round(rng.lognormvariate(math.log(200), 0.7))))
    rows.append({"arrival_s": round(t, 6), "prompt_tokens": prompt, "output_tokens": output})
out = Path(__file__).resolve().parent.parent / "scenarios" / "traces" / "chat_sample.jsonl"
out.write_text("".join(json.dumps(row) + "\n" for row in rows))
print(f"wrote {out}: {len(rows)} requests over {t:.1f} s")
