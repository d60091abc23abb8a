"""`steptts serve`: an OpenAI- and StepFun-compatible speech server (FastAPI and uvicorn, the
``server`` extra).

Modules, one job each: :mod:`.config` (the settings), :mod:`.errors` (OpenAI's error shape),
:mod:`.encode` (formats and resampling), :mod:`.voices` (the loaded voices and the name table),
:mod:`.tagging` (instructions and ``voice_label`` to tags), :mod:`.schemas` (the request body),
:mod:`.pool` (the bounded worker pool), :mod:`.metrics` (Prometheus text), :mod:`.middleware` (key,
body limit, per-request log line), :mod:`.speech` (the speech endpoints), :mod:`.realtime` (the
WebSocket), :mod:`.app` (assembly) and :mod:`.main` (uvicorn and signals).
"""
