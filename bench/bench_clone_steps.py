"""A clone's adaptation step by step: speaker similarity and WER of the torch student as it learns (not a test).

    PYTHONPATH=$PWD python bench/bench_clone_steps.py --aligned CLONE.clone-work/aligned --clips HELD_OUT_DIR
        [--base bilingual-nano] [--judge-at 0 60 200 400] [--speaker-steps 60] [--speaker-lr 0.01] [--lr 3e-4]
        [--phase-2 MODULE ...] [--speaker-radius R] [--start-speaker NAME | --start-rule lowest-loss]
        [--texts FILE ...] [--lines 20] [--json OUT]

Stage 4 of ``steptts distill clone`` (:class:`distill.clone_adapt.AdaptRun`) on an aligned dataset that
stage 3 wrote (``--stop-after align``, e.g. the recordings of ``bench/bench_clone.py``), without early
stopping. At each step of ``--judge-at`` the torch student (the new speaker, no tags) reads the first
``--lines`` lines of each of ``--texts`` (default: ``dev_en.txt``; more lines, less of Whisper's noise),
and the bench prints the speaker similarity against ``--clips``
(Resemblyzer, as ``bench_clone.py``), Whisper base's WER, the held-out loss, and how far the new
speaker's row has moved from its starting row (L2). ``--durations-from-start`` also renders each line
with the durations the starting student predicts, to tell a change of timing from one of sound.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_clone import DATA, Judges


def _speaker(aligned: Path) -> str:
    """The speaker of the aligned records (the clone's name)."""
    first = (aligned / "manifest.jsonl").read_text(encoding="utf-8").splitlines()[0]
    return json.loads(first)["voice"]


def main() -> None:
    from distill.clone_adapt import START_RULES, TRAINED_IN_PHASE_2, AdaptConfig, AdaptRun, held_out_loss
    from distill.clone_align import Frontend, neutral_inputs
    from steptts.voice import load_voice

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aligned", type=Path, required=True, help="Stage 3's aligned dataset.")
    parser.add_argument("--clips", type=Path, required=True, help="Held-out clips (wav) of the speaker.")
    parser.add_argument("--base", default="bilingual-nano")
    parser.add_argument("--judge-at", nargs="+", type=int, default=[0, 60, 200, 400])
    parser.add_argument("--speaker-steps", type=int, default=AdaptConfig.speaker_steps)
    parser.add_argument("--speaker-lr", type=float, default=AdaptConfig.speaker_lr)
    parser.add_argument("--lr", type=float, default=AdaptConfig.lr)
    parser.add_argument("--phase-2", nargs="+", default=list(TRAINED_IN_PHASE_2),
                        help="Modules that learn in phase 2 (the speaker row always does).")
    parser.add_argument("--speaker-radius", type=float, default=None)
    parser.add_argument("--start-speaker", help="the base speaker whose row the clone starts from "
                        "(default: the one stage 3 aligned most utterances to)")
    parser.add_argument("--start-rule", choices=START_RULES, default=AdaptConfig.start_rule,
                        help="how the start is chosen without --start-speaker")
    parser.add_argument("--durations-from-start", action="store_true")
    parser.add_argument("--texts", nargs="+", type=Path, default=[DATA / "dev_en.txt"],
                        help="English text files (a line each) the student reads at each judged step.")
    parser.add_argument("--lines", type=int, default=20, help="Lines read from each of --texts.")
    parser.add_argument("--work", type=Path, default=Path("bench-out/clone-steps"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    config = AdaptConfig(
        data_dir=args.aligned, run_dir=args.work / "run", speaker=_speaker(args.aligned), base=args.base,
        max_steps=max(args.judge_at), speaker_steps=args.speaker_steps, speaker_lr=args.speaker_lr, lr=args.lr,
        trained_in_phase_2=tuple(args.phase_2), speaker_radius=args.speaker_radius,
        start_speaker=args.start_speaker, start_rule=args.start_rule, patience=10**9, progress=False)
    run = AdaptRun(config)
    for name, loss in sorted(run.start_losses.items(), key=lambda item: item[1]):
        print(f"start loss {loss:.3f}  {name}", flush=True)
    frontend = Frontend.of_voice(load_voice(args.base), "en")
    texts = [line for path in args.texts
             for line in [text.strip() for text in path.read_text().splitlines() if text.strip()][: args.lines]]
    ids = [frontend.ids(frontend.phonemes(text)[1])[0] for text in texts]
    run.student.eval()  # no step taken yet: the starting student's own durations
    with torch.no_grad():
        start_durations = [run.student(*neutral_inputs(line, run.speaker_id))[2].float() for line in ids]
    run.student.train()
    judges = Judges()
    reference = judges.mean_embedding(sorted(args.clips.glob("*.wav")))

    rate_hz = run.initial.config.sample_rate
    rows = []

    def read_aloud(folder: Path, fixed_durations: bool) -> list[Path]:
        import soundfile as sf

        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        run.student.eval()
        with torch.no_grad():
            for index, line in enumerate(ids):
                inputs = list(neutral_inputs(line, run.speaker_id))
                if fixed_durations:
                    inputs[5] = start_durations[index]
                audio, length, _ = run.student(*inputs)
                paths.append(folder / f"{index:02d}.wav")
                sf.write(paths[-1], audio[0, : int(length[0])].numpy(), rate_hz)
        run.student.train()
        return paths

    def judge() -> None:
        step = run.state.step
        row = {"step": step, "row_drift": run.row_drift(),
               "held_out_loss": held_out_loss(run.student, run.val_set, step)}
        for fixed in (False, True) if args.durations_from_start else (False,):
            paths = read_aloud(args.work / f"step{step:04d}{'-start-durations' if fixed else ''}", fixed)
            suffix = "_start_durations" if fixed else ""
            row["similarity" + suffix] = float(judges.mean_embedding(paths) @ reference)
            row["wer" + suffix] = judges.wer(paths, texts)
        rows.append(row)
        print(json.dumps(row), flush=True)

    started = time.monotonic()
    if 0 in args.judge_at:
        judge()
    while run.state.step < config.max_steps:
        run.step(run.next_batch())
        if run.state.step in args.judge_at:
            judge()
    print(f"\n{config.max_steps} steps in {time.monotonic() - started:.0f} s (judging included); base "
          f"{args.base}, phase 2: {' '.join(args.phase_2)}, speaker radius {args.speaker_radius}\n")
    extra = "| WER, starting durations " if args.durations_from_start else ""
    print(f"| step | similarity | Whisper WER {extra}| held-out loss | row drift |")
    print("|---|---|---|" + ("---|" if extra else "") + "---|---|")
    for row in rows:
        fixed = f"| {row['wer_start_durations']:.3f} " if extra else ""
        print(f"| {row['step']} | {row['similarity']:.3f} | {row['wer']:.3f} {fixed}| {row['held_out_loss']:.3f} "
              f"| {row['row_drift']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
