"""One TTS shared by several threads (a TTS object holds no mutable state after construction).

    python examples/threads.py
"""

from concurrent.futures import ThreadPoolExecutor

from steptts import TTS

tts = TTS()
lines = [f"This is request number {n}." for n in range(8)]
with ThreadPoolExecutor(max_workers=4) as pool:
    for n, audio in enumerate(pool.map(tts.synthesize, lines)):
        audio.save(f"request_{n}.wav")
        print(n, f"{audio.duration_s:.2f} s", audio.provider)
