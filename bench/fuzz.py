"""Differential fuzzing for long runs: random models built by Keras 3, tf_keras and DL4J, read by
kconvert, run in its runtime and written to every target, each judged by its real runtime against
the framework's own outputs (see ``tests/differential``).

    .venv/bin/python bench/fuzz.py --minutes 60 --seed 1 [--targets tfjs,dl4j,keras,onnx]

Prints per stage: models tried, matched, refused (top reasons), skipped, findings; writes the JSON
result (``--out``) after every batch, so a run stopped early still leaves its numbers.  Each finding
of a new kind is shrunk (``--shrink-minutes``) and saved under ``--findings``.  Exit 1 when there
were findings.  Bounded for hour-long runs: each batch's files are removed once judged, every
framework and runtime process is started per batch (and restarted after a crash), each model has a
time limit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.differential.draw import draw_batch  # noqa: E402
from tests.differential.findings import FIXTURES, save_finding  # noqa: E402
from tests.differential.outcomes import TARGETS, Outcome, Tally  # noqa: E402
from tests.differential.runner import run_batch  # noqa: E402
from tests.differential.shrink import shrink  # noqa: E402

#: findings kept in full in the result (the count of each kind is kept for all)
MAX_FINDINGS_KEPT = 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--frameworks", default="keras3,tf_keras,dl4j")
    parser.add_argument("--batch", type=int, default=24, help="models per process start")
    parser.add_argument("--out", default="fuzz-result.json")
    parser.add_argument("--shrink-minutes", type=float, default=4.0, help="per new kind of finding; 0: none")
    parser.add_argument("--findings", default=str(FIXTURES), help="where shrunk findings are saved")
    args = parser.parse_args()
    targets = tuple(t for t in args.targets.split(",") if t)
    frameworks = tuple(args.frameworks.split(","))
    started, deadline = time.monotonic(), time.monotonic() + args.minutes * 60
    tally, findings, shrunk, batches = Tally(), [], {}, 0
    while time.monotonic() < deadline:
        specs = draw_batch(args.seed, args.batch, frameworks, start=batches * args.batch)
        work = Path(tempfile.mkdtemp(prefix="kconvert-fuzz-"))
        try:
            outcomes = run_batch(specs, work, targets)
            for outcome in outcomes:
                tally.add(outcome)
            for outcome in (o for o in outcomes if o.status == "finding"):
                record = {**outcome.to_dict(), "batch": batches, "description": specs[outcome.model].describe()}
                if len(findings) < MAX_FINDINGS_KEPT:
                    findings.append(record)
                key = "|".join(outcome.signature)
                if key in shrunk or args.shrink_minutes <= 0 or time.monotonic() > deadline:
                    continue
                try:
                    shrunk[key] = _shrink(specs[outcome.model], outcome, work, args)
                except Exception as exc:  # a shrinker failure must not end an hour's run: the finding stands
                    shrunk[key] = f"not shrunk: {type(exc).__name__}: {exc}"
        finally:
            shutil.rmtree(work, ignore_errors=True)
        batches += 1
        _write(args, tally, findings, shrunk, batches, time.monotonic() - started)
        print(f"[{(time.monotonic() - started) / 60:5.1f} min] batch {batches}: "
              f"{sum(1 for o in outcomes if o.stage == 'read')} models, {tally.finding_count()} findings so far",
              flush=True)
    print(tally.table())
    print(f"{batches * args.batch} models in {(time.monotonic() - started) / 60:.1f} min; result: {args.out}")
    return 1 if tally.finding_count() else 0


def _shrink(spec, outcome: Outcome, work: Path, args: argparse.Namespace) -> str:
    small, rounds = shrink(spec, outcome, work / "shrink", seconds=args.shrink_minutes * 60)
    made = work / "shrunk"
    outcomes = run_batch([small], made, (outcome.stage,) if outcome.stage in TARGETS else ())
    again = next((o for o in outcomes if o.status == "finding" and o.signature == outcome.signature), outcome)
    saved = save_finding(small, spec, again, made / "m0", Path(args.findings))
    print(f"  shrunk in {rounds} rounds to {len(small.nodes)} node(s), saved in {saved}:\n{small.describe()}",
          flush=True)
    return str(saved)


def _write(args: argparse.Namespace, tally: Tally, findings: list, shrunk: dict, batches: int,
           seconds: float) -> None:
    result = {"seed": args.seed, "minutes": args.minutes, "targets": args.targets, "frameworks": args.frameworks,
              "batches": batches, "models": batches * args.batch, "seconds": round(seconds, 1),
              "stages": tally.to_dict(), "findings": findings, "shrunk": shrunk}
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
