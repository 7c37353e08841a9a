"""Reporting: charts, the run report, the model card and the files of a run folder."""
