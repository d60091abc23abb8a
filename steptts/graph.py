"""The voice graph's contract (docs/CONTRACTS.md, schema_version 1): its inputs and outputs, its frame.

The engine feeds the graph by these names and the exporter writes the graph and ``voice.json`` with
them; the trainer, the data engine and the evaluation count frames of ``HOP_LENGTH`` samples at
``SAMPLE_RATE_HZ``.
"""

from __future__ import annotations

SAMPLE_RATE_HZ = 22050
"""Rate of the student's audio (and of the Piper teacher it learns from), in Hertz."""
HOP_LENGTH = 256
"""Samples per frame: durations count frames of this many samples (11.6 ms at 22050 Hz)."""
CONTROL_NAMES = ("speed", "pitch_semitones", "energy_db")
"""The three values of the ``controls`` input, in order: tempo ×, semitones added, dB added."""

GRAPH_IO = {
    "inputs": {
        "phoneme_ids": {"dtype": "int64", "shape": ["B", "T"]},
        "phoneme_lengths": {"dtype": "int64", "shape": ["B"]},
        "tag_ids": {"dtype": "int64", "shape": ["B", "K"]},
        "speaker_ids": {"dtype": "int64", "shape": ["B"]},
        "controls": {"dtype": "float32", "shape": ["B", 3]},
        "duration_override": {"dtype": "float32", "shape": ["B", "T"]},
        "pitch_override": {"dtype": "float32", "shape": ["B", "T"]},
    },
    "outputs": {
        "audio": {"dtype": "float32", "shape": ["B", "S"]},
        "audio_lengths": {"dtype": "int64", "shape": ["B"]},
        "durations": {"dtype": "int64", "shape": ["B", "T"]},
    },
}
"""Name → dtype and shape of every input and output (``voice.json``'s ``graph``)."""
INPUT_NAMES = tuple(GRAPH_IO["inputs"])
"""The graph's inputs, in the order the exporter traces them."""
OUTPUT_NAMES = tuple(GRAPH_IO["outputs"])
"""The graph's outputs, in order."""
