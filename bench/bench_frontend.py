"""Cost of the language frontends (not a test): import time, installed size, first-chunk latency.

    python bench/bench_frontend.py [--runs 5] [--checkout PATH]

Each figure comes from fresh Python processes on this machine (the median of ``--runs``):

- import time: ``import steptts`` and ``from steptts import TTS`` (the API module);
- first-chunk latency: a fresh process times ``TTS()`` (the default voice, CPU; a voice that speaks
  Mandarin loads the Mandarin frontend there: jieba's dictionary), then ``next(tts.stream(text))``
  for an English and a Mandarin sentence (the first call pays what is still lazy: espeak-ng, the
  graph's first run); the second call of the same text is the warm figure;
- installed size: the files of the runtime's dependencies (``pip install ".[cpu]"``), summed from
  their installed records: the core dependencies of ``--checkout``'s pyproject (default: this one)
  and of the ``cpu`` extra, with everything they pull in.

No Mandarin voice ships yet: the Mandarin latency runs the default voice's graph, its vocabulary
extended to name the Mandarin symbols (a copy in a temporary folder), so it times the Mandarin frontend
plus that graph. ``--checkout /work/main`` measures another checkout (e.g. before this change): its
steptts is imported by the subprocesses; it cannot run the Mandarin figure if it lacks the frontend.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
ENGLISH = "The quick brown fox jumps over the lazy dog."
MANDARIN = "会议定在2024年5月3日上午9:30开始。"
KOKORO_ZH_SYMBOLS = "ʦʨꭧʰɕʂɻɥɨɤɚŋ↓→↗↘aeiouwjnmlkptsfxy“”"

_LATENCY = """
import json, sys, time
from steptts import TTS
voice = sys.argv[2] or None
start = time.perf_counter()
tts = TTS(voice=voice, provider="cpu")
out = [(time.perf_counter() - start) * 1000.0]
for _ in range(2):
    start = time.perf_counter()
    next(iter(tts.stream(sys.argv[1])))
    out.append((time.perf_counter() - start) * 1000.0)
print(json.dumps(out))
"""


def run_python(code: str, *args: str, checkout: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(checkout), "STEPTTS_VOICES": os.environ.get("STEPTTS_VOICES", "")}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          check=False, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"subprocess failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout.strip()


def import_ms(statement: str, checkout: Path, runs: int) -> float:
    code = f"import time; s = time.perf_counter(); {statement}; print((time.perf_counter() - s) * 1000)"
    return statistics.median(float(run_python(code, checkout=checkout)) for _ in range(runs))


def latency_ms(text: str, voice: str, checkout: Path, runs: int) -> tuple[float, float, float]:
    """Median TTS() time, first-chunk latency in a fresh process, and warm, in ms."""
    made, cold, warm = zip(*(json.loads(run_python(_LATENCY, text, voice, checkout=checkout)) for _ in range(runs)))
    return statistics.median(made), statistics.median(cold), statistics.median(warm)


def mandarin_voice(folder: Path) -> Path:
    """A copy of the default voice that declares Mandarin, its vocabulary naming the Mandarin symbols."""
    from steptts.voice import find_voice

    voice = folder / "default-zh"
    shutil.copytree(find_voice(None), voice)
    config = json.loads((voice / "voice.json").read_text(encoding="utf-8"))
    ids = sorted(set(config["phoneme_vocab"].values()) - {0, 1, 2})
    for index, symbol in enumerate(KOKORO_ZH_SYMBOLS):
        config["phoneme_vocab"].setdefault(symbol, ids[index % len(ids)])
    config.update(name="default-zh", languages=["en", "zh"])
    (voice / "voice.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return voice


def _requirement_names(requirements: list[str]) -> list[str]:
    names = []
    for requirement in requirements:
        if ";" in requirement and "extra ==" in requirement.split(";", 1)[1]:
            continue
        names.append(re.split(r"[\s<>=!~\[;(]", requirement.strip(), maxsplit=1)[0])
    return names


def installed_mb(requirements: list[str]) -> tuple[float, list[str]]:
    """Installed size of ``requirements`` and all they pull in, in MB, and the distributions counted."""
    seen: dict[str, int] = {}
    todo = _requirement_names(requirements)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            seen[name] = 0
            continue
        seen[name] = sum(f.size or 0 for f in dist.files or [])
        todo += _requirement_names(dist.requires or [])
    return sum(seen.values()) / 1e6, sorted(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--checkout", type=Path, default=REPO, help="steptts checkout to measure")
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    project = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    size_mb, dists = installed_mb(project["dependencies"] + project["optional-dependencies"]["cpu"])
    print(f"checkout {checkout}")
    print(f"installed size of the runtime's dependencies (.[cpu]): {size_mb:.1f} MB ({len(dists)} distributions)")
    print(f"import steptts: {import_ms('import steptts', checkout, args.runs):.0f} ms; "
          f"from steptts import TTS: {import_ms('from steptts import TTS', checkout, args.runs):.0f} ms "
          f"(median of {args.runs} processes)")
    made, cold, warm = latency_ms(ENGLISH, "", checkout, args.runs)
    print(f"English {ENGLISH!r}: TTS() {made:.0f} ms, first chunk {cold:.0f} ms in a fresh process, "
          f"{warm:.0f} ms warm")
    if not (checkout / "steptts" / "languages" / "mandarin.py").exists():
        print("no Mandarin frontend in this checkout: Mandarin latency not measured")
        return
    with tempfile.TemporaryDirectory(prefix="bench-frontend-") as folder:
        voice = mandarin_voice(Path(folder))
        made, cold, warm = latency_ms(MANDARIN, str(voice), checkout, args.runs)
    print(f"Mandarin {MANDARIN!r}: TTS() {made:.0f} ms (loads the Mandarin frontend), first chunk {cold:.0f} ms "
          f"in a fresh process, {warm:.0f} ms warm")


if __name__ == "__main__":
    main()
