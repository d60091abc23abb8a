"""Language frontends: one module per language, each owning normalize, split and phonemize."""
