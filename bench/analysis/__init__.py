"""What stored runs say, as tables and plain records (pandas only; no Markdown, no figures)."""
