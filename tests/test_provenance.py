"""voice.json's ``languages`` and ``provenance.licences`` come from the datasets a voice was trained on."""

from __future__ import annotations

import json
from pathlib import Path

from export.provenance import LICENCES, dataset_provenance, licence_key, licences, share_alike_licence


def write_manifest(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True)
    lines = [json.dumps({"id": str(i), **record}, ensure_ascii=False) for i, record in enumerate(records)]
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_languages_and_licences_of_the_teachers_and_corpora_used(tmp_path: Path) -> None:
    mandarin = write_manifest(tmp_path / "zh", [
        {"text": "老师，您好！", "language": "cmn", "teacher": "kokoro:kokoro-v1.0-int8+tone0.7",
         "source": "hsk_sentences.tsv:hsk1-0001"},
        {"text": "我的 computer 坏了。", "language": "cmn", "teacher": "kokoro:kokoro-v1.0-int8",
         "source": "hsk_sentences.tsv:hsk2-0001+computer"},
    ])
    english = write_manifest(tmp_path / "en", [
        {"text": "Printing, in the only sense.", "language": "en-us", "teacher": "piper:en_US-joe-medium",
         "source": "ljspeech_text.tsv:LJ001-0001"},
        {"text": "Author of the danger trail.", "language": "en-gb-scotland", "teacher": "piper:en_US-joe-medium",
         "source": "arctic_prompts.tsv:arctic_a0001"},
    ])
    languages, used = dataset_provenance([str(mandarin)])
    assert languages == ["zh", "en"]  # the mixed line's English word
    assert [entry["used"] for entry in used] == ["kokoro", "hsk_sentences.tsv"]
    assert used[0]["licence"] == "Apache-2.0" and used[1]["licence"] == "CC-BY-SA-4.0"
    assert "CC BY-SA 4.0" in used[1]["attribution"]
    languages, used = dataset_provenance([str(mandarin), str(english)])
    assert languages == ["zh", "en"]
    assert {entry["used"]: entry["licence"] for entry in used} == {
        "kokoro": "Apache-2.0", "piper:en_US-joe-medium": "CC0-1.0", "hsk_sentences.tsv": "CC-BY-SA-4.0",
        "ljspeech_text.tsv": "public-domain", "arctic_prompts.tsv": "free-with-attribution"}
    assert share_alike_licence(used) == "CC-BY-SA-4.0"  # the voice's own licence (export/voice_export.py)
    assert share_alike_licence(dataset_provenance([str(english)])[1]) is None
    assert dataset_provenance([str(tmp_path / "gone")]) is None


def test_an_unknown_corpus_is_named_with_an_unknown_licence() -> None:
    assert licence_key("piper:en_US-joe-medium") == "piper:en_US-joe-medium"
    assert licence_key("kokoro:kokoro-v1.0-int8+tone0.7") == "kokoro"
    assert licences([], ["mine.txt:3"]) == [{"used": "mine.txt", "name": "mine.txt", "licence": "unknown",
                                             "attribution": "", "url": ""}]
    assert all(entry.licence and entry.url for entry in LICENCES.values())


def test_an_exported_voice_records_them(voice_dir: Path) -> None:
    config = json.loads((voice_dir / "voice.json").read_text(encoding="utf-8"))
    assert config["languages"] == ["en"]
    used = {entry["used"]: entry["licence"] for entry in config["provenance"]["licences"]}
    assert used == {"piper:en_US-joe-medium": "CC0-1.0", "train-texts.txt": "unknown"}
