"""Do the dialect tags sound as their rules say? Tone level and slope per tone class (not a test).

    nice -n 10 python bench/bench_dialect_tones.py [--lines 12] [--voice jm_kumo] [--dialect 四川话 粤语]
        [--strength 0.7] [--student VOICE [--speaker S]] [--cer] [--json OUT.json] [--png OUT.png]

The Kokoro teacher (:class:`distill.kokoro_teacher.KokoroTeacher`) reads the same HSK lines (an even
stride over the training corpus, never a ``dev_*`` file) as Mandarin and under the dialect's tag; the
dialect's rendering is measured as it comes and after the data engine's tone edit
(:func:`distill.tone_edit.apply_tone_edit` with the dialect's targets). Syllables come from the
teacher's white-box durations (:func:`distill.tone_edit.syllables`); a syllable's *nucleus* is its
tokens from its first vowel on (the rime), its F0 the voiced frames there
(:func:`distill.edits.analysis_f0`). Per tone class:

- level: mean F0 of the nuclei in semitones re the utterance's median voiced F0;
- slope: least-squares slope of the nucleus's F0 in semitones per second;
- contour: the nucleus's F0 at 5 evenly spaced points (semitones re median), for the PNG;
- target: the same three figures of the rule's contour (Chao letters, :data:`distill.tone_edit.TONE_TARGETS`)
  placed in the utterance's range as the tone edit places it (5th–95th percentile = Chao 1–5), on
  the same frames.

With ``--student VOICE [--speaker S]`` a trained student reads the same lines too, as Mandarin and under
each dialect's tag (its trained tag id; its graph's ``durations`` output gives the frames), measured the
same way in its own range (rows ``student Mandarin``, ``student 四川话``).

With ``--cer`` Whisper base (:class:`distill.whisper_judge.WhisperJudge`, language ``zh``: Whisper
base has no Cantonese token) also transcribes each rendering; CER on the Han characters
(:func:`distill.asr_scores.mandarin_cer`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
POINTS = 5
FRAME_S = 256 / 22050
VOWELS = set("aeiouyɨɤəɛɔʊɚɐɑæɪœø")
"""Symbols that start a syllable's rime (its nucleus), in Kokoro's zh and Cantonese symbols."""


def nuclei(text: str, phonemes: str, durations: list[int], dialect: str) -> list[tuple[str, int, int]]:
    """(tone class, first frame, end frame) of each syllable's nucleus, from the teacher's durations."""
    from distill.tone_edit import readings
    from steptts.languages.mandarin import HAN

    edges = np.concatenate([[0], np.cumsum(durations)])
    out, position = [], 0
    for run in re.findall(f"[{HAN}]+", text):
        for tone, ipa in readings(run, dialect):
            start = phonemes.find(ipa, position)
            position = start + len(ipa)
            vowel = next((i for i, symbol in enumerate(ipa) if symbol in VOWELS), 0)
            out.append((tone, int(edges[start + vowel + 1]), int(edges[start + len(ipa) + 1])))
    return out


def measure(audio: np.ndarray, sylls: list[tuple[str, int, int]], dialect: str,
            reference: np.ndarray | None = None) -> dict[str, list[dict]]:
    """Per tone class: each nucleus's level (st), slope (st/s), 5-point contour and the target's.

    ``reference``: F0 [F] (Hz, 0 unvoiced) whose median and range place the semitones and the targets
    (the unedited rendering's, as the tone edit places its targets); None: ``audio``'s own."""
    from distill.edits import analysis_f0
    from distill.tone_edit import RANGE_PERCENTILES, target_letters

    f0, _ = analysis_f0(np.asarray(audio, dtype=np.float64), 22050)
    voiced = f0 > 0
    reference = f0 if reference is None else reference
    if voiced.sum() < 10 or (reference > 0).sum() < 10:
        return {}
    median = np.median(reference[reference > 0])
    low, high = np.percentile(reference[reference > 0], RANGE_PERCENTILES)
    semitones = 12 * np.log2(np.where(voiced, f0, median) / median)
    out: dict[str, list[dict]] = {}
    for index, (tone, start, end) in enumerate(sylls):
        frames = np.arange(start, min(end, len(f0)))
        frames = frames[voiced[frames]]
        before_pause = index == len(sylls) - 1
        letters = target_letters(tone, before_pause, dialect)
        if len(frames) < 3 or letters is None:
            continue
        where = np.linspace(0, 1, len(frames))
        chao = np.interp(where, np.linspace(0, 1, len(letters)), letters)
        target = 12 * np.log2(low / median) + (chao - 1) / 4 * 12 * np.log2(high / low)
        seconds = frames * FRAME_S
        picks = np.round(np.linspace(0, len(frames) - 1, POINTS)).astype(int)
        out.setdefault(tone, []).append({
            "level": float(semitones[frames].mean()), "slope": float(np.polyfit(seconds, semitones[frames], 1)[0]),
            "contour": semitones[frames][picks].tolist(),
            "target_level": float(target.mean()), "target_slope": float(np.polyfit(seconds, target, 1)[0]),
            "target_contour": target[picks].tolist(),
        })
    return out


def summarize(per_tone: dict[str, list[dict]]) -> dict[str, dict]:
    """Means per tone class."""
    out = {}
    for tone in sorted(per_tone):
        rows = per_tone[tone]
        out[tone] = {"count": len(rows), **{key: np.mean([row[key] for row in rows], axis=0).round(2).tolist()
                                            for key in rows[0]}}
    return out


def render(teacher, text: str, dialect: str, voice: str) -> tuple[np.ndarray, list[int], str]:
    """(audio [S] at 22050 Hz, frames per token, phonemes) of ``text`` said in ``dialect``. Cantonese,
    which the teacher does not render under its tag, goes in as phonemes of the experimental frontend."""
    from distill.tone_edit import MANDARIN
    from steptts.tags import resolve_tag

    if dialect == "粤语":
        from steptts.languages import cantonese

        return teacher.synthesize_phonemes(cantonese.phonemize(text), {}, voice)
    rendering = teacher.render(text, [] if dialect == MANDARIN else [resolve_tag(dialect)], voice)
    return rendering.audio, rendering.durations, rendering.phonemes


def run(texts: list[str], voice: str, dialects: list[str], strength: float, cer: bool,
        student: tuple[str, str | None] | None = None) -> dict:
    """Render and measure Mandarin, and each dialect as it comes and with the tone edit; with
    ``student`` (voice, speaker) the student's renderings too."""
    from distill.edits import analysis_f0
    from distill.kokoro_teacher import KokoroTeacher
    from distill.tone_edit import MANDARIN, apply_tone_edit

    teacher = KokoroTeacher(voice=voice, threads=2)
    per: dict[str, dict[str, list[dict]]] = {}
    audios: dict[str, list[np.ndarray]] = {}
    started = time.perf_counter()
    for rules in [MANDARIN, *dialects]:
        name = "Mandarin" if rules == MANDARIN else rules
        for text in texts:
            audio, durations, phonemes = render(teacher, text, rules, voice)
            sylls = nuclei(text, phonemes, durations, rules)
            reference, _ = analysis_f0(audio.astype(np.float64), 22050)
            versions = {name: audio}
            if rules != MANDARIN:
                versions[f"{name} + tone edit"] = apply_tone_edit(
                    audio, 22050, durations, phonemes, text, strength, rules).audio
            for label, version in versions.items():
                for tone, rows in measure(version, sylls, rules, reference).items():
                    per.setdefault(label, {}).setdefault(tone, []).extend(rows)
                audios.setdefault(label, []).append(version)
    if student is not None:
        student_per, student_audios = run_student(texts, student[0], student[1], dialects)
        per.update(student_per)
        audios.update(student_audios)
    print(f"... rendered in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    result = {label: {"tones": summarize(tones)} for label, tones in per.items()}
    if cer:
        heard_by = transcribe(audios)
        from distill.asr_scores import mandarin_cer

        for label, heard in heard_by.items():
            result[label]["cer"] = round(mandarin_cer(texts, heard), 3)
            result[label]["heard"] = heard
    return result


def run_student(texts: list[str], voice: str, speaker: str | None, dialects: list[str]) -> tuple[dict, dict]:
    """The student's Mandarin and dialect renderings, measured: (label → tone class → rows, label → audios)."""
    from bench_tone_contours import student_rendering

    from distill.tone_edit import MANDARIN
    from steptts import TTS

    tts = TTS(voice=voice, provider="cpu", threads=2)
    per: dict[str, dict[str, list[dict]]] = {}
    audios: dict[str, list[np.ndarray]] = {}
    for rules in [MANDARIN, *[d for d in dialects if d in tts.voice.tag_vocab]]:
        label = "student " + ("Mandarin" if rules == MANDARIN else rules)
        for text in texts:
            tagged = text if rules == MANDARIN else f"({rules}){text}"
            tag_ids = () if rules == MANDARIN else (tts.voice.tag_vocab[rules],)
            pieces = [(utterance.normalized, student_rendering(tts, utterance, speaker, tag_ids))
                      for utterance in tts.phonemize(tagged, speaker=speaker)]
            for said, (audio, durations, phonemes) in pieces:
                for tone, rows in measure(audio, nuclei(said, phonemes, durations, rules), rules).items():
                    per.setdefault(label, {}).setdefault(tone, []).extend(rows)
            audios.setdefault(label, []).append(np.concatenate([audio for _, (audio, _, _) in pieces]))
    return per, audios


def transcribe(audios: dict[str, list[np.ndarray]]) -> dict[str, list[str]]:
    """What Whisper base (language zh) hears in each rendering."""
    from distill.dsp import resample
    from distill.whisper_judge import WHISPER_RATE_HZ, DecodeSettings, WhisperJudge

    judge = WhisperJudge(DecodeSettings(threads=2))
    return {label: [judge.transcribe(resample(audio, 22050, WHISPER_RATE_HZ, clip=True), "zh") for audio in items]
            for label, items in audios.items()}


def plot(result: dict, path: str) -> None:
    """One row per rule set (Mandarin, each dialect), one panel per tone class: the mean nucleus contour
    as rendered and after the tone edit, and the rule's target (semitones re the utterance's median)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(dict.fromkeys(label.partition(" + ")[0] for label in result))
    columns = max(len(result[row]["tones"]) for row in rows)
    figure, axes = plt.subplots(len(rows), columns, figsize=(2.6 * columns, 2.4 * len(rows)), squeeze=False,
                                sharey=True)
    x = np.linspace(0, 1, POINTS)
    for row_index, row in enumerate(rows):
        edited = result.get(f"{row} + tone edit", {"tones": {}})
        for column, tone in enumerate(sorted(result[row]["tones"])):
            axis, entry = axes[row_index][column], result[row]["tones"][tone]
            axis.plot(x, entry["target_contour"], "k--", label="target")
            axis.plot(x, entry["contour"], "C0-o", label="student" if row.startswith("student ") else "Kokoro")
            if tone in edited["tones"]:
                axis.plot(x, edited["tones"][tone]["contour"], "C3-o", label="tone edit")
            axis.set_title(f"{_english(row)} tone {tone} (n={entry['count']})", fontsize=8)
        for column in range(len(result[row]["tones"]), columns):
            axes[row_index][column].axis("off")
        axes[row_index][0].set_ylabel("st re median")
    axes[-1][0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _english(label: str) -> str:
    """A label with its tag key in English (the plot's font has no Han glyphs): 四川话 → sichuanese."""
    from steptts.errors import TagError
    from steptts.tags import resolve_tag

    head, plus, tail = label.partition(" + ")
    who, _, head = head.rpartition(" ")  # "student 四川话"
    try:
        head = resolve_tag(head).spec.aliases[0]
    except TagError:  # Mandarin and other plain labels stay as they are
        pass
    return (f"{who} " if who else "") + head + (plus + tail if plus else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=12)
    parser.add_argument("--voice", default="jm_kumo")
    parser.add_argument("--dialect", nargs="+", default=["四川话"], help="四川话 and/or 粤语")
    parser.add_argument("--strength", type=float, default=0.7)
    parser.add_argument("--cer", action="store_true", help="also Whisper base CER on the Han characters")
    parser.add_argument("--student", help="also a student voice (name or folder) trained on the dialect tags")
    parser.add_argument("--speaker", help="the student's speaker (default: its first)")
    parser.add_argument("--json")
    parser.add_argument("--png")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "bench"))
    from bench_kokoro_voices import sample_lines

    texts = sample_lines(args.lines)["zh"]
    result = run(texts, args.voice, args.dialect, args.strength, args.cer,
                 (args.student, args.speaker) if args.student else None)
    print("| rendering | tone | nuclei | level st | target level | slope st/s | target slope |")
    print("|---|---|---|---|---|---|---|")
    for label, entry in result.items():
        for tone, row in entry["tones"].items():
            print(f"| {label} | {tone} | {row['count']} | {row['level']:+.2f} | {row['target_level']:+.2f} | "
                  f"{row['slope']:+.1f} | {row['target_slope']:+.1f} |")
    for label, entry in result.items():
        if "cer" in entry:
            print(f"{label}: Whisper base CER {entry['cer']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"texts": texts, "voice": args.voice, "strength": args.strength,
                                               "result": result}, ensure_ascii=False, indent=2))
    if args.png:
        plot(result, args.png)


if __name__ == "__main__":
    main()
