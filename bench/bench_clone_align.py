"""How close are the clone's alignments to the truth? Two speakers whose durations are known (not a test).

- **an unseen speaker**: the Kokoro-82M teacher speaking a blend of two of its voices (``jf_nezumi`` and
  ``jf_tebukuro``, the speaker of ``bench/bench_clone.py``: none of the student's), with Kokoro's own
  per-token durations (its white-box ``/encoder/Round_output_0``, mapped to the student's tokens by the
  data engine) as the truth;
- **the base voice itself**, rendered by its graph under several controls (pitch, level, tempo: speech
  the voice does not make by default), the graph's ``durations`` as the truth.

Each line is aligned as stage 3 of ``steptts distill clone`` aligns it (:func:`distill.clone_align.
align_utterance`, warped onto every base speaker's rendering), and every token boundary found is
compared with the true one. English lines are the last ARCTIC prompts, Mandarin ones the last HSK
sentences (the clone's bench and the voices train on earlier lines).

    PYTHONPATH=$PWD python bench/bench_clone_align.py [--voice bilingual-nano] [--language en|zh] [--lines 12]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
HELD_OUT = {"en": DATA / "arctic_prompts.tsv", "zh": DATA / "hsk_sentences.tsv"}
"""Language → corpus whose last lines are aligned."""
CONDITIONS = {
    "as the voice speaks": [1.0, 0.0, 0.0],
    "pitch +4 st, -6 dB": [1.0, 4.0, -6.0],
    "pitch -5 st": [1.0, -5.0, 0.0],
    "speed 1.25": [1.25, 0.0, 0.0],
    "speed 0.8, pitch +3 st": [0.8, 3.0, 0.0],
}


def boundary_errors(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """|found − true| end frame of every token but the last (which both put at the audio's end)."""
    return np.abs(np.cumsum(found) - np.cumsum(truth))[:-1]


def _row(label: str, errors: list[np.ndarray], durations: list[np.ndarray], speakers: list[str], seconds: float):
    errors_all = np.concatenate(errors)
    inner = np.concatenate([found[1:-1] for found in durations])
    chosen = ", ".join(f"{name} ×{speakers.count(name)}" for name in sorted(set(speakers)))
    print(f"{label:38} {len(errors_all):6d} {errors_all.mean():9.2f} {100 * np.mean(errors_all <= 2):9.1f}% "
          f"{100 * np.mean(inner <= 1):8.1f}% {seconds / len(errors):7.2f}  {chosen}")


def main() -> None:
    import sys

    sys.path.insert(0, str(REPO / "bench"))
    from bench_clone import blend_teacher

    from distill.clone_align import Frontend, align_utterance
    from distill.corpus import read_corpus
    from distill.onnx_weights import student_from_voice
    from export.parity import open_session

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", default="bilingual-nano", help="The base voice (folder under voices/).")
    parser.add_argument("--language", default="en", choices=sorted(HELD_OUT), help="Language of the lines.")
    parser.add_argument("--lines", type=int, default=12, help="Lines at the end of the corpus.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    weights, voice = student_from_voice(REPO / "voices" / args.voice)
    frontend = Frontend.of_voice(voice, args.language)
    names = {index: name for name, index in voice.speakers.items()}
    lines = [line.text for line in read_corpus([HELD_OUT[args.language]])][-args.lines:]
    print(f"{args.voice}, {args.language}, {len(lines)} lines; base speakers: {', '.join(voice.speakers)}")
    print(f"{'speech aligned':38} {'bounds':>6} {'mean|err|':>9} {'≤2 frames':>10} {'1-frame':>9} "
          f"{'s/line':>7}  chosen speaker")

    def run(label: str, items: list[tuple[list[int], np.ndarray, np.ndarray]]) -> None:
        errors, found_all, chosen = [], [], []
        started = time.perf_counter()
        for ids, audio, truth in items:
            alignment = align_utterance(weights.student, ids, audio, list(voice.speakers.values()))
            errors.append(boundary_errors(alignment.durations, truth))
            found_all.append(alignment.durations)
            chosen.append(names[alignment.speaker_id])
        _row(label, errors, found_all, chosen, time.perf_counter() - started)

    teacher = blend_teacher()
    unseen = []
    for line in lines:
        rendering = teacher.render(line, [], None)
        ids, _ = frontend.ids(rendering.phonemes)
        if len(ids) != len(rendering.durations):
            raise SystemExit(f"{len(ids)} ids for {len(rendering.durations)} Kokoro durations: {line}")
        unseen.append((ids, rendering.audio.astype(np.float32), np.asarray(rendering.durations)))
    run("unseen: Kokoro jf_nezumi+jf_tebukuro", unseen)

    session = open_session(voice.model_path())
    first_speaker = next(iter(voice.speakers.values()))
    for label, controls in CONDITIONS.items():
        items = []
        for line in lines:
            ids, _ = frontend.ids(frontend.phonemes(line)[1])
            n_tokens = len(ids)
            audio, lengths, durations = session.run(None, {
                "phoneme_ids": np.array([ids], np.int64), "phoneme_lengths": np.array([n_tokens], np.int64),
                "tag_ids": np.zeros((1, 1), np.int64), "speaker_ids": np.array([first_speaker], np.int64),
                "controls": np.array([controls], np.float32),
                "duration_override": np.full((1, n_tokens), -1.0, np.float32),
                "pitch_override": np.zeros((1, n_tokens), np.float32),
            })
            items.append((ids, audio[0, : int(lengths[0])], durations[0]))
        run(f"{names[first_speaker]}: {label}", items)


if __name__ == "__main__":
    main()
