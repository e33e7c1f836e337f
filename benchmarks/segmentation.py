"""Sentence segmentation time against response length: linear since SPEC §1 bounds what pysbd sees.

    python benchmarks/segmentation.py            # 10K..1M characters; about 5 CPU-minutes on a 2-core CPU
    python benchmarks/segmentation.py --quick    # 10K..40K
    python benchmarks/segmentation.py --write    # also writes the table into benchmarks/RESULTS.md

Two kinds of text, neither with a blank line (so the blank-line chunks do not help): prose (sentences of 3 to 30
words ending in `.`, `!` or `?`) and unpunctuated text (words and spaces only). Each is segmented by
`segment(text, "sentence")` (pieces of at most 5,000 characters) and, side by side up to `--old-cap` characters, by
the unbounded behaviour before SPEC §1 (pysbd on each whole chunk). Times are this process's CPU time
(`time.process_time`), so other jobs on a shared machine do not inflate them.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hf_localnat.scoring.prepare import segment as segment_module  # noqa: E402

SIZES = [10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 1_000_000]
WORDS = ["the", "cat", "sat", "on", "a", "mat", "so", "x", "equals", "3.14", "then", "we", "check", "it", "Dr.",
         "Smith", "answer", "is", "e.g.", "sum", "of", "both", "sides"]
START, END = "<!-- segmentation:start (written by benchmarks/segmentation.py --write) -->", "<!-- segmentation:end -->"


def prose(length: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    sentences, total = [], 0
    while total < length:
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 30))]
        sentence = " ".join(words).capitalize() + rng.choice(".!?")
        sentences.append(sentence)
        total += len(sentence) + 1
    return " ".join(sentences)[:length]


def unpunctuated(length: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words, total = [], 0
    while total < length:
        word = rng.choice([w for w in WORDS if w.isalpha()])
        words.append(word)
        total += len(word) + 1
    return " ".join(words)[:length]


def new_spans(text: str) -> list[tuple[int, int]]:
    return segment_module.segment(text, "sentence")


def old_spans(text: str) -> list[tuple[int, int]]:
    return segment_module.merge_whitespace_steps(text, segment_module._sentence_boundaries(text, piece_length=None))


def timed(function, text: str) -> tuple[float, list]:
    start = time.process_time()
    spans = function(text)
    return time.process_time() - start, spans


def machine() -> str:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}; {os.cpu_count()} CPU cores visible; {platform.platform()}; Python {platform.python_version()}; "
            f"pysbd {__import__('pysbd').__version__}; clock: process_time; {datetime.date.today()}")


def rate(chars: int, seconds: float) -> str:
    return f"{chars / seconds / 1000:.0f}K" if seconds > 0 else "-"


def table(sizes: list[int], old_cap: int) -> str:
    segment_module.segment("Warm up. The splitter.")  # build this thread's pysbd object outside the timings
    lines = [
        "| characters | prose: bounded s | chars/s | unbounded (before) s | chars/s | before / bounded | same steps "
        "| unpunctuated: bounded s | chars/s | unbounded (before) s | chars/s | before / bounded |",
        "|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        cells = [f"{size:,}"]
        for kind, make in (("prose", prose), ("unpunctuated", unpunctuated)):
            text = make(size)
            new_time, new = timed(new_spans, text)
            cells += [f"{new_time:.2f}", rate(size, new_time)]
            if size <= old_cap:
                old_time, old = timed(old_spans, text)
                cells += [f"{old_time:.2f}", rate(size, old_time), f"{old_time / new_time:.1f}×"]
                if kind == "prose":
                    cells.append("yes" if old == new else f"{len(set(old) ^ set(new))} spans differ")
            else:
                cells += ["not run", "", ""] + ([""] if kind == "prose" else [])
            print(f"  {kind} {size:,}: {new_time:.2f} s", file=sys.stderr, flush=True)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(section: str) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text()
    if START in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".RESULTS.", suffix=".tmp", delete=False) as f:
        f.write(text)
    os.replace(f.name, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10K..40K characters only")
    parser.add_argument("--old-cap", type=int, default=160_000, help="longest text for the unbounded behaviour")
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args()
    sizes = [s for s in SIZES if s <= 40_000] if args.quick else SIZES
    body = table(sizes, args.old_cap)
    command = "python benchmarks/segmentation.py" + (" --quick" if args.quick else "")
    section = (f"{START}\n## Sentence segmentation: time against length (SPEC §1 pieces)\n\nCommand: `{command}`\n\n"
               f"Machine: {machine()}\n\n{body}\n{END}")
    print(section)
    if args.write:
        write_results(section)


if __name__ == "__main__":
    main()
