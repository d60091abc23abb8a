"""Stream a long text sentence by sentence into a FLAC file, reporting the first-chunk latency.

    python examples/stream.py < some_long_text.txt
"""

import sys
import time

import soundfile

from steptts import TTS

text = sys.stdin.read()
tts = TTS()
started = time.perf_counter()
with soundfile.SoundFile("stream.flac", "w", samplerate=tts.sample_rate_hz, channels=1) as out:
    for chunk in tts.stream(text):
        if chunk.index == 0:
            print(f"first chunk after {(time.perf_counter() - started) * 1000:.0f} ms")
        out.write(chunk.samples)
print(f"done in {time.perf_counter() - started:.1f} s")
