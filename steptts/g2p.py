"""Grapheme-to-phoneme with espeak-ng through phonemizer, using the library from ``espeakng-loader``.

No system package and no root access are needed. espeak-ng keeps process-global state, so every
call goes through one lock: a :class:`Phonemizer` is safe to share across threads.
"""

from __future__ import annotations

import threading
import unicodedata

_LOCK = threading.Lock()
ESPEAK_OUTPUT_FIXES: dict[str, tuple[tuple[str, str], ...]] = {
    # espeak-ng writes the Scottish BATH vowel ("pass", "after", "last", "can't") as its phoneme's
    # mnemonic `a:`, with an ASCII colon where IPA has the length mark `ː` (it writes `aː` in
    # "car"). A voice reads that colon as the punctuation mark: a pause inside the word. In the first
    # 600 LJ Speech lines (those without a colon): 100 such `a:` in en-gb-scotland, none in en-us,
    # en-gb, en-gb-x-gbclan, en-gb-x-gbcwmd or en-029. A text colon after a word that ends in this
    # vowel comes out as `a::` → `aː:`.
    "en-gb-scotland": (("a:", "aː"),),
}
"""Per espeak-ng voice: (written, meant) pairs replaced in its output."""
_BACKENDS: dict[str, object] = {}
_LIBRARY_READY = False


def _ensure_library() -> None:
    global _LIBRARY_READY
    if _LIBRARY_READY:
        return
    import espeakng_loader
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
    _LIBRARY_READY = True


def _backend(language: str):
    backend = _BACKENDS.get(language)
    if backend is None:
        _ensure_library()
        from phonemizer.backend import EspeakBackend

        backend = EspeakBackend(
            language, preserve_punctuation=True, with_stress=True, language_switch="remove-flags"
        )
        _BACKENDS[language] = backend
    return backend


def phonemize(text: str, language: str = "en-us") -> str:
    """IPA phonemes of ``text`` (already normalized) with stress marks and punctuation kept.

    The result is NFD-normalized, so that each symbol is one code point of the phoneme vocabulary.
    ``language`` is an espeak-ng voice: ``en-us``, ``en-gb``, ``en-gb-scotland``, ``yue``, ``cmn``...
    """
    if not text.strip():
        return ""
    with _LOCK:
        phonemes = _backend(language).phonemize([text], strip=True, njobs=1)[0]
    for written, meant in ESPEAK_OUTPUT_FIXES.get(language, ()):
        phonemes = phonemes.replace(written, meant)
    return unicodedata.normalize("NFD", " ".join(phonemes.split()))
