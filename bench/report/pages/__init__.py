"""The report's pages, rendered as Markdown from the analysis (bench.analysis.tables, bench.analysis.parity).

    front.py     reports/README.md: headline, models, runs, conditions, environment, notes
    model.py     reports/<model>.md: comparison, spread, loss-curve parity, charts, flags, failures
    sections.py  tables both pages use (runs, settings, environment, flags, spread, failures)
    figures.py   figure names and the drawings (bench.report.plots) each page links to
"""
