"""How close are the clone's alignments to the truth? The shipped voice's own graph durations as reference.

The base student (rebuilt from the voice's ``model.onnx``) gets its alignment projection fitted back
(:func:`distill.clone_align.fit_alignment_projection`, said by ``--fit-speaker``); then held-out lines
(English: the last ARCTIC lines; Mandarin: the last HSK sentences) rendered by the graph as
``--speaker`` under several controls (pitch, level, tempo: speech the voice does not make by default)
are aligned, and every token boundary found is compared with the graph's own ``durations``.

    PYTHONPATH=$PWD python bench/bench_clone_align.py [--lines 10]
    PYTHONPATH=$PWD python bench/bench_clone_align.py --voice bilingual-nano --language zh \
        --speaker jf_gongitsune --fit-speaker joe
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
HELD_OUT = {"en": (DATA / "arctic_prompts.tsv", -1), "zh": (DATA / "hsk_sentences.tsv", 1)}
"""Language → (TSV of held-out lines, column of the text)."""
CONDITIONS = {
    "as the voice speaks": [1.0, 0.0, 0.0],
    "pitch +4 st, -6 dB": [1.0, 4.0, -6.0],
    "pitch -5 st": [1.0, -5.0, 0.0],
    "speed 1.25": [1.25, 0.0, 0.0],
    "speed 0.8, pitch +3 st": [0.8, 3.0, 0.0],
}


def _boundary_errors(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """|found − true| end frame of every token but the last (which both put at the audio's end)."""
    return np.abs(np.cumsum(found) - np.cumsum(truth))[:-1]


def main() -> None:
    from distill.clone_align import (
        CALIBRATION_SENTENCES,
        MANDARIN_CALIBRATION_SENTENCES,
        Frontend,
        align_utterance,
        fit_alignment_projection,
    )
    from distill.onnx_weights import student_from_voice
    from export.parity import open_session

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10, help="Lines at the end of the held-out TSV.")
    parser.add_argument("--voice", default="joe-nano", help="A shipped voice (folder under voices/).")
    parser.add_argument("--language", default="en", choices=sorted(HELD_OUT), help="Language of the lines.")
    parser.add_argument("--speaker", default=None, help="Speaker who renders the lines (default: the first).")
    parser.add_argument("--fit-speaker", default=None, help="Speaker who says the calibration and is aligned "
                        "with (default: the first, as the clone does).")
    parser.add_argument("--fit-both", action="store_true", help="Calibrate on the English and Mandarin lines "
                        "together (the clone uses the recordings' language's alone).")
    args = parser.parse_args()
    torch.set_num_threads(1)
    weights, voice = student_from_voice(REPO / "voices" / args.voice)
    frontend = Frontend.of_voice(voice, args.language)
    speaker_id = voice.speakers[args.speaker] if args.speaker else next(iter(voice.speakers.values()))
    fit_speaker = voice.speakers[args.fit_speaker] if args.fit_speaker else 0
    sentences = CALIBRATION_SENTENCES + MANDARIN_CALIBRATION_SENTENCES if args.fit_both else None
    started = time.perf_counter()
    fit = fit_alignment_projection(weights.student, frontend, sentences, fit_speaker)
    elapsed_s = time.perf_counter() - started
    print(f"projection fit: R² {fit.r_squared:.3f} on {fit.tokens} tokens, {elapsed_s:.1f} s (speaker {fit_speaker}); "
          f"lines rendered by speaker {speaker_id}")
    session = open_session(voice.model_path())
    path, column = HELD_OUT[args.language]
    rows = path.read_text(encoding="utf-8").splitlines()[-args.lines:]
    lines = [row.split("\t")[column].strip() for row in rows]
    print(f"{'condition':24} {'shift':>5} {'boundaries':>10} {'mean |err|':>10} {'≤ 2 frames':>10}")
    for label, controls in CONDITIONS.items():
        renders = []
        for line in lines:
            ids, _ = frontend.ids(frontend.phonemes(line)[1])
            n_tokens = len(ids)
            audio, lengths, durations = session.run(None, {
                "phoneme_ids": np.array([ids], np.int64), "phoneme_lengths": np.array([n_tokens], np.int64),
                "tag_ids": np.zeros((1, 1), np.int64), "speaker_ids": np.array([speaker_id], np.int64),
                "controls": np.array([controls], np.float32),
                "duration_override": np.full((1, n_tokens), -1.0, np.float32),
                "pitch_override": np.zeros((1, n_tokens), np.float32),
            })
            renders.append((ids, audio[0, : int(lengths[0])], durations[0]))
        for shift in (True, False):
            reference = fit.reference_mean if shift else None
            errors = np.concatenate([
                _boundary_errors(align_utterance(weights.student, ids, audio, reference, fit_speaker), truth)
                for ids, audio, truth in renders
            ])
            print(f"{label:24} {'yes' if shift else 'no':>5} {len(errors):10d} {errors.mean():10.2f} "
                  f"{100 * np.mean(errors <= 2):9.1f}%")


if __name__ == "__main__":
    main()
