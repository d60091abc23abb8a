#!/usr/bin/env bash
# The Kokoro-82M data run of issue 14: Mandarin (HSK sentences) first, then English (ARCTIC, then
# LJ Speech), each read by two speakers: jm_kumo (male) and jf_gongitsune (female; measured with
# bench/bench_kokoro_voices.py on 8 lines a language, English WER / Mandarin CER: jf_gongitsune
# 0.065 / 0.103, jf_alpha 0.169 / 0.103, jf_nezumi 0.052 / 0.190, jf_tebukuro 0.104 / 0.190). One dataset folder; every stage is `steptts distill data`, which is
# resumable: run this script again after an interrupt (even a SIGKILL) and it completes the same dataset.
#
#   cd <repo> && PYTHONPATH=$PWD nohup nice -n 5 examples/kokoro_data.sh /work/data/kokoro-zh-en \
#       >> /work/data/kokoro-render.log 2>&1 &
#
# The second speaker reads with another seed, so a line carries other tags in its two voices.
# Corpora: hsk_sentences.tsv is CC BY-SA 4.0 (carry its attribution in voice.json), LJ Speech is public
# domain, ARCTIC is free to use with attribution.
set -euo pipefail
OUT=${1:?usage: examples/kokoro_data.sh OUT_DIR}
DATA=${SHARED_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
MALE=jm_kumo
FEMALE=${KOKORO_FEMALE:-jf_gongitsune}
ENGLISH_LINES=${ENGLISH_LINES:-2500}   # ARCTIC's 1,132 lines, then the first of LJ Speech
MANDARIN_LINES=${MANDARIN_LINES:-4354} # HSK sentences, easiest level first (all of them by default)
WORKERS=${WORKERS:-1}                  # one process, one onnxruntime thread: leaves a core to others

stage() {
    echo "=== $(date -u +%FT%TZ) steptts distill data $*"
    python -m steptts distill data --teacher kokoro --workers "$WORKERS" --no-progress --out "$OUT" "$@"
}

stage --voice "$MALE" --seed 0 --tag-plan mandarin --limit "$MANDARIN_LINES" --texts "$DATA/hsk_sentences.tsv"
stage --voice "$FEMALE" --seed 1 --tag-plan mandarin --limit "$MANDARIN_LINES" --texts "$DATA/hsk_sentences.tsv"
stage --voice "$MALE" --seed 0 --limit "$ENGLISH_LINES" --texts "$DATA/arctic_prompts.tsv" "$DATA/ljspeech_text.tsv"
stage --voice "$FEMALE" --seed 1 --limit "$ENGLISH_LINES" --texts "$DATA/arctic_prompts.tsv" "$DATA/ljspeech_text.tsv"
echo "=== $(date -u +%FT%TZ) all stages done"
