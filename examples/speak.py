"""Speak a sentence with the embedded default voice, with and without tags.

    python examples/speak.py
"""

from steptts import TTS

tts = TTS()  # the default voice; provider="auto" runs CUDA when present, else CPU
print(f"voice {tts.voice.name} on {tts.provider}; tags: {' '.join(tts.tag_keys)}")

tts.synthesize("Hello from steptts.").save("hello.wav")
tts.synthesize("(happy2)What a lovely morning it is!").save("happy.wav")
tts.synthesize("Good evening.", emotion="sad", accent="British").save("sad_british.wav")
tts.synthesize("(singing)Twinkle twinkle little star", melody="C4:1 C4:1 G4:1 G4:1 A4:1 A4:1 G4:2",
               bpm=100).save("star.wav")
print("wrote hello.wav, happy.wav, sad_british.wav, star.wav")
